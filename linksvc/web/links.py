"""Blueprint: every route under ``/d/``, each a thin call of
:func:`linksvc.links.opening.open_link` with its purpose.

``/d/<token>`` (GET, HEAD) is the one route strangers hammer, so
:class:`FastLinks` answers it in front of Flask: a file goes out as the
plain WSGI response open_link made; anything else (a refusal, the recipient
page, a folder's page, a preview) is rendered by :func:`show` inside a
request context of the app, so error pages and headers are Flask's. The
Flask view of that route runs the same two calls when FastLinks is not in
front; a request is never answered by both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint
from flask import current_app
from flask import Flask
from flask import redirect
from flask import render_template
from flask import request
from flask_wtf import FlaskForm
from werkzeug.exceptions import InternalServerError
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import Length

from ..core.errors import InvalidInput
from ..core.errors import PasswordRequired
from ..core.errors import TooManyRequests
from ..core.errors import VerificationRequired
from ..core.errors import WrongCode
from ..core.errors import WrongPassword
from ..core.observed import note
from ..core.previews import is_preview_bot
from ..core.unlock import COOKIE
from ..files.sending import FileResponse
from ..links import folders as _folders  # noqa: F401  (registers folder purposes)
from ..links import more_time
from ..links import verification
from ..links.opening import open_link
from ..links.opening import Opened
from ..links.opening import Purpose
from ..links.opening import Refusal
from ..links.opening import Request
from ..services import Services
from .ext import services
from .locked import HEADERS
from .locked import locked_page
from .locked import UnlockForm
from .locked import verify_page
from .locked import VerifyForm

bp = Blueprint("links", __name__)
#: The rule of the one route FastLinks answers (the request log's route).
LINK_ROUTE = "/d/<token>"
log = logging.getLogger("linksvc.download")


class DownloadForm(FlaskForm):
    """The recipient page's Download button (and a folder's): a POST, so
    the link is used only by someone who pressed it, never by a mail
    scanner or a chat app fetching every URL of a message."""


def purpose_of(environ: dict[str, Any]) -> Purpose:
    """What a GET or HEAD of the link's own URL is for."""
    if is_preview_bot(environ.get("HTTP_USER_AGENT", "")):
        return Purpose.PREVIEW
    query = environ.get("QUERY_STRING", "").split("&")
    if "zip=1" in query:
        return Purpose.ZIP
    if "sums=1" in query:
        return Purpose.SUMS
    return Purpose.LINK


def answer(svc: Services, environ: dict[str, Any], token: str, purpose: Purpose) -> Any:
    """open_link, with an unexpected failure turned into a recorded 500."""
    try:
        return open_link(svc, Request(environ), token, purpose)
    except Exception:
        # Not the token: it is the link's secret, and logs are read widely.
        log.exception("a request for a link failed")
        return Refusal(None)


def show(svc: Services, result: Any, token: str) -> Any:
    """What a view answers for open_link's result: the response, a page, or
    (raised) the refusal's error page; a browser asked for a link's password
    gets the form. Needs a request context."""
    if isinstance(result, FileResponse):
        return result
    if isinstance(result, Refusal):
        if result.error is None:
            raise InternalServerError()
        if request.method == "GET" and not is_preview_bot(request.user_agent.string):
            if result.more_time:
                return _headed(svc, more_time_page(result.error))
            if type(result.error) is PasswordRequired:
                return _headed(svc, locked_page())
            if type(result.error) is VerificationRequired:
                return _headed(svc, verify_page(str(result.error)))
        raise result.error
    assert isinstance(result, Opened)
    state = result.state
    left = None
    if state.max_downloads is not None:
        left = max(0, state.max_downloads - state.download_count)
    name = result.claims.path.rsplit("/", 1)[-1]
    if result.purpose is Purpose.PREVIEW:
        page = render_template("preview.html", name=name or "protected")
    elif result.purpose is Purpose.FOLDER:
        shown = result.extra
        page = render_template(
            "folder.html",
            name=name or "protected",
            files=shown.shown,
            count=shown.count,
            total=shown.total,
            token=token,
            link=state,
            left=left,
            form=DownloadForm() if left is not None else None,
        )
    else:
        assert result.st is not None
        page = render_template(
            "landing.html",
            name=name,
            size=result.st.st_size,
            digest=result.digest,
            link=state,
            left=left,
            form=DownloadForm() if left is not None else None,
        )
    return _headed(svc, (page, 200, HEADERS))


def _headed(svc: Services, rv: tuple) -> tuple:
    """A link's page with the headers every one carries."""
    body, status, headers = rv
    headers = dict(headers)
    policy = svc.settings.cross_origin_resource_policy
    if policy:
        headers["Cross-Origin-Resource-Policy"] = policy
    return body, status, headers


class FastLinks:
    """WSGI middleware: answers ``GET|HEAD /d/<token>`` in front of Flask."""

    def __init__(self, app: Flask, wsgi: Callable, svc: Services) -> None:
        self.app, self.wsgi, self.svc = app, wsgi, svc

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable:
        path = environ.get("PATH_INFO", "")
        if not (
            path.startswith("/d/")
            and environ.get("REQUEST_METHOD") in ("GET", "HEAD")
            and "/" not in path[3:]
        ):
            return self.wsgi(environ, start_response)
        token = path[3:]
        note(environ, route=LINK_ROUTE)
        result = answer(self.svc, environ, token, purpose_of(environ))
        if isinstance(result, FileResponse):
            return result(environ, start_response)
        return self._rendered(environ, start_response, result, token)

    def _rendered(
        self, environ: dict[str, Any], start_response: Callable, result: Any, token: str
    ) -> Iterable:
        app = self.app
        with app.request_context(environ):
            try:
                response = app.make_response(show(self.svc, result, token))
            except Exception as exc:
                response = app.make_response(app.handle_user_exception(exc))
            response = app.process_response(response)
            return response(environ, start_response)


@bp.route("/d/<token>", methods=["GET", "HEAD"])
def link(token: str) -> Any:
    """The link's own URL, when FastLinks is not in front."""
    svc = services()
    return show(
        svc, answer(svc, request.environ, token, purpose_of(request.environ)), token
    )


@bp.post("/d/<token>")
def post(token: str) -> Any:
    """A form on a link's page: the password, the recipient page's Download
    button, or a folder's "Download all"."""
    svc = services()
    if "password" in request.form:
        return unlock(svc, token)
    if "code" in request.form or request.form.get("action") == "send_code":
        return verify(svc, token)
    if request.form.get("action") == "more_time":
        return ask_more_time(svc, token)
    purpose = Purpose.ZIP if request.form.get("action") == "zip" else Purpose.DOWNLOAD
    return show(svc, answer(svc, _as_get(request.environ), token, purpose), token)


@bp.route("/d/<token>/<path:member>", methods=["GET", "HEAD", "POST"])
def member(token: str, member: str) -> Any:
    """One file of a folder link, with Range and conditional requests (POST:
    a limited folder link's page, whose buttons are forms)."""
    svc = services()
    environ = request.environ
    if request.method == "POST":
        environ = _as_get(environ)
    result = answer_member(svc, environ, token, member)
    return show(svc, result, token)


def answer_member(
    svc: Services, environ: dict[str, Any], token: str, member: str
) -> Any:
    try:
        return open_link(svc, Request(environ, member=member), token, Purpose.MEMBER)
    except Exception:
        log.exception("request for a member of link %s failed", token[:40])
        return Refusal(None)


def _as_get(environ: dict[str, Any]) -> dict[str, Any]:
    """A form's POST sends the file as a GET would (no Range, no
    preconditions: a form sends none)."""
    return {**environ, "REQUEST_METHOD": "GET"}


class MoreTimeForm(FlaskForm):
    message = TextAreaField(
        "A message for them (optional)", validators=[Length(max=more_time.MAX_MESSAGE)]
    )
    email = StringField(
        "Your email, to be told when it works again (optional)",
        validators=[Length(max=254)],
    )


def more_time_page(
    error: Any,
    form: MoreTimeForm | None = None,
    asked: Any = None,
    errors: list[str] | None = None,
) -> tuple[str, int, dict[str, str]]:
    """The expired or used-up page with the "ask for more time" form."""
    page = render_template(
        "more_time.html",
        title=error.title,
        message=str(error),
        status=error.status,
        form=form or MoreTimeForm(),
        asked=asked,
        errors=errors or [],
    )
    return page, error.status, HEADERS


def ask_more_time(svc: Services, token: str) -> Any:
    """A recipient asks the owner of an expired or used-up link for more time."""
    form = MoreTimeForm()
    gone = _Asked("Ask for more time", "This link no longer works.", 410)
    if not form.validate_on_submit():
        errors = [f"{f.label.text}: {e}" for f in form for e in f.errors]
        body, _, headers = more_time_page(gone, form, errors=errors or ["Try again."])
        return _headed(svc, (body, 400, headers))
    result = answer_asking(svc, token, form)
    if isinstance(result, Refusal):
        if isinstance(result.error, InvalidInput | TooManyRequests) and result.claims:
            body, status, headers = more_time_page(
                gone, form, errors=[str(result.error)]
            )
            return _headed(svc, (body, result.error.status, headers))
        return show(svc, result, token)
    assert isinstance(result, Opened)
    return _headed(svc, more_time_page(gone, form, asked=result.extra))


def answer_asking(svc: Services, token: str, form: MoreTimeForm) -> Any:
    try:
        return open_link(
            svc,
            Request(
                request.environ,
                message=form.message.data or "",
                email=form.email.data or "",
            ),
            token,
            Purpose.MORE_TIME,
        )
    except Exception:
        log.exception("a request for more time failed")
        return Refusal(None)


@dataclass(frozen=True)
class _Asked:
    """What the page says around the form once it was posted."""

    title: str
    text: str
    status: int

    def __str__(self) -> str:
        return self.text


class DecideForm(FlaskForm):
    """Only its CSRF token and the button pressed."""


@bp.route("/more-time/<action>", methods=["GET", "POST"])
def decide_more_time(action: str) -> Any:
    """The owner's signed approve action from the email: a page, and the
    decision only by its POST (a mail scanner's GET decides nothing)."""
    svc = services()
    found = more_time.from_action(svc, action)
    link = svc.store.links.get(found.link_id)
    form = DecideForm()
    if form.validate_on_submit() and not found.decision:
        approve = request.form.get("decision") == "approve"
        found = more_time.decide(svc, None, found.id, approve, actor="email")
        link = svc.store.links.get(found.link_id)
    now = int(time.time())
    page = render_template(
        "more_time_decide.html",
        request_=found,
        link=link,
        form=form,
        expired=now > link.expires_at,
        used_up=link.max_downloads is not None
        and link.download_count >= link.max_downloads,
    )
    return page, 200, HEADERS


def verify(svc: Services, token: str) -> Any:
    """A recipient asks for a one-time code, or gives it: the verified
    cookie for their link's URL, then back there."""
    form = VerifyForm()
    asking = request.form.get("action") == "send_code"
    if not form.validate_on_submit():
        return _headed(svc, verify_page("Enter the code from the email.", form, 400))
    try:
        result = open_link(
            svc,
            Request(request.environ, code=None if asking else form.code.data or ""),
            token,
            Purpose.VERIFY,
        )
    except Exception:
        log.exception("verifying a recipient of link %s failed", token[:40])
        result = Refusal(None)
    if isinstance(result, Refusal):
        error = result.error
        if isinstance(error, WrongCode | TooManyRequests) and result.claims:
            page = verify_page(
                "Enter the code we emailed you.",
                form,
                error.status,
                errors=[str(error)],
            )
            body, status, headers = page
            if isinstance(error, TooManyRequests):
                headers = {**headers, "Retry-After": str(error.retry_after)}
            return _headed(svc, (body, status, headers))
        return show(svc, result, token)
    assert isinstance(result, Opened)
    if result.extra == "sent":
        form.code.data = ""
        return _headed(
            svc, verify_page("Enter the code we emailed you.", form, 200, sent=True)
        )
    cookie = None
    if result.state.verify:
        value = verification.cookie_value(svc, result.claims, result.state)
        cookie = (svc.verified.cookie, value, svc.verified.lifetime)
    return _back_to(f"/d/{token}", cookie)


def _back_to(target: str, cookie: tuple[str, str, int] | None) -> Response:
    """303 back to the link's URL, setting ``(name, value, max_age)`` for
    that path only (an unlock or a verification)."""
    response: Response = redirect(target, 303)
    if cookie is not None:
        name, value, max_age = cookie
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=target,
            # Secure exactly when the session cookie is (an https public URL).
            secure=request.is_secure or current_app.config["SESSION_COOKIE_SECURE"],
            httponly=True,
            samesite="Lax",
        )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def unlock(svc: Services, token: str, prefix: str = "/d/") -> Any:
    """A link's password given: the unlock cookie for the link's URLs
    (``/d/<token>``, or an upload link's ``/u/<token>``), then back there."""
    form = UnlockForm()
    if not form.validate_on_submit():
        return _headed(svc, locked_page(form, 400))
    try:
        result = open_link(
            svc,
            Request(request.environ, password=form.password.data),
            token,
            Purpose.UNLOCK,
        )
    except Exception:
        log.exception("unlocking link %s failed", token[:40])
        result = Refusal(None)
    if isinstance(result, Refusal):
        if isinstance(result.error, WrongPassword):
            form.password.errors = [str(result.error)]
            return _headed(svc, locked_page(form, 403))
        return show(svc, result, token)
    assert isinstance(result, Opened)
    cookie = None
    if result.state.password_hash is not None:
        value = svc.unlocks.value(result.claims.link_id, result.state.password_hash)
        cookie = (COOKIE, value, svc.unlocks.lifetime)
    return _back_to(f"{prefix}{token}", cookie)
