"""Blueprint: the public ``/d/<token>`` and the logged-in ``/protected/<path>``.

``/d/<token>`` is the one route strangers hammer, so :func:`serve_link` does
all of it on the bare WSGI environ (verify, check, count, send, audit) and
:class:`FastLinks` runs it in front of Flask. Any refusal falls through to the
Flask view, which records it and renders the page for it: one
implementation, and the common case pays for no Flask machinery.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from flask import Blueprint
from flask import render_template
from flask import request

from . import sending
from .auth import require_login
from .conditional import decide
from .conditional import Decision
from .conditional import make_etag
from .errors import LinksvcError
from .ext import services
from .handlers import status_for
from .links import COUNT
from .links import PEEK
from .links import RESUME
from .previews import is_preview_bot
from .sending import FileResponse
from .sharing import Services

bp = Blueprint("download", __name__)
#: Where FastLinks leaves a refusal for the Flask view to explain.
REFUSAL = "linksvc.refusal"
log = logging.getLogger("linksvc.download")

#: The request headers RFC 9110 preconditions and ranges read, by WSGI name.
_CONDITIONAL = {
    "If-Match": "HTTP_IF_MATCH",
    "If-None-Match": "HTTP_IF_NONE_MATCH",
    "If-Modified-Since": "HTTP_IF_MODIFIED_SINCE",
    "If-Unmodified-Since": "HTTP_IF_UNMODIFIED_SINCE",
    "If-Range": "HTTP_IF_RANGE",
    "Range": "HTTP_RANGE",
}


def decision_for(environ: dict[str, Any], st: os.stat_result) -> Decision:
    headers = {
        name: environ[key] for name, key in _CONDITIONAL.items() if key in environ
    }
    return decide(
        environ["REQUEST_METHOD"],
        headers,
        st.st_size,
        int(st.st_mtime),
        make_etag(st.st_size, st.st_mtime_ns),
    )


def claim_mode(method: str, decision: Decision) -> str:
    """COUNT a GET that starts the file; a later range RESUMEs; the rest PEEK."""
    if method != "GET" or decision.status not in (200, 206):
        return PEEK
    return COUNT if decision.starts_at_zero else RESUME


def client(environ: dict[str, Any]) -> dict[str, str]:
    return {
        "remote_addr": environ.get("REMOTE_ADDR", ""),
        "user_agent": environ.get("HTTP_USER_AGENT", ""),
    }


def serve_link(svc: Services, environ: dict[str, Any], token: str) -> FileResponse:
    """Verify, check, count, send and record a download; no Flask needed.

    Raises a LinksvcError for every refusal, with ``claims`` set on it when
    the token was genuine. The file is opened before the download is counted,
    so a count is never taken for a response that cannot be sent.
    """
    claims = None
    try:
        claims = svc.signer.verify(token)
        _, path, st = svc.tree.file(claims.path)
        decision = decision_for(environ, st)
        response = sending.send(environ, path, st, decision)
        method = environ["REQUEST_METHOD"]
        mode = claim_mode(method, decision)
        try:
            svc.store.claim_download(
                claims.link_id,
                int(time.time()),
                mode,
                svc.settings["resume_window"],
                limited=claims.limited,
            )
        except BaseException:
            response.close()
            raise
    except LinksvcError as exc:
        exc.claims = claims
        raise
    svc.audit.record(
        # A body that went out is a download; HEAD, 304, 412, 416 only looked.
        "download" if mode != PEEK else "check",
        "ok" if decision.status in (200, 206) else str(decision.status),
        count=mode == COUNT and not claims.limited,
        link_id=claims.link_id,
        path=claims.path,
        status=decision.status,
        bytes=decision.body_length(st.st_size) if method == "GET" else 0,
        **client(environ),
    )
    return response


class FastLinks:
    """WSGI middleware: serves ``GET|HEAD /d/<token>`` when all is well and
    hands everything else (refusals, chat-app previews) to the Flask app."""

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
            self.svc.refresh_keys()
            try:
                response = serve_link(self.svc, environ, path[3:])
            except LinksvcError as exc:
                # The Flask view says why and records it, without trying again
                # (a locked database would otherwise be waited for twice).
                environ[REFUSAL] = exc
            except Exception:
                log.exception("fast download path failed; retrying through Flask")
            else:
                return response(environ, start_response)
        return self.app(environ, start_response)


@bp.route("/d/<token>", methods=["GET", "HEAD"])
def link(token: str) -> FileResponse | tuple[str, int, dict[str, str]]:
    """The same download through Flask: refusals become pages (handlers.py)
    and an audit record; chat-app unfurlers get a preview."""
    svc = services()
    environ = request.environ
    try:
        refusal = environ.pop(REFUSAL, None)
        if refusal is not None:
            raise refusal
        if is_preview_bot(request.user_agent.string):
            claims = svc.signer.verify(token)
            svc.tree.file(claims.path)
            return _preview(claims.path)
        return serve_link(svc, environ, token)
    except LinksvcError as exc:
        claims = getattr(exc, "claims", None)
        svc.audit.record(
            "refused",
            exc.code,
            link_id=claims.link_id if claims else None,
            path=claims.path if claims else None,
            status=status_for(exc),
            **client(environ),
        )
        raise


def _preview(path: str) -> tuple[str, int, dict[str, str]]:
    """What a chat app's link unfurler sees: a name, no bytes, no count."""
    page = render_template("preview.html", name=path.rsplit("/", 1)[-1])
    return page, 200, {"Cache-Control": "private, no-store", "X-Robots-Tag": "none"}


@bp.route("/protected/<path:filename>", methods=["GET", "HEAD"])
def protected(filename: str) -> FileResponse:
    """The tutorial's route: a logged-in user's direct access, grants checked."""
    user = require_login()
    svc = services()
    _, path, st = svc.granted_file(user, filename)
    return sending.send(request.environ, path, st, decision_for(request.environ, st))
