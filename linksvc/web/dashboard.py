"""Blueprint: browse what you may share, create links, list and revoke them."""

from __future__ import annotations

import dataclasses
import time

import segno
from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.wrappers import Response
from wtforms import BooleanField
from wtforms import HiddenField
from wtforms import IntegerField
from wtforms import PasswordField
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import Optional

from ..accounts import access
from ..core.clients import client
from ..core.clock import iso
from ..core.clock import minutes
from ..core.clock import now
from ..core.durations import format_duration
from ..core.errors import EditConflict
from ..core.errors import InvalidInput
from ..core.errors import LinksvcError
from ..core.text import filesize
from ..core.text import printable
from ..db import audit
from ..files.tree import covers
from ..links import editing
from ..links import more_time
from ..links import recipients
from ..links import sharing
from ..links.options import EDITABLE
from ..links.options import LinkOptions
from ..links.options import MAX_DOWNLOADS
from ..links.options import MAX_LINK_PASSWORD
from ..links.options import MAX_NOTE
from ..links.options import parse
from ..links.policy import policy_for
from ..notify import mailing
from .auth import current
from .ext import services
from .pages import whole_number

bp = Blueprint("dashboard", __name__)

#: The expiry choices offered on the share form, besides a custom value.
EXPIRY_CHOICES = [("1h", "1 hour"), ("1d", "1 day"), ("7d", "7 days")]
#: Rows of each part of a link's history page.
HISTORY_ROWS = 500
#: Rows on one page of "My links".
LINKS_PER_PAGE = 100
TOKEN_PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


class ShareForm(FlaskForm):
    expires = SelectField(
        "Expires after",
        choices=[SelectChoice(v, label) for v, label in EXPIRY_CHOICES]
        + [SelectChoice("custom", "Custom…")],
        default="1d",
    )
    custom = StringField(
        "Custom expiry (e.g. 90m, 2d, 2w)", validators=[Optional(), Length(max=16)]
    )
    max_downloads = IntegerField(
        "Download limit (empty: no limit, 1: one-time)",
        validators=[Optional(), NumberRange(1, MAX_DOWNLOADS)],
    )
    not_before = StringField(
        "Starts (UTC, empty: now)", validators=[Optional(), Length(max=40)]
    )
    note = StringField("Note: who is it for?", validators=[Length(max=MAX_NOTE)])
    recipient_page = BooleanField(
        "Show the recipient a page (name, size, expiry) before the download"
    )
    password = PasswordField(
        "Password (optional; give it to the recipient separately)",
        validators=[Optional(), Length(max=MAX_LINK_PASSWORD)],
    )
    ranges = StringField(
        "Only from these networks (optional, e.g. 10.0.0.0/8, 2001:db8::/32)",
        validators=[Optional(), Length(max=2000)],
    )
    pin = BooleanField("Stop working if the file is replaced or changed")
    notify = BooleanField("Email me when it is first downloaded")
    recipients = TextAreaField(
        "Recipients (optional: one per line, an email address or a name; each "
        "gets a link of their own)",
        validators=[Optional(), Length(max=13000)],
    )
    verify = BooleanField(
        "Recipients with an address must enter a code we email them first"
    )
    more_time = BooleanField(
        "Let the recipient ask me for more time once it expired or is used up"
    )

    def options(self) -> LinkOptions:
        """The link's options as the form gives them (field names are the
        options' names)."""
        expires = (
            self.custom.data if self.expires.data == "custom" else self.expires.data
        )
        if not expires:
            raise InvalidInput("Give a custom expiry such as 90m, 2d or 2w.")
        names = ("max_downloads", "not_before", "note", "recipient_page", "password")
        more = ("ranges", "pin", "notify", "recipients", "verify", "more_time")
        raw = {name: self[name].data for name in (*names, *more)}
        return parse({**raw, "expires": expires}, now())


class EditForm(FlaskForm):
    """Change a live link; the URL stays the same."""

    expires = StringField(
        "New expiry (from now, e.g. 3d, or a UTC time; empty: unchanged)",
        validators=[Optional(), Length(max=40)],
    )
    max_downloads = IntegerField(
        "Download limit (empty: no limit)",
        validators=[Optional(), NumberRange(1, MAX_DOWNLOADS)],
    )
    note = StringField("Note", validators=[Length(max=MAX_NOTE)])
    password = PasswordField(
        "New password (empty: unchanged)",
        validators=[Optional(), Length(max=MAX_LINK_PASSWORD)],
    )
    remove_password = BooleanField("Remove the password")
    ranges = StringField(
        "Only from these networks (empty: from anywhere)",
        validators=[Optional(), Length(max=2000)],
    )
    #: The link as the form was loaded (Link.revision): a stale form is 409.
    revision = HiddenField(validators=[Length(max=64)])


class SendForm(FlaskForm):
    to = StringField("Send to (email address)", validators=[Length(max=254)])
    message = StringField("Message (optional)", validators=[Length(max=1000)])


class RevokeForm(FlaskForm):
    """Only its CSRF token: revoking is a POST no other site can forge."""


def _crumbs(path: str) -> list[tuple[str, str]]:
    """(name, path) for each folder from the top down to ``path``."""
    crumbs, parts = [], path.split("/") if path else []
    for i, name in enumerate(parts):
        crumbs.append((name, "/".join(parts[: i + 1])))
    return crumbs


@bp.route("/")
@bp.route("/browse/<path:folder>")
@login_required
def browse(folder: str = "") -> str:
    user = current()
    clean, entries = access.browse(services(), user, folder)
    # Folders on the way to a grant are browsed, not shared.
    grants = user.effective_grants
    shareable = {e.path for e in entries if e.is_dir and covers(grants, e.path)}
    return render_template(
        "browse.html",
        folder=clean,
        crumbs=_crumbs(clean),
        entries=entries,
        shareable=shareable,
    )


@bp.route("/share/<path:filename>", methods=["GET", "POST"])
@login_required
def share(filename: str):
    user = current()
    svc = services()
    shared = sharing.target(svc, user, filename)
    form = ShareForm()
    if not form.is_submitted():
        form.recipient_page.data = svc.settings.recipient_page
        form.pin.data = svc.settings.pin
        form.notify.data = svc.settings.notify
        form.expires.data = _default_choice(svc.settings.default_expiry)
        if form.expires.data == "custom":
            form.custom.data = format_duration(svc.settings.default_expiry)
    if form.validate_on_submit():
        try:
            asked = form.options()
            if asked.recipients:
                made, _ = sharing.create_share(
                    svc, user, shared, asked, **client(request.environ)
                )
                page = render_template(
                    "created.html",
                    link=made,
                    recipients=recipients.lines(
                        svc, made, request.host_url, activity=False
                    ),
                    email=bool(svc.settings.smtp_host),
                    send_form=SendForm(prefix="send"),
                )
                return page, 201, TOKEN_PAGE_HEADERS
            link, token = sharing.create_link(
                svc, user, shared, asked, **client(request.environ)
            )
        except LinksvcError as exc:
            form.form_errors.append(str(exc))
        else:
            url = sharing.link_url(svc, token, request.host_url)
            page = render_template("created.html", link=link, url=url, qr=qr_svg(url))
            return page, 201, TOKEN_PAGE_HEADERS
    status = 400 if form.is_submitted() else 200
    return (
        render_template(
            "share.html",
            form=form,
            path=shared.path,
            max_expiry=format_duration(svc.settings.max_expiry),
            policy=policy_for(svc, user).describe(),
            is_folder=shared.folder,
        ),
        status,
    )


def _with_pending(svc, link):
    """The link with the downloads this process counted that the audit
    writer has not added to its row yet (the counter's, not a wait)."""
    pending = svc.counts.pending(link.id)
    if not pending:
        return link
    return dataclasses.replace(link, download_count=link.download_count + pending)


def _urls(svc, links) -> dict[str, str]:
    """The URL of each link that can still be used, to copy again."""
    urls = {}
    for link in links:
        url = sharing.shareable_url(svc, link, request.host_url)
        if url is not None:
            urls[link.id] = url
    return urls


def _default_choice(seconds: int) -> str:
    spelled = format_duration(seconds)
    return spelled if spelled in dict(EXPIRY_CHOICES) else "custom"


@bp.route("/links")
@login_required
def links() -> str:
    user = current()
    store = services().store
    owner = None if user.is_admin else user.id
    page = whole_number(request.args.get("page", "1"), 999_999) or 1
    rows = store.links.list(
        owner, limit=LINKS_PER_PAGE, offset=(page - 1) * LINKS_PER_PAGE
    )
    pages = max(1, -(-store.links.count(owner) // LINKS_PER_PAGE))
    svc = services()
    rows = [_with_pending(svc, link) for link in rows]
    under = store.links.recipients([link.id for link in rows if link.share])
    under = {k: [_with_pending(svc, r) for r in v] for k, v in under.items()}
    return render_template(
        "links.html",
        links=rows,
        under=under,
        urls=_urls(svc, [*rows, *(r for v in under.values() for r in v)]),
        now=time.time(),
        revoke_form=RevokeForm(),
        page=page,
        pages=pages,
    )


@bp.route("/links/<link_id>", methods=["GET", "POST"])
@login_required
def link_detail(link_id: str):
    """The link, its history, and a form to change it (the URL stays)."""
    svc = services()
    link = sharing.visible_link(svc, current(), link_id)
    form = EditForm(obj=None if request.method == "POST" else link)
    status = 400 if form.is_submitted() else 200
    if request.method == "GET":
        form.expires.data = ""
        form.revision.data = link.revision
    elif form.validate_on_submit():
        try:
            link = _edit(svc, link, form)
        except EditConflict as exc:
            # Show what the link is now, to be looked at and saved again.
            form = EditForm(formdata=None, obj=link)
            form.expires.data = ""
            form.revision.data = link.revision
            form.form_errors.append(str(exc))
            status = 409
        except LinksvcError as exc:
            form.form_errors.append(str(exc))
        else:
            flash("Saved; the link's URL is unchanged.", "info")
            return redirect(url_for("dashboard.link_detail", link_id=link.id))
    # The history is the audit's: what was just done (an edit saved, a
    # download) is written before it is shown. The count is the counter's:
    # what this process counted and the writer has not added yet is added.
    svc.audit.flush(timeout=1)
    link = _with_pending(svc, link)
    records = svc.store.records
    # Downloads and changes apart from the folded noise (refusals, checks,
    # resumes, previews), so a flood of the latter cannot hide the former.
    history = records.query(
        link_id=link.id, events=audit.KEY_EVENTS, limit=HISTORY_ROWS
    )
    others = records.query(
        link_id=link.id, exclude_events=audit.KEY_EVENTS, limit=HISTORY_ROWS
    )
    lines = recipients.lines(svc, link, request.host_url)
    return render_template(
        "link.html",
        link=link,
        # A share's page shows its recipients' requests too, named.
        asks=[
            (a, label)
            for one, label in [
                (link.id, ""),
                *((r.link.id, r.link.recipient_label) for r in lines),
            ]
            for a in more_time.of_link(svc, one)
        ],
        recipients=lines,
        urls=_urls(svc, [link, *(line.link for line in lines)]),
        history=history,
        others=others,
        now=time.time(),
        revoke_form=RevokeForm(),
        form=form,
        send_form=SendForm(prefix="send"),
        email=bool(svc.settings.smtp_host),
        received=svc.store.uploads.of_link(link.id) if link.upload else [],
        decide_form=FlaskForm(),
    ), status


@bp.route("/links/<link_id>/more-time/<request_id>", methods=["POST"])
@login_required
def decide_more_time(link_id: str, request_id: str) -> Response:
    """Approve (the link works again, same URL) or decline a recipient's
    request for more time."""
    svc = services()
    sharing.visible_link(svc, current(), link_id)
    found = more_time.get(svc, request_id)
    of_share = found is not None and (
        found.link_id == link_id
        or svc.store.links.get(found.link_id).parent_id == link_id
    )
    if RevokeForm().validate_on_submit() and found and of_share:
        approve = request.form.get("decision") == "approve"
        more_time.decide(svc, current(), request_id, approve)
        flash("Approved: the link works again." if approve else "Declined.", "info")
    return redirect(url_for("dashboard.link_detail", link_id=link_id))


@bp.route("/links/<link_id>/send", methods=["POST"])
@login_required
def send(link_id: str) -> Response:
    """Email the link's URL to someone; limited per user per hour."""
    form = SendForm(prefix="send")
    if not form.validate_on_submit():
        pass
    elif not (form.to.data or "").strip():  # a share: each recipient's own link
        count = mailing.send_to_recipients(
            services(),
            current(),
            link_id,
            form.message.data or "",
            request.host_url,
            **client(request.environ),
        )
        flash(f"Sent each of {count} recipients their own link.", "info")
    else:
        mailing.send_link(
            services(),
            current(),
            link_id,
            form.to.data or "",
            form.message.data or "",
            request.host_url,
            **client(request.environ),
        )
        flash(f"Sent the link to {form.to.data.strip()}.", "info")
    return redirect(url_for("dashboard.link_detail", link_id=link_id))


def _edit(svc, link, form: EditForm):
    raw = {
        "max_downloads": form.max_downloads.data,
        "note": form.note.data,
        "ranges": form.ranges.data,
    }
    if form.expires.data:
        raw["expires"] = form.expires.data
    if form.remove_password.data:
        raw["password"] = None
    elif form.password.data:
        raw["password"] = form.password.data
    return editing.edit_link(
        svc,
        current(),
        link.id,
        parse(raw, now(), only=EDITABLE),
        revision=form.revision.data or None,
        **client(request.environ),
    )


@bp.route("/links/<link_id>/revoke", methods=["POST"])
@login_required
def revoke(link_id: str) -> Response:
    """CSRFProtect has checked the form's token before this runs."""
    link = sharing.revoke_link(
        services(), current(), link_id, **client(request.environ)
    )
    flash(f"Revoked the link to {link.path}.", "info")
    return redirect(url_for("dashboard.links"))


@bp.app_template_filter("utc")
def _when(ts: float | None) -> Markup | str:
    """A time as ``<time>``: UTC as text (pages work without script); app.js
    shows it in the viewer's local time and keeps UTC in the tooltip."""
    if ts is None:
        return ""
    return Markup(
        f'<time datetime="{iso(ts)}" title="{minutes(ts)} UTC">{minutes(ts)} UTC</time>'
    )


bp.app_template_filter("printable")(printable)


def qr_svg(url: str) -> Markup:
    """The URL as a QR code, an inline SVG (no script, no request)."""
    code = segno.make(url, error="m")
    svg = code.svg_inline(scale=4, border=2, title="QR code of the share link")
    return Markup(svg)


bp.app_template_filter("filesize")(filesize)
