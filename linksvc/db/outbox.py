"""The outbox: email and webhook messages waiting to go out; no Flask.

A download never sends anything itself: notices are rows here, queued by the
audit writer or a periodic task and sent by a background sender in each
server and by ``linksvc notify``. Each message has a unique ``key`` (a notice
is queued once however many try), a sender *holds* a message before sending
it (so two never send the same one), and a failure is retried with back-off
until it is given up and shown to administrators.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case
from sqlalchemy import Connection
from sqlalchemy import delete
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from ..files.offload import offload
from .inserts import insert_new
from .schema import outbox

#: Sends tried before a message is given up.
MAX_ATTEMPTS = 8
#: A held message is free again after this (its sender died).
HOLD = 300
#: Longest wait between two tries.
MAX_BACKOFF = 6 * 3600


@dataclass(frozen=True)
class Message:
    id: int
    kind: str
    key: str
    user_id: int | None
    link_id: str | None
    event: str
    recipient: str
    subject: str
    body: str
    created_at: int
    due_at: int
    attempts: int
    sent_at: int | None
    failed_at: int | None
    last_error: str
    #: Events this message stands for (coalesced notices).
    events: int = 1


def backoff(attempts: int) -> int:
    """Seconds before the next try after ``attempts`` failed ones."""
    return min(60 * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


def queue(conn: Connection, messages: list[dict[str, Any]], now: int) -> None:
    """Add messages; one whose key is queued already is left out."""
    rows = [
        {"created_at": now, "due_at": now, "attempts": 0, "last_error": "", **m}
        for m in messages
    ]
    insert_new(conn, outbox, rows)


def queue_coalesced(conn: Connection, messages: list[dict[str, Any]], now: int) -> None:
    """Add messages that stand for ``events`` each, coalesced by key: the
    events of one key are added to its message while it waits; once it is
    held or sent, the next message of that key is a new one."""
    merged: dict[str, dict[str, Any]] = {}
    for m in messages:
        if m["key"] in merged:
            merged[m["key"]]["events"] += m.get("events", 1)
        else:
            merged[m["key"]] = {"events": 1, **m}
    for m in merged.values():
        base = m["key"]
        for n in range(8):
            row = {
                "created_at": now,
                "due_at": now,
                "attempts": 0,
                "last_error": "",
                **m,
                "key": base if n == 0 else f"{base}+{n}",
            }
            if insert_or_add_one(conn, row):
                break


def queue_replacing(conn: Connection, messages: list[dict[str, Any]], now: int) -> None:
    """Add messages; one whose key waits already (not held, not sent) gets
    the new subject and body instead, so it says everything when it goes."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    for m in messages:
        row = {"created_at": now, "due_at": now, "attempts": 0, "last_error": "", **m}
        statement = dialect.insert(outbox).values(**row)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[outbox.c.key],
                set_={
                    "subject": statement.excluded.subject,
                    "body": statement.excluded.body,
                },
                where=outbox.c.sent_at.is_(None)
                & outbox.c.failed_at.is_(None)
                & outbox.c.locked_until.is_(None),
            )
        )


def insert_or_add_one(conn: Connection, row: dict[str, Any]) -> bool:
    """Insert one coalescing message or add its events to the waiting one of
    its key; False when its key's message is held or sent already."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(outbox).values(**row)
    statement = statement.on_conflict_do_update(
        index_elements=[outbox.c.key],
        set_={"events": outbox.c.events + statement.excluded.events},
        where=outbox.c.sent_at.is_(None)
        & outbox.c.failed_at.is_(None)
        & outbox.c.locked_until.is_(None),
    ).returning(outbox.c.id)
    return conn.execute(statement).first() is not None


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, messages: list[dict[str, Any]], now: int) -> None:
        with self.engine.begin() as conn:
            queue(conn, messages, now)

    def hold_due(
        self,
        now: int,
        kinds: tuple[str, ...] = ("email", "webhook"),
        limit: int = 50,
        per_recipient: int = 5,
    ) -> list[Message]:
        """Due messages of ``kinds``, each held for this sender (no other
        takes it meanwhile): at most ``per_recipient`` for one receiver, so
        one receiver's backlog cannot keep everyone else's waiting. Every
        outbox change runs on a real thread (the sender is a greenlet)."""
        return offload(self._hold_due, now, kinds, limit, per_recipient)

    def _hold_due(
        self,
        now: int,
        kinds: tuple[str, ...] = ("email", "webhook"),
        limit: int = 50,
        per_recipient: int = 5,
    ) -> list[Message]:
        ready = (
            outbox.c.kind.in_(kinds),
            outbox.c.sent_at.is_(None),
            outbox.c.failed_at.is_(None),
            outbox.c.due_at <= now,
            or_(outbox.c.locked_until.is_(None), outbox.c.locked_until < now),
        )
        with self.engine.connect() as conn:
            due = conn.execute(
                select(outbox.c.id, outbox.c.recipient)
                .where(*ready)
                .order_by(outbox.c.id)
                .limit(limit * 20)
            ).all()
        taken: dict[str, int] = {}
        ids: builtins.list[int] = []
        for message_id, recipient in due:
            if taken.get(recipient, 0) < per_recipient and len(ids) < limit:
                taken[recipient] = taken.get(recipient, 0) + 1
                ids.append(message_id)
        if not ids:
            return []
        # One statement holds them all; a message another sender held since
        # the SELECT no longer matches ``ready`` and is left to it.
        with self.engine.begin() as conn:
            held = (
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(ids), *ready)
                    .values(locked_until=now + HOLD, attempts=outbox.c.attempts + 1)
                    .returning(outbox.c.id)
                )
                .scalars()
                .all()
            )
        return self._messages(outbox.c.id.in_(held)) if held else []

    def sent(self, message_id: int, now: int) -> None:
        self._set(message_id, sent_at=now, locked_until=None, last_error="")

    def failed(self, message: Message, now: int, error: str) -> None:
        """Try again later, or give up after MAX_ATTEMPTS."""
        values: dict[str, Any] = {"locked_until": None, "last_error": error[:1000]}
        if message.attempts >= MAX_ATTEMPTS:
            values["failed_at"] = now
        else:
            values["due_at"] = now + backoff(message.attempts)
        self._set(message.id, **values)

    def give_up(self, message: Message, now: int, error: str) -> None:
        """Never try this message again."""
        self._set(message.id, locked_until=None, failed_at=now, last_error=error[:1000])

    def list(
        self,
        *,
        user_id: int | None = None,
        kind: str | None = None,
        unsent: bool = False,
        limit: int = 200,
    ) -> list[Message]:
        where = []
        if user_id is not None:
            where.append(outbox.c.user_id == user_id)
        if kind is not None:
            where.append(outbox.c.kind == kind)
        if unsent:
            where.append(outbox.c.sent_at.is_(None))
        return self._messages(*where, limit=limit)

    def counts(self) -> tuple[int, int]:
        """Messages waiting to be sent, and messages given up on (metrics)."""
        return offload(self._counts)

    def _counts(self) -> tuple[int, int]:
        unsent = outbox.c.sent_at.is_(None)
        waiting = case((unsent & outbox.c.failed_at.is_(None), 1), else_=0)
        failed = case((outbox.c.failed_at.is_not(None), 1), else_=0)
        with self.engine.connect() as conn:
            sums = (
                func.coalesce(func.sum(waiting), 0),
                func.coalesce(func.sum(failed), 0),
            )
            row = conn.execute(select(*sums)).one()
        return int(row[0] or 0), int(row[1] or 0)

    def prune(self, before: int) -> int:
        """Forget messages sent or given up before ``before``."""
        return offload(self._prune, before)

    def _prune(self, before: int) -> int:
        done = or_(outbox.c.sent_at < before, outbox.c.failed_at < before)
        with self.engine.begin() as conn:
            return conn.execute(delete(outbox).where(done)).rowcount

    def _set(self, message_id: int, **values: Any) -> None:
        offload(self._write, message_id, values)

    def _write(self, message_id: int, values: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox).where(outbox.c.id == message_id).values(**values)
            )

    def _messages(self, *where, limit: int = 200) -> builtins.list[Message]:
        query = select(outbox).where(*where).order_by(outbox.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        names = Message.__dataclass_fields__
        return [Message(**{n: row._mapping[n] for n in names}) for row in rows]
