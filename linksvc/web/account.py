"""Blueprint: a user's personal API tokens (create, list, revoke)."""

from __future__ import annotations

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length

from .auth import current
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


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    user = current()
    store = services().store
    form = TokenForm()
    # A token outlives the session: whoever makes one proves the password
    # again, so a borrowed or stolen session cannot mint lasting access.
    if form.validate_on_submit():
        if store.users.authenticate(user.username, form.password.data) is None:
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
