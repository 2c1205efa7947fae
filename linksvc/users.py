"""Users, their grants and their API tokens, in the database; no Flask."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import delete
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from .errors import UnknownToken
from .errors import UnknownUser
from .errors import UserExists
from .schema import api_tokens
from .schema import grants
from .schema import users


def now() -> int:
    return int(time.time())


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


class UserQueries:
    """Mixed into Store: reads and writes of users and grants."""

    engine: Engine

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
        """The user if the password is right and the account enabled.

        A password is checked against a hash every time, a stand-in one for
        an unknown name, so a wrong password takes as long for an unknown or
        disabled user as for a real one and the timing names no account.
        """
        with self.engine.connect() as conn:
            row = conn.execute(
                select(users.c.password_hash, users.c.disabled).where(
                    users.c.username == username
                )
            ).first()
        stored = row.password_hash if row is not None else _stand_in_hash()
        right = check_password_hash(stored, password)
        if row is None or row.disabled or not right:
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

    def set_password(self, username: str, password: str) -> User:
        """A new password; every session and API token of the user ends."""
        user = self.user_by_name(username)
        with self.engine.begin() as conn:
            conn.execute(
                update(users)
                .where(users.c.id == user.id)
                .values(
                    password_hash=generate_password_hash(password),
                    session_token=secrets.token_urlsafe(16),
                )
            )
            _revoke_api_tokens(conn, user.id)
        return self.user_by_name(username)

    def end_all_sessions(self) -> int:
        """Every user's sessions end (a signing key was retired); returns how
        many users there were."""
        with self.engine.begin() as conn:
            ids = list(conn.execute(select(users.c.id)).scalars())
            for user_id in ids:
                conn.execute(
                    update(users)
                    .where(users.c.id == user_id)
                    .values(session_token=secrets.token_urlsafe(16))
                )
        return len(ids)

    def rotate_session_token(self, user_id: int) -> None:
        """End every session of the user: their cookies name the old token."""
        with self.engine.begin() as conn:
            conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(session_token=secrets.token_urlsafe(16))
            )

    def set_disabled(self, username: str, disabled: bool) -> User:
        """Disable (or enable) an account; either ends its sessions and API
        tokens, so enabling an account gives nothing from before back."""
        user = self.user_by_name(username)
        with self.engine.begin() as conn:
            conn.execute(
                update(users)
                .where(users.c.id == user.id)
                .values(disabled=disabled, session_token=secrets.token_urlsafe(16))
            )
            _revoke_api_tokens(conn, user.id)
        return self.user_by_name(username)

    # -- API tokens -----------------------------------------------------------

    def create_api_token(self, user_id: int, label: str) -> tuple[ApiToken, str]:
        """A new token and its secret, ``lsv_<id>_<secret>``, shown only once.

        Only a SHA-256 of the secret is stored: the secret has 256 bits of
        entropy, so a slow hash would add nothing but latency to every call.
        """
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                insert(api_tokens).values(
                    id=token_id,
                    user_id=user_id,
                    label=label,
                    token_hash=_digest(secret),
                    created_at=now(),
                )
            )
        return self.api_token(token_id), f"{TOKEN_PREFIX}{token_id}_{secret}"

    def api_token(self, token_id: str) -> ApiToken:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_tokens).where(api_tokens.c.id == token_id)
            ).first()
        if row is None:
            raise UnknownToken(f"no API token {token_id!r}")
        return _api_token(row)

    def list_api_tokens(self, user_id: int) -> list[ApiToken]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(api_tokens)
                .where(api_tokens.c.user_id == user_id)
                .order_by(api_tokens.c.created_at.desc(), api_tokens.c.id)
            )
            return [_api_token(row) for row in rows]

    def revoke_api_token(self, token_id: str, user_id: int) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(api_tokens)
                .where(
                    api_tokens.c.id == token_id,
                    api_tokens.c.user_id == user_id,
                    api_tokens.c.revoked_at.is_(None),
                )
                .values(revoked_at=now())
            ).rowcount
        if not done:
            raise UnknownToken(f"no active API token {token_id!r}")

    def user_for_api_token(self, presented: str) -> User | None:
        """The enabled owner of a live token, or None; records its last use."""
        if not presented.startswith(TOKEN_PREFIX):
            return None
        token_id, _, secret = presented.removeprefix(TOKEN_PREFIX).partition("_")
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_tokens.c.user_id, api_tokens.c.token_hash).where(
                    api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None)
                )
            ).first()
        if row is None or not hmac.compare_digest(row.token_hash, _digest(secret)):
            return None
        user = self.user(row.user_id)
        if user is None or user.disabled:
            return None
        with self.engine.begin() as conn:
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id)
                .values(last_used_at=now())
            )
        return user


TOKEN_PREFIX = "lsv_"


def _revoke_api_tokens(conn, user_id: int) -> None:
    conn.execute(
        update(api_tokens)
        .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now())
    )


@lru_cache(maxsize=1)
def _stand_in_hash() -> str:
    """A hash made the way real ones are, checked when a name is unknown."""
    return generate_password_hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class ApiToken:
    id: str
    user_id: int
    label: str
    created_at: int
    last_used_at: int | None
    revoked_at: int | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _api_token(row) -> ApiToken:
    m = row._mapping
    return ApiToken(**{name: m[name] for name in ApiToken.__dataclass_fields__})
