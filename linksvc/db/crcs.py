"""CRC-32s of file versions, kept for zips of folder links; no Flask.

A zip's local headers need each member's CRC before its bytes, so a file is
read once to compute it; storing it per version (path, size, time, inode)
lets a resumed or repeated "Download all" on any worker skip that read.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy import select

from ..files.offload import offload
from .inserts import insert_new
from .schema import crcs

#: Keys asked for in one statement.
BATCH = 500


def load(engine: Engine, keys: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i in range(0, len(keys), BATCH):
        part = [k for k in keys[i : i + BATCH] if len(k) <= 1200]
        with engine.connect() as conn:
            rows = conn.execute(
                select(crcs.c.key, crcs.c.crc).where(crcs.c.key.in_(part))
            )
            found.update({key: crc for key, crc in rows})
    return found


def save(engine: Engine, found: dict[str, int]) -> None:
    """Store new CRCs; one already stored (another worker) is left as it is."""
    rows = [{"key": k, "crc": v} for k, v in found.items() if len(k) <= 1200]
    if rows:
        with engine.begin() as conn:
            insert_new(conn, crcs, rows)


class Crcs:
    """The zips' CRC-32s of file versions, read and written off the event
    loop (a folder's many members in a few statements)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, keys: list[str]) -> dict[str, int]:
        return offload(load, self.engine, keys)

    def save(self, found: dict[str, int]) -> None:
        offload(save, self.engine, found)
