"""The audit log: records queued and written by a background thread, with the
deferred download counts of unlimited links; queries, exports and pruning.

A download must not wait for its audit row, and a failed audit write must not
fail the download: :meth:`AuditLog.record` only queues; a thread per process
writes in batches (``flush`` waits for it) and logs what a failure lost.

What an anonymous client can make us write is bounded: requests that count
nothing (refusals, HEAD, 304, previews, resumed ranges) are *folded*: the
identical ones of one client within :data:`FOLD_WINDOW` share one row with a
``count``; client text is capped; rows older than ``audit_retention`` are
pruned by the writer thread and by ``linksvc audit prune``.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from blinker import Namespace
from sqlalchemy import Connection
from sqlalchemy import delete
from sqlalchemy import Engine
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from ..core.clients import MAX_CLIENT_TEXT
from ..files.offload import offload
from .claims import add_downloads
from .counts import DeferredCounts
from .export import EXPORT_FIELDS  # noqa: F401  (re-exported: audit.to_csv …)
from .export import to_csv  # noqa: F401
from .export import to_jsonl  # noqa: F401
from .paths import under
from .schema import audit
from .schema import links
from .schema import users

log = logging.getLogger("linksvc.audit")

#: Longest a record waits in the queue before its batch is written, in seconds.
BATCH_WAIT = 0.05
#: Most records written in one statement.
BATCH_SIZE = 500
#: Identical uncounted requests within this many seconds share one row.
FOLD_WINDOW = 60
#: Most distinct folded rows a process holds before writing them early.
MAX_FOLDS = 10_000
#: How often (seconds) a process prunes rows past the retention.
PRUNE_EVERY = 3600
_FIELDS = ("actor", "remote_addr", "user_agent")
_FOLD = "_fold"
_LOGS: weakref.WeakSet[AuditLog] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for log_ in list(_LOGS):
        log_.flush(timeout=5)


@dataclass(frozen=True)
class _Prune:
    """Queued for the writer: delete what was recorded before ``before``."""

    before: int


class Pruning:
    """When the audit log (and the client addresses kept on links) is pruned:
    at most every PRUNE_EVERY seconds per process, past ``retention``. The
    cutoff is taken on the request's clock; the writer thread deletes, so a
    request never waits for a prune."""

    def __init__(self, retention: int | None) -> None:
        self.retention = retention
        self._at: float | None = None

    def due(self, at: int) -> int | None:
        """The cutoff to prune before, when a prune is due."""
        if self.retention is None:
            return None
        moment = time.monotonic()
        if self._at is not None and moment - self._at <= PRUNE_EVERY:
            return None
        self._at = moment
        return at - self.retention


_signals = Namespace()
#: Sent by an AuditLog (the sender) on its writer thread with each batch of
#: ``rows`` once they are written; notices subscribe to it (notify/notices.py), so
#: the audit writer knows nothing of them.
written = _signals.signal("linksvc.audit-written")
#: Sent with each ``row`` as it is queued, on the caller's thread (metrics
#: count outcomes here); receivers must be quick.
recorded = _signals.signal("linksvc.audit-recorded")
#: Sent on the writer thread with the ``seconds`` each batch took to commit.
batch_written = _signals.signal("linksvc.audit-batch-written")
#: Sent with the number of ``records`` given up on (the database refused).
lost = _signals.signal("linksvc.audit-lost")


class AuditLog:
    """The writer: records queued, folded and written in batches by a thread
    per process, with the deferred counts it is handed (one transaction for
    both) and the prunes ``pruning`` schedules; ``written`` tells whoever
    listens (notices) of each batch."""

    def __init__(
        self,
        engine: Engine,
        retention: int | None = None,
        counts: DeferredCounts | None = None,
    ) -> None:
        self.engine = engine
        self.counts = counts if counts is not None else DeferredCounts()
        self.pruning = Pruning(retention)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._folds: dict[tuple, dict[str, Any]] = {}
        _LOGS.add(self)

    def record(
        self,
        event: str,
        outcome: str,
        fold: bool = False,
        **fields: Any,
    ) -> None:
        """Queue a record; with ``fold``, share a row with identical records
        of the same window."""
        row: dict[str, Any] = {
            "at": int(fields.get("at") or time.time()),
            "event": event,
            "outcome": outcome,
            "link_id": fields.get("link_id"),
            "path": fields.get("path"),
            "status": int(fields.get("status") or 0),
            "bytes": int(fields.get("bytes") or 0),
            "complete": fields.get("complete"),
            "count": 1,
            "subject": fields.get("subject"),
            "detail": fields.get("detail"),
        }
        for name in _FIELDS:
            row[name] = str(fields.get(name) or "")[:MAX_CLIENT_TEXT]
        row["remote_addr"] = row["remote_addr"][:64]
        if recorded.receivers:
            recorded.send(self, row=row)
        if fold:
            row[_FOLD] = True
        self._ensure_thread()
        self._queue.put(row)
        cutoff = self.pruning.due(row["at"])
        if cutoff is not None:
            self._queue.put(_Prune(cutoff))

    def depth(self) -> int:
        """Records queued or held for folding, not yet written."""
        return self._queue.qsize() + len(self._folds)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record queued so far, folded ones too, is written
        (or given up on)."""
        if self._thread is None or self._pid != os.getpid():
            if self._queue.empty() and not self._folds:
                return True
            self._ensure_thread()
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

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
            try:
                batch = [self._queue.get(timeout=1)]
            except queue.Empty:
                batch = []
            deadline = time.monotonic() + BATCH_WAIT
            while batch and len(batch) < BATCH_SIZE:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
            waiting = [item for item in batch if isinstance(item, threading.Event)]
            prunes = [item for item in batch if isinstance(item, _Prune)]
            rows = []
            for row in batch:
                if not isinstance(row, dict):
                    continue
                if row.pop(_FOLD, False):
                    self._fold(row)
                else:
                    rows.append(row)
            rows.extend(self._due_folds(everything=bool(waiting)))
            # The writer is a greenlet under gevent: the database work runs
            # on a real thread, so a locked database never stalls the loop.
            if rows or self.counts:
                offload(self._write, rows, self.counts.take())
            for item in prunes:
                try:
                    offload(prune, self.engine, item.before)
                except Exception:
                    log.exception("could not prune the audit log")
            for done in waiting:
                done.set()

    def _fold(self, row: dict[str, Any]) -> None:
        key = (
            row["at"] // FOLD_WINDOW,
            *(row[name] for name in ("event", "outcome", "link_id", "path")),
            *(row[name] for name in _FIELDS),
            row["status"],
        )
        held = self._folds.get(key)
        if held is None:
            self._folds[key] = row
            return
        held["count"] += 1
        held["bytes"] += row["bytes"]
        if row["complete"] is False:
            held["complete"] = False

    def _due_folds(self, everything: bool) -> list[dict[str, Any]]:
        """Folded rows whose window has closed (all of them when asked, or
        when too many are held)."""
        window = int(time.time()) // FOLD_WINDOW
        if everything or len(self._folds) > MAX_FOLDS:
            due = list(self._folds)
        else:
            due = [key for key in self._folds if key[0] < window]
        return [self._folds.pop(key) for key in due]

    def _write(
        self, rows: list[dict[str, Any]], counts: dict[str, tuple[int, int]]
    ) -> None:
        try:
            for attempt in range(3):
                started = time.perf_counter()
                try:
                    with self.engine.begin() as conn:
                        if rows:
                            insert_rows(conn, rows)
                        add_downloads(conn, counts)
                    break
                except Exception:
                    if attempt == 2:
                        if lost.receivers:
                            lost.send(self, records=sum(r["count"] for r in rows))
                        return log.exception(
                            "lost %d audit records and the counts %r: %r",
                            len(rows),
                            counts,
                            rows,
                        )
                    time.sleep(0.1 * (attempt + 1))
            if batch_written.receivers:
                batch_written.send(self, seconds=time.perf_counter() - started)
        finally:
            self.counts.done(counts)
        if rows and written.receivers:  # notices: never at the records' cost
            try:
                written.send(self, rows=rows)
            except Exception:
                log.exception("could not queue the notices of %d records", len(rows))


#: The audit columns a row gives, and the value of each it leaves out.
_COLUMNS = [
    (c.name, c.default.arg if c.default is not None else None)  # type: ignore[attr-defined]
    for c in audit.columns
    if c.name != "id"
]


def insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert a batch of audit rows: on PostgreSQL with ``COPY`` (one
    stream, where an ``INSERT`` per row cost the worker a tenth of its time
    under load: the writer's thread holds the GIL the loop needs), elsewhere
    with one ``INSERT`` executed for every row."""
    if conn.dialect.name != "postgresql":
        conn.execute(insert(audit), rows)
        return
    from psycopg import sql

    names = sql.SQL(", ").join(sql.Identifier(name) for name, _ in _COLUMNS)
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cursor:
        with cursor.copy(sql.SQL("COPY audit ({}) FROM STDIN").format(names)) as copy:
            for row in rows:
                copy.write_row([row.get(name, default) for name, default in _COLUMNS])


#: Rows one prune transaction deletes: short transactions never hold the
#: write lock long enough to make a download or a page wait for it.
PRUNE_BATCH = 5000


def prune(engine: Engine, before: int) -> int:
    """Delete audit rows older than ``before`` and forget the client address
    of links last downloaded before it; returns the rows deleted."""
    deleted = 0
    while True:
        with engine.begin() as conn:
            ids = select(audit.c.id).where(audit.c.at < before).limit(PRUNE_BATCH)
            done = conn.execute(delete(audit).where(audit.c.id.in_(ids))).rowcount
        deleted += done
        if done < PRUNE_BATCH:
            break
    with engine.begin() as conn:
        conn.execute(
            update(links)
            .where(
                links.c.last_download_addr.is_not(None),
                links.c.last_downloaded_at < before,
            )
            .values(last_download_addr=None)
        )
    return deleted


#: Events that are not noise (listed apart on the history page, so no flood
#: of uncounted requests can push them off it).
KEY_EVENTS = ("created", "edited", "revoked", "download")


def _select(
    *,
    since: int | None = None,
    until: int | None = None,
    link_id: str | None = None,
    user: str | None = None,
    path: str | None = None,
    outcome: str | None = None,
    events: tuple[str, ...] | None = None,
    exclude_events: tuple[str, ...] | None = None,
):
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
        stmt = stmt.where(
            or_(
                users.c.username == user,
                audit.c.actor == user,
                audit.c.subject == user,
            )
        )
    if path:
        stmt = stmt.where(under(audit.c.path, path))
    if outcome:
        stmt = stmt.where(audit.c.outcome == outcome)
    if events:
        stmt = stmt.where(audit.c.event.in_(events))
    if exclude_events:
        stmt = stmt.where(audit.c.event.not_in(exclude_events))
    return stmt


def query(engine: Engine, *, limit: int | None = 1000, **filters: Any) -> list[dict]:
    """Audit records, newest first, filtered.

    ``user`` matches the link's owner or the actor; ``path`` is a prefix with
    grant rules (``a/b`` is ``a/b`` and below); ``outcome`` is ``ok`` or a
    refusal code such as ``link_expired``; ``events`` keeps only those events.
    """
    stmt = _select(**filters)
    if limit is not None:
        stmt = stmt.limit(limit)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def stream(engine: Engine, **filters: Any) -> Iterator[dict[str, Any]]:
    """Every matching record, newest first, fetched in pages so an export of
    millions of rows runs in constant memory."""
    stmt = _select(**filters)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=1000).execute(
            stmt
        )
        for row in result:
            yield dict(row._mapping)


class AuditRecords:
    """Reading and pruning the audit table: the store's door for the pages
    and commands that show it (writing is :class:`AuditLog`'s)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def query(self, *, limit: int | None = 1000, **filters: Any) -> list[dict]:
        return query(self.engine, limit=limit, **filters)

    def stream(self, **filters: Any) -> Iterator[dict[str, Any]]:
        return stream(self.engine, **filters)

    def prune(self, before: int) -> int:
        return prune(self.engine, before)
