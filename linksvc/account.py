"""Blueprint: a user's personal API tokens (create, list, revoke)."""

from __future__ import annotations

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length

from .auth import require_login
from .errors import LinksvcError
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
def tokens():
    user = require_login()
    store = services().store
    form = TokenForm()
    # A token outlives the session: whoever makes one proves the password
    # again, so a borrowed or stolen session cannot mint lasting access.
    if form.validate_on_submit():
        if store.authenticate(user.username, form.password.data) is None:
            form.password.errors = ["The password is not right."]
        else:
            token, secret = store.create_api_token(user.id, form.label.data.strip())
            page = render_template("token_created.html", token=token, secret=secret)
            return page, 201, {"Referrer-Policy": "no-referrer"}
    status = 400 if form.is_submitted() else 200
    return (
        render_template(
            "tokens.html",
            tokens=store.list_api_tokens(user.id),
            form=form,
            revoke_form=RevokeTokenForm(),
        ),
        status,
    )


@bp.route("/tokens/<token_id>/revoke", methods=["POST"])
def revoke_token(token_id: str) -> Response:
    user = require_login()
    if not RevokeTokenForm().validate_on_submit():
        raise LinksvcError("the form expired; reload the page and try again")
    services().store.revoke_api_token(token_id, user.id)
    flash("API token revoked.", "info")
    return redirect(url_for("account.tokens"))
