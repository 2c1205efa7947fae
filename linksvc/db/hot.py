"""The download path's own connections: one per thread, one statement each,
kept open between requests; no Flask.

A pool checkout and its reset cost more than the download's one statement, so
each real thread keeps a DBAPI connection of its own, and a greenlet on the
event loop borrows one from a small pool (PostgreSQL) or uses its thread's
(SQLite, whose calls never yield). Statements are compiled once per engine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from ..core.errors import StoreUnavailable
from ..files.offload import native_local
from ..files.offload import offload
from ..files.offload import on_loop
from .coalesce import Coalescer


class _Busy(Exception):
    """The database was locked and this thread may not wait: try elsewhere."""


class HotStatements:
    """Runs the download path's statements where they cannot stall the loop."""

    def __init__(self, engine: Engine, pool_size: int = 16) -> None:
        self.engine = engine
        self._local = native_local()
        #: Per greenlet under gevent: a connection lent by _pooled.
        self._greenlet = threading.local()
        self._pool: Any = None
        self._pool_size = pool_size
        self._pool_free = 0
        self._compiled: dict[int, tuple[str, dict, Sequence | None]] = {}
        # SQLite in WAL mode never makes a reader wait for a lock, and its
        # calls never yield to another greenlet: reads run where they are
        # asked. Writes (which may wait for the write lock) and every
        # statement to a server go to a real thread (files/offload.py).
        self._sqlite = engine.dialect.name == "sqlite"

    def _where_it_may(self, fn, *args):
        if self._sqlite:
            try:
                return fn(*args)
            except _Busy:
                pass
            return offload(fn, *args)
        if on_loop():
            # A database server: psycopg waits cooperatively under gevent
            # (serve.cooperative_clients makes sure of it), so
            # the statement runs here, on a connection of a small pool that
            # no other greenlet uses meanwhile.
            return self._pooled(fn, *args)
        return fn(*args)

    def _batched(self) -> bool:
        """Whether this call's statement may be coalesced with others
        (db/coalesce.py): on a database server, from the event loop, where
        each commit would otherwise wait for its own flush."""
        return not self._sqlite and on_loop()

    def _coalescer(self, run) -> Coalescer:
        """A coalescer whose batches run ``run(key, items)`` on a pooled
        connection; joined only from the event loop, so it waits on
        gevent's events."""
        import gevent
        import gevent.event

        return Coalescer(
            lambda key, items: self._pooled(run, key, items),
            gevent.event.Event,
            pause=lambda: gevent.sleep(0),
        )

    def _pooled(self, fn, *args):
        import gevent.queue

        if self._pool is None:
            self._pool = gevent.queue.LifoQueue()
            self._pool_free = self._pool_size
        if self._pool.empty() and self._pool_free > 0:
            self._pool_free -= 1
            try:
                self._pool.put(self._new_connection())
            except BaseException:
                self._pool_free += 1
                raise
        raw = self._pool.get()
        self._greenlet.raw = raw
        try:
            return fn(*args)
        finally:
            self._greenlet.raw = None
            if getattr(raw, "dbapi_connection", True) is None:
                self._pool_free += 1  # invalidated: a new one may be made
            else:
                self._pool.put(raw)

    def _run(self, statement, **values) -> list[tuple]:
        """One statement on this thread's download connection, committed."""
        try:
            with self._hot_connection() as raw:
                # fetchall() and close() every time: a statement left
                # unfinished would keep SQLite's read snapshot open, and this
                # long-lived connection would stop seeing revocations.
                cursor = raw.cursor()
                try:
                    cursor.execute(*self._fast(statement, **values))
                    rows = cursor.fetchall()
                    raw.commit()  # also ends the read transaction PostgreSQL opens
                except self.engine.dialect.loaded_dbapi.OperationalError as exc:
                    if self._impatient() and "locked" in str(exc):
                        raw.rollback()
                        raise _Busy from exc
                    raise
                finally:
                    cursor.close()
        except (DBAPIError, self.engine.dialect.loaded_dbapi.Error) as exc:
            raise StoreUnavailable("The database is busy or unreachable.") from exc
        return rows

    def _new_connection(self) -> Any:
        raw = self.engine.raw_connection()
        if not self._sqlite:
            # Each claim is one statement: in autocommit it is one round trip
            # (and still its own durable transaction), not statement + COMMIT.
            raw.dbapi_connection.autocommit = True  # type: ignore[union-attr]
        return raw

    def _impatient(self) -> bool:
        """On the event loop, a SQLite connection must not wait for locks."""
        return self._sqlite and on_loop()

    def close(self) -> None:
        """Give back this thread's download connection (see _hot_connection)."""
        raw = getattr(self._local, "raw", None)
        if raw is not None:
            self._local.raw = None
            raw.close()

    @contextmanager
    def _hot_connection(self) -> Iterator[Any]:
        """This thread's own pooled DBAPI connection, kept between downloads.

        A pool checkout and its reset cost more than the query itself; a
        connection that fails is discarded, and the next request gets a new one.
        """
        lent = getattr(self._greenlet, "raw", None)
        if lent is not None:
            try:
                yield lent
            except Exception as exc:
                lent.invalidate(exc)
                raise
            return
        local = self._local
        raw = getattr(local, "raw", None)
        if raw is None:
            raw = local.raw = self._new_connection()
            if self._impatient():
                cursor = raw.cursor()
                cursor.execute("PRAGMA busy_timeout=0")
                cursor.close()
        try:
            yield raw
        except _Busy:
            raise  # the connection is fine; the database was busy
        except Exception as exc:
            local.raw = None
            try:
                raw.invalidate(exc)
            finally:
                raw.close()
            raise

    def _fast(self, statement, **values) -> tuple[str, Sequence | dict]:
        """SQL and parameters of ``statement`` for this engine's driver.

        The download path runs on the pooled DBAPI connection: SQLAlchemy
        compiles the statement once per engine (so SQLite and PostgreSQL get
        their own SQL), and no result objects are built per request.
        """
        cache = self._compiled
        compiled = cache.get(id(statement))
        if compiled is None:
            compiled = statement.compile(dialect=self.engine.dialect)
            placeholders = {n: None for n, b in compiled.binds.items() if b.required}
            defaults = compiled.construct_params(placeholders)
            order = compiled.positiontup
            cache[id(statement)] = compiled = (compiled.string, defaults, order)
        sql, defaults, order = compiled
        params = {**defaults, **values}
        if order is not None:
            return sql, [params[name] for name in order]
        return sql, params
