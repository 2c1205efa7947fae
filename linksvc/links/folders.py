"""What a folder link opens, once its row has said yes: its page's listing,
"Download all" as a zip made while it is sent, one of its files; no Flask.

The folder is read when the link is opened, not when it was made: files
added later are shared too, files removed are gone. Every member follows the
tree's rules (no escapes, no hard links, hidden names left out) and the
owner's grants, judged by where a symlink leads; no symlinked folder inside
it is entered, by the listing, the zip or a member's URL. Each file is
opened when it is read, following no symlink and refusing any version of it
other than the one listed, so a name swapped while a slow client reads the
zip stops the archive rather than sending another file. On a limited link
each "Download all" and each file download counts one, and a range resumes
only the download that was counted (the same member, or the zip).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import BinaryIO

from werkzeug.wsgi import ClosingIterator

from ..core.clients import client
from ..core.conditional import decide
from ..core.conditional import Decision
from ..core.errors import LinkInvalid
from ..core.errors import TooManyRequests
from ..core.signing import Claims
from ..core.signing import INVALID_LINK
from ..db.claims import LinkState
from ..db.claims import PEEK
from ..db.claims import ZIP_ITEM
from ..files.sending import FILE_HEADERS
from ..files.sending import FileResponse
from ..files.sending import stall_limit
from ..files.sending import Tally
from ..files.tree import covers
from ..files.tree import version_key
from ..files.zipstream import CrcCache
from ..files.zipstream import Member
from ..files.zipstream import zip_response
from ..files.zipstream import ZipPlan
from ..services import Services
from . import opening
from .opening import Opened
from .opening import Purpose
from .opening import Request

#: Files listed on a folder link's page (the zip holds them all).
MAX_LISTED = 5000
#: Files one folder link may share at most (a zip's plan holds about 1 KB
#: per file while it is sent).
MAX_MEMBERS = 100_000
#: Seconds a folder walk may take before the request is refused (a walk
#: runs only for a link whose row said yes).
WALK_SECONDS = 20.0
#: Seconds a folder's listing is reused (an anonymous page view must not
#: walk a big folder each time), and how many listings are kept.
LISTING_TTL, LISTINGS = 5, 64
#: Bytes handed to the server at a time while a zip streams: the unit of
#: progress that ``send_timeout`` watches.
STEP = 64 * 1024
_listings: dict[tuple, tuple[float, Any]] = {}
_listings_lock = threading.Lock()


def owner_grants(svc: Services, state: LinkState) -> list[str]:
    """What the link's owner may share: members are judged by it."""
    owner = svc.store.users.get(state.created_by) if state.created_by else None
    return owner.effective_grants if owner and not owner.disabled else []


def files(
    svc: Services, claims: Claims, grants: list[str]
) -> list[tuple[str, Path, os.stat_result]]:
    """The folder's files as they are now, bounded in count and time (the
    tree walks on a real thread)."""
    return svc.tree.files_under(claims.path, grants, MAX_MEMBERS, WALK_SECONDS)


@dataclass(frozen=True)
class Listing:
    """What the page shows: the first MAX_LISTED files, and the totals."""

    shown: list[tuple[str, Path, os.stat_result]]
    count: int
    total: int


def listing(svc: Services, claims: Claims, grants: list[str]) -> Listing:
    """The page's listing, reused for LISTING_TTL seconds; only what the page
    shows is kept, so a cached listing stays small however big the folder.
    (A zip walks afresh: its sizes and versions must be current.)"""
    key = (str(svc.tree.root), claims.path, tuple(grants))
    found = _listings.get(key)
    if found is not None and found[0] > time.monotonic():
        return found[1]
    listed = files(svc, claims, grants)
    made = Listing(
        listed[:MAX_LISTED], len(listed), sum(st.st_size for _, _, st in listed)
    )
    with _listings_lock:
        if len(_listings) >= LISTINGS:
            _listings.clear()
        _listings[key] = (time.monotonic() + LISTING_TTL, made)
    return made


def opened(
    svc: Services, request: Request, claims: Claims, state: LinkState, purpose: Purpose
) -> FileResponse | Opened:
    """What ``purpose`` makes of a folder link whose row said yes."""
    environ = request.environ
    grants = owner_grants(svc, state)
    if purpose is Purpose.MEMBER:
        return _member(svc, environ, claims, state, grants, request.member or "")
    if purpose is Purpose.ZIP:
        return _zip(svc, environ, claims, state, grants)
    if purpose is Purpose.SUMS:
        return _sums(svc, environ, claims, state, grants)
    opening.claim(svc, environ, claims, state, PEEK, "")
    shown = listing(svc, claims, grants)
    opening.record_look(svc, environ, claims, purpose)
    return Opened(purpose, claims, state, extra=shown)


def _member(
    svc: Services,
    environ: dict[str, Any],
    claims: Claims,
    state: LinkState,
    grants: list[str],
    name: str,
) -> FileResponse:
    rel = svc.tree.clean(name)
    if not rel:
        raise LinkInvalid(INVALID_LINK)
    found = svc.tree.open_member(claims.path, rel)
    if not covers(grants, svc.tree.relative(found.real)):
        found.close()
        raise LinkInvalid(INVALID_LINK)
    return opening.send_file(svc, environ, claims, state, found)


def _slot(svc: Services, addr: str) -> Callable[[], None]:
    """One of the worker's zip slots for ``addr`` (429 if none is free), and
    what gives it back (once, however often it is called)."""
    if not svc.zips.take(addr):
        raise TooManyRequests("Too many archives are being sent; try again soon.", 5)
    given_back = threading.Event()

    def give_back() -> None:
        if not given_back.is_set():
            given_back.set()
            svc.zips.give(addr)

    return give_back


def sums_line(digest: bytes, name: str) -> str:
    """One line of a SHA256SUMS file as ``sha256sum -c`` reads it (GNU: a
    name with a backslash or newline is escaped, and the line starts with a
    backslash)."""
    if "\\" in name or "\n" in name:
        escaped = name.replace("\\", "\\\\").replace("\n", "\\n")
        return f"\\{digest.hex()}  {escaped}\n"
    return f"{digest.hex()}  {name}\n"


def _sums(
    svc: Services,
    environ: dict[str, Any],
    claims: Claims,
    state: LinkState,
    grants: list[str],
) -> FileResponse:
    """The folder's SHA256SUMS, one line per file as the zip names it, sent
    as each digest is known (a digest not stored yet is read on a real
    thread, and kept). It takes a zip slot while it is made; a file that
    changed while being read is left out (its line would not check)."""
    give_back = _slot(svc, environ.get("REMOTE_ADDR") or "")
    try:
        base = claims.path.rsplit("/", 1)[-1] or "protected"
        listed = files(svc, claims, grants)
        opening.claim(svc, environ, claims, state, PEEK, "")
    except BaseException:
        give_back()
        raise
    digests = svc.digests
    assert digests is not None
    restore = stall_limit(environ, svc.settings.send_timeout)

    def lines() -> Iterator[bytes]:
        for name, real, st in listed:
            digest = digests.compute(real, st)
            if digest is not None:
                yield sums_line(digest, f"{base}/{name}").encode()

    tally = Tally(0)

    def done() -> None:
        restore()
        give_back()
        tally.finish()

    headers = [
        *FILE_HEADERS,
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Disposition", 'attachment; filename="SHA256SUMS"'),
    ]
    body: Any = ClosingIterator(
        tally.count(lines()) if environ["REQUEST_METHOD"] == "GET" else iter(()),
        done,
    )
    opening.record_look(svc, environ, claims, Purpose.SUMS)
    return FileResponse(200, headers, body, tally)


def _zip(
    svc: Services,
    environ: dict[str, Any],
    claims: Claims,
    state: LinkState,
    grants: list[str],
) -> FileResponse:
    give_back = _slot(svc, environ.get("REMOTE_ADDR") or "")
    try:
        response = _zip_response(svc, environ, claims, state, grants, give_back)
    except BaseException:
        give_back()
        raise
    return response


def _zip_response(
    svc: Services,
    environ: dict[str, Any],
    claims: Claims,
    state: LinkState,
    grants: list[str],
    give_back: Any,
) -> FileResponse:
    base = claims.path.rsplit("/", 1)[-1] or "protected"
    listed = files(svc, claims, grants)
    planned = {str(real): st for _, real, st in listed}

    def open_planned(m: Member) -> BinaryIO:
        """Open a member as planned: no symlink followed, the same version."""
        found = svc.tree.open_real(Path(m.path), planned[m.path])
        return found.reader()

    members = [
        Member(
            f"{base}/{name}",
            str(real),
            st.st_size,
            st.st_mtime,
            version_key(str(real), st),
        )
        for name, real, st in listed
    ]
    crcs = svc.store.crcs
    cache = CrcCache(crcs.load, crcs.save, opener=open_planned)
    plan = ZipPlan(members, cache.crc, open_planned)
    digest = hashlib.sha256(
        "\n".join(m.name + "\0" + m.version for m in members).encode()
    )
    etag = f'"z-{digest.hexdigest()[:32]}"'
    mtime = int(max((m.mtime for m in members), default=0))
    decision = decide(
        environ["REQUEST_METHOD"],
        opening.conditional_headers(environ),
        plan.size,
        mtime,
        etag,
    )
    if decision.status == 206 and len(decision.ranges) > 1:
        decision = Decision(200)  # one range at most: the whole archive
    mode = opening.claim_mode(environ["REQUEST_METHOD"], decision)
    claimed = opening.claim(svc, environ, claims, state, mode, ZIP_ITEM)
    if decision.status in (200, 206):
        cache.prefetch(members)
    restore = stall_limit(environ, svc.settings.send_timeout)

    def done() -> None:
        restore()
        give_back()
        cache.flush()

    response = zip_response(environ, plan, f"{base}.zip", decision, etag, mtime, done)
    response.body = _in_steps(response.body)
    opening.with_policy(svc, response)
    response.tally.callback = lambda sent, complete: opening.record_download(
        svc,
        claims,
        mode,
        claimed,
        decision.status,
        client(environ),
        sent,
        complete,
    )
    return response


class _in_steps:
    """The archive's chunks cut to STEP bytes, closing what it wraps."""

    def __init__(self, body: Any) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            for at in range(0, len(chunk), STEP):
                yield chunk[at : at + STEP]

    def close(self) -> None:
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


opening.set_folder_handler(opened)
