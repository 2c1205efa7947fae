"""Blueprint: the public ``/d/<token>`` and the logged-in ``/protected/<path>``.

Every file leaves through :func:`send`: headers that keep a browser from
rendering it on our origin, RFC 9110 conditionals and ranges, streaming.
"""

from __future__ import annotations

import mimetypes
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from flask import Blueprint
from flask import current_app
from flask import render_template
from flask import request
from flask import Response
from werkzeug.http import http_date
from werkzeug.utils import send_file

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
from .signing import Claims

bp = Blueprint("download", __name__)

#: Bytes read at a time when we stream multipart ranges ourselves.
CHUNK = 64 * 1024
#: Headers on every file response: never cached by shared caches, never
#: rendered as a page of ours, never leaking the token through Referer.
FILE_HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Referrer-Policy": "no-referrer",
    "Accept-Ranges": "bytes",
}


def send(path: Path, st: os.stat_result, decision: Decision) -> Response:
    """Send ``path`` as ``decision`` says; GET and HEAD alike (Werkzeug drops
    the body of a HEAD and keeps Content-Length)."""
    etag = make_etag(st.st_size, st.st_mtime_ns)
    mtime = int(st.st_mtime)
    if decision.status in (304, 412, 416):
        response = Response(status=decision.status)
        if decision.status == 416:
            response.headers["Content-Range"] = f"bytes */{st.st_size}"
    elif decision.status == 206 and len(decision.ranges) > 1:
        response = _multipart(path, st.st_size, decision.ranges)
    else:
        environ = {
            key: value
            for key, value in request.environ.items()
            if not key.startswith("HTTP_IF_") and key != "HTTP_RANGE"
        }
        if decision.status == 206:
            start, end = decision.ranges[0]
            environ["HTTP_RANGE"] = f"bytes={start}-{end}"
        response = send_file(
            path,
            environ=environ,
            as_attachment=True,
            download_name=path.name,
            conditional=decision.status == 206,
            etag=False,
            last_modified=mtime,
            response_class=current_app.response_class,
        )
    response.headers.update(FILE_HEADERS)
    if decision.status != 412:
        response.headers["ETag"] = etag
        response.headers["Last-Modified"] = http_date(mtime)
    return response


def _multipart(path: Path, size: int, ranges: list[tuple[int, int]]) -> Response:
    """multipart/byteranges (RFC 9110 14.6), which Werkzeug does not produce."""
    boundary = secrets.token_hex(12)
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    heads = [
        (
            f"\r\n--{boundary}\r\nContent-Type: {ctype}\r\n"
            f"Content-Range: bytes {start}-{end}/{size}\r\n\r\n"
        ).encode()
        for start, end in ranges
    ]
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = sum(len(h) for h in heads) + len(tail)
    length += sum(end - start + 1 for start, end in ranges)

    def body() -> Iterator[bytes]:
        with open(path, "rb") as fh:
            for head, (start, end) in zip(heads, ranges, strict=True):
                yield head
                fh.seek(start)
                left = end - start + 1
                while left > 0:
                    chunk = fh.read(min(CHUNK, left))
                    if not chunk:
                        return
                    left -= len(chunk)
                    yield chunk
        yield tail

    response = Response(
        body() if request.method == "GET" else b"",
        status=206,
        mimetype=f"multipart/byteranges; boundary={boundary}",
    )
    response.headers["Content-Length"] = str(length)
    return response


def _decision(st: os.stat_result) -> Decision:
    return decide(
        request.method,
        request.headers,
        st.st_size,
        int(st.st_mtime),
        make_etag(st.st_size, st.st_mtime_ns),
    )


def _client() -> dict[str, str]:
    return {
        "remote_addr": request.remote_addr or "",
        "user_agent": request.user_agent.string,
    }


@bp.route("/d/<token>", methods=["GET", "HEAD"])
def link(token: str) -> Response | str:
    """Verify, check, count, send; every outcome lands in the audit log."""
    svc = services()
    claims: Claims | None = None
    try:
        claims = svc.signer.verify(token)
        _, path, st = svc.tree.file(claims.path)
        if is_preview_bot(request.user_agent.string):
            return _preview(claims)
        decision = _decision(st)
        svc.store.claim_download(
            claims.link_id,
            int(time.time()),
            claim_mode(request.method, decision),
            svc.settings["resume_window"],
        )
    except LinksvcError as exc:
        svc.audit.record(
            "refused",
            exc.code,
            link_id=claims.link_id if claims else None,
            path=claims.path if claims else None,
            status=status_for(exc),
            **_client(),
        )
        raise
    response = send(path, st, decision)
    svc.audit.record(
        "download",
        "ok" if decision.status in (200, 206) else str(decision.status),
        link_id=claims.link_id,
        path=claims.path,
        status=decision.status,
        bytes=decision.body_length(st.st_size) if request.method == "GET" else 0,
        **_client(),
    )
    return response


def claim_mode(method: str, decision: Decision) -> str:
    """COUNT a GET that starts the file; a later range RESUMEs; the rest PEEK."""
    if method != "GET" or decision.status not in (200, 206):
        return PEEK
    return COUNT if decision.starts_at_zero else RESUME


def _preview(claims: Claims) -> tuple[str, int, dict[str, str]]:
    """What a chat app's link unfurler sees: a name, no bytes, no count."""
    page = render_template("preview.html", name=claims.path.rsplit("/", 1)[-1])
    return page, 200, {"Cache-Control": "private, no-store", "X-Robots-Tag": "none"}


@bp.route("/protected/<path:filename>", methods=["GET", "HEAD"])
def protected(filename: str) -> Response:
    """The tutorial's route: a logged-in user's direct access, grants checked."""
    user = require_login()
    svc = services()
    clean = svc.check_grant(user, filename)
    _, path, st = svc.tree.file(clean)
    return send(path, st, _decision(st))
