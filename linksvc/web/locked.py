"""The page that asks a recipient for a link's password (and its form)."""

from __future__ import annotations

from flask import render_template
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length

from ..links.options import MAX_LINK_PASSWORD

#: Token pages: the URL is the credential, so no Referer carries it away.
HEADERS = {
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "none",
}


class UnlockForm(FlaskForm):
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=MAX_LINK_PASSWORD)]
    )


class VerifyForm(FlaskForm):
    code = StringField("Code from the email", validators=[Length(max=16)])


def verify_page(
    message: str,
    form: VerifyForm | None = None,
    status: int = 403,
    sent: bool = False,
    errors: list[str] | None = None,
) -> tuple[str, int, dict[str, str]]:
    """403 with the one-time code form (posting to the same URL)."""
    page = render_template(
        "verify.html",
        form=form or VerifyForm(),
        message=message,
        sent=sent,
        errors=errors or [],
    )
    return page, status, HEADERS


def locked_page(
    form: UnlockForm | None = None, status: int = 403
) -> tuple[str, int, dict[str, str]]:
    """403 with a password form (posting to the same URL); no file name:
    the name is the link owner's to show, once the password is given."""
    page = render_template("unlock.html", form=form or UnlockForm())
    return page, status, HEADERS
