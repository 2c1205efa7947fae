"""One-time codes sent to a share's recipients, hashed; no Flask.

A code works once, for ``code_lifetime``, for at most ``TRIES`` guesses; a
new code replaces the link's earlier ones. Each guess and the use are one
atomic statement, so two requests cannot both use a code, nor guess past
the limit together.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import Engine
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from .schema import codes

#: Guesses one code allows.
TRIES = 5


def code_hash(link_id: str, code: str) -> str:
    return hashlib.sha256(f"{link_id}:{code}".encode()).hexdigest()


class Codes:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, link_id: str, code: str, now: int, lifetime: int) -> None:
        """Store a new code for the link; its earlier codes stop working."""
        with self.engine.begin() as conn:
            conn.execute(
                update(codes)
                .where(codes.c.link_id == link_id, codes.c.used_at.is_(None))
                .values(used_at=now)
            )
            conn.execute(
                insert(codes).values(
                    link_id=link_id,
                    code_hash=code_hash(link_id, code),
                    created_at=now,
                    expires_at=now + lifetime,
                    attempts=0,
                )
            )

    def use(self, link_id: str, code: str, now: int) -> bool:
        """Whether ``code`` is the link's live code; a right one is used up,
        a wrong one costs a try (compared in constant time)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(codes.c.id, codes.c.code_hash)
                .where(
                    codes.c.link_id == link_id,
                    codes.c.used_at.is_(None),
                    codes.c.expires_at >= now,
                    codes.c.attempts < TRIES,
                )
                .order_by(codes.c.id.desc())
                .limit(1)
            ).first()
            if row is None:
                return False
            tried = conn.execute(
                update(codes)
                .where(codes.c.id == row.id, codes.c.attempts < TRIES)
                .values(attempts=codes.c.attempts + 1)
            ).rowcount
            if not tried or not hmac.compare_digest(
                row.code_hash, code_hash(link_id, code)
            ):
                return False
            return bool(
                conn.execute(
                    update(codes)
                    .where(codes.c.id == row.id, codes.c.used_at.is_(None))
                    .values(used_at=now)
                ).rowcount
            )
