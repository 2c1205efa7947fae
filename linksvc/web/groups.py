"""Blueprint: the administrators' page for groups and their link policy.

The same rules and audit records as ``linksvc group …`` (links/policy.py).
"""

from __future__ import annotations

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import BooleanField
from wtforms import IntegerField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import Optional

from ..core.durations import format_duration
from ..core.errors import LinksvcError
from ..db.groups import Group
from ..links import policy
from ..links.options import MAX_DOWNLOADS
from .auth import admin_required
from .auth import current
from .ext import services
from .people import ActionForm

bp = Blueprint("groups", __name__, url_prefix="/admin/groups")


class GroupForm(FlaskForm):
    name = StringField("Group name", validators=[DataRequired(), Length(max=64)])
    default_expiry = StringField(
        "Default expiry (e.g. 1d; empty: none)", validators=[Optional(), Length(max=16)]
    )
    max_expiry = StringField(
        "Maximum expiry (e.g. 7d; empty: none)", validators=[Optional(), Length(max=16)]
    )
    max_downloads = IntegerField(
        "Maximum downloads per link (empty: none)",
        validators=[Optional(), NumberRange(1, MAX_DOWNLOADS)],
    )
    password_required = BooleanField("Every link needs a password")
    ranges = StringField(
        "Links must be limited to ranges inside (CIDR; empty: no requirement)",
        validators=[Optional(), Length(max=2000)],
    )


class MemberForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired(), Length(max=64)])


def _rules(form: GroupForm) -> dict:
    return {
        "default_expiry": form.default_expiry.data or None,
        "max_expiry": form.max_expiry.data or None,
        "max_downloads": form.max_downloads.data,
        "password_required": bool(form.password_required.data),
        "ranges": form.ranges.data or "",
    }


def _fill(form: GroupForm, group: Group) -> None:
    form.name.data = group.name
    for name in ("default_expiry", "max_expiry"):
        seconds = getattr(group, name)
        getattr(form, name).data = format_duration(seconds) if seconds else ""
    form.max_downloads.data = group.max_downloads
    form.password_required.data = group.password_required
    form.ranges.data = group.ranges


class GroupGrantForm(FlaskForm):
    prefix = StringField(
        "Folder or file its members may reach",
        validators=[DataRequired(), Length(max=1024)],
    )


@bp.route("/", methods=["GET", "POST"])
@admin_required
def groups():
    form = GroupForm()
    status = 200
    if form.validate_on_submit():
        try:
            group = policy.add_group(
                services(), form.name.data.strip(), current().username, **_rules(form)
            )
        except LinksvcError as exc:
            form.form_errors.append(str(exc))
            status = 400
        else:
            flash(f"Added group {group.name}.", "info")
            return redirect(url_for("groups.group", name=group.name))
    elif form.is_submitted():
        status = 400
    listing = services().store.groups.list()
    described = {g.name: policy.Policy((g,)).describe() for g in listing}
    page = render_template("groups.html", groups=listing, rules=described, form=form)
    return page, status


@bp.route("/<name>", methods=["GET", "POST"])
@admin_required
def group(name: str):
    svc = services()
    found = svc.store.groups.get(name)
    form = GroupForm()
    status = 200
    if form.validate_on_submit():
        try:
            policy.change_group(svc, name, current().username, **_rules(form))
        except LinksvcError as exc:
            form.form_errors.append(str(exc))
            status = 400
        else:
            flash(f"Saved the rules of {name}.", "info")
            return redirect(url_for("groups.group", name=name))
    elif form.is_submitted():
        status = 400
    else:
        _fill(form, found)
    page = render_template(
        "group.html",
        group=found,
        form=form,
        member_form=MemberForm(),
        action_form=ActionForm(),
        grants=svc.store.groups.grants_of(name),
        grant_form=GroupGrantForm(),
    )
    return page, status


@bp.post("/<name>/grants")
@admin_required
def grant(name: str) -> Response:
    form = GroupGrantForm()
    if form.validate_on_submit():
        actor = current().username
        clean = policy.grant_group(services(), name, form.prefix.data, actor)
        flash(f"{name} now grants {clean or 'everything'}.", "info")
    return redirect(url_for("groups.group", name=name))


@bp.post("/<name>/grants/<path:prefix>/remove")
@admin_required
def ungrant(name: str, prefix: str) -> Response:
    if ActionForm().validate_on_submit():
        policy.ungrant_group(services(), name, prefix, current().username)
        flash(f"{name} no longer grants {prefix}.", "info")
    return redirect(url_for("groups.group", name=name))


@bp.post("/<name>/members")
@admin_required
def join(name: str) -> Response:
    form = MemberForm()
    if form.validate_on_submit():
        username = form.username.data.strip()
        policy.join_group(services(), name, username, current().username)
        flash(f"{username} is now in {name}.", "info")
    return redirect(url_for("groups.group", name=name))


@bp.post("/<name>/members/<username>/remove")
@admin_required
def leave(name: str, username: str) -> Response:
    if ActionForm().validate_on_submit():
        policy.leave_group(services(), name, username, current().username)
        flash(f"{username} is no longer in {name}.", "info")
    return redirect(url_for("groups.group", name=name))


@bp.post("/<name>/remove")
@admin_required
def remove(name: str) -> Response:
    if ActionForm().validate_on_submit():
        policy.remove_group(services(), name, current().username)
        flash(f"Removed group {name}.", "info")
    return redirect(url_for("groups.groups"))
