"""The download claim: what one request for a link does to its row; no Flask.

A request reads the link's row once, on a connection its thread keeps; a
limited link is then counted in one ``UPDATE … WHERE <allowed> RETURNING``
(so no two requests can both take the last download); an unlimited link's
count is added later, in a batch, by the audit writer (:func:`add_downloads`).

On PostgreSQL, requests of one worker that read or count the same link while
a statement for it runs wait and go together (db/coalesce.py): one read for
all of them, or one count that grants up to the remaining downloads in one
commit, handed out in arrival order. The count stays one atomic statement,
so exactly-once holds across workers and instances.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import NamedTuple

from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import Connection
from sqlalchemy import func
from sqlalchemy import Integer
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from ..core.errors import LinkInvalid
from ..core.errors import LinkRevoked
from ..core.errors import LinkSuspended
from ..core.errors import LinkUsedUp
from ..core.signing import check_window
from ..core.signing import Claims
from .coalesce import Coalescer
from .hot import HotStatements
from .schema import links

#: Claim modes: a download that starts the file, a range that continues one,
#: a request that sends no body (HEAD, 304).
COUNT, RESUME, PEEK = "count", "resume", "peek"
#: The item a "Download all" is counted for (no path starts with "/").
ZIP_ITEM = "/zip"
#: What a claim did: counted it, left the count to the audit writer
#: (unlimited links), or nothing to count.
COUNTED, DEFERRED, FREE = "counted", "deferred", "free"


class LinkState(NamedTuple):
    """What the download path reads of a link's row."""

    path: str
    expires_at: int
    not_before: int | None
    revoked_at: int | None
    max_downloads: int | None
    download_count: int
    last_downloaded_at: int | None
    last_download_addr: str | None
    recipient_page: bool
    password_hash: str | None
    ranges: str
    pin: str | None
    folder: bool
    #: What the last count was for: a file's path, a member's, or ZIP_ITEM.
    last_download_item: str | None = None
    #: The owner's user id (a folder's members are judged by their grants).
    created_by: int | None = None
    #: The owner no longer reaches the path (their grants changed).
    suspended: bool = False
    #: An upload link: only the upload purposes open it.
    upload: bool = False
    #: A share for recipients: it opens nothing (their links do).
    share: bool = False
    #: The recipient must give a one-time code first (their address).
    verify: bool = False
    recipient_email: str = ""
    #: The expired or used-up page offers "ask for more time".
    more_time: bool = False

    @property
    def guarded(self) -> bool:
        """A password, address ranges, a pinned version or a code to give:
        the request must be checked against them (a ``guard``) before it is
        allowed."""
        return bool(
            self.password_hash is not None or self.ranges or self.pin or self.verify
        )


#: Checks a request against a guarded link's row; raises why not.
Guard = Callable[[LinkState], None]


def check_row(
    claims: Claims, state: LinkState | None, at: int, guard: Guard | None = None
) -> LinkState:
    """Whether the row lets the token be used now, or raise why not: its path
    must be the token's, it must not be revoked, ``at`` must be inside its
    window, and a guarded row (password, address ranges, pinned version)
    must pass ``guard`` (without one such a link is refused). Pure."""
    if state is None or state.path != claims.path or state.share:
        raise LinkInvalid("This is not a link of ours, or it no longer works.")
    if state.revoked_at is not None:
        raise LinkRevoked(state.revoked_at)
    if state.suspended:
        raise LinkSuspended()
    check_window(state.expires_at, state.not_before, at)
    if state.guarded:
        if guard is None:
            raise LinkInvalid("This link cannot be checked here.")
        guard(state)
    return state


def resumes(
    state: LinkState,
    at: int,
    client_addr: str,
    resume_window: int,
    item: str | None = None,
) -> bool:
    """Whether a range may continue the download counted last: the same
    address within ``resume_window`` of that count, and the same ``item``
    (None: any item, for a check made before the item is known). Pure."""
    last_at = state.last_downloaded_at
    return (
        state.last_download_addr == client_addr[:64]
        and (item is None or state.last_download_item == item)
        and last_at is not None
        and at - last_at <= resume_window
    )


def needs_count(
    state: LinkState,
    at: int,
    mode: str,
    resume_window: int,
    client_addr: str,
    item: str,
) -> str | None:
    """What a request in ``mode`` does to an allowed row: None when it must
    be counted (a limited link), else DEFERRED or FREE; LinkUsedUp when a
    request that sends nothing asks about a used-up link. Pure.

    On a limited link a RESUME is free only when it continues the download
    counted last: the same ``item`` (the file, the member or the zip), for
    the same address, within ``resume_window`` seconds of that count; any
    other range counts as a download, so no byte goes out uncounted.
    """
    limit = state.max_downloads
    if limit is None:
        return DEFERRED if mode == COUNT else FREE
    if mode == RESUME and resumes(state, at, client_addr, resume_window, item):
        return FREE
    if mode != PEEK:
        return None
    if state.download_count >= limit:
        raise LinkUsedUp(limit)
    return FREE


class DownloadClaims(HotStatements):
    """Claims on links for downloads, each thread on its own connection."""

    _reads: Coalescer | None = None
    _counts: Coalescer | None = None

    def state(self, link_id: str) -> LinkState | None:
        """The row's state: the one read a request for a link makes."""
        if self._batched():
            if self._reads is None:
                self._reads = self._coalescer(self._read_batch)
            return self._reads.join(link_id, None)[0]
        return self._where_it_may(self._state, link_id)

    def _read_batch(self, link_id: str, _items: list) -> LinkState | None:
        return self._state(link_id)

    def claim(
        self,
        claims: Claims,
        at: int,
        mode: str = COUNT,
        resume_window: int = 0,
        client_addr: str = "",
        state: LinkState | None = None,
        guard: Guard | None = None,
        item: str = "",
    ) -> str:
        """Allow one request on a link, or raise why not. Returns COUNTED (a
        limited link, counted here), DEFERRED (an unlimited link's download:
        the caller adds its count in a batch) or FREE (nothing to count).

        The row decides (:func:`check_row`, :func:`needs_count`): a token
        re-signed with a leaked key cannot widen a link, and an edit of the
        row governs at once. ``state`` is the row as the caller read it (read
        here when None). A limited link is counted in a single ``UPDATE …
        WHERE <allowed> RETURNING``: check and increment are one atomic
        statement, so no two requests both take the last download.

        On SQLite everything is first tried where it is asked: the event
        loop's connection never waits for a lock (busy timeout 0), so a write
        that finds the database locked gives up at once and is tried again on
        a real thread, which waits up to ``database_timeout``.
        """
        if state is None:
            state = self.state(claims.link_id)
        check_row(claims, state, at, guard)
        assert state is not None
        done = needs_count(state, at, mode, resume_window, client_addr, item)
        if done is not None:
            return done
        if self._counted(claims, at, client_addr, item, "count"):
            return COUNTED
        # Counted out, or changed since it was read: say which.
        check_row(claims, self.state(claims.link_id), at, guard)
        raise LinkUsedUp(state.max_downloads or 0)

    def count_plain(self, claims: Claims, at: int, client_addr: str) -> bool:
        """Count a download of a limited link whose row has no options (no
        password, ranges, pin, page, folder) in one statement, unread: the
        common case of a one-time link. False when the row is not such a
        row, or says no: the caller then reads it and decides."""
        return self._counted(claims, at, client_addr, claims.path, "plain")

    def refund(self, link_id: str) -> None:
        """Give back a count whose file could not be opened after all."""
        self._where_it_may(self._refund, link_id)

    def _refund(self, link_id: str) -> None:
        self._run(_REFUND, p_id=link_id)

    def resolve(self, claims: Claims) -> tuple[Claims, LinkState]:
        """The claims of an opaque token, from its link's row (which is then
        handed to :meth:`claim`, so it is read once)."""
        state = self.state(claims.link_id)
        if state is None:
            raise LinkInvalid("This is not a link of ours, or it no longer works.")
        return (
            Claims(
                claims.link_id,
                state.path,
                state.expires_at,
                state.not_before,
                claims.key_id,
                limited=state.max_downloads is not None,
                recipient_page=bool(state.recipient_page),
                opaque=True,
                folder=bool(state.folder),
            ),
            state,
        )

    def _counted(
        self, claims: Claims, at: int, client_addr: str, item: str, name: str
    ) -> bool:
        """One atomic count of a limited link by the statement ``name``
        ("count", or "plain" for a row without options), alone or in a
        batch of this worker's counts of the same link, path and second;
        False when nothing was counted."""
        addr, item = client_addr[:64], item[:1024]
        if not self._batched():
            return bool(
                self._where_it_may(
                    self._count,
                    _SINGLE[name],
                    claims.link_id,
                    claims.path,
                    at,
                    addr,
                    item,
                )
            )
        if self._counts is None:
            self._counts = self._coalescer(self._count_batch)
        key = (name, claims.link_id, claims.path, at)
        granted, place = self._counts.join(key, (addr, item))
        return place < granted

    def _count_batch(self, key: tuple, items: list[tuple[str, str]]) -> int:
        """Count a batch in one statement: how many of it, first come first,
        were granted (the link's last address and item are the last one's)."""
        name, link_id, path, at = key
        addr, item = items[-1]
        if len(items) == 1:
            return int(self._count(_SINGLE[name], link_id, path, at, addr, item))
        rows = self._run(
            _MANY[name],
            p_id=link_id,
            p_path=path,
            p_at=at,
            p_addr=addr,
            p_item=item,
            p_n=len(items),
        )
        return int(rows[0][0]) if rows else 0

    def _count(
        self, statement: Any, link_id: str, path: str, at: int, addr: str, item: str
    ) -> bool:
        """One count by ``statement``; False when nothing was counted."""
        return bool(
            self._run(
                statement,
                p_id=link_id,
                p_path=path,
                p_at=at,
                p_addr=addr,
                p_item=item,
            )
        )

    def _state(self, link_id: str) -> LinkState | None:
        rows = self._run(_STATE, p_id=link_id)
        return LinkState(*rows[0]) if rows else None


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
#: What a row must say for a count: its path, not revoked, limited and not
#: used up, inside its window.
_ALLOWED = (
    links.c.path == bindparam("p_path"),
    links.c.revoked_at.is_(None),
    links.c.share.is_(False),
    links.c.max_downloads.is_not(None),
    links.c.download_count < links.c.max_downloads,
    links.c.expires_at >= bindparam("p_at"),
    or_(links.c.not_before.is_(None), links.c.not_before <= bindparam("p_at")),
)
#: ... and for the one unread statement of a row without options.
_PLAIN = (
    links.c.password_hash.is_(None),
    links.c.ranges == "",
    links.c.pin.is_(None),
    links.c.recipient_page.is_(False),
    links.c.folder.is_(False),
    links.c.verify.is_(False),
)
_LAST: dict[str, Any] = {
    "last_downloaded_at": bindparam("p_at"),
    "last_download_addr": bindparam("p_addr"),
    "last_download_item": bindparam("p_item"),
}
_COUNT = (
    update(links)
    .where(links.c.id == bindparam("p_id"), *_ALLOWED)
    .values(download_count=links.c.download_count + 1, **_LAST)
    .returning(links.c.id)
)
#: The same, for a row without options, in one unread statement.
_COUNT_PLAIN = _COUNT.where(*_PLAIN)


def _count_many(*plain: Any) -> Any:
    """Count up to ``p_n`` downloads in one statement, returning how many
    were granted (the row's count after, less its count before). The row is
    locked by the sub-select first (``FOR UPDATE``), so the count it reads
    is the one the update adds to, whoever committed just before. Only a
    database server runs it: SQLite's RETURNING cannot name the sub-select,
    and SQLite never batches (its writes do not wait for each other's
    flush)."""
    before = (
        select(links.c.id, links.c.download_count.label("before"))
        .where(links.c.id == bindparam("p_id"))
        .with_for_update()
        .subquery("before")
    )
    room = links.c.max_downloads - links.c.download_count
    wanted = bindparam("p_n", type_=Integer)
    return (
        update(links)
        .where(links.c.id == before.c.id, *_ALLOWED, *plain)
        .values(
            download_count=links.c.download_count
            + case((room < wanted, room), else_=wanted),
            **_LAST,
        )
        .returning(links.c.download_count - before.c.before)
    )


#: The counting statements by name (a batch's key), one at a time and many.
_SINGLE = {"count": _COUNT, "plain": _COUNT_PLAIN}
_MANY = {"count": _count_many(), "plain": _count_many(*_PLAIN)}
_REFUND = (
    update(links)
    .where(links.c.id == bindparam("p_id"), links.c.download_count > 0)
    .values(download_count=links.c.download_count - 1)
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
    links.c.recipient_page,
    links.c.password_hash,
    links.c.ranges,
    links.c.pin,
    links.c.folder,
    links.c.last_download_item,
    links.c.created_by,
    links.c.suspended,
    links.c.upload,
    links.c.share,
    links.c.verify,
    links.c.recipient_email,
    links.c.more_time,
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
