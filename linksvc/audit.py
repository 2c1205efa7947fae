"""The audit log: records queued and written by a background thread, with the
deferred download counts of unlimited links; queries and exports.

A download must not wait for its audit row, and a failed audit write must not
fail the download: :meth:`AuditLog.record` only appends to a queue. A thread
per process writes what is queued in batches; ``flush`` waits for it (tests,
shutdown). Failures are logged with the records they lost.
"""

from __future__ import annotations

import atexit
import csv
import io
import json
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select

from .links import add_downloads
from .schema import audit
from .schema import links
from .schema import users

log = logging.getLogger("linksvc.audit")

#: Longest a record waits in the queue before its batch is written, in seconds.
BATCH_WAIT = 0.05
#: Most records written in one statement.
BATCH_SIZE = 500
_FIELDS = ("actor", "remote_addr", "user_agent")
_COUNT = "_count"
_LOGS: weakref.WeakSet[AuditLog] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for log_ in list(_LOGS):
        log_.flush(timeout=5)


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        _LOGS.add(self)

    def record(
        self, event: str, outcome: str, count: bool = False, **fields: Any
    ) -> None:
        """Queue a record; with ``count``, also add one to its link's download
        count (unlimited links, whose count need not be atomic)."""
        row = {
            "at": int(time.time()),
            "event": event,
            "outcome": outcome,
            "link_id": fields.get("link_id"),
            "path": fields.get("path"),
            "status": int(fields.get("status") or 0),
            "bytes": int(fields.get("bytes") or 0),
        }
        for name in _FIELDS:
            row[name] = str(fields.get(name) or "")[:512]
        if count:
            row[_COUNT] = True
        with self._lock:
            self._pending += 1
        self._ensure_thread()
        self._queue.put(row)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued record is written (or given up on)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _ensure_thread(self) -> None:
        # After a fork (gunicorn workers) the parent's thread does not exist.
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="linksvc-audit", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + BATCH_WAIT
            while len(batch) < BATCH_SIZE:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
            rows = [row for row in batch if row is not None]
            self._write(rows)
            with self._idle:
                self._pending -= len(rows)
                self._idle.notify_all()

    def _write(self, rows: list[dict[str, Any]]) -> None:
        counts: dict[str, tuple[int, int]] = {}
        for row in rows:
            if row.pop(_COUNT, False):
                n, at = counts.get(row["link_id"], (0, 0))
                counts[row["link_id"]] = (n + 1, max(at, row["at"]))
        for attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(audit), rows)
                    add_downloads(conn, counts)
                return
            except Exception:
                if attempt == 2:
                    log.exception("lost %d audit records: %r", len(rows), rows)
                else:
                    time.sleep(0.1 * (attempt + 1))


#: Columns of an exported audit record, in order.
EXPORT_FIELDS = (
    "at",
    "event",
    "outcome",
    "link_id",
    "path",
    "owner",
    "actor",
    "remote_addr",
    "user_agent",
    "status",
    "bytes",
)


def query(
    engine: Engine,
    *,
    since: int | None = None,
    until: int | None = None,
    link_id: str | None = None,
    user: str | None = None,
    path: str | None = None,
    outcome: str | None = None,
    limit: int | None = 1000,
) -> list[dict[str, Any]]:
    """Audit records, newest first, filtered.

    ``user`` matches the link's owner or the actor; ``path`` is a prefix with
    grant rules (``a/b`` is ``a/b`` and below); ``outcome`` is ``ok`` or a
    refusal code such as ``link_expired``.
    """
    owner = users.c.username.label("owner")
    stmt = (
        select(audit, owner)
        .select_from(
            audit.outerjoin(links, links.c.id == audit.c.link_id).outerjoin(
                users, users.c.id == links.c.created_by
            )
        )
        # Each worker writes in batches: time first, then the order written.
        .order_by(audit.c.at.desc(), audit.c.id.desc())
    )
    if since is not None:
        stmt = stmt.where(audit.c.at >= since)
    if until is not None:
        stmt = stmt.where(audit.c.at <= until)
    if link_id:
        stmt = stmt.where(audit.c.link_id == link_id)
    if user:
        stmt = stmt.where(or_(users.c.username == user, audit.c.actor == user))
    if path:
        stmt = stmt.where(
            or_(
                audit.c.path == path,
                func.substr(audit.c.path, 1, len(path) + 1) == path + "/",
            )
        )
    if outcome:
        stmt = stmt.where(audit.c.outcome == outcome)
    if limit is not None:
        stmt = stmt.limit(limit)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def to_csv(records: list[dict[str, Any]]) -> Iterator[str]:
    """CSV lines with a header; times as ISO 8601 UTC."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_FIELDS)
    for record in records:
        writer.writerow([_export_value(record, name) for name in EXPORT_FIELDS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def to_jsonl(records: list[dict[str, Any]]) -> Iterator[str]:
    for record in records:
        yield json.dumps({n: _export_value(record, n) for n in EXPORT_FIELDS}) + "\n"


def _export_value(record: dict[str, Any], name: str) -> Any:
    value = record.get(name)
    if name == "at":
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))
    return "" if value is None else value
