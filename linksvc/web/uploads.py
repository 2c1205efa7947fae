"""Blueprint: upload links. ``/u/<token>`` is the uploader's page (and its
password form); ``/u/<token>/files`` is the tus 1.0 endpoint (creation,
then HEAD, PATCH and DELETE of ``/u/<token>/files/<id>``); the receipt.
Every request opens the link with :func:`open_link` first (purposes
UPLOAD_PAGE and UPLOAD); what the requests do is links/uploads.py.

The tus requests carry no session and no form, so no CSRF token: the link
is the capability, and a password-protected link's unlock cookie is
SameSite=Lax (another site cannot post with it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Response
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import Length
from wtforms.validators import Optional

from ..core import tus
from ..core.clients import client
from ..core.clock import now
from ..core.errors import LinksvcError
from ..core.errors import PasswordRequired
from ..core.observed import KEY as OBSERVED
from ..db import uploads as states
from ..files.sending import stall_limit
from ..links import sharing
from ..links import uploads
from ..links.opening import open_link
from ..links.opening import Opened
from ..links.opening import Purpose
from ..links.opening import Refusal
from ..links.opening import Request
from ..links.options import MAX_LINK_PASSWORD
from ..links.options import MAX_NOTE
from ..links.options import parse
from .auth import current
from .ext import csrf
from .ext import services
from .links import unlock
from .locked import HEADERS
from .locked import locked_page

bp = Blueprint("uploads", __name__)
log = logging.getLogger("linksvc.uploads")

#: Bytes read from a PATCH body at a time (memory per upload stays this).
READ = 64 * 1024


def _open(token: str, purpose: Purpose) -> Opened:
    svc = services()
    try:
        result = open_link(svc, Request(request.environ), token, purpose)
    except Exception:
        log.exception("request for upload link %s failed", token[:40])
        raise
    if isinstance(result, Refusal):
        assert result.error is not None
        raise result.error
    assert isinstance(result, Opened)
    return result


@bp.get("/u/<token>")
def page(token: str) -> Any:
    """The uploader's page: the owner's note, the limits, the files."""
    svc = services()
    try:
        opened = _open(token, Purpose.UPLOAD_PAGE)
    except PasswordRequired:
        return locked_page()
    link = svc.store.links.get(opened.claims.link_id)
    b = uploads.bounds(svc, link)
    body = render_template(
        "upload.html",
        link=link,
        bounds=b,
        folder=link.path.rsplit("/", 1)[-1],
        endpoint=url_for("uploads.create", token=token),
        receipt=url_for("uploads.receipt", token=token),
        token=token,
    )
    return body, 200, HEADERS


@bp.post("/u/<token>")
def give_password(token: str) -> Any:
    return unlock(services(), token, prefix="/u/")


# -- tus ----------------------------------------------------------------------


def _tus(
    status: int, headers: dict[str, str] | None = None, body: str = ""
) -> Response:
    response = Response(body, status=status, mimetype="text/plain")
    response.headers.update(tus.common_headers())
    response.headers.update(HEADERS)
    if headers:
        response.headers.update(headers)
    return response


def _refused(exc: LinksvcError) -> Response:
    status = exc.api_status or exc.status
    response = _tus(status, body=str(exc) + "\n")
    if status == 412:
        response.headers["Tus-Version"] = tus.VERSION
    retry = getattr(exc, "retry_after", None)
    if retry is not None:
        response.headers["Retry-After"] = str(retry)
    return response


def _tus_request(token: str) -> tuple[Opened, Any]:
    """The link opened for a tus request (its version checked) and its row."""
    tus.check_version(request.headers.get("Tus-Resumable"))
    opened = _open(token, Purpose.UPLOAD)
    return opened, services().store.links.get(opened.claims.link_id)


@bp.route("/u/<token>/files", methods=["OPTIONS", "POST"])
@csrf.exempt
def create(token: str) -> Response:
    """OPTIONS: what this server speaks. POST: a new upload (tus creation)."""
    svc = services()
    try:
        if request.method == "OPTIONS":
            opened = _open(token, Purpose.UPLOAD)
            link = svc.store.links.get(opened.claims.link_id)
            return _tus(
                204, tus.options_headers(uploads.bounds(svc, link).max_file_size)
            )
        opened, link = _tus_request(token)
        if "Upload-Defer-Length" in request.headers:
            raise tus.TusError("Give Upload-Length: deferred lengths are not taken.")
        length = tus.whole_number(request.headers.get("Upload-Length"), "Upload-Length")
        meta = tus.metadata(request.headers.get("Upload-Metadata"))
        made = uploads.begin(svc, link, length, meta, client(request.environ))
    except LinksvcError as exc:
        return _refused(exc)
    location = url_for("uploads.upload", token=token, upload_id=made.id, _external=True)
    if svc.settings.public_base_url:
        location = svc.settings.public_base_url + url_for(
            "uploads.upload", token=token, upload_id=made.id
        )
    return _tus(
        201, {"Location": location, "Upload-Expires": tus.expires(made.expires_at)}
    )


@bp.route(
    "/u/<token>/files/<upload_id>", methods=["HEAD", "PATCH", "DELETE", "OPTIONS"]
)
@csrf.exempt
def upload(token: str, upload_id: str) -> Response:
    svc = services()
    try:
        if request.method == "OPTIONS":
            return _tus(204, tus.options_headers(svc.settings.upload_max_file_size))
        opened, link = _tus_request(token)
        found = uploads.find(svc, link, upload_id)
        if request.method == "HEAD":
            return _tus(
                200,
                {
                    "Upload-Offset": str(found.received),
                    "Upload-Length": str(found.length),
                    "Upload-Expires": tus.expires(found.expires_at),
                },
            )
        if request.method == "DELETE":
            uploads.terminate(svc, found)
            return _tus(204)
        if request.mimetype != tus.OFFSET_STREAM:
            raise tus.TusError(f"Send Content-Type: {tus.OFFSET_STREAM}.", 415)
        offset = tus.whole_number(request.headers.get("Upload-Offset"), "Upload-Offset")
        declared = request.content_length
        # The body may be as long as the rest of the upload (not the 1 MiB
        # every other request is held to), and is read in small pieces. One
        # byte more: a stream the server ends itself (gunicorn) stops at its
        # limit only by refusing, and a byte too many is ours to refuse (413).
        request.max_content_length = max(0, found.length - found.received) + 1
        restore = stall_limit(request.environ, svc.settings.send_timeout)
        try:
            done = uploads.receive(
                svc,
                link,
                found,
                offset,
                _body(),
                declared,
                client(request.environ),
            )
        finally:
            restore()
    except LinksvcError as exc:
        return _refused(exc)
    return _tus(
        204,
        {
            "Upload-Offset": str(done.received),
            "Upload-Expires": tus.expires(done.expires_at),
        },
    )


def _body() -> Iterator[bytes]:
    """The PATCH body in pieces; a sender who stalls longer than
    ``send_timeout`` is cut off (408): what arrived is kept, the upload's
    slot and lease are freed, and the sender resumes from there."""
    stream = request.stream
    seen = request.environ.get(OBSERVED)
    while True:
        try:
            chunk = stream.read(READ)
        except (TimeoutError, ClientDisconnected):
            # Stalled past the limit, or gone: werkzeug says the latter for
            # both. What arrived is kept either way.
            raise tus.TusError("The body stopped arriving; resume it.", 408) from None
        if not chunk:
            return
        if seen is not None:
            seen.received += len(chunk)
        yield chunk


@bp.get("/u/<token>/receipt")
def receipt(token: str) -> Any:
    """What arrived, for the uploader: the uploads named in ``ids`` (their
    ids are unguessable: knowing one is having sent it), sizes and SHA-256."""
    svc = services()
    try:
        opened = _open(token, Purpose.UPLOAD_PAGE)
    except PasswordRequired:
        return locked_page()
    link = svc.store.links.get(opened.claims.link_id)
    ids = [i for i in request.args.get("ids", "").split(",") if i][:200]
    shown = []
    for upload_id in dict.fromkeys(ids):
        found = svc.store.uploads.get(upload_id) if len(upload_id) <= 64 else None
        if found is not None and found.link_id == link.id:
            shown.append(found)
    body = render_template(
        "upload_receipt.html",
        uploads=shown,
        folder=link.path.rsplit("/", 1)[-1],
        states=states,
        token=token,
    )
    return body, 200, HEADERS


# -- the owner's side ---------------------------------------------------------


class RequestForm(FlaskForm):
    """A file request: an upload link into a folder."""

    expires = StringField(
        "Open for (e.g. 7d, 2w)", default="7d", validators=[Length(max=16)]
    )
    note = StringField("A note the sender sees", validators=[Length(max=MAX_NOTE)])
    password = PasswordField(
        "Password (optional; give it to the sender separately)",
        validators=[Optional(), Length(max=MAX_LINK_PASSWORD)],
    )
    ranges = StringField(
        "Only from these networks (optional)", validators=[Optional(), Length(max=2000)]
    )
    max_file_size = StringField(
        "Largest file (e.g. 100M; empty: the server's limit)",
        validators=[Optional(), Length(max=20)],
    )
    max_files = StringField(
        "Most files (empty: the server's limit)", validators=[Optional(), Length(max=9)]
    )
    max_bytes = StringField(
        "Most bytes in all (e.g. 5G)", validators=[Optional(), Length(max=20)]
    )
    types = StringField(
        "Only these file types (e.g. pdf, jpg; empty: any)",
        validators=[Optional(), Length(max=200)],
    )


class DecideForm(FlaskForm):
    """Accept or reject buttons (the CSRF token only)."""


@bp.route("/request/<path:folder>", methods=["GET", "POST"])
@login_required
def make_request(folder: str) -> Any:
    svc = services()
    user = current()
    form = RequestForm()
    status = 200
    if form.validate_on_submit():
        raw = {
            "expires": form.expires.data or "7d",
            "note": form.note.data or "",
            "password": form.password.data or None,
            "ranges": form.ranges.data or "",
        }
        try:
            asked = parse({k: v for k, v in raw.items() if v not in (None, "")}, now())
            link, token = uploads.create_upload_link(
                svc,
                user,
                folder,
                asked,
                uploads.limits(
                    form.max_file_size.data,
                    form.max_files.data,
                    form.max_bytes.data,
                    form.types.data or "",
                ),
                **client(request.environ),
            )
        except LinksvcError as exc:
            form.form_errors.append(str(exc))
            status = 400
        else:
            url = uploads.upload_url(svc, token, request.host_url)
            body = render_template("upload_created.html", link=link, url=url)
            return body, 201, HEADERS
    elif form.is_submitted():
        status = 400
    return render_template("upload_request.html", form=form, folder=folder), status


def _back(upload_id: str) -> Response:
    found = services().store.uploads.get(upload_id)
    target = url_for("dashboard.links")
    if found is not None:
        target = url_for("dashboard.link_detail", link_id=found.link_id)
    return redirect(target, 303)


@bp.post("/uploads/<upload_id>/accept")
@login_required
def accept(upload_id: str) -> Response:
    return _decide(upload_id, uploads.accept, "Accepted: {0.accepted_path}")


@bp.post("/uploads/<upload_id>/reject")
@login_required
def reject(upload_id: str) -> Response:
    return _decide(upload_id, uploads.reject, "Rejected: {0.name}")


def _decide(upload_id: str, decide: Any, said: str) -> Response:
    """Accept or reject, from the link's page (its form's CSRF token)."""
    if DecideForm().validate_on_submit():
        try:
            flash(said.format(decide(services(), current(), upload_id)), "info")
        except LinksvcError as exc:
            flash(str(exc), "error")
    return _back(upload_id)


@bp.post("/links/<link_id>/uploads/accept-all")
@login_required
def accept_all(link_id: str) -> Response:
    svc = services()
    link = sharing.visible_link(svc, current(), link_id)
    if DecideForm().validate_on_submit():
        done = 0
        for found in svc.store.uploads.of_link(link.id):
            if found.status == states.WAITING:
                try:
                    uploads.accept(svc, current(), found.id)
                    done += 1
                except LinksvcError as exc:
                    flash(f"{found.name}: {exc}", "error")
        flash(f"Accepted {done} file{'s' if done != 1 else ''}.", "info")
    return redirect(url_for("dashboard.link_detail", link_id=link.id), 303)
