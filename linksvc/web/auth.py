"""Blueprint: login and logout, and who the current user is.

Sessions are Flask-Login's. A session names the user *and* the user's current
session token; logout rotates the token, so a copied cookie is dead after
logout (and so is every other session of that user: logout means everywhere).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint
from flask import current_app
from flask import flash
from flask import Flask
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_user
from flask_login import logout_user
from flask_login import UserMixin
from flask_wtf import FlaskForm
from itsdangerous import BadData
from itsdangerous import URLSafeTimedSerializer
from werkzeug.wrappers import Response
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length

from ..accounts import directory
from ..accounts import second_factor as second_factors
from ..config import Settings
from ..core.clients import client
from ..core.errors import NotGranted
from ..db.users import User
from .ext import login_manager
from .ext import make_limiter
from .ext import services

bp = Blueprint("auth", __name__)


class SessionUser(UserMixin):
    """The Flask-Login face of a stored user."""

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_token}"


class LoginForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class LogoutForm(FlaskForm):
    """Empty but for its CSRF token: logout is a POST that a page cannot forge."""


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "basic"

    @app.context_processor
    def _logout_form() -> dict[str, object]:
        return {"logout_form": LogoutForm()}

    app.before_request(_second_factor_first)


#: What a signed-in person who must add a second factor may still reach.
_UNTIL_ENROLLED = {
    "account.second_factor",
    "account.second_factor_setup",
    "account.second_factor_confirm",
    "passkeys.list_",
    "passkeys.add_options",
    "passkeys.add",
    "auth.logout",
    "static",
}


def must_add_second_factor(settings: Settings, user: User) -> bool:
    """Whether ``require_second_factor`` holds ``user`` to set one up first
    (single sign-on users are their provider's business)."""
    rule = settings.require_second_factor
    if rule == "none" or user.totp_secret or user.federated:
        return False
    if not (rule == "everyone" or user.is_admin):
        return False
    return not services().store.passkeys.count(user.id)


def _second_factor_first() -> Response | None:
    if request.endpoint in _UNTIL_ENROLLED or request.blueprint == "api":
        return None
    if not current_user.is_authenticated:
        return None
    if must_add_second_factor(current_app.config["LINKSVC"], current_user.user):
        flash("Add a second factor to your account before you go on.", "error")
        return redirect(url_for("account.second_factor"))
    return None


def throttle_logins(app: Flask) -> None:
    """Failed logins are limited per user name and address, per address, and
    per user name across addresses (Flask-Limiter); a breach answers 429 with
    Retry-After. The last limit does not hold a browser with a device cookie
    from an earlier login as that user (OWASP's device cookies), so guessing
    from elsewhere cannot lock the user out. Call after the blueprint is
    registered: the limits wrap its login view."""
    conf = app.config["LINKSVC"]
    limiter = make_limiter(app)
    view: Any = app.view_functions["auth.login"]
    view = limiter.limit(
        conf.login_limit,
        key_func=_name_and_address_key,
        methods=["POST"],
        deduct_when=_failed,
        scope="login-name-address",
    )(view)
    view = limiter.limit(
        conf.login_limit_per_name,
        key_func=_username_key,
        methods=["POST"],
        deduct_when=_failed,
        exempt_when=_known_device,
        scope="login-user",
    )(view)
    view = limiter.limit(
        conf.login_limit_per_address,
        methods=["POST"],
        deduct_when=_failed,
        scope="login-address",
    )(view)
    app.view_functions["auth.login"] = view
    # A passkey's answer costs a signature check: held per address too.
    answer: Any = app.view_functions["passkeys.login"]
    app.view_functions["passkeys.login"] = limiter.limit(
        conf.login_limit_per_address,
        methods=["POST"],
        deduct_when=_failed,
        scope="passkey-address",
    )(answer)


def _username() -> str:
    return request.form.get("username", "").strip().lower()[:64]


def _username_key() -> str:
    return "user:" + _username()


def _name_and_address_key() -> str:
    return f"user:{_username()}@{request.remote_addr or ''}"


#: A browser that logged in as a user carries this cookie for a year.
DEVICE_COOKIE = "linksvc_device"
DEVICE_MAX_AGE = 365 * 86400


def _device_serializer() -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key: the newest, Flask's secret_key.
    keys = [*current_app.config["SECRET_KEY_FALLBACKS"], current_app.secret_key]
    return URLSafeTimedSerializer(keys, salt="linksvc.device.v1")


def _known_device() -> bool:
    """Whether this browser logged in as the user it now names before."""
    cookie = request.cookies.get(DEVICE_COOKIE, "")
    if not cookie or len(cookie) > 512:
        return False
    try:
        name = _device_serializer().loads(cookie, max_age=DEVICE_MAX_AGE)
    except BadData:
        return False
    return isinstance(name, str) and name == _username()


def _failed(response: Response) -> bool:
    return response.status_code not in (301, 302, 303, 307, 308)


@login_manager.user_loader
def _load_user(session_id: str) -> SessionUser | None:
    user_id, _, token = session_id.partition(":")
    if not (user_id.isascii() and user_id.isdigit()) or not _session_is_current():
        return None
    store = services().store
    user = store.users.get(int(user_id))
    if user is None or user.disabled or user.session_token != token:
        return None
    sid = session.get("sid")
    # The session's row: one ended on the account page (on any worker or
    # instance) ends here at once.
    if not isinstance(sid, str) or not store.sessions.live(sid, user.id):
        session.clear()
        return None
    return SessionUser(user)


#: The session remembers when its user last made a request, to this precision
#: (seconds), so the cookie is not rewritten on every page.
SEEN_PRECISION = 60


def _session_is_current() -> bool:
    """False once the session was idle for ``session_idle_timeout`` or lives
    past ``session_lifetime`` from its login; then it is cleared."""
    conf = current_app.config["LINKSVC"]
    now = int(time.time())
    login_at, seen_at = session.get("login_at"), session.get("seen_at")
    if (
        not isinstance(login_at, int)
        or not isinstance(seen_at, int)
        or now - login_at > conf.session_lifetime
        or now - seen_at > conf.session_idle_timeout
    ):
        session.clear()
        return False
    if now - seen_at >= SEEN_PRECISION:
        session["seen_at"] = now
        sid = session.get("sid")
        if isinstance(sid, str):
            services().store.sessions.seen(sid, now)
    return True


@login_manager.unauthorized_handler
def _unauthorized() -> Response:
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def start_session(user: User, method: str = "password") -> None:
    """A fresh session for ``user``: nothing planted before it survives; its
    row says when, from where and how it signed in."""
    session.clear()
    who = client(request.environ)
    settings = current_app.config["LINKSVC"]
    session["sid"] = services().store.sessions.start(
        user.id,
        method,
        who["remote_addr"],
        who["user_agent"],
        settings.session_lifetime,
    )
    session["login_at"] = session["seen_at"] = int(time.time())
    login_user(SessionUser(user))


def sign_in(user: User, method: str) -> None:
    """A sign-in that is complete (password, password and code, or single
    sign-on): its audit record and its session, which say the same method."""
    services().audit.record(
        "login",
        "ok",
        actor=user.username,
        subject=user.username,
        detail=method,
        **client(request.environ),
    )
    start_session(user, method)


def current() -> User:
    """The logged-in user (views behind ``login_required``)."""
    return current_user.user


def admin_required(view: Callable) -> Callable:
    """Like ``login_required``, and the user must be an administrator."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.user.is_admin:
            raise NotGranted("Only administrators may see this page.")
        return view(*args, **kwargs)

    return wrapped


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else the dashboard.

    Refuses ``//host``, ``/\\host``, schemes and anything with a netloc, which
    browsers would follow off-site.
    """
    fallback = url_for("dashboard.browse")
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return fallback
    if "\\" in target or any(ord(c) < 32 for c in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int]:
    form = LoginForm()
    settings = current_app.config["LINKSVC"]
    svc = services()
    to_directory = form.validate_on_submit() and directory.handles(
        svc, form.username.data
    )
    if form.validate_on_submit() and not (
        to_directory or password_login_allowed(settings, form.username.data)
    ):
        flash(
            "Password sign-in is turned off here; "
            f"sign in with {settings.oidc_name} instead.",
            "error",
        )
        status = 403
    elif form.validate_on_submit():
        method = "password"
        if to_directory:
            # The directory judges the password; the login limits (per name
            # and address) ran before this view.
            method = "ldap"
            user = directory.sign_in(
                svc, form.username.data, form.password.data, **client(request.environ)
            )
        else:
            user = svc.store.users.authenticate(
                form.username.data,
                form.password.data,
                partial(svc.passwords.check, "login", form.username.data),
            )
        if user is not None and not (
            to_directory or settings.local_logins or user.is_admin
        ):
            user = None  # break-glass is for an administrator only
        if user is not None and user.federated and not to_directory:
            # An account of the identity provider signs in there only: a
            # password given to it here must not outlive its leaving.
            user = None
        if user is None:
            # Folded: a flood of wrong passwords from one address is one row
            # a minute (and the login throttles stop it first).
            name = (form.username.data or "").strip().lower()[:64]
            svc.audit.record(
                "login",
                "refused",
                fold=True,
                subject=name,
                detail=method,
                **client(request.environ),
            )
        if user is not None and (user.totp_secret or svc.store.passkeys.count(user.id)):
            # The password was right; the session starts after the code.
            session.clear()
            session["second_factor"] = {
                "user": user.id,
                "at": int(time.time()),
                "next": safe_next(request.args.get("next")),
            }
            return redirect(url_for("auth.second_factor"))
        if user is not None:
            sign_in(user, method)
            return signed_in(user, safe_next(request.args.get("next")))
        flash("Wrong user name or password.", "error")
        status = 200
    else:
        status = 400 if form.errors and request.method == "POST" else 200
    return render_template(
        "login.html",
        form=form,
        answer_form=AnswerForm(),
        sso_name=settings.oidc_name if settings.oidc_issuer else "",
        local_logins=settings.local_logins,
        break_glass=bool(settings.break_glass_admin),
    ), status


def password_login_allowed(settings: Settings, username: str) -> bool:
    """Local accounts may log in, or this is the break-glass administrator
    (judged before any hash is checked, so the refusal costs nothing)."""
    if settings.local_logins:
        return True
    glass = settings.break_glass_admin
    return bool(glass) and username.strip().lower() == glass.lower()


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    # CSRFProtect has checked the form's token before this runs.
    if current_user.is_authenticated:
        services().store.users.end_sessions(current_user.user.id)
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


def signed_in(user: User, target: str) -> Response:
    """To ``target``, with the device cookie that tells later logins this
    browser signed in as ``user`` before."""
    response = redirect(target)
    response.set_cookie(
        DEVICE_COOKIE,
        _device_serializer().dumps(user.username.lower()),
        max_age=DEVICE_MAX_AGE,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    return response


#: Seconds between the right password and the code it waits for.
SECOND_FACTOR_WAIT = 300


class AnswerForm(FlaskForm):
    """A passkey's answer (web/passkeys.py), posted by static/passkeys.js."""

    answer = HiddenField()


class CodeForm(FlaskForm):
    code = StringField(
        "Code from your app, or a recovery code",
        validators=[DataRequired(), Length(max=32)],
    )


@bp.route("/login/second-factor", methods=["GET", "POST"])
def second_factor() -> Response | tuple[str, int]:
    """The second step of a password sign-in with a second factor."""
    pending = session.get("second_factor")
    if not isinstance(pending, dict):
        pending = {}
    at = pending.get("at")
    if not isinstance(at, int) or time.time() - at > SECOND_FACTOR_WAIT:
        session.pop("second_factor", None)
        flash("Sign in again: the code was not given in time.", "error")
        return redirect(url_for("auth.login"))
    svc = services()
    user = svc.store.users.get(int(pending["user"]))
    keys = svc.store.passkeys.count(user.id) if user is not None else 0
    if user is None or user.disabled or not (user.totp_secret or keys):
        session.clear()
        return redirect(url_for("auth.login"))
    form = CodeForm()
    status = 200
    if form.validate_on_submit() and user.totp_secret:
        how = second_factors.verify(svc, user, form.code.data or "")
        who = client(request.environ)
        if how is not None:
            target = str(pending.get("next") or "")
            sign_in(user, f"password+{how}")
            return signed_in(user, safe_next(target))
        svc.audit.record(
            "login",
            "refused",
            fold=True,
            subject=user.username,
            detail="second factor",
            **who,
        )
        flash("That code is not right (or was used already).", "error")
        status = 403
    elif form.is_submitted():
        status = 400
    return render_template(
        "second_factor.html",
        form=form,
        totp=bool(user.totp_secret),
        passkeys=bool(keys),
        answer_form=AnswerForm(),
    ), status
