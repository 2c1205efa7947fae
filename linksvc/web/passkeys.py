"""Blueprint: passkeys (WebAuthn) — a person's list on /account/passkeys, and
signing in with one on the login page or as the second step.

Each ceremony is two requests: a form POST for the options (JSON, the
challenge kept in the session), then the browser's answer in a second form
POST. Both carry the CSRF token; static/passkeys.js joins them, and without
it (or without WebAuthn) the passkey buttons stay hidden.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Blueprint
from flask import current_app
from flask import flash
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length

from ..accounts import passkeys
from ..accounts import people as accounts
from ..core.clients import client
from ..core.errors import InvalidInput
from ..core.errors import LinksvcError
from ..core.errors import SignInFailed
from .auth import AnswerForm
from .auth import current
from .auth import password_login_allowed
from .auth import safe_next
from .auth import SECOND_FACTOR_WAIT
from .auth import sign_in
from .auth import signed_in
from .ext import services

bp = Blueprint("passkeys", __name__)

_SESSION = "passkey_challenge"


class AddForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=64)])
    password = PasswordField("Your password", validators=[Length(max=1024)])
    answer = HiddenField()


class RenameForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=64)])


class RemoveForm(FlaskForm):
    password = PasswordField(
        "Your password", validators=[DataRequired(), Length(max=1024)]
    )


def relying_party() -> passkeys.RelyingParty:
    """The site as the browser sees it: ``public_base_url`` when set."""
    base = current_app.config["LINKSVC"].public_base_url or request.host_url
    parts = urlsplit(base)
    return passkeys.RelyingParty(
        parts.hostname or "", f"{parts.scheme}://{parts.netloc}"
    )


def _keep(challenge: passkeys.Challenge, purpose: str, user_id: int | None) -> None:
    session[_SESSION] = {
        "value": challenge.value,
        "made": challenge.made_ms,
        "for": purpose,
        "user": user_id,
    }


def _take(purpose: str, user_id: int | None) -> passkeys.Challenge | None:
    kept = session.pop(_SESSION, None)
    if (
        not isinstance(kept, dict)
        or kept.get("for") != purpose
        or kept.get("user") != user_id
        or not isinstance(kept.get("value"), str)
        or not isinstance(kept.get("made"), int)
    ):
        return None
    return passkeys.Challenge(kept["value"], kept["made"])


def _refused(message: str, status: int) -> tuple[Response, int]:
    return jsonify(error="refused", message=message), status


# -- the person's own passkeys ------------------------------------------------


@bp.get("/account/passkeys")
@login_required
def list_() -> str:
    user = current()
    return render_template(
        "passkeys.html",
        sso=user.federated,
        keys=services().store.passkeys.of_user(user.id),
        add_form=AddForm(),
        rename_form=RenameForm(),
        remove_form=RemoveForm(),
        most=passkeys.MAX_PASSKEYS,
    )


@bp.post("/account/passkeys/options")
@login_required
def add_options() -> tuple[Response, int] | Response:
    """After the password again: the options to make a passkey with."""
    user = current()
    svc = services()
    form = AddForm()
    if user.federated:
        return _refused("Your identity provider looks after your sign-in.", 403)
    if not form.validate_on_submit() or not accounts.reauthenticate(
        svc, user, form.password.data or ""
    ):
        return _refused("The password is not right.", 403)
    try:
        options, challenge = passkeys.registration_options(svc, user, relying_party())
    except LinksvcError as exc:
        return _refused(str(exc), 400)
    _keep(challenge, "register", user.id)
    return Response(options, mimetype="application/json")


@bp.post("/account/passkeys")
@login_required
def add() -> Response:
    user = current()
    form = AddForm()
    challenge = _take("register", user.id)
    if not form.validate_on_submit() or challenge is None:
        flash("Add the passkey again.", "error")
        return redirect(url_for("passkeys.list_"))
    try:
        passkeys.register(
            services(),
            user,
            relying_party(),
            form.answer.data or "",
            challenge,
            form.name.data or "",
        )
    except LinksvcError as exc:
        flash(str(exc), "error")
        return redirect(url_for("passkeys.list_"))
    flash(
        "The passkey is added: sign in with it, or use it after your password.", "info"
    )
    return redirect(url_for("passkeys.list_"))


@bp.post("/account/passkeys/<key_id>/rename")
@login_required
def rename(key_id: str) -> Response:
    form = RenameForm()
    try:
        if not form.validate_on_submit():
            raise InvalidInput("Give the passkey a name.")
        passkeys.rename(services(), current(), key_id, form.name.data or "")
    except LinksvcError as exc:
        flash(str(exc), "error")
    return redirect(url_for("passkeys.list_"))


@bp.post("/account/passkeys/<key_id>/remove")
@login_required
def remove(key_id: str) -> Response:
    user = current()
    svc = services()
    form = RemoveForm()
    if not form.validate_on_submit() or not accounts.reauthenticate(
        svc, user, form.password.data or ""
    ):
        flash("The password is not right.", "error")
        return redirect(url_for("passkeys.list_"))
    try:
        passkeys.remove(svc, user, key_id)
        flash("The passkey is removed.", "info")
    except LinksvcError as exc:
        flash(str(exc), "error")
    return redirect(url_for("passkeys.list_"))


# -- signing in -----------------------------------------------------------------


def _pending_user_id() -> int | None:
    """The person whose password was right and who now gives the second
    step (auth.second_factor keeps them in the session), if any."""
    pending = session.get("second_factor")
    if not isinstance(pending, dict):
        return None
    at = pending.get("at")
    if not isinstance(at, int) or time.time() - at > SECOND_FACTOR_WAIT:
        return None
    user_id = pending.get("user")
    return user_id if isinstance(user_id, int) else None


@bp.post("/login/passkey/options")
def login_options() -> tuple[Response, int] | Response:
    """Options for a sign-in: any passkey of this site, or, as the second
    step, the pending person's. Writes nothing but the session cookie."""
    if not AnswerForm().validate_on_submit():
        return _refused("The page expired; reload it.", 400)
    svc = services()
    user_id = _pending_user_id()
    user = svc.store.users.get(user_id) if user_id is not None else None
    options, challenge = passkeys.authentication_options(svc, relying_party(), user)
    _keep(challenge, "login", user_id)
    return Response(options, mimetype="application/json")


@bp.post("/login/passkey")
def login() -> Response:
    """The browser's answer: signed in, or a 403 page that says why not
    (counted by the login limits, which wrap this view too)."""
    svc = services()
    form = AnswerForm()
    user_id = _pending_user_id()
    pending = svc.store.users.get(user_id) if user_id is not None else None
    challenge = _take("login", user_id)
    try:
        if not form.validate_on_submit() or challenge is None:
            raise SignInFailed("The page expired; sign in again.")
        user = passkeys.authenticate(
            svc, relying_party(), form.answer.data or "", challenge, pending
        )
        settings = current_app.config["LINKSVC"]
        if user.federated or (
            pending is None and not password_login_allowed(settings, user.username)
        ):
            raise SignInFailed("This account signs in another way here.")
    except SignInFailed as exc:
        svc.audit.record(
            "login",
            "refused",
            fold=True,
            subject=pending.username if pending else "",
            detail=f"passkey: {exc}"[:200],
            **client(request.environ),
        )
        raise
    target = ""
    if pending is not None:
        target = str(session.get("second_factor", {}).get("next") or "")
    sign_in(user, "password+passkey" if pending else "passkey")
    return signed_in(user, safe_next(target or request.args.get("next")))
