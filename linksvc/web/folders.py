"""Blueprint: folder links. ``/d/<token>`` lists the folder (nested folders
too), ``/d/<token>/<file>`` downloads one file of it with Range, and
``/d/<token>?zip=1`` streams all of it as a zip made on the fly.

The folder is read when the link is opened, not when it was made: files
added later are shared too, files removed are gone (README). Every member
follows the tree's rules (no escapes, no hard links, hidden names left out)
and the owner's grants, judged by where a symlink leads. On a limited link
each "Download all" and each file download counts one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

from flask import Blueprint
from flask import render_template
from flask import request

from ..core.conditional import decide
from ..core.conditional import Decision
from ..core.errors import LinkInvalid
from ..core.errors import LinksvcError
from ..core.errors import TooManyRequests
from ..core.files import covers
from ..core.offload import offload
from ..core.signing import Claims
from ..core.signing import INVALID_LINK
from ..core.zipstream import CrcCache
from ..core.zipstream import Member
from ..core.zipstream import version_key
from ..core.zipstream import zip_response
from ..core.zipstream import ZipPlan
from ..db import crcs
from ..db.claims import LinkState
from ..db.claims import PEEK
from ..db.links import Link
from ..gates import claim_request
from ..gates import genuine
from ..services import Services
from .clients import client
from .ext import services
from .locked import HEADERS
from .recording import claim_mode
from .recording import conditional_headers
from .recording import record_download
from .recording import refuse
from .recording import rendered
from .recording import send_claimed

bp = Blueprint("folders", __name__)
#: Files listed on a folder link's page (the zip holds them all).
MAX_LISTED = 5000
#: Files one folder link may share at most (a zip's plan holds about 1 KB
#: per file while it is sent).
MAX_MEMBERS = 100_000
#: Seconds a folder's listing is reused (an anonymous page view must not
#: walk a big folder each time), and how many listings are kept.
LISTING_TTL, LISTINGS = 5, 64
#: Zips one worker streams at once; more wait (429, Retry-After).
MAX_ZIPS = 8
_listings: dict[tuple, tuple[float, Any]] = {}
_zips = threading.BoundedSemaphore(MAX_ZIPS)


@dataclasses.dataclass(frozen=True)
class FolderLink:
    """The token is a folder link's (FastLinks hands it to Flask)."""

    claims: Claims
    state: LinkState | None = None


def owner_grants(svc: Services, link: Link) -> list[str]:
    """What the link's owner may share: members are judged by it."""
    owner = svc.store.users.get(link.created_by)
    return owner.effective_grants if owner and not owner.disabled else []


def files(
    svc: Services, claims: Claims, link: Link
) -> list[tuple[str, Path, os.stat_result]]:
    """The folder's files as they are now, walked on a real thread (a big
    folder must not stall the event loop)."""
    grants = owner_grants(svc, link)
    return offload(svc.tree.files_under, claims.path, grants, MAX_MEMBERS)


@dataclasses.dataclass(frozen=True)
class Listing:
    """What the page shows: the first MAX_LISTED files, and the totals."""

    shown: list[tuple[str, Path, os.stat_result]]
    count: int
    total: int


def listing(svc: Services, claims: Claims, link: Link) -> Listing:
    """The page's listing, reused for LISTING_TTL seconds; only what the page
    shows is kept, so a cached listing stays small however big the folder.
    (A zip walks afresh: its sizes and versions must be current.)"""
    key = (str(svc.tree.root), claims.path, tuple(owner_grants(svc, link)))
    found = _listings.get(key)
    if found is not None and found[0] > time.monotonic():
        return found[1]
    listed = files(svc, claims, link)
    made = Listing(
        listed[:MAX_LISTED], len(listed), sum(st.st_size for _, _, st in listed)
    )
    if len(_listings) >= LISTINGS:
        _listings.clear()
    _listings[key] = (time.monotonic() + LISTING_TTL, made)
    return made


def folder(
    svc: Services, environ: dict[str, Any], token: str, found: FolderLink
) -> Any:
    """The listing page, or with ``?zip=1`` the whole folder as a zip."""
    claims, state = found.claims, found.state
    if "zip=1" in environ.get("QUERY_STRING", "").split("&"):
        return _zip(svc, environ, claims, state)
    try:
        claim_request(svc, environ, claims, state, PEEK, None)
        link = svc.store.links.get(claims.link_id)
        shown = listing(svc, claims, link)
    except LinksvcError as exc:
        return refuse(svc, environ, exc, claims)
    svc.audit.record(
        "page",
        "ok",
        fold=True,
        link_id=claims.link_id,
        path=claims.path,
        status=200,
        **client(environ),
    )
    left = None
    if link.max_downloads is not None:
        left = max(0, link.max_downloads - link.download_count)
    page = render_template(
        "folder.html",
        name=claims.path.rsplit("/", 1)[-1] or "protected",
        files=shown.shown,
        count=shown.count,
        total=shown.total,
        token=token,
        link=link,
        left=left,
    )
    return page, 200, HEADERS


def _zip(
    svc: Services, environ: dict[str, Any], claims: Claims, state: LinkState | None
) -> Any:
    who = client(environ)
    base = claims.path.rsplit("/", 1)[-1] or "protected"
    sends = environ["REQUEST_METHOD"] == "GET"
    if sends and not _zips.acquire(blocking=False):
        error = TooManyRequests("Too many archives are being sent; try again soon.", 5)
        return refuse(svc, environ, error, claims)
    release = _zips.release if sends else (lambda: None)
    try:
        members = [
            Member(
                f"{base}/{name}",
                str(real),
                st.st_size,
                st.st_mtime,
                version_key(str(real), st),
            )
            for name, real, st in files(
                svc, claims, svc.store.links.get(claims.link_id)
            )
        ]
        engine = svc.store.engine
        cache = CrcCache(crcs.loader(engine), crcs.saver(engine))
        plan = ZipPlan(members, cache.crc)
        digest = hashlib.sha256(
            "\n".join(m.name + "\0" + m.version for m in members).encode()
        )
        etag = f'"z-{digest.hexdigest()[:32]}"'
        mtime = int(max((m.mtime for m in members), default=0))
        decision = decide(
            environ["REQUEST_METHOD"],
            conditional_headers(environ),
            plan.size,
            mtime,
            etag,
        )
        if decision.status == 206 and len(decision.ranges) > 1:
            decision = Decision(200)  # one range at most: the whole archive
        mode = claim_mode(environ["REQUEST_METHOD"], decision)
        claimed = claim_request(svc, environ, claims, state, mode, None)
        if decision.status in (200, 206):
            cache.prefetch(members)
    except LinksvcError as exc:
        release()
        return refuse(svc, environ, exc, claims)
    except BaseException:
        release()
        raise

    def done() -> None:
        release()
        cache.flush()

    response = zip_response(environ, plan, f"{base}.zip", decision, etag, mtime, done)
    response.tally.callback = partial(
        record_download, svc, claims, mode, claimed, decision.status, who
    )
    return response


@bp.route("/d/<token>/<path:member>", methods=["GET", "HEAD"])
def member(token: str, member: str) -> Any:
    """One file of a folder link, with Range and conditional requests."""
    svc = services()
    environ = request.environ
    who = client(environ)
    claims = None
    try:
        claims, state = genuine(svc, token)
        if not claims.folder:
            raise LinkInvalid(INVALID_LINK)
        rel = svc.tree.clean(member)
        if not rel:
            raise LinkInvalid(INVALID_LINK)
        _, real, st = svc.tree.file(f"{claims.path}/{rel}" if claims.path else rel)
        link = svc.store.links.get(claims.link_id)
        if not covers(owner_grants(svc, link), svc.tree.relative(real)):
            raise LinkInvalid(INVALID_LINK)
        response, mode, claimed, status = send_claimed(
            svc, environ, claims, state, real, st
        )
    except LinksvcError as exc:
        return rendered(refuse(svc, environ, exc, claims))
    recorded = dataclasses.replace(claims, path=svc.tree.relative(real))
    response.tally.callback = partial(
        record_download, svc, recorded, mode, claimed, status, who
    )
    return response
