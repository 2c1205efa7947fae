"""What a request for a link did: its claim mode, its audit record, and
refusals (recorded, folded, limited per address); no routes here.

The download path (download.py), folder links (folders.py) and password
attempts (unlock.py) share these, so a refusal costs the same everywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import request
from werkzeug.exceptions import InternalServerError

from ..core import sending
from ..core.conditional import decide
from ..core.conditional import Decision
from ..core.conditional import make_etag
from ..core.errors import LinksvcError
from ..core.errors import PasswordRequired
from ..core.errors import TooManyRequests
from ..core.previews import is_preview_bot
from ..core.sending import FileResponse
from ..core.signing import Claims
from ..db.claims import COUNT
from ..db.claims import COUNTED
from ..db.claims import DEFERRED
from ..db.claims import LinkState
from ..db.claims import PEEK
from ..db.claims import RESUME
from ..gates import claim_request
from ..services import Services
from .clients import client
from .locked import locked_page

#: The request headers RFC 9110 preconditions and ranges read, by WSGI name.
_CONDITIONAL = {
    "If-Match": "HTTP_IF_MATCH",
    "If-None-Match": "HTTP_IF_NONE_MATCH",
    "If-Modified-Since": "HTTP_IF_MODIFIED_SINCE",
    "If-Unmodified-Since": "HTTP_IF_UNMODIFIED_SINCE",
    "If-Range": "HTTP_IF_RANGE",
    "Range": "HTTP_RANGE",
}


@dataclass(frozen=True)
class Refusal:
    """Why a request for a link gets no file, and what the token said if it
    was genuine. ``error`` None is an unexpected failure (a 500 page)."""

    error: LinksvcError | None
    claims: Claims | None = None


def conditional_headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's precondition and Range headers, by their HTTP names."""
    return {name: environ[key] for name, key in _CONDITIONAL.items() if key in environ}


def decision_for(environ: dict[str, Any], st: os.stat_result) -> Decision:
    return decide(
        environ["REQUEST_METHOD"],
        conditional_headers(environ),
        st.st_size,
        int(st.st_mtime),
        make_etag(st.st_size, st.st_mtime_ns),
    )


def claim_mode(method: str, decision: Decision) -> str:
    """COUNT a GET that starts the file; a later range RESUMEs; the rest PEEK."""
    if method != "GET" or decision.status not in (200, 206):
        return PEEK
    return COUNT if decision.starts_at_zero else RESUME


def send_claimed(
    svc: Services,
    environ: dict[str, Any],
    claims: Claims,
    state: LinkState | None,
    path: Path,
    st: os.stat_result,
) -> tuple[FileResponse, str, str, int]:
    """The response for one file of a link, and the claim that allows it:
    (response, claim mode, what the claim did, status). The file is opened
    before the claim, so nothing is counted for a response that cannot be
    sent; a refused claim closes it unsent."""
    decision = decision_for(environ, st)
    response = sending.send(environ, path, st, decision, svc.offload)
    mode = claim_mode(environ["REQUEST_METHOD"], decision)
    try:
        claimed = claim_request(svc, environ, claims, state, mode, st)
    except BaseException:
        response.close()
        raise
    return response, mode, claimed, decision.status


def record_download(
    svc: Services,
    claims: Claims,
    mode: str,
    claimed: str,
    status: int,
    who: dict[str, str],
    sent: int,
    complete: bool,
) -> None:
    counted = claimed in (COUNTED, DEFERRED)
    # A counted GET is a download; a free range a resume; HEAD/304/412/416 a check.
    event = "download" if counted else "check" if mode == PEEK else "resume"
    svc.audit.record(
        event,
        "ok" if status in (200, 206) else str(status),
        count=claimed == DEFERRED,
        fold=not counted,
        link_id=claims.link_id,
        path=claims.path,
        status=status,
        bytes=sent,
        complete=None if mode == PEEK else complete,
        **who,
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
    recorded as one (event "page") and not held against the client."""
    who = client(environ)
    event = "page"
    if type(exc) is not PasswordRequired:
        event = "refused"
        wait = svc.refusals.hit(who["remote_addr"])
        if wait is not None:
            exc = TooManyRequests(
                "Too many refused requests from your address; try again later.", wait
            )
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


def rendered(result: Any) -> Any:
    """What a view answers for a result: a Refusal becomes its error page (a
    browser asked for a password gets the form), anything else is as is."""
    if not isinstance(result, Refusal):
        return result
    if result.error is None:
        raise InternalServerError()
    if (
        type(result.error) is PasswordRequired
        and request.method == "GET"
        and not is_preview_bot(request.user_agent.string)
    ):
        return locked_page()
    raise result.error
