"""Errors in one place: each linksvc exception becomes one status and one page.

Views raise; nothing else turns an exception into a response. No traceback or
file system path reaches a client; a 500 shows a request id that the log has.
"""

from __future__ import annotations

import logging
import secrets

from flask import Flask
from flask import jsonify
from flask import render_template
from flask import request
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from ..core import errors
from ..core.observed import request_id as observed_id
from ..core.text import printable

log = logging.getLogger("linksvc")

#: Every HTML page forbids inline script, framing and outside resources.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' "
        "data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, no-store",
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def _request_id(status: int, detail: str) -> str:
    """A short id that the page shows and the log line carries."""
    request_id = observed_id(request.environ) or secrets.token_hex(6)
    level = logging.WARNING if status >= 500 else logging.INFO
    log.log(
        level,
        "request %s: %s %s -> %d %s",
        request_id,
        request.method,
        loggable_path(),
        status,
        detail,
    )
    return request_id


def loggable_path() -> str:
    """The request's route rule (``/d/<token>``): a URL may hold a link's
    token, which must not reach the log; of a path no route matched, only
    its first segment (it may be a mistyped link)."""
    if request.url_rule is not None:
        return request.url_rule.rule
    first, _, rest = request.path.lstrip("/").partition("/")
    return "/" + printable(first[:40]) + ("/…" if rest else "")


def problem(status: int, code: str, message: str, request_id: str = "") -> Response:
    """The JSON error body of the API: a stable code and a sentence."""
    request_id = request_id or _request_id(status, code)
    response = jsonify({"error": code, "message": message})
    response.status_code = status
    response.headers["X-Request-Id"] = request_id
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="linksvc"'
    if status in (503, 429):
        response.headers["Retry-After"] = "5"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def page(
    status: int, title: str, message: str, request_id: str = "", **extra
) -> Response:
    """A short HTML page explaining a refusal or failure, with a request id."""
    request_id = request_id or _request_id(status, title)
    headers = {"X-Request-Id": request_id}
    if status in (503, 429):
        headers["Retry-After"] = "5"
    try:
        body = render_template(
            "error.html",
            status=status,
            title=title,
            message=message,
            request_id=request_id,
            **extra,
        )
    except Exception:
        # The page must not fail too (an untrusted Host has no URL adapter,
        # a dead database cannot load the user): say it plainly instead.
        log.debug("error page fell back to plain HTML", exc_info=True)
        body = (
            f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1>"
            f"<p>{escape(message)}</p><p>HTTP {status} · request id {request_id}</p>"
        )
    return Response(body, status, headers, mimetype="text/html")


def init_app(app: Flask) -> None:
    @app.errorhandler(errors.LinksvcError)
    def _linksvc_error(exc: errors.LinksvcError) -> Response:
        """The error table (core/errors.py) says status, title and hint."""
        if wants_json():
            response = problem(exc.api_status or exc.status, exc.code, str(exc))
        else:
            response = page(exc.status, exc.title, str(exc), hint=exc.hint, error=exc)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError) -> Response:
        # Locked, unreachable, full: worth a retry, never a traceback.
        log.warning("database error: %s", exc.orig if exc.orig else exc)
        return _linksvc_error(
            errors.StoreUnavailable("The database is busy or unreachable; try again.")
        )

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Response:
        return page(
            400,
            "Form expired",
            "The form was missing its security token or it expired. "
            "Go back, reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if exc.response is not None and 300 <= exc.response.status_code < 400:
            return exc.response  # type: ignore[return-value]
        if request.path.startswith("/scim/"):
            from .scim import scim_error

            response = scim_error(exc.code or 500, exc.description or exc.name)
        elif wants_json():
            code = exc.name.lower().replace(" ", "_")
            response = problem(exc.code or 500, code, exc.description or exc.name)
        else:
            response = page(exc.code or 500, exc.name, exc.description or "")
        allowed = getattr(exc, "valid_methods", None)
        if exc.code == 405 and allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        request_id = observed_id(request.environ) or secrets.token_hex(6)
        log.exception(
            "request %s: %s %s failed", request_id, request.method, loggable_path()
        )
        if wants_json():
            return problem(500, "internal", "internal error", request_id)
        return page(
            500,
            "Something went wrong",
            "The server could not answer this request. If it keeps happening, "
            "tell the administrator the request id below.",
            request_id=request_id,
        )

    @app.after_request
    def _page_headers(response: Response) -> Response:
        if response.mimetype == "text/html":
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
        return response
