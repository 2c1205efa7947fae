"""The links' "noticed at" marks, and what a notice says of its link.

Each kind of notice (first download, used up, reminder, expiry) sets its own
time on the link in the same transaction that queues the messages, and only
on links not marked yet: of two runs at once (two workers, two instances),
only one tells of each link. notify/notices.py decides what to say.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from typing import Any
from typing import TypeVar

from sqlalchemy import and_
from sqlalchemy import Column
from sqlalchemy import ColumnElement
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy import update

from ..files.offload import offload
from .outbox import queue
from .outbox import queue_coalesced
from .outbox import queue_replacing
from .schema import links
from .schema import users

T = TypeVar("T")

_USED_UP = and_(
    links.c.max_downloads.is_not(None),
    links.c.download_count >= links.c.max_downloads,
)


def _owners(conn: Connection, link_ids: Iterable[str]) -> dict[str, Any]:
    rows = conn.execute(
        select(
            links.c.id,
            links.c.path,
            links.c.note,
            links.c.expires_at,
            links.c.max_downloads,
            links.c.download_count,
            links.c.sent_to,
            links.c.folder,
            links.c.notify,
            links.c.first_noticed_at,
            links.c.used_up_noticed_at,
            users.c.id.label("user_id"),
            users.c.username,
            users.c.email,
            users.c.webhook_url,
            users.c.disabled,
        )
        .join(users, users.c.id == links.c.created_by)
        .where(links.c.id.in_(list(link_ids)))
    ).all()
    return {row.id: row for row in rows}


class Marking:
    """One transaction of notices: mark links, read what they say, queue."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _marked(
        self, column: Column[Any], link_ids: Iterable[str], at: int, *where: Any
    ) -> list[str]:
        ids = list(link_ids)
        if not ids:
            return []
        return list(
            self.conn.execute(
                update(links)
                .where(links.c.id.in_(ids), column.is_(None), *where)
                .values({column: at})
                .returning(links.c.id)
            ).scalars()
        )

    def _mark_due(
        self, column: Column[Any], at: int, where: ColumnElement[bool]
    ) -> list[str]:
        ids = self.conn.execute(select(links.c.id).where(where, column.is_(None)))
        return self._marked(column, ids.scalars(), at, where)

    def first_downloads(self, link_ids: Iterable[str], at: int) -> list[str]:
        """Of ``link_ids``, the links that ask for it and were not told yet."""
        return self._marked(links.c.first_noticed_at, link_ids, at, links.c.notify)

    def used_up(self, link_ids: Iterable[str], at: int) -> list[str]:
        return self._marked(links.c.used_up_noticed_at, link_ids, at, _USED_UP)

    def due_reminders(self, now: int, before: int) -> list[str]:
        """Links not downloaded that expire within ``before``, except those
        that never lived longer than that (they would be reminded of at once)."""
        due = and_(
            links.c.revoked_at.is_(None),
            links.c.download_count == 0,
            links.c.expires_at > now,
            links.c.expires_at <= now + before,
            links.c.created_at < links.c.expires_at - before,
        )
        return self._mark_due(links.c.reminded_at, now, due)

    def expired(self, now: int) -> list[str]:
        expired = and_(links.c.expires_at < now, links.c.revoked_at.is_(None))
        return self._mark_due(links.c.expiry_noticed_at, now, expired)

    def owners(self, link_ids: Iterable[str]) -> dict[str, Any]:
        return _owners(self.conn, link_ids)

    def queue(self, messages: list[dict[str, Any]], now: int) -> None:
        queue(self.conn, messages, now)

    def queue_coalesced(self, messages: list[dict[str, Any]], now: int) -> None:
        queue_coalesced(self.conn, messages, now)

    def queue_replacing(self, messages: list[dict[str, Any]], now: int) -> None:
        queue_replacing(self.conn, messages, now)


class Notices:
    """The store's door for notices."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def owners(self, link_ids: Iterable[str]) -> dict[str, Any]:
        """Each link with what a notice says of it and its owner."""
        with self.engine.connect() as conn:
            return _owners(conn, link_ids)

    def transaction(self, work: Callable[[Marking], T]) -> T:
        """``work`` in one transaction, on a real thread (the outbox sender
        and the audit writer are greenlets under gevent)."""
        return offload(self._in_transaction, work)

    def _in_transaction(self, work: Callable[[Marking], T]) -> T:
        with self.engine.begin() as conn:
            return work(Marking(conn))
