"""Blueprint: the administrators' pages for people: users and their grants.

The same rules and audit records as ``linksvc user …`` (accounts/people.py).
"""

from __future__ import annotations

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import BooleanField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length

from ..accounts import people as accounts
from ..core.clients import client
from ..core.errors import LinksvcError
from ..core.errors import UnknownSession
from .auth import admin_required
from .auth import current
from .ext import services

bp = Blueprint("people", __name__, url_prefix="/admin/users")
#: A page that shows a password once must not be kept or referred to.
ONCE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class NewUserForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired(), Length(max=64)])
    grants = StringField(
        "Folders they may share (comma separated, e.g. reports/q3)",
        validators=[Length(max=2000)],
    )
    admin = BooleanField("Administrator (may share everything)")


class GrantForm(FlaskForm):
    prefix = StringField("Folder", validators=[DataRequired(), Length(max=1024)])


class ActionForm(FlaskForm):
    """Only its CSRF token: each action is a POST no other site can forge."""


@bp.route("/", methods=["GET", "POST"])
@admin_required
def users():
    form = NewUserForm()
    status = 200
    if form.validate_on_submit():
        given = form.grants.data or ""
        grants = tuple(p.strip() for p in given.split(",") if p.strip())
        password = accounts.new_password()
        try:
            user = accounts.add_user(
                services(),
                form.username.data.strip(),
                password,
                admin=form.admin.data,
                grants=grants,
                actor=current().username,
            )
        except LinksvcError as exc:
            form.form_errors.append(str(exc))
            status = 400
        else:
            page = render_template("password_once.html", user=user, password=password)
            return page, 201, ONCE
    elif form.is_submitted():
        status = 400
    page = render_template(
        "users.html", people=services().store.users.list(), form=form
    )
    return page, status


@bp.get("/<username>")
@admin_required
def user(username: str) -> str:
    person = services().store.users.by_name(username)
    return render_template(
        "user.html", person=person, grant_form=GrantForm(), action=ActionForm()
    )


def _back(username: str, message: str) -> Response:
    flash(message, "info")
    return redirect(url_for("people.user", username=username))


@bp.post("/<username>/grants")
@admin_required
def add_grant(username: str):
    form = GrantForm()
    if form.validate_on_submit():
        user = accounts.grant(
            services(), username, form.prefix.data, current().username
        )
        return _back(
            user.username, f"{user.username} may now share {form.prefix.data}."
        )
    person = services().store.users.by_name(username)
    page = render_template(
        "user.html", person=person, grant_form=form, action=ActionForm()
    )
    return page, 400


@bp.post("/<username>/grants/<path:prefix>/remove")
@admin_required
def remove_grant(username: str, prefix: str) -> Response:
    user = accounts.ungrant(services(), username, prefix, current().username)
    return _back(user.username, f"{user.username} may no longer share {prefix}.")


@bp.post("/<username>/disable")
@admin_required
def disable(username: str) -> Response:
    ids = accounts.disable_user(services(), username, current().username)
    return _back(username, f"{username} is disabled; {len(ids)} link(s) revoked.")


@bp.post("/<username>/enable")
@admin_required
def enable(username: str) -> Response:
    accounts.enable_user(services(), username, current().username)
    return _back(username, f"{username} may log in again.")


@bp.post("/<username>/admin/<int:on>")
@admin_required
def admin(username: str, on: int) -> Response:
    if username == current().username:
        raise LinksvcError("You cannot change your own administrator role.")
    accounts.set_admin(services(), username, bool(on), current().username)
    return _back(
        username, f"{username} is {'now' if on else 'no longer'} an administrator."
    )


@bp.post("/<username>/password")
@admin_required
def reset_password(username: str):
    password = accounts.new_password()
    user = accounts.set_password(services(), username, password, current().username)
    page = render_template("password_once.html", user=user, password=password)
    return page, 200, ONCE


@bp.get("/<username>/sessions")
@admin_required
def sessions(username: str) -> str:
    person = services().store.users.by_name(username)
    return render_template(
        "sessions.html",
        own=False,
        person=person,
        sessions=services().store.sessions.of_user(person.id),
        current_sid=session.get("sid"),
        form=ActionForm(),
        end_url=lambda sid: url_for(
            "people.end_session", username=person.username, sid=sid
        ),
        end_all_url=url_for("people.end_sessions", username=person.username),
    )


@bp.post("/<username>/sessions/<sid>/end")
@admin_required
def end_session(username: str, sid: str) -> Response:
    svc = services()
    person = svc.store.users.by_name(username)
    if not svc.store.sessions.end(person.id, sid):
        raise UnknownSession(f"{person.username} has no such session.")
    svc.audit.record(
        "session",
        "ended",
        actor=current().username,
        subject=person.username,
        **client(request.environ),
    )
    flash("The session has ended.", "info")
    return redirect(url_for("people.sessions", username=person.username))


@bp.post("/<username>/sessions/end")
@admin_required
def end_sessions(username: str) -> Response:
    svc = services()
    person = svc.store.users.by_name(username)
    svc.store.users.end_sessions(person.id)
    svc.audit.record(
        "session",
        "ended",
        actor=current().username,
        subject=person.username,
        detail="all",
        **client(request.environ),
    )
    flash(f"Every session of {person.username} has ended.", "info")
    return redirect(url_for("people.sessions", username=person.username))
