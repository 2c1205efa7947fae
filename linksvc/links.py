"""Share links in the database, and the atomic download claim; no Flask.

The download path costs one statement: :meth:`LinkQueries.claim_download`
checks and counts at once, so a limit cannot be overrun by two requests that
both check before either counts.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError

from .errors import AlreadyRevoked
from .errors import LinkInvalid
from .errors import LinkRevoked
from .errors import LinkUsedUp
from .errors import StoreUnavailable
from .errors import UnknownLink
from .schema import links
from .schema import users
from .signing import check_window
from .signing import Claims
from .users import now

#: Random bytes in a link id: 96 bits, not guessable, short in a URL.
LINK_ID_BYTES = 12
#: claim_download modes: a download that starts the file, a range that
#: continues one, a request that sends no body (HEAD, 304).
COUNT, RESUME, PEEK = "count", "resume", "peek"
#: What claim_download did: counted it, left the count to the audit writer
#: (unlimited links), or nothing to count.
COUNTED, DEFERRED, FREE = "counted", "deferred", "free"


@dataclass(frozen=True)
class Link:
    id: str
    path: str
    created_by: int
    owner: str
    created_at: int
    expires_at: int
    not_before: int | None
    max_downloads: int | None
    download_count: int
    last_downloaded_at: int | None
    revoked_at: int | None
    note: str
    key_id: str

    def status(self, now: float) -> str:
        """active, expired, revoked, used up or scheduled, as the dashboard says."""
        if self.revoked_at is not None:
            return "revoked"
        if now > self.expires_at:
            return "expired"
        if self.max_downloads is not None and self.download_count >= self.max_downloads:
            return "used up"
        if self.not_before is not None and now < self.not_before:
            return "scheduled"
        return "active"


class LinkQueries:
    """Mixed into Store: reads and writes of links."""

    engine: Engine

    def create_link(
        self,
        path: str,
        user_id: int,
        expires_at: int,
        key_id: str,
        not_before: int | None = None,
        max_downloads: int | None = None,
        note: str = "",
    ) -> Link:
        link_id = secrets.token_urlsafe(LINK_ID_BYTES)
        with self.engine.begin() as conn:
            conn.execute(
                insert(links).values(
                    id=link_id,
                    path=path,
                    created_by=user_id,
                    created_at=now(),
                    expires_at=expires_at,
                    not_before=not_before,
                    max_downloads=max_downloads,
                    download_count=0,
                    note=note,
                    key_id=key_id,
                )
            )
        return self.link(link_id)

    def _links_query(self):
        return select(links, users.c.username.label("owner")).join(
            users, users.c.id == links.c.created_by
        )

    @staticmethod
    def _link(row) -> Link:
        m = row._mapping
        return Link(**{name: m[name] for name in Link.__dataclass_fields__})

    def link(self, link_id: str) -> Link:
        with self.engine.connect() as conn:
            row = conn.execute(self._links_query().where(links.c.id == link_id)).first()
        if row is None:
            raise UnknownLink(f"no link with id {link_id!r}")
        return self._link(row)

    def list_links(
        self, user_id: int | None = None, limit: int = 200, offset: int = 0
    ) -> list[Link]:
        """Newest first; every user's when ``user_id`` is None (admins)."""
        query = self._links_query().order_by(links.c.created_at.desc(), links.c.id)
        if user_id is not None:
            query = query.where(links.c.created_by == user_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit).offset(offset))
            return [self._link(row) for row in rows]

    def count_links(self, user_id: int | None = None) -> int:
        query = select(func.count()).select_from(links)
        if user_id is not None:
            query = query.where(links.c.created_by == user_id)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def revoke_link(self, link_id: str, by_user_id: int | None) -> Link:
        """Revoke one link; AlreadyRevoked if it was, UnknownLink if none."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(links)
                .where(links.c.id == link_id, links.c.revoked_at.is_(None))
                .values(revoked_at=now(), revoked_by=by_user_id)
            ).rowcount
        link = self.link(link_id)
        if not done:
            raise AlreadyRevoked(f"link {link_id} was already revoked")
        return link

    def revoke_links(
        self,
        by_user_id: int | None,
        owner_id: int | None = None,
        path_prefix: str | None = None,
    ) -> list[str]:
        """Revoke every unrevoked link of an owner and/or under a path.

        ``path_prefix`` follows grant rules: ``a/b`` means ``a/b`` and
        everything below it, not ``a/bc``; the empty prefix means every path.
        """
        query = select(links.c.id).where(links.c.revoked_at.is_(None))
        if owner_id is not None:
            query = query.where(links.c.created_by == owner_id)
        if path_prefix:
            escaped = path_prefix.replace("\\", "\\\\")
            escaped = escaped.replace("%", "\\%").replace("_", "\\_")
            query = query.where(
                or_(
                    links.c.path == path_prefix,
                    links.c.path.like(escaped + "/%", escape="\\"),
                )
            )
        with self.engine.begin() as conn:
            ids = list(conn.execute(query).scalars())
            if ids:
                conn.execute(
                    update(links)
                    .where(links.c.id.in_(ids), links.c.revoked_at.is_(None))
                    .values(revoked_at=now(), revoked_by=by_user_id)
                )
        return ids

    def claim_download(
        self,
        claims: Claims,
        at: int,
        mode: str = COUNT,
        resume_window: int = 0,
        client_addr: str = "",
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
            raise LinkInvalid("Unknown or malformed link.")
        _, expires_at, not_before, revoked_at, limit, count, last_at, last_addr = state
        if revoked_at is not None:
            raise LinkRevoked(revoked_at)
        check_window(expires_at, not_before, at)
        if limit is None:
            return DEFERRED if mode == COUNT else FREE
        if not claims.limited:
            # A token that says "no limit" for a limited link was not made here.
            raise LinkInvalid("Unknown or malformed link.")
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
                finally:
                    cursor.close()
        except (DBAPIError, self.engine.dialect.loaded_dbapi.Error) as exc:
            raise StoreUnavailable("The database is busy or unreachable.") from exc
        return rows

    def close_download_connection(self) -> None:
        """Give back this thread's download connection (see _hot_connection)."""
        local = self.__dict__.get("_hot")
        raw = getattr(local, "raw", None)
        if raw is not None:
            local.raw = None
            raw.close()

    @contextmanager
    def _hot_connection(self) -> Iterator[Any]:
        """This thread's own pooled DBAPI connection, kept between downloads.

        A pool checkout and its reset cost more than the query itself; a
        connection that fails is discarded, and the next request gets a new one.
        """
        local = self.__dict__.setdefault("_hot", threading.local())
        raw = getattr(local, "raw", None)
        if raw is None:
            raw = local.raw = self.engine.raw_connection()
        try:
            yield raw
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
        cache = self.__dict__.setdefault("_compiled", {})
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
