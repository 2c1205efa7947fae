"""Passkeys (WebAuthn credentials) in the database; no Flask.

What is kept is public: the credential's id and public key, its signature
counter, a name the person chose. The challenge a sign-in answers lives in
the person's session; ``use`` refuses one made before the key's last use.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from ..core.clock import now
from ..core.errors import InvalidInput
from ..core.ids import random_id
from .schema import passkeys


@dataclass(frozen=True)
class Passkey:
    id: str
    user_id: int
    credential_id: str
    public_key: str
    sign_count: int
    name: str
    created_at: int
    last_used_ms: int | None


class Passkeys:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self,
        user_id: int,
        credential_id: str,
        public_key: str,
        sign_count: int,
        name: str,
    ) -> Passkey:
        key_id = random_id(12)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(passkeys).values(
                        id=key_id,
                        user_id=user_id,
                        credential_id=credential_id,
                        public_key=public_key,
                        sign_count=sign_count,
                        name=name,
                        created_at=now(),
                    )
                )
        except IntegrityError:
            raise InvalidInput("This passkey is registered already.") from None
        found = self.get(user_id, key_id)
        assert found is not None
        return found

    def of_user(self, user_id: int) -> builtins.list[Passkey]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(passkeys)
                .where(passkeys.c.user_id == user_id)
                .order_by(passkeys.c.created_at, passkeys.c.id)
            ).all()
        return [Passkey(**row._mapping) for row in rows]

    def count(self, user_id: int) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count())
                .select_from(passkeys)
                .where(passkeys.c.user_id == user_id)
            ).scalar_one()

    def get(self, user_id: int, key_id: str) -> Passkey | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(passkeys).where(
                    passkeys.c.id == key_id, passkeys.c.user_id == user_id
                )
            ).first()
        return Passkey(**row._mapping) if row else None

    def by_credential(self, credential_id: str) -> Passkey | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(passkeys).where(passkeys.c.credential_id == credential_id)
            ).first()
        return Passkey(**row._mapping) if row else None

    def use(self, key_id: str, sign_count: int, challenge_ms: int, at_ms: int) -> bool:
        """Record a sign-in with the key, unless it was used since the
        challenge was made (one UPDATE: two workers cannot both take it)."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(passkeys)
                    .where(
                        passkeys.c.id == key_id,
                        or_(
                            passkeys.c.last_used_ms.is_(None),
                            passkeys.c.last_used_ms < challenge_ms,
                        ),
                    )
                    .values(sign_count=sign_count, last_used_ms=at_ms)
                ).rowcount
            )

    def rename(self, user_id: int, key_id: str, name: str) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(passkeys)
                    .where(passkeys.c.id == key_id, passkeys.c.user_id == user_id)
                    .values(name=name)
                ).rowcount
            )

    def remove(self, user_id: int, key_id: str) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    delete(passkeys).where(
                        passkeys.c.id == key_id, passkeys.c.user_id == user_id
                    )
                ).rowcount
            )
