"""Groups of users and the link policy each sets; no Flask.

What the policies of a user's groups add up to is links/policy.py's business.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy import Engine
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from ..core.clock import now
from ..core.errors import GroupExists
from ..core.errors import UnknownGroup
from ..core.errors import UnknownUser
from .inserts import insert_new
from .schema import group_grants
from .schema import group_members
from .schema import groups
from .schema import users

#: The policy columns of a group, as given to add() and change().
RULES = (
    "default_expiry",
    "max_expiry",
    "max_downloads",
    "password_required",
    "ranges",
)


@dataclass(frozen=True)
class Group:
    id: int
    name: str
    default_expiry: int | None
    max_expiry: int | None
    max_downloads: int | None
    password_required: bool
    ranges: str
    members: tuple[str, ...] = ()
    #: Kept by the identity provider through SCIM (its id: ``external_id``).
    provisioned: bool = False
    external_id: str | None = None


class Groups:
    """Reads and writes of groups and their members."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, name: str, **rules: object) -> Group:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(groups).values(
                        name=name, created_at=now(), **_defaults(rules)
                    )
                )
        except IntegrityError:
            raise GroupExists(f"There is already a group {name!r}.") from None
        return self.get(name)

    def change(self, name: str, **rules: object) -> Group:
        """Set the given rules (a None clears one)."""
        _known(rules)
        group = self.get(name)
        if rules:
            with self.engine.begin() as conn:
                conn.execute(
                    update(groups).where(groups.c.id == group.id).values(**rules)
                )
        return self.get(name)

    def remove(self, name: str) -> None:
        group = self.get(name)
        with self.engine.begin() as conn:
            conn.execute(
                delete(group_members).where(group_members.c.group_id == group.id)
            )
            conn.execute(delete(groups).where(groups.c.id == group.id))

    def get(self, name: str) -> Group:
        found = self._groups(groups.c.name == name)
        if not found:
            raise UnknownGroup(f"There is no group {name!r}.")
        return found[0]

    def list(self) -> list[Group]:
        return self._groups(None)

    def by_id(self, group_id: int) -> Group | None:
        found = self._groups(groups.c.id == group_id)
        return found[0] if found else None

    def of_user(self, user_id: int) -> builtins.list[Group]:
        """The groups ``user_id`` belongs to (their policies apply to them)."""
        member = select(group_members.c.group_id).where(
            group_members.c.user_id == user_id
        )
        return self._groups(groups.c.id.in_(member))

    def grants_of(self, name: str) -> builtins.list[str]:
        """The folder prefixes group ``name`` grants its members."""
        group = self.get(name)
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(group_grants.c.prefix)
                    .where(group_grants.c.group_id == group.id)
                    .order_by(group_grants.c.prefix)
                ).scalars()
            )

    def grant(self, name: str, prefix: str) -> None:
        group = self.get(name)
        with self.engine.begin() as conn:
            insert_new(conn, group_grants, [{"group_id": group.id, "prefix": prefix}])

    def ungrant(self, name: str, prefix: str) -> bool:
        group = self.get(name)
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    delete(group_grants).where(
                        group_grants.c.group_id == group.id,
                        group_grants.c.prefix == prefix,
                    )
                ).rowcount
            )

    def join(self, name: str, username: str) -> Group:
        group, user_id = self.get(name), self._user_id(username)
        with self.engine.begin() as conn:
            already = conn.execute(
                select(group_members.c.user_id).where(
                    group_members.c.group_id == group.id,
                    group_members.c.user_id == user_id,
                )
            ).first()
            if already is None:
                conn.execute(
                    insert(group_members).values(group_id=group.id, user_id=user_id)
                )
        return self.get(name)

    def leave(self, name: str, username: str) -> Group:
        group, user_id = self.get(name), self._user_id(username)
        with self.engine.begin() as conn:
            conn.execute(
                delete(group_members).where(
                    group_members.c.group_id == group.id,
                    group_members.c.user_id == user_id,
                )
            )
        return self.get(name)

    def _user_id(self, username: str) -> int:
        with self.engine.connect() as conn:
            user_id = conn.execute(
                select(users.c.id).where(users.c.username == username)
            ).scalar()
        if user_id is None:
            raise UnknownUser(f"There is no user {username!r}.")
        return user_id

    def _groups(self, where) -> builtins.list[Group]:
        query = select(groups).order_by(groups.c.name)
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            members: dict[int, builtins.list[str]] = {row.id: [] for row in rows}
            if rows:
                names = conn.execute(
                    select(group_members.c.group_id, users.c.username)
                    .join(users, users.c.id == group_members.c.user_id)
                    .where(group_members.c.group_id.in_(list(members)))
                    .order_by(users.c.username)
                )
                for group_id, username in names:
                    members[group_id].append(username)
        return [
            Group(
                **{n: row._mapping[n] for n in ("id", "name", *RULES)},
                members=tuple(members[row.id]),
                provisioned=row.provisioned,
                external_id=row.external_id,
            )
            for row in rows
        ]


def _known(rules: dict[str, object]) -> None:
    unknown = set(rules) - set(RULES)
    if unknown:
        raise ValueError(f"not a group rule: {sorted(unknown)}")


def _defaults(rules: dict[str, object]) -> dict[str, object]:
    _known(rules)
    values = {"password_required": False, "ranges": ""}
    values.update({k: v for k, v in rules.items() if v is not None})
    return values
