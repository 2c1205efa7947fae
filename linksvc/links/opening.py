"""The one way a request opens a link: :func:`open_link`; no Flask.

Every route under ``/d/`` (the file, HEAD, a chat app's preview, the
recipient page, the password form, a folder's page, its zip, one of its
files, the recipient page's Download button) calls :func:`open_link` with
its :class:`Purpose`, and nothing else verifies a token, reads a link's row,
applies its guards, claims it or records the outcome. The order is always
the same:

1. the token is verified (the signature only: the row decides the rest);
2. the row is read, once;
3. the row's checks, in the order a recipient can act on: its path, kind,
   revocation, window, then the network, then the password;
4. only then anything costly: a file opened (safely: no symlink followed),
   a folder walked, a zip planned (within the zip slots);
5. the pinned version, then the claim (counting, resuming or peeking as the
   purpose and the request say), and the record of what happened.

A refusal at any step is recorded the same way (folded, limited per address
by ``refusal_limit``) and returned as a :class:`Refusal`; the caller renders
it. Nothing passes through the WSGI environ.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..core import addresses
from ..core.clients import Client
from ..core.clients import client
from ..core.clock import now as clock_now
from ..core.conditional import decide
from ..core.conditional import Decision
from ..core.errors import AddressRefused
from ..core.errors import FileChanged
from ..core.errors import FileMissing
from ..core.errors import LinkExpired
from ..core.errors import LinkInvalid
from ..core.errors import LinksvcError
from ..core.errors import LinkUsedUp
from ..core.errors import PasswordRequired
from ..core.errors import PathRefused
from ..core.errors import TooManyAttempts
from ..core.errors import TooManyRequests
from ..core.errors import VerificationRequired
from ..core.errors import WrongPassword
from ..core.observed import note
from ..core.signing import Claims
from ..core.signing import INVALID_LINK
from ..db.claims import check_row
from ..db.claims import COUNT
from ..db.claims import COUNTED
from ..db.claims import DEFERRED
from ..db.claims import LinkState
from ..db.claims import PEEK
from ..db.claims import RESUME
from ..db.claims import resumes
from ..files.sending import FileResponse
from ..files.sending import send
from ..files.tree import etag_of
from ..files.tree import OpenFile
from ..files.tree import version
from ..services import Services
from . import more_time
from . import verification

#: The request headers RFC 9110 preconditions and ranges read, by WSGI name.
_CONDITIONAL = {
    "If-Match": "HTTP_IF_MATCH",
    "If-None-Match": "HTTP_IF_NONE_MATCH",
    "If-Modified-Since": "HTTP_IF_MODIFIED_SINCE",
    "If-Unmodified-Since": "HTTP_IF_UNMODIFIED_SINCE",
    "If-Range": "HTTP_IF_RANGE",
    "Range": "HTTP_RANGE",
}


class Purpose(enum.Enum):
    """Why a request opens a link: what it may see and what it may cost."""

    #: The link's own URL (GET or HEAD): its file, its recipient page or
    #: its folder's page, as the row says.
    LINK = "link"
    #: The bytes of a file link (GET counts, HEAD and 304 do not).
    FILE = "file"
    #: The recipient page's Download button (a POST: no scanner presses it).
    DOWNLOAD = "download"
    #: A chat app's unfurler: the name, never the bytes, counts nothing.
    PREVIEW = "preview"
    #: The recipient page: name, size, expiry, downloads left.
    PAGE = "page"
    #: Giving the link's password.
    UNLOCK = "unlock"
    #: A recipient asking for a one-time code, or giving it.
    VERIFY = "verify"
    #: A recipient of an expired or used-up link asking for more time.
    MORE_TIME = "more time"
    #: A folder link's page.
    FOLDER = "folder"
    #: A folder link's "Download all".
    ZIP = "zip"
    #: One file of a folder link.
    MEMBER = "member"
    #: A folder link's SHA256SUMS: each file's digest (reads the files, as a
    #: zip does; counts nothing).
    SUMS = "sums"
    #: An upload link's page (the uploader's).
    UPLOAD_PAGE = "upload page"
    #: An upload link's tus requests (create, resume, send, cancel).
    UPLOAD = "upload"


#: Purposes that send a link's bytes (and may count).
SENDING = {Purpose.FILE, Purpose.DOWNLOAD, Purpose.ZIP, Purpose.MEMBER}
#: Purposes that need a folder link, and those that need a file link.
FOLDER_PURPOSES = {Purpose.FOLDER, Purpose.ZIP, Purpose.MEMBER, Purpose.SUMS}
FILE_PURPOSES = {Purpose.FILE, Purpose.DOWNLOAD, Purpose.PAGE}
#: Purposes an upload link opens for (and only those, and its password).
UPLOAD_PURPOSES = {Purpose.UPLOAD_PAGE, Purpose.UPLOAD}


@dataclass(frozen=True)
class Refusal:
    """Why a request for a link gets nothing, already recorded; ``claims``
    is what the token said if it was genuine. ``error`` None is an
    unexpected failure (a 500 page)."""

    error: LinksvcError | None
    claims: Claims | None = None
    #: The link is expired or used up and its owner takes requests for
    #: more time: the page offers the form.
    more_time: bool = False


@dataclass(frozen=True)
class Opened:
    """A link that a request may see, for a purpose that shows a page (the
    recipient page, a folder's page, a preview, a password given)."""

    purpose: Purpose
    claims: Claims
    state: LinkState
    #: The file's stat (a file link's page and preview).
    st: os.stat_result | None = None
    #: What the purpose made: a folder's listing.
    extra: Any = None
    #: The file's SHA-256, once known (a file link's page).
    digest: bytes | None = None


@dataclass(frozen=True)
class Request:
    """What :func:`open_link` reads of a request: the WSGI environ (method,
    address, cookies, preconditions), and for a member its name under the
    folder, for an unlock the password given."""

    environ: dict[str, Any]
    member: str | None = None
    password: str | None = None
    #: The one-time code given (VERIFY); None asks for one to be sent.
    code: str | None = None
    #: What a recipient asking for more time wrote, and their address.
    message: str = ""
    email: str = ""


#: What a folder purpose does once the row has said yes (links/folders.py).
FolderHandler = Callable[[Services, Request, Claims, LinkState, Purpose], Any]
_folder_handler: FolderHandler | None = None


def set_folder_handler(handler: FolderHandler) -> None:
    """Folder pages, zips and members are made by links/folders.py, which
    imports this module; it registers itself here."""
    global _folder_handler
    _folder_handler = handler


def wants_file(environ: dict[str, Any]) -> bool:
    """A recipient page's old Download link asks for ``?download=1``."""
    return "download=1" in environ.get("QUERY_STRING", "").split("&")


def conditional_headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's precondition and Range headers, by their HTTP names."""
    return {name: environ[key] for name, key in _CONDITIONAL.items() if key in environ}


def decision_for(environ: dict[str, Any], st: os.stat_result) -> Decision:
    return decide(
        environ["REQUEST_METHOD"],
        conditional_headers(environ),
        st.st_size,
        int(st.st_mtime),
        etag_of(st),
    )


def claim_mode(method: str, decision: Decision) -> str:
    """COUNT a GET that starts the file; a later range RESUMEs; the rest PEEK."""
    if method not in ("GET", "POST") or decision.status not in (200, 206):
        return PEEK
    return COUNT if decision.starts_at_zero else RESUME


def concrete(purpose: Purpose, state: LinkState, environ: dict[str, Any]) -> Purpose:
    """What the link's own URL is for this row and request: a folder's page,
    the recipient page, or the file. A limited link with a recipient page is
    downloaded only by the page's POST, so a mail scanner's GET of the link
    or of ``?download=1`` never uses it up; HEAD is always the file's."""
    if purpose is not Purpose.LINK:
        return purpose
    if state.folder:
        return Purpose.FOLDER
    if state.recipient_page and environ.get("REQUEST_METHOD") == "GET":
        if state.max_downloads is not None or not wants_file(environ):
            return Purpose.PAGE
    return Purpose.FILE


def open_link(
    svc: Services, request: Request, token: str, purpose: Purpose
) -> FileResponse | Opened | Refusal:
    """Open ``token`` for ``purpose``: the response that sends its bytes,
    what a page shows, or a recorded Refusal (see the module's docstring)."""
    environ = request.environ
    claims: Claims | None = None
    state: LinkState | None = None
    try:
        claims = svc.signer.verify(token)
        note(environ, link_id=claims.link_id, outcome="ok")
        if purpose is Purpose.LINK and _plain_get(environ):
            counted = _counted_plain(svc, environ, claims)
            if counted is not None:
                return counted
        claims, state = _row(svc, claims)
        if purpose is Purpose.MORE_TIME:
            asked = more_time.ask(
                svc, environ, claims, state, request.message, request.email
            )
            return Opened(purpose, claims, state, extra=asked)
        check_row(claims, state, clock_now(), guard=_no_guard)
        purpose = concrete(purpose, state, environ)
        _kind(purpose, state)
        _guards(
            svc,
            environ,
            claims,
            state,
            password=purpose is not Purpose.UNLOCK,
            verify=purpose not in (Purpose.UNLOCK, Purpose.VERIFY),
        )
        _not_used_up(svc, environ, state)
        if purpose is Purpose.UNLOCK:
            _unlock(svc, environ, claims, state, request.password)
        if purpose is Purpose.VERIFY:
            done = _verify(svc, claims, state, request.code)
            record_look(svc, environ, claims, purpose)
            return Opened(purpose, claims, state, extra=done)
        if purpose in UPLOAD_PURPOSES or (purpose is Purpose.UNLOCK and state.upload):
            # Nothing is opened or counted until bytes arrive (links/uploads.py).
            if purpose is not Purpose.UPLOAD:
                record_look(svc, environ, claims, purpose)
            return Opened(purpose, claims, state)
        if purpose in FOLDER_PURPOSES:
            assert _folder_handler is not None
            return _folder_handler(svc, request, claims, state, purpose)
        if purpose in (Purpose.FILE, Purpose.DOWNLOAD):
            return send_file(svc, environ, claims, state, svc.tree.open(claims.path))
        st = digest = None
        if not state.folder:
            opened = svc.tree.open(claims.path)
            opened.close()
            st = opened.st
            _pinned(state, st)
            digest = svc.digest_of(opened)
        claim(svc, environ, claims, state, PEEK, "")  # works now, counts nothing
    except LinksvcError as exc:
        refused = refuse(svc, environ, exc, claims)
        if (
            state is not None
            and state.more_time
            and isinstance(exc, LinkExpired | LinkUsedUp)
            and purpose is not Purpose.MORE_TIME
        ):
            refused = dataclasses.replace(refused, more_time=True)
        return refused
    record_look(svc, environ, claims, purpose)
    return Opened(purpose, claims, state, st, digest=digest)


#: Request headers that can make a GET anything but a whole 200.
_NOT_PLAIN = (
    "HTTP_RANGE",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
)


def _plain_get(environ: dict[str, Any]) -> bool:
    """A GET that, if allowed, is a whole download (no range, no
    precondition, not the recipient page's old ``?download=1``)."""
    return (
        environ.get("REQUEST_METHOD") == "GET"
        and not any(h in environ for h in _NOT_PLAIN)
        and not environ.get("QUERY_STRING")
    )


def _counted_plain(
    svc: Services, environ: dict[str, Any], claims: Claims
) -> FileResponse | None:
    """The one-statement path of a limited link without options: the row
    says yes and counts in one ``UPDATE … RETURNING`` (nothing is opened
    before it); then the file is opened, and a file that cannot be opened
    gives its count back. None when the row is not such a row: the caller
    reads it and decides, as for any link."""
    if claims.opaque or not claims.limited or claims.recipient_page or claims.folder:
        return None
    addr = environ.get("REMOTE_ADDR") or ""
    if not svc.store.claims.count_plain(claims, clock_now(), addr):
        return None
    try:
        opened = svc.tree.open(claims.path)
    except BaseException:
        svc.store.claims.refund(claims.link_id)
        raise
    response = send(environ, opened, Decision(200), svc.offload, svc.digest_of(opened))
    with_policy(svc, response)
    response.tally.callback = partial(
        record_download, svc, claims, COUNT, COUNTED, 200, client(environ)
    )
    return response


def _row(svc: Services, claims: Claims) -> tuple[Claims, LinkState]:
    """The token's claims and its row, read once (an opaque token's claims
    come from the row)."""
    if claims.opaque:
        return svc.store.claims.resolve(claims)
    state = svc.store.claims.state(claims.link_id)
    if state is None:
        raise LinkInvalid("This is not a link of ours, or it no longer works.")
    return claims, state


def _no_guard(state: LinkState) -> None:
    """Guards are applied by :func:`_guards`, once the kind is known."""


def _kind(purpose: Purpose, state: LinkState) -> None:
    """A link opens only for its kind: an upload link never lists or sends
    its folder, a download link never takes a byte in."""
    if state.upload != (purpose in UPLOAD_PURPOSES) and purpose is not Purpose.UNLOCK:
        raise LinkInvalid(INVALID_LINK)
    if purpose in FOLDER_PURPOSES and not state.folder:
        raise LinkInvalid(INVALID_LINK)
    if purpose in FILE_PURPOSES and state.folder:
        raise LinkInvalid(INVALID_LINK)


def _guards(
    svc: Services,
    environ: dict[str, Any],
    claims: Claims,
    state: LinkState,
    password: bool = True,
    verify: bool = True,
) -> None:
    """The row's options, before anything costly: the network, then the
    password (an unlock cookie for this link and its current password), then
    the recipient's code (a verified cookie for this link and address)."""
    addr = environ.get("REMOTE_ADDR") or ""
    if state.ranges and not addresses.allows(state.ranges, addr):
        raise AddressRefused(
            f"This link can only be used from certain networks; your "
            f"address {addr[:64]} is not in them."
        )
    if (
        password
        and state.password_hash is not None
        and not svc.unlocks.unlocked(
            environ.get("HTTP_COOKIE", ""), claims.link_id, state.password_hash
        )
    ):
        raise PasswordRequired("This link is protected by a password.")
    if (
        verify
        and state.verify
        and not verification.verified(
            svc, environ, claims.link_id, state.recipient_email
        )
    ):
        raise VerificationRequired(
            "This link is for one person: enter the code we email to "
            f"{verification.masked(state.recipient_email)}."
        )


def _verify(svc: Services, claims: Claims, state: LinkState, code: str | None) -> str:
    """Send a code ("sent"), or take the one given ("verified"); a link that
    asks for no code is verified as it is."""
    if not state.verify:
        return "verified"
    if code is None:
        verification.send_code(svc, claims, state)
        return "sent"
    verification.check_code(svc, claims, code)
    return "verified"


def _not_used_up(svc: Services, environ: dict[str, Any], state: LinkState) -> None:
    """A used-up link is refused before anything is opened, unless the
    request may be the counted downloader resuming (a Range, from the address
    counted last, within ``resume_window``): the claim then decides."""
    limit = state.max_downloads
    if limit is None or state.download_count < limit:
        return
    addr = environ.get("REMOTE_ADDR") or ""
    window = svc.settings.resume_window
    if "HTTP_RANGE" in environ and resumes(state, clock_now(), addr, window):
        return
    raise LinkUsedUp(limit)


def _unlock(
    svc: Services,
    environ: dict[str, Any],
    claims: Claims,
    state: LinkState,
    given: str | None,
) -> None:
    """A password given for the link, checked through the one throttled
    check of passwords (per link: an office shares one address, an attacker
    has many); a link without a password needs none."""
    if state.password_hash is None:
        return
    if not given:
        raise PasswordRequired("This link is protected by a password.")
    if not svc.passwords.check("link", claims.link_id, state.password_hash, given):
        raise WrongPassword("That is not the link's password.")


def _pinned(state: LinkState, st: os.stat_result | None) -> None:
    if state.pin is not None and (st is None or state.pin != version(st)):
        raise FileChanged("The file has changed since this link was made.")


def claim(
    svc: Services,
    environ: dict[str, Any],
    claims: Claims,
    state: LinkState,
    mode: str,
    item: str,
) -> str:
    """Claim the link for this request, its checks already passed."""
    return svc.store.claims.claim(
        claims,
        clock_now(),
        mode,
        svc.settings.resume_window,
        environ.get("REMOTE_ADDR") or "",
        state,
        _no_guard,
        item,
    )


def send_file(
    svc: Services,
    environ: dict[str, Any],
    claims: Claims,
    state: LinkState,
    opened: OpenFile,
) -> FileResponse:
    """The response for one open file of a link (a file link's or a folder
    member's), claimed and recorded. The descriptor is what is sent, so a
    name swapped after the check cannot send another file; a refused claim
    closes it unsent."""
    try:
        _pinned(state, opened.st)
        decision = decision_for(environ, opened.st)
        mode = claim_mode(environ["REQUEST_METHOD"], decision)
        claimed = claim(svc, environ, claims, state, mode, opened.path)
    except BaseException:
        opened.close()
        raise
    response = send(environ, opened, decision, svc.offload, svc.digest_of(opened))
    with_policy(svc, response)
    recorded = claims
    if opened.path != claims.path:  # a folder's member
        recorded = dataclasses.replace(claims, path=svc.tree.relative(opened.real))
    response.tally.callback = partial(
        record_download,
        svc,
        recorded,
        mode,
        claimed,
        decision.status,
        client(environ),
    )
    return response


def with_policy(svc: Services, response: FileResponse) -> None:
    """Other sites may not embed a link's file (``cross_origin_resource_policy``)."""
    policy = svc.settings.cross_origin_resource_policy
    if policy:
        response.headers.append(("Cross-Origin-Resource-Policy", policy))


def record_download(
    svc: Services,
    claims: Claims,
    mode: str,
    claimed: str,
    status: int,
    who: Client,
    sent: int,
    complete: bool | None,
) -> None:
    """The audit row of a response that may have sent bytes, written when
    the server closes its body, with the bytes that went out."""
    counted = claimed in (COUNTED, DEFERRED)
    if claimed == DEFERRED:  # an unlimited link: counted in the next batch
        svc.counts.add(claims.link_id, int(time.time()))
    # A counted GET is a download; a free range a resume; HEAD/304/412/416 a check.
    event = "download" if counted else "check" if mode == PEEK else "resume"
    svc.audit.record(
        event,
        "ok" if status in (200, 206) else str(status),
        fold=not counted,
        link_id=claims.link_id,
        path=claims.path,
        status=status,
        bytes=sent,
        complete=None if mode == PEEK else complete,
        **who,
    )


#: The audit event of each purpose that shows a page.
_LOOKS = {
    Purpose.PREVIEW: "preview",
    Purpose.PAGE: "page",
    Purpose.FOLDER: "page",
    Purpose.SUMS: "page",
    Purpose.UNLOCK: "unlock",
    Purpose.VERIFY: "unlock",
    Purpose.UPLOAD_PAGE: "page",
}


def record_look(
    svc: Services, environ: dict[str, Any], claims: Claims, purpose: Purpose
) -> None:
    """A request that showed something about a link but none of its bytes:
    recorded, folded, counting nothing."""
    svc.audit.record(
        _LOOKS[purpose],
        "ok",
        fold=True,
        link_id=claims.link_id,
        path=claims.path,
        status=200,
        **client(environ),
    )


def refuse(
    svc: Services,
    environ: dict[str, Any],
    exc: LinksvcError,
    claims: Claims | None = None,
) -> Refusal:
    """Record a refusal (folded with identical ones) and return it; a client
    over ``refusal_limit`` gets 429 instead, so refusals cost us little.
    Being asked for a link's password is a page, not a refusal: it is
    recorded as one (event "page") and not held against the client; a wrong
    password is recorded as event "unlock" (the password check limits it)."""
    who = client(environ)
    # Whatever the tree said, a recipient learns no path of it.
    if claims is not None and isinstance(exc, FileMissing):
        exc = FileMissing("The file or folder this link shares is not there.")
    elif claims is not None and isinstance(exc, PathRefused):
        exc = PathRefused("The file or folder this link shares cannot be sent.")
    if type(exc) in (PasswordRequired, VerificationRequired):
        event = "page"
    elif isinstance(exc, (WrongPassword, TooManyAttempts)):
        event = "unlock"
    else:
        event = "refused"
        wait = svc.refusals.hit(who["remote_addr"])
        if wait is not None:
            exc = TooManyRequests(
                "Too many refused requests from your address; try again later.", wait
            )
    note(environ, outcome=exc.code)
    svc.audit.record(
        event,
        exc.code,
        fold=True,
        link_id=claims.link_id if claims else None,
        path=claims.path if claims else None,
        status=exc.status,
        **who,
    )
    return Refusal(exc, claims)
