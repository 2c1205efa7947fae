"""Blueprint: a user's own webhook (where their link events are POSTed, the
key that signs them) and its delivery history."""

from __future__ import annotations

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import StringField
from wtforms.validators import Length

from ..accounts import people as accounts
from ..core.clock import now as clock_now
from ..core.errors import LinksvcError
from ..core.webhook_signatures import standard_form
from .auth import current
from .ext import services

bp = Blueprint("webhooks", __name__, url_prefix="/account/webhook")
#: Deliveries shown on the page, newest first.
HISTORY = 100


class WebhookForm(FlaskForm):
    url = StringField("Webhook URL (https; empty: none)", validators=[Length(max=2048)])
    new_secret = BooleanField("Make a new signing key")


@bp.route("/", methods=["GET", "POST"])
@login_required
def webhook():
    svc = services()
    user = current()
    form = WebhookForm(url=user.webhook_url)
    status = 200
    if form.validate_on_submit():
        try:
            changed = accounts.set_webhook(
                svc, user, form.url.data or "", form.new_secret.data, user.username
            )
        except LinksvcError as exc:
            form.url.errors = [str(exc)]
            status = 400
        else:
            if changed.webhook_url:
                flash("Saved your webhook.", "info")
            else:
                flash("Removed your webhook.", "info")
            return redirect(url_for("webhooks.webhook"))
    elif form.is_submitted():
        status = 400
    history = svc.store.outbox.list(user_id=user.id, kind="webhook", limit=HISTORY)
    rotating = user.webhook_keys(clock_now())[1:]
    page = render_template(
        "webhook.html",
        form=form,
        secret=user.webhook_secret,
        standard_key=standard_form(user.webhook_secret),
        previous_until=user.webhook_previous_until if rotating else None,
        format=svc.settings.webhook_format,
        history=history,
    )
    return page, status
