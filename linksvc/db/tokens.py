"""Personal API tokens in the database: stored as hashes; no Flask."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from ..core.clock import now
from ..core.errors import UnknownToken
from .schema import api_tokens

if TYPE_CHECKING:  # users.py revokes tokens through revoke_all below
    from .users import User
    from .users import Users

TOKEN_PREFIX = "lsv_"


@dataclass(frozen=True)
class ApiToken:
    id: str
    user_id: int
    label: str
    created_at: int
    last_used_at: int | None
    revoked_at: int | None


def revoke_all(conn: Connection, user_id: int) -> None:
    """Revoke every live token of a user (their password or state changed)."""
    conn.execute(
        update(api_tokens)
        .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now())
    )


class Tokens:
    def __init__(self, engine: Engine, users: Users) -> None:
        self.engine, self.users = engine, users

    def create(self, user_id: int, label: str) -> tuple[ApiToken, str]:
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
        return self.get(token_id), f"{TOKEN_PREFIX}{token_id}_{secret}"

    def get(self, token_id: str) -> ApiToken:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_tokens).where(api_tokens.c.id == token_id)
            ).first()
        if row is None:
            raise UnknownToken(f"There is no API token {token_id!r}.")
        return _api_token(row)

    def list(self, user_id: int) -> list[ApiToken]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(api_tokens)
                .where(api_tokens.c.user_id == user_id)
                .order_by(api_tokens.c.created_at.desc(), api_tokens.c.id)
            )
            return [_api_token(row) for row in rows]

    def revoke(self, token_id: str, user_id: int) -> None:
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
            raise UnknownToken(f"There is no active API token {token_id!r}.")

    def user_for(self, presented: str, sso_lifetime: int = 0) -> User | None:
        """The enabled owner of a live token, or None; records its last use.
        A token of a single sign-on user older than ``sso_lifetime`` (when
        not 0) has expired: the organisation's sign-in stands behind them."""
        if not presented.startswith(TOKEN_PREFIX):
            return None
        token_id, _, secret = presented.removeprefix(TOKEN_PREFIX).partition("_")
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    api_tokens.c.user_id,
                    api_tokens.c.token_hash,
                    api_tokens.c.created_at,
                ).where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            ).first()
        if row is None or not hmac.compare_digest(row.token_hash, _digest(secret)):
            return None
        user = self.users.get(row.user_id)
        if user is None or user.disabled:
            return None
        if user.federated and sso_lifetime and now() - row.created_at > sso_lifetime:
            return None
        with self.engine.begin() as conn:
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id)
                .values(last_used_at=now())
            )
        return user


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _api_token(row) -> ApiToken:
    m = row._mapping
    return ApiToken(**{name: m[name] for name in ApiToken.__dataclass_fields__})
