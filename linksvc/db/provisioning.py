"""What SCIM provisioning keeps in the database: its clients' bearer tokens
(hashed) and which accounts and groups the identity provider owns; no Flask.

The people and groups themselves are the ordinary rows (users.py,
groups.py): a provisioned account is a linksvc account like any other.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from ..core.clock import now
from ..core.errors import UnknownToken
from .schema import groups
from .schema import scim_tokens
from .schema import users

TOKEN_PREFIX = "lsvscim_"

#: How often a token's last use is written: not on every call.
LAST_USED_EVERY = 60


@dataclass(frozen=True)
class ScimToken:
    id: str
    label: str
    created_at: int
    last_used_at: int | None
    revoked_at: int | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Provisioning:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- bearer tokens ------------------------------------------------------

    def create_token(self, label: str) -> tuple[ScimToken, str]:
        """A new token, ``lsvscim_<id>_<secret>``, shown once; only a SHA-256
        of the 256-bit secret is kept (as for API tokens)."""
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                insert(scim_tokens).values(
                    id=token_id,
                    label=label[:128],
                    token_hash=_hash(secret),
                    created_at=now(),
                )
            )
        return self.token(token_id), f"{TOKEN_PREFIX}{token_id}_{secret}"

    def token(self, token_id: str) -> ScimToken:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(scim_tokens).where(scim_tokens.c.id == token_id)
            ).first()
        if row is None:
            raise UnknownToken(f"There is no SCIM token {token_id!r}.")
        return ScimToken(
            row.id, row.label, row.created_at, row.last_used_at, row.revoked_at
        )

    def tokens(self) -> list[ScimToken]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(scim_tokens).order_by(scim_tokens.c.created_at)
            ).all()
        return [
            ScimToken(r.id, r.label, r.created_at, r.last_used_at, r.revoked_at)
            for r in rows
        ]

    def revoke_token(self, token_id: str) -> None:
        self.token(token_id)
        with self.engine.begin() as conn:
            conn.execute(
                update(scim_tokens)
                .where(scim_tokens.c.id == token_id, scim_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now())
            )

    def check_token(self, presented: str) -> ScimToken | None:
        """The live token ``presented`` is, else None (compared in constant
        time; its last use written at most once a minute)."""
        body = presented.removeprefix(TOKEN_PREFIX)
        token_id, _, secret = body.partition("_")
        if not presented.startswith(TOKEN_PREFIX) or not secret or len(body) > 128:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                select(scim_tokens).where(scim_tokens.c.id == token_id)
            ).first()
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.token_hash, _hash(secret)):
            return None
        at = now()
        if row.last_used_at is None or at - row.last_used_at >= LAST_USED_EVERY:
            with self.engine.begin() as conn:
                conn.execute(
                    update(scim_tokens)
                    .where(scim_tokens.c.id == token_id)
                    .values(last_used_at=at)
                )
        return ScimToken(row.id, row.label, row.created_at, at, None)

    # -- which rows the provider keeps ---------------------------------------

    def mark_user(
        self, user_id: int, provisioned: bool, external_id: str | None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(provisioned=provisioned, external_id=external_id)
            )

    def mark_group(
        self, group_id: int, provisioned: bool, external_id: str | None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(groups)
                .where(groups.c.id == group_id)
                .values(provisioned=provisioned, external_id=external_id)
            )

    def user_ids(
        self, attribute: str | None, value: str, start: int, count: int
    ) -> tuple[int, list[int]]:
        """(total, ids) of provisioned accounts, by id, from ``start`` (0 is
        the first); ``attribute`` (userName, externalId or id) equal to
        ``value`` narrows them (userName compared without case, as SCIM's
        schema says of it)."""
        where: list[Any] = [users.c.provisioned.is_(True)]
        if attribute == "userName":
            where.append(func.lower(users.c.username) == value.lower())
        elif attribute == "externalId":
            where.append(users.c.external_id == value)
        elif attribute == "id":
            where.append(users.c.id == (int(value) if value.isdigit() else -1))
        return self._page(users, where, start, count)

    def group_ids(
        self, attribute: str | None, value: str, start: int, count: int
    ) -> tuple[int, list[int]]:
        """As :meth:`user_ids`, for provisioned groups (``displayName``)."""
        where: list[Any] = [groups.c.provisioned.is_(True)]
        if attribute == "displayName":
            where.append(func.lower(groups.c.name) == value.lower())
        elif attribute == "externalId":
            where.append(groups.c.external_id == value)
        elif attribute == "id":
            where.append(groups.c.id == (int(value) if value.isdigit() else -1))
        return self._page(groups, where, start, count)

    def _page(self, table, where, start: int, count: int) -> tuple[int, list[int]]:
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.count()).select_from(table).where(*where)
            ).scalar_one()
            ids = list(
                conn.execute(
                    select(table.c.id)
                    .where(*where)
                    .order_by(table.c.id)
                    .offset(start)
                    .limit(count)
                ).scalars()
            )
        return total, ids

    def user_names(self, ids: list[int]) -> dict[int, str]:
        """Names of provisioned accounts among ``ids`` (group members)."""
        if not ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(users.c.id, users.c.username).where(
                    users.c.id.in_(ids), users.c.provisioned.is_(True)
                )
            ).all()
        return {r.id: r.username for r in rows}

    def ids_of(self, names: tuple[str, ...]) -> dict[str, int]:
        if not names:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(users.c.username, users.c.id).where(users.c.username.in_(names))
            ).all()
        return {r.username: r.id for r in rows}
