"""Users, grants and links in the database, with SQLAlchemy Core; no Flask.

The same code runs on SQLite (the default) and PostgreSQL. The download path
costs one statement: :meth:`Store.claim_download` checks and counts at once,
so a limit cannot be overrun by two requests that check before either counts.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy import delete
from sqlalchemy import Engine
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from .errors import LinkInvalid
from .errors import LinkRevoked
from .errors import LinkUsedUp
from .errors import StoreUnavailable
from .errors import UnknownLink
from .errors import UnknownUser
from .errors import UserExists
from .schema import grants
from .schema import links
from .schema import users

MIGRATIONS = Path(__file__).parent / "migrations"
#: Random bytes in a link id: 96 bits, not guessable, short in a URL.
LINK_ID_BYTES = 12


@dataclass(frozen=True)
class User:
    id: int
    username: str
    is_admin: bool
    disabled: bool
    session_token: str
    grants: tuple[str, ...]

    @property
    def effective_grants(self) -> list[str]:
        """Admins are granted the whole tree, spelled as the empty prefix."""
        return [""] if self.is_admin else list(self.grants)


@dataclass(frozen=True)
class Link:
    id: str
    path: str
    created_by: int
    owner: str
    created_at: int
    expires_at: int
    not_before: int | None
    max_downloads: int | None
    download_count: int
    last_downloaded_at: int | None
    revoked_at: int | None
    note: str
    key_id: str

    def status(self, now: float) -> str:
        """active, expired, revoked, used up or scheduled, as the dashboard says."""
        if self.revoked_at is not None:
            return "revoked"
        if now > self.expires_at:
            return "expired"
        if self.max_downloads is not None and self.download_count >= self.max_downloads:
            return "used up"
        if self.not_before is not None and now < self.not_before:
            return "scheduled"
        return "active"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers and one writer work at once across gunicorn workers;
    # NORMAL sync is durable across application crashes, which is what we need.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 5})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def now() -> int:
    return int(time.time())


class Store:
    """All reads and writes of users, grants and links."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        self.engine = make_engine(url)

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe to run again."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()

    # -- users ---------------------------------------------------------------

    def add_user(
        self,
        username: str,
        password: str,
        is_admin: bool = False,
        grant_prefixes: Iterable[str] = (),
    ) -> User:
        try:
            with self.engine.begin() as conn:
                user_id = conn.execute(
                    insert(users).values(
                        username=username,
                        password_hash=generate_password_hash(password),
                        is_admin=is_admin,
                        disabled=False,
                        session_token=secrets.token_urlsafe(16),
                        created_at=now(),
                    )
                ).inserted_primary_key[0]
                for prefix in dict.fromkeys(grant_prefixes):
                    conn.execute(insert(grants).values(user_id=user_id, prefix=prefix))
        except IntegrityError:
            raise UserExists(f"user {username!r} already exists") from None
        return self.user_by_name(username)

    def count_users(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(users)).scalar_one()

    def _user(self, where) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(where)).first()
            if row is None:
                return None
            prefixes = conn.execute(
                select(grants.c.prefix)
                .where(grants.c.user_id == row.id)
                .order_by(grants.c.prefix)
            ).scalars()
            return User(
                row.id,
                row.username,
                row.is_admin,
                row.disabled,
                row.session_token,
                tuple(prefixes),
            )

    def user(self, user_id: int) -> User | None:
        return self._user(users.c.id == user_id)

    def user_by_name(self, username: str) -> User:
        user = self._user(users.c.username == username)
        if user is None:
            raise UnknownUser(f"no user named {username!r}")
        return user

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is right and the account enabled."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(users.c.password_hash, users.c.disabled).where(
                    users.c.username == username
                )
            ).first()
        if row is None or row.disabled:
            return None
        if not check_password_hash(row.password_hash, password):
            return None
        return self.user_by_name(username)

    def list_users(self) -> list[User]:
        with self.engine.connect() as conn:
            names = conn.execute(select(users.c.username).order_by(users.c.username))
            names = list(names.scalars())
        return [self.user_by_name(name) for name in names]

    def add_grant(self, username: str, prefix: str) -> User:
        user = self.user_by_name(username)
        if prefix not in user.grants:
            with self.engine.begin() as conn:
                conn.execute(insert(grants).values(user_id=user.id, prefix=prefix))
        return self.user_by_name(username)

    def revoke_grant(self, username: str, prefix: str) -> User:
        user = self.user_by_name(username)
        with self.engine.begin() as conn:
            conn.execute(
                delete(grants).where(
                    grants.c.user_id == user.id, grants.c.prefix == prefix
                )
            )
        return self.user_by_name(username)

    def rotate_session_token(self, user_id: int) -> None:
        """End every session of the user: their cookies name the old token."""
        with self.engine.begin() as conn:
            conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(session_token=secrets.token_urlsafe(16))
            )

    # -- links ---------------------------------------------------------------

    def create_link(
        self,
        path: str,
        user_id: int,
        expires_at: int,
        key_id: str,
        not_before: int | None = None,
        max_downloads: int | None = None,
        note: str = "",
    ) -> Link:
        link_id = secrets.token_urlsafe(LINK_ID_BYTES)
        with self.engine.begin() as conn:
            conn.execute(
                insert(links).values(
                    id=link_id,
                    path=path,
                    created_by=user_id,
                    created_at=now(),
                    expires_at=expires_at,
                    not_before=not_before,
                    max_downloads=max_downloads,
                    download_count=0,
                    note=note,
                    key_id=key_id,
                )
            )
        return self.link(link_id)

    def _links_query(self):
        return select(links, users.c.username.label("owner")).join(
            users, users.c.id == links.c.created_by
        )

    @staticmethod
    def _link(row) -> Link:
        m = row._mapping
        return Link(**{name: m[name] for name in Link.__dataclass_fields__})

    def link(self, link_id: str) -> Link:
        with self.engine.connect() as conn:
            row = conn.execute(self._links_query().where(links.c.id == link_id)).first()
        if row is None:
            raise UnknownLink(f"no link with id {link_id!r}")
        return self._link(row)

    def list_links(
        self, user_id: int | None = None, limit: int = 200, offset: int = 0
    ) -> list[Link]:
        """Newest first; every user's when ``user_id`` is None (admins)."""
        query = self._links_query().order_by(links.c.created_at.desc(), links.c.id)
        if user_id is not None:
            query = query.where(links.c.created_by == user_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit).offset(offset))
            return [self._link(row) for row in rows]

    def claim_download(self, link_id: str, at: int, count: bool) -> None:
        """Allow one request on a link, counting it when ``count`` is true.

        The counting case is a single ``UPDATE … WHERE <allowed> RETURNING``:
        the check and the increment are one atomic statement, and the common
        case is one round trip. Only a refusal costs a second read, to say why.
        """
        try:
            if count:
                with self.engine.begin() as conn:
                    claimed = conn.execute(
                        update(links)
                        .where(
                            links.c.id == link_id,
                            links.c.revoked_at.is_(None),
                            or_(
                                links.c.max_downloads.is_(None),
                                links.c.download_count < links.c.max_downloads,
                            ),
                        )
                        .values(
                            download_count=links.c.download_count + 1,
                            last_downloaded_at=at,
                        )
                        .returning(links.c.id)
                    ).first()
                if claimed is not None:
                    return
            with self.engine.connect() as conn:
                row = conn.execute(
                    select(
                        links.c.revoked_at,
                        links.c.max_downloads,
                        links.c.download_count,
                    ).where(links.c.id == link_id)
                ).first()
        except OperationalError as exc:
            raise StoreUnavailable("the database is busy or unreachable") from exc
        if row is None:
            raise LinkInvalid("unknown link")
        if row.revoked_at is not None:
            raise LinkRevoked()
        if row.max_downloads is not None and row.download_count >= row.max_downloads:
            if count:
                raise LinkUsedUp(row.max_downloads)
