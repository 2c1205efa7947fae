"""SHA-256 digests of file versions, kept so that any worker, after a
restart too, knows a version's digest without reading the file again; no
Flask (files/digests.py computes them)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy import select

from ..core.clock import now as clock_now
from .inserts import insert_new
from .schema import digests

#: Keys asked for in one statement, and the longest key kept.
BATCH, LONGEST = 500, 1200


def load(engine: Engine, keys: list[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for i in range(0, len(keys), BATCH):
        part = [k for k in keys[i : i + BATCH] if len(k) <= LONGEST]
        with engine.connect() as conn:
            rows = conn.execute(
                select(digests.c.key, digests.c.sha256).where(digests.c.key.in_(part))
            )
            found.update({key: bytes.fromhex(hexed) for key, hexed in rows})
    return found


def save(engine: Engine, found: dict[str, bytes]) -> None:
    """Store new digests; one already stored (another worker) stays."""
    at = int(clock_now())
    rows = [
        {"key": k, "sha256": v.hex(), "computed_at": at}
        for k, v in found.items()
        if len(k) <= LONGEST
    ]
    if rows:
        with engine.begin() as conn:
            insert_new(conn, digests, rows)


class StoredDigests:
    """The store's digests (called on a real thread by files/digests.py)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, keys: list[str]) -> dict[str, bytes]:
        return load(self.engine, keys)

    def save(self, found: dict[str, bytes]) -> None:
        save(self.engine, found)
