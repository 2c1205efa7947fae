"""Blueprint: a user's own account: password, email address, API tokens,
and the sessions they are signed in with."""

from __future__ import annotations

import time

import segno
from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.wrappers import Response
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length

from ..accounts import people as accounts
from ..accounts import second_factor as second_factors
from ..core.clients import client
from ..core.errors import LinksvcError
from ..core.errors import TooManyRequests
from ..core.errors import UnknownSession
from .auth import current
from .auth import start_session
from .ext import services

bp = Blueprint("account", __name__, url_prefix="/account")


class TokenForm(FlaskForm):
    label = StringField(
        "Label (what will use it?)", validators=[DataRequired(), Length(max=128)]
    )
    password = PasswordField(
        "Your password", validators=[DataRequired(), Length(max=1024)]
    )


class RevokeTokenForm(FlaskForm):
    """Only its CSRF token."""


class PasswordForm(FlaskForm):
    current = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=1024)]
    )
    new = PasswordField(
        "New password (at least 8 characters)",
        validators=[DataRequired(), Length(min=8, max=1024)],
    )


class EmailForm(FlaskForm):
    email = StringField("Email address (empty: none)", validators=[Length(max=254)])


@bp.route("/", methods=["GET"])
@login_required
def account():
    user = current()
    return _account_page(PasswordForm(prefix="pw"), EmailForm(email=user.email))


def _account_page(password_form, email_form, status: int = 200):
    page = render_template(
        "account.html", password_form=password_form, email_form=email_form
    )
    return page, status


@bp.route("/password", methods=["POST"])
@login_required
def password():
    """Change the password; every other session (and API token) ends."""
    form = PasswordForm(prefix="pw")
    user = current()
    if form.validate_on_submit():
        try:
            changed = accounts.change_own_password(
                services(), user, form.current.data, form.new.data
            )
        except TooManyRequests:
            raise  # 429, not a form error: the limit is the answer
        except LinksvcError as exc:
            form.form_errors.append(str(exc))
        else:
            start_session(changed)  # this browser stays logged in
            flash("Password changed; your other sessions have ended.", "info")
            return redirect(url_for("account.account"))
    return _account_page(form, EmailForm(email=user.email), 400)


@bp.route("/email", methods=["POST"])
@login_required
def email():
    form = EmailForm()
    user = current()
    if form.validate_on_submit():
        try:
            accounts.set_email(
                services(), user.username, form.email.data or "", user.username
            )
        except LinksvcError as exc:
            form.email.errors = [str(exc)]
        else:
            flash("Email address saved.", "info")
            return redirect(url_for("account.account"))
    return _account_page(PasswordForm(prefix="pw"), form, 400)


#: A single sign-on user makes a token within this long of signing in.
RECENT_SIGN_IN = 600


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    user = current()
    svc = services()
    store = svc.store
    form = TokenForm()
    sso = user.federated
    if sso:  # no password here: a recent sign-in at the provider instead
        del form.password
    # A token outlives the session: whoever makes one proves who they are
    # again, so a borrowed or stolen session cannot mint lasting access.
    if form.validate_on_submit():
        login_at = session.get("login_at")
        recent = isinstance(login_at, int) and time.time() - login_at <= RECENT_SIGN_IN
        if sso and not recent:
            form.form_errors.append(
                f"Sign in again with {svc.settings.oidc_name} (less than "
                f"{RECENT_SIGN_IN // 60} minutes ago) to make a token."
            )
        elif not sso and not accounts.reauthenticate(svc, user, form.password.data):
            form.password.errors = ["The password is not right."]
        else:
            token, secret = store.tokens.create(user.id, form.label.data.strip())
            page = render_template("token_created.html", token=token, secret=secret)
            return page, 201, {"Referrer-Policy": "no-referrer"}
    status = 400 if form.is_submitted() else 200
    return (
        render_template(
            "tokens.html",
            tokens=store.tokens.list(user.id),
            form=form,
            revoke_form=RevokeTokenForm(),
            expires_after=svc.settings.sso_token_lifetime if sso else 0,
        ),
        status,
    )


@bp.route("/tokens/<token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: str) -> Response:
    """CSRFProtect has checked the form's token before this runs."""
    user = current()
    services().store.tokens.revoke(token_id, user.id)
    flash("API token revoked.", "info")
    return redirect(url_for("account.tokens"))


class EndSessionForm(FlaskForm):
    """Only its CSRF token."""


@bp.get("/sessions")
@login_required
def sessions() -> str:
    user = current()
    return render_template(
        "sessions.html",
        own=True,
        person=user,
        sessions=services().store.sessions.of_user(user.id),
        current_sid=session.get("sid"),
        form=EndSessionForm(),
        end_url=lambda sid: url_for("account.end_session", sid=sid),
        end_all_url=url_for("account.end_other_sessions"),
    )


@bp.post("/sessions/<sid>/end")
@login_required
def end_session(sid: str) -> Response:
    user = current()
    svc = services()
    if not svc.store.sessions.end(user.id, sid):
        raise UnknownSession("There is no such session of yours.")
    svc.audit.record(
        "session",
        "ended",
        actor=user.username,
        subject=user.username,
        **client(request.environ),
    )
    if sid == session.get("sid"):
        session.clear()
        flash("You are logged out.", "info")
        return redirect(url_for("auth.login"))
    flash("The session has ended.", "info")
    return redirect(url_for("account.sessions"))


@bp.post("/sessions/end-others")
@login_required
def end_other_sessions() -> Response:
    user = current()
    svc = services()
    ended = svc.store.sessions.end_others(user.id, str(session.get("sid")))
    svc.audit.record(
        "session",
        "ended",
        actor=user.username,
        subject=user.username,
        detail=f"{ended} other",
        **client(request.environ),
    )
    flash(f"Ended {ended} other session{'s' if ended != 1 else ''}.", "info")
    return redirect(url_for("account.sessions"))


class SecondFactorPasswordForm(FlaskForm):
    password = PasswordField(
        "Your password", validators=[DataRequired(), Length(max=1024)]
    )


class SecondFactorCodeForm(FlaskForm):
    code = StringField("Code from the app", validators=[DataRequired(), Length(max=16)])


@bp.get("/second-factor")
@login_required
def second_factor() -> str:
    user = current()
    left = services().store.users.recovery_codes_left(user.id)
    return render_template(
        "second_factor_account.html",
        enabled=bool(user.totp_secret),
        sso=user.federated,
        left=left,
        form=SecondFactorPasswordForm(),
    )


@bp.post("/second-factor/setup")
@login_required
def second_factor_setup():
    """After the password again: a new secret, shown as a QR code, waiting
    for a code from the app before it counts."""
    user = current()
    svc = services()
    form = SecondFactorPasswordForm()
    if not form.validate_on_submit() or not accounts.reauthenticate(
        svc, user, form.password.data
    ):
        flash("The password is not right.", "error")
        return redirect(url_for("account.second_factor"))
    secret = second_factors.new_secret()
    session["totp_pending"] = secret
    uri = second_factors.provisioning_uri(secret, user.username)
    qr = Markup(segno.make(uri, error="m").svg_inline(scale=4, border=2))
    page = render_template(
        "second_factor_setup.html",
        secret=secret,
        qr=qr,
        form=SecondFactorCodeForm(),
    )
    return page, 200, {"Referrer-Policy": "no-referrer"}


@bp.post("/second-factor/confirm")
@login_required
def second_factor_confirm():
    user = current()
    svc = services()
    form = SecondFactorCodeForm()
    secret = session.get("totp_pending")
    if not isinstance(secret, str) or not form.validate_on_submit():
        flash("Set it up again.", "error")
        return redirect(url_for("account.second_factor"))
    try:
        codes = second_factors.enrol(svc, user, secret, form.code.data or "")
    except LinksvcError as exc:
        flash(str(exc), "error")
        return redirect(url_for("account.second_factor"))
    session.pop("totp_pending", None)
    page = render_template("second_factor_codes.html", codes=codes)
    return page, 201, {"Referrer-Policy": "no-referrer"}


@bp.post("/second-factor/remove")
@login_required
def second_factor_remove() -> Response:
    user = current()
    svc = services()
    form = SecondFactorPasswordForm()
    if form.validate_on_submit() and accounts.reauthenticate(
        svc, user, form.password.data
    ):
        second_factors.remove(svc, user, user.username)
        flash("The second factor is off.", "info")
    else:
        flash("The password is not right.", "error")
    return redirect(url_for("account.second_factor"))
