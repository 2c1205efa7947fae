"""The download claim: what one request for a link does to its row; no Flask.

The download path costs one statement on a connection its thread keeps: a
limited link is checked and counted in one ``UPDATE … RETURNING`` (so no two
requests can both take the last download), an unlimited link is only read and
its count added later, in a batch, by the audit writer (:func:`add_downloads`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError

from ..core.errors import LinkInvalid
from ..core.errors import LinkRevoked
from ..core.errors import LinkUsedUp
from ..core.errors import StoreUnavailable
from ..core.offload import native_local
from ..core.offload import offload
from ..core.offload import on_loop
from ..core.signing import check_window
from ..core.signing import Claims
from .schema import links

#: Claim modes: a download that starts the file, a range that continues one,
#: a request that sends no body (HEAD, 304).
COUNT, RESUME, PEEK = "count", "resume", "peek"
#: What a claim did: counted it, left the count to the audit writer
#: (unlimited links), or nothing to count.
COUNTED, DEFERRED, FREE = "counted", "deferred", "free"


class _Busy(Exception):
    """The database was locked and this thread may not wait: try elsewhere."""


class DownloadClaims:
    """Claims on links for downloads, each thread on its own connection."""

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
        # statement to a server go to a real thread (core/offload.py).
        self._sqlite = engine.dialect.name == "sqlite"

    def claim(
        self,
        claims: Claims,
        at: int,
        mode: str = COUNT,
        resume_window: int = 0,
        client_addr: str = "",
    ) -> str:
        """See :meth:`_claim`; run where it cannot stall the event loop.

        On SQLite everything is first tried where it is asked: the event
        loop's connection never waits for a lock (busy timeout 0), so a write
        that finds the database locked gives up at once and is tried again on
        a real thread, which waits up to ``database_timeout``.
        """
        args = (claims, at, mode, resume_window, client_addr)
        if self._sqlite:
            try:
                return self._claim(*args)
            except _Busy:
                pass
            return offload(self._claim, *args)
        if on_loop():
            # A database server: psycopg waits cooperatively under gevent, so
            # the statement runs here, on a connection of a small pool that
            # no other greenlet uses meanwhile.
            return self._pooled(self._claim, *args)
        return self._claim(*args)

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

    def _claim(
        self,
        claims: Claims,
        at: int,
        mode: str,
        resume_window: int,
        client_addr: str,
    ) -> str:
        """Allow one request on a link, or raise why not. Returns COUNTED (a
        limited link, counted here), DEFERRED (an unlimited link's download:
        the caller adds its count in a batch) or FREE (nothing to count).

        The row decides: its path must be the token's, and its expiry, start,
        revocation and limit apply, so a token re-signed with a leaked key
        cannot widen a link, and a later edit of the row governs at once.

        ``mode`` is COUNT (a download that starts the file), RESUME (a range
        that continues one) or PEEK (HEAD, 304: free). On a limited link a
        RESUME is free only for the address that was counted last, within
        ``resume_window`` seconds of that count; anyone else's range counts
        as a download, so no byte of a limited link goes out uncounted.

        A limited link is counted in a single ``UPDATE … WHERE <allowed>
        RETURNING``: check and increment are one atomic statement. An
        unlimited link has nothing to race for, so it is only read, and the
        caller adds its count later in a batch (``AuditLog.record(count=…)``).
        """
        if claims.limited and mode == COUNT and self._count(claims, at, client_addr):
            return COUNTED
        state = self._state(claims.link_id)
        if state is None or state[0] != claims.path:
            raise LinkInvalid("This is not a link of ours, or it no longer works.")
        _, expires_at, not_before, revoked_at, limit, count, last_at, last_addr = state
        if revoked_at is not None:
            raise LinkRevoked(revoked_at)
        check_window(expires_at, not_before, at)
        if limit is None:
            return DEFERRED if mode == COUNT else FREE
        if not claims.limited:
            # A token that says "no limit" for a limited link was not made here.
            raise LinkInvalid("This is not a link of ours, or it no longer works.")
        if mode == RESUME:
            if (
                last_addr == client_addr
                and last_at is not None
                and at - last_at <= resume_window
            ):
                return FREE
            if self._count(claims, at, client_addr):
                return COUNTED
        if count >= limit or mode != PEEK:
            raise LinkUsedUp(limit)
        return FREE

    def _count(self, claims: Claims, at: int, client_addr: str) -> bool:
        """One atomic count of a limited link; False when nothing was counted."""
        return bool(
            self._run(
                _COUNT,
                p_id=claims.link_id,
                p_path=claims.path,
                p_at=at,
                p_addr=client_addr[:64],
            )
        )

    def _state(self, link_id: str) -> tuple | None:
        rows = self._run(_STATE, p_id=link_id)
        return rows[0] if rows else None

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
            raw.dbapi_connection.autocommit = True
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


def add_downloads(conn: Connection, counts: dict[str, tuple[int, int]]) -> None:
    """Add deferred counts of unlimited links, ``{link_id: (n, last_at)}``."""
    if counts:
        conn.execute(
            _BUMP,
            [
                {"p_id": link_id, "p_n": n, "p_at": at}
                for link_id, (n, at) in counts.items()
            ],
        )


# Built once: the download path should not rebuild SQL expressions per request.
_COUNT = (
    update(links)
    .where(
        links.c.id == bindparam("p_id"),
        links.c.path == bindparam("p_path"),
        links.c.revoked_at.is_(None),
        links.c.max_downloads.is_not(None),
        links.c.download_count < links.c.max_downloads,
        links.c.expires_at >= bindparam("p_at"),
        or_(links.c.not_before.is_(None), links.c.not_before <= bindparam("p_at")),
    )
    .values(
        download_count=links.c.download_count + 1,
        last_downloaded_at=bindparam("p_at"),
        last_download_addr=bindparam("p_addr"),
    )
    .returning(links.c.id)
)
_STATE = select(
    links.c.path,
    links.c.expires_at,
    links.c.not_before,
    links.c.revoked_at,
    links.c.max_downloads,
    links.c.download_count,
    links.c.last_downloaded_at,
    links.c.last_download_addr,
).where(links.c.id == bindparam("p_id"))
_BUMP = (
    update(links)
    .where(links.c.id == bindparam("p_id"))
    .values(
        download_count=links.c.download_count + bindparam("p_n"),
        # max(last, at) in a form SQLite and PostgreSQL both understand
        last_downloaded_at=case(
            (
                func.coalesce(links.c.last_downloaded_at, 0) > bindparam("p_at"),
                links.c.last_downloaded_at,
            ),
            else_=bindparam("p_at"),
        ),
    )
)
