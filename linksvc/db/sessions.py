"""Sessions: one row per sign-in, so people can see where they are signed in
and end any of it.

The cookie names its row; a request is served only while the row is live
(not ended), read on every authenticated request, so ending a session takes
effect on every worker and instance at once. What a person can make us keep
is bounded: rows are made only by a sign-in that succeeded, at most
:data:`MAX_LIVE` live ones per person (a new one ends the least recently
seen), and the dead ones of a person are deleted at their next sign-in.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy import delete
from sqlalchemy import Engine
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from ..core.clients import MAX_CLIENT_TEXT
from ..core.clock import now
from .schema import sessions

#: Live sessions one person may have; a new sign-in ends the oldest beyond it.
MAX_LIVE = 20


@dataclass(frozen=True)
class Session:
    id: str
    user_id: int
    created_at: int
    seen_at: int
    remote_addr: str
    user_agent: str
    method: str
    ended_at: int | None


class Sessions:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def start(
        self, user_id: int, method: str, remote_addr: str, user_agent: str, ttl: int
    ) -> str:
        """A new live session; ``ttl`` is how long a session can live, past
        which the person's old rows are deleted."""
        at = now()
        sid = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                delete(sessions).where(
                    sessions.c.user_id == user_id,
                    or_(
                        sessions.c.ended_at.is_not(None),
                        sessions.c.created_at < at - ttl,
                    ),
                )
            )
            conn.execute(
                insert(sessions).values(
                    id=sid,
                    user_id=user_id,
                    created_at=at,
                    seen_at=at,
                    remote_addr=remote_addr[:64],
                    user_agent=user_agent[: min(256, MAX_CLIENT_TEXT)],
                    method=method,
                )
            )
            # Beyond MAX_LIVE, the least recently seen others end.
            live = conn.execute(
                select(sessions.c.id)
                .where(
                    sessions.c.user_id == user_id,
                    sessions.c.ended_at.is_(None),
                    sessions.c.id != sid,
                )
                .order_by(sessions.c.seen_at.desc(), sessions.c.created_at.desc())
                .offset(MAX_LIVE - 1)
            ).scalars()
            _end(conn, sessions.c.id.in_(list(live)), at)
        return sid

    def live(self, sid: str, user_id: int) -> bool:
        """Whether ``sid`` is a live session of ``user_id``."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(sessions.c.id).where(
                    sessions.c.id == sid,
                    sessions.c.user_id == user_id,
                    sessions.c.ended_at.is_(None),
                )
            ).first()
        return row is not None

    def seen(self, sid: str, at: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(sessions).where(sessions.c.id == sid).values(seen_at=at)
            )

    def of_user(self, user_id: int) -> list[Session]:
        """The live sessions of a person, the latest seen first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(sessions)
                .where(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None))
                .order_by(sessions.c.seen_at.desc(), sessions.c.id)
            ).all()
        return [Session(**row._mapping) for row in rows]

    def end(self, user_id: int, sid: str) -> bool:
        """End one session of ``user_id``; False if it was not a live one."""
        with self.engine.begin() as conn:
            mine = (sessions.c.user_id == user_id) & (sessions.c.id == sid)
            return _end(conn, mine) > 0

    def end_others(self, user_id: int, keep: str) -> int:
        """End every live session of ``user_id`` but ``keep``; how many."""
        with self.engine.begin() as conn:
            return _end(conn, (sessions.c.user_id == user_id) & (sessions.c.id != keep))


def _end(conn: Connection, where: object, at: int | None = None) -> int:
    return conn.execute(
        update(sessions)
        .where(where, sessions.c.ended_at.is_(None))  # type: ignore[arg-type]
        .values(ended_at=now() if at is None else at)
    ).rowcount


def end_all_of(conn: Connection, user_id: int) -> None:
    """In the caller's transaction: every session of ``user_id`` ends."""
    _end(conn, sessions.c.user_id == user_id)
