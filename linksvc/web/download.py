"""Blueprint: the public ``/d/<token>`` and the logged-in ``/protected/<path>``.

``/d/<token>`` is the one route strangers hammer, so :func:`serve_link` does
all of it on the bare WSGI environ, and :class:`FastLinks` runs it in front of
Flask. It decides, counts, sends and records every outcome in one pass; a
refusal comes back as a :class:`Refusal` value, already recorded, and the
Flask view only renders it (or a chat-app preview). Nothing is tried twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import Blueprint
from flask import render_template
from flask import request
from flask_login import login_required

from .. import access
from ..core import sending
from ..core.errors import LinksvcError
from ..core.previews import is_preview_bot
from ..core.sending import FileResponse
from ..core.signing import Claims
from ..db.claims import LinkState
from ..db.claims import PEEK
from ..gates import claim_request
from ..gates import genuine
from ..services import Services
from . import folders
from .auth import current
from .clients import client
from .ext import services
from .folders import FolderLink
from .locked import HEADERS as RECIPIENT_HEADERS
from .recording import decision_for
from .recording import record_download
from .recording import Refusal
from .recording import refuse
from .recording import rendered
from .recording import send_claimed

bp = Blueprint("download", __name__)
#: Where FastLinks leaves its Refusal for the Flask view to render.
REFUSAL = "linksvc.refusal"
log = logging.getLogger("linksvc.download")


@dataclass(frozen=True)
class Landing:
    """The link shows the recipient a page first (its row says so)."""

    claims: Claims
    state: LinkState | None = None


def wants_file(environ: dict[str, Any]) -> bool:
    """The recipient page's Download button asks for ``?download=1``."""
    return "download=1" in environ.get("QUERY_STRING", "").split("&")


def serve_link(svc: Services, environ: dict[str, Any], token: str) -> Any:
    """Verify, check, count, send and record one request for a link.

    Returns the FileResponse, or a recorded Refusal. The file is opened before
    the download is counted, so a count is never taken for a response that
    cannot be sent; the audit row is written when the server closes the body,
    with the bytes that went out.
    """
    who = client(environ)
    claims = None
    try:
        claims, state = genuine(svc, token)
        if claims.folder:
            return FolderLink(claims, state)
        if (
            claims.page
            and environ["REQUEST_METHOD"] == "GET"
            and not wants_file(environ)
        ):
            return Landing(claims, state)
        _, path, st = svc.tree.file(claims.path)
        response, mode, claimed, status = send_claimed(
            svc, environ, claims, state, path, st
        )
    except LinksvcError as exc:
        return refuse(svc, environ, exc, claims)
    response.tally.callback = partial(
        record_download, svc, claims, mode, claimed, status, who
    )
    return response


def preview(svc: Services, environ: dict[str, Any], token: str) -> Any:
    """What a chat app's link unfurler sees: the name, never the bytes, and
    only for a link that would download now; nothing is counted."""
    try:
        claims, state = genuine(svc, token)
    except LinksvcError as exc:
        return refuse(svc, environ, exc)
    looked = _look(svc, environ, claims, "preview", state)
    if isinstance(looked, Refusal):
        return looked
    page = render_template("preview.html", name=claims.path.rsplit("/", 1)[-1])
    return page, 200, RECIPIENT_HEADERS


def _look(
    svc: Services,
    environ: dict[str, Any],
    claims: Claims,
    event: str,
    state: LinkState | None = None,
) -> Any:
    """A request that shows something about a link but not its bytes (a
    chat-app preview, the recipient page): the link must work now; it is
    recorded (folded) and counts nothing. The file's stat, or a Refusal."""
    try:
        if claims.folder:
            svc.tree.folder(claims.path)
            st = None
        else:
            _, _, st = svc.tree.file(claims.path)
        claim_request(svc, environ, claims, state, PEEK, st)
    except LinksvcError as exc:
        return refuse(svc, environ, exc, claims)
    svc.audit.record(
        event,
        "ok",
        fold=True,
        link_id=claims.link_id,
        path=claims.path,
        status=200,
        **client(environ),
    )
    return st


class FastLinks:
    """WSGI middleware: serves ``GET|HEAD /d/<token>`` and hands refusals (to
    render) and chat-app previews to the Flask app."""

    def __init__(self, app: Callable, svc: Services) -> None:
        self.app, self.svc = app, svc

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable:
        path = environ.get("PATH_INFO", "")
        if (
            path.startswith("/d/")
            and environ.get("REQUEST_METHOD") in ("GET", "HEAD")
            and "/" not in path[3:]
            and not is_preview_bot(environ.get("HTTP_USER_AGENT", ""))
        ):
            try:
                result = serve_link(self.svc, environ, path[3:])
            except Exception:
                log.exception("download of %s failed", path[:40])
                result = Refusal(None)
            if isinstance(result, FileResponse):
                return result(environ, start_response)
            environ[REFUSAL] = result  # a Refusal, Landing or FolderLink
        return self.app(environ, start_response)


@bp.route("/d/<token>", methods=["GET", "HEAD"])
def link(token: str) -> Any:
    """Render what FastLinks decided, or answer a chat-app preview."""
    svc = services()
    result = request.environ.pop(REFUSAL, None)
    if result is None:
        if is_preview_bot(request.user_agent.string):
            result = preview(svc, request.environ, token)
        else:  # a path FastLinks did not take (an app mounted without it)
            result = serve_link(svc, request.environ, token)
    if isinstance(result, FolderLink):
        result = folders.folder(svc, request.environ, token, result)
    if isinstance(result, Landing):
        result = landing(svc, request.environ, result.claims, result.state)
    return rendered(result)


def landing(
    svc: Services,
    environ: dict[str, Any],
    claims: Claims,
    state: LinkState | None = None,
) -> Any:
    """The recipient page: what the file is, how big, until when, how many
    downloads are left, and a Download button; viewing it counts nothing."""
    st = _look(svc, environ, claims, "page", state)
    if isinstance(st, Refusal):
        return st
    link = svc.store.links.get(claims.link_id)
    left = None
    if link.max_downloads is not None:
        left = max(0, link.max_downloads - link.download_count)
    page = render_template(
        "landing.html",
        name=claims.path.rsplit("/", 1)[-1],
        size=st.st_size,
        link=link,
        left=left,
    )
    return page, 200, RECIPIENT_HEADERS


@bp.route("/protected/<path:filename>", methods=["GET", "HEAD"])
@login_required
def protected(filename: str) -> FileResponse:
    """The tutorial's route: a logged-in user's direct access, grants checked,
    audited like a link."""
    user = current()
    svc = services()
    environ = request.environ
    real_path, path, st = access.granted_file(svc, user, filename)
    decision = decision_for(environ, st)
    response = sending.send(environ, path, st, decision, svc.offload)
    who = client(environ)
    sends_body = environ["REQUEST_METHOD"] == "GET" and decision.status in (200, 206)

    def record(sent: int, complete: bool) -> None:
        svc.audit.record(
            "download" if sends_body else "check",
            "ok" if decision.status in (200, 206) else str(decision.status),
            fold=not sends_body,
            path=real_path,
            actor=user.username,
            status=decision.status,
            bytes=sent,
            complete=complete if sends_body else None,  # None also when handed over
            **who,
        )

    response.tally.callback = record
    return response
