"""Blueprint: the JSON API under /api/v1, for scripts and other services.

Authenticated by personal API tokens only (``Authorization: Bearer …``): a
session cookie is never looked at here, so no CSRF token is needed. Errors are
JSON with a stable ``error`` code (handlers.py); openapi.py describes it all.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint
from flask import g
from flask import jsonify
from flask import request
from flask import url_for
from werkzeug.wrappers import Response

from ..accounts import access
from ..core.clients import client
from ..core.clock import iso
from ..core.clock import now
from ..core.errors import BadRequest
from ..core.errors import InvalidInput
from ..core.errors import NotGranted
from ..core.errors import TooManyRequests
from ..core.errors import Unauthorized
from ..db.groups import Group
from ..db.groups import RULES
from ..db.links import Link
from ..db.uploads import Upload
from ..db.users import User
from ..links import editing
from ..links import policy
from ..links import recipients
from ..links import sharing
from ..links import uploads
from ..links.options import EDITABLE
from ..links.options import LinkOptions
from ..links.options import parse
from ..links.recipients import Line
from ..notify import mailing
from .ext import services
from .openapi import document
from .pages import whole_number

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger("linksvc.api")

MAX_PER_PAGE = 200


def link_json(link: Link, recipients: list[Line] | None = None) -> dict[str, Any]:
    """A link as the API shows it; a share's ``recipients`` each with their
    own URL, count and limit (empty for a link without recipients)."""
    return {
        "recipients": [r.as_json() for r in recipients or []],
        "share": link.share,
        "verify": link.verify,
        "more_time": link.more_time,
        "id": link.id,
        "path": link.path,
        "owner": link.owner,
        "note": link.note,
        "status": link.status(time.time()),
        "created_at": iso(link.created_at),
        "expires_at": iso(link.expires_at),
        "not_before": iso(link.not_before),
        "max_downloads": link.max_downloads,
        "download_count": link.download_count,
        "last_downloaded_at": iso(link.last_downloaded_at),
        "revoked_at": iso(link.revoked_at),
        "recipient_page": link.recipient_page,
        "password": link.has_password,
        "ranges": link.ranges.split(),
        "pin": link.pin is not None,
        # The old name of "pin", still sent for one release.
        "pinned": link.pin is not None,
        "opaque": link.opaque,
        "folder": link.folder,
        "notify": link.notify,
        "revision": link.revision,
        "upload": link.upload,
    }


@bp.before_request
def _authenticate() -> None:
    if request.endpoint == "api.openapi":
        return
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized("Send a personal API token: Authorization: Bearer <token>.")
    svc = services()
    user = svc.store.tokens.user_for(presented.strip(), svc.settings.sso_token_lifetime)
    if user is None:
        log.warning(
            "failed API token authentication from %s (token id %r)",
            request.remote_addr,
            presented.strip()[:24],
        )
        wait = svc.api_auth.hit(request.remote_addr or "")
        if wait is not None:
            raise TooManyRequests(
                "Too many failed authentications from your address; try again later.",
                wait,
            )
        raise Unauthorized(
            "The API token is unknown, revoked, expired, or its user disabled."
        )
    g.api_user = user


@bp.after_request
def _nosniff(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _user() -> User:
    return g.api_user


def _body() -> dict[str, Any]:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # a nesting bomb: [[[[…]]]]
        data = None
    if not isinstance(data, dict):
        raise BadRequest(
            "The body must be a JSON object (Content-Type: application/json)."
        )
    return data


def _int_arg(name: str, default: int, high: int) -> int:
    number = whole_number(request.args.get(name, str(default)), high)
    if number is None:
        raise BadRequest(f"{name} must be a whole number from 1 to {high}.")
    return number


def _optional(data: dict[str, Any], name: str, kinds: tuple[type, ...]) -> Any:
    value = data.get(name)
    # bool is an int to Python, never to us: only where a bool is asked for.
    is_bool = isinstance(value, bool)
    if value is not None and (
        not isinstance(value, kinds) or (is_bool and bool not in kinds)
    ):
        names = " or ".join(kind.__name__ for kind in kinds)
        names = names.replace("str", "a string").replace("bool", "true or false")
        raise InvalidInput(f"{name} must be {names}.")
    return value


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())


@bp.get("/files")
def files() -> Response:
    """What the caller may share in one folder."""
    folder, listing = access.browse(services(), _user(), request.args.get("folder", ""))
    entries = [
        {
            "name": e.name,
            "path": e.path,
            "type": "folder" if e.is_dir else "file",
            "size": None if e.is_dir else e.size,
            "modified_at": iso(int(e.mtime)),
        }
        for e in listing
    ]
    return jsonify({"folder": folder, "entries": entries})


#: The JSON types each link option takes ("pinned": the old name of "pin").
OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "expires": (str, int),
    "not_before": (str, int),
    "max_downloads": (int,),
    "note": (str,),
    "password": (str,),
    "ranges": (list, str),
    "pin": (bool,),
    "pinned": (bool,),
    "recipient_page": (bool,),
    "notify": (bool,),
}


def _options(data: dict[str, Any], only: tuple[str, ...] | None = None) -> LinkOptions:
    """The body's link options, typed as JSON says, parsed once."""
    raw = {
        name: _optional(data, name, OPTION_TYPES[name])
        if name in OPTION_TYPES
        else value
        for name, value in data.items()
    }
    return parse(raw, now(), only=only)


@bp.post("/links")
def create_link() -> tuple[Response, int, dict[str, str]]:
    data = _body()
    path = data.pop("path", None)
    if not isinstance(path, str) or not path:
        raise InvalidInput("A path is required: the file's path under protected/.")
    svc = services()
    if data.pop("upload", False) is True:
        wanted = uploads.limits(
            data.pop("max_file_size", None),
            data.pop("max_files", None),
            data.pop("max_bytes", None),
            " ".join(data.pop("types", None) or []),
        )
        link, token = uploads.create_upload_link(
            svc,
            _user(),
            path,
            _options(data),
            wanted,
            actor=f"api:{_user().username}",
            **client(request.environ),
        )
        url = uploads.upload_url(svc, token, request.host_url)
        location = url_for("api.get_link", link_id=link.id)
        return jsonify({**link_json(link), "url": url}), 201, {"Location": location}
    asked = _options(data)
    if asked.recipients:
        share, _ = sharing.create_share(
            svc,
            _user(),
            path,
            asked,
            actor=f"api:{_user().username}",
            **client(request.environ),
        )
        made = recipients.lines(svc, share, request.host_url, activity=False)
        body = {**link_json(share, made), "url": None}
        location = url_for("api.get_link", link_id=share.id)
        return jsonify(body), 201, {"Location": location}
    link, token = sharing.create_link(
        svc,
        _user(),
        path,
        asked,
        actor=f"api:{_user().username}",
        **client(request.environ),
    )
    body = {**link_json(link), "url": sharing.link_url(svc, token, request.host_url)}
    location = url_for("api.get_link", link_id=link.id)
    return jsonify(body), 201, {"Location": location}


def upload_json(upload: Upload) -> dict[str, Any]:
    return {
        "id": upload.id,
        "link_id": upload.link_id,
        "name": upload.name,
        "length": upload.length,
        "received": upload.received,
        "status": upload.status,
        "sha256": upload.sha256,
        "verdict": upload.verdict,
        "remote_addr": upload.remote_addr,
        "created_at": iso(upload.created_at),
        "completed_at": iso(upload.completed_at),
        "decided_at": iso(upload.decided_at),
        "decided_by": upload.decided_by,
        "accepted_path": upload.accepted_path,
    }


@bp.get("/links/<link_id>/uploads")
def list_uploads(link_id: str) -> Response:
    """What an upload link received (its owner's or an admin's)."""
    svc = services()
    link = sharing.visible_link(svc, _user(), link_id)
    if not link.upload:
        raise InvalidInput("This is not an upload link.")
    return jsonify(
        {"items": [upload_json(u) for u in svc.store.uploads.of_link(link.id)]}
    )


@bp.post("/uploads/<upload_id>/accept")
def accept_upload(upload_id: str) -> Response:
    done = uploads.accept(services(), _user(), upload_id, f"api:{_user().username}")
    return jsonify(upload_json(done))


@bp.post("/uploads/<upload_id>/reject")
def reject_upload(upload_id: str) -> Response:
    done = uploads.reject(services(), _user(), upload_id, f"api:{_user().username}")
    return jsonify(upload_json(done))


@bp.get("/links")
def list_links() -> Response:
    page = _int_arg("page", 1, 1_000_000)
    per_page = _int_arg("per_page", 50, MAX_PER_PAGE)
    store = services().store
    user = _user()
    rows = store.links.list(user.id, limit=per_page, offset=(page - 1) * per_page)
    svc = services()
    under = store.links.recipients([link.id for link in rows if link.share])
    return jsonify(
        {
            "items": [
                link_json(
                    link,
                    [
                        recipients.Line(
                            one,
                            sharing.shareable_url(svc, one, request.host_url),
                            None,
                            None,
                        )
                        for one in under.get(link.id, [])
                    ],
                )
                for link in rows
            ],
            "page": page,
            "per_page": per_page,
            "total": store.links.count(user.id),
        }
    )


@bp.get("/links/<link_id>")
def get_link(link_id: str) -> Response:
    svc = services()
    link = sharing.visible_link(svc, _user(), link_id)
    url = sharing.shareable_url(svc, link, request.host_url)
    digest = sharing.file_digest(svc, link)
    made = recipients.lines(svc, link, request.host_url)
    return jsonify(
        {
            **link_json(link, made),
            "url": url,
            "sha256": digest.hex() if digest else None,
        }
    )


@bp.patch("/links/<link_id>")
def edit_link(link_id: str) -> Response:
    """Change a live link; its URL stays the same."""
    data = _body()
    revision = _optional(data, "revision", (str,))
    data.pop("revision", None)
    if data.get("expires", "") is None or data.get("note", "") is None:
        raise InvalidInput("expires and note cannot be null.")
    svc = services()
    user = _user()
    link = editing.edit_link(
        svc,
        user,
        link_id,
        _options(data, only=EDITABLE),
        revision=revision,
        actor=f"api:{user.username}",
        **client(request.environ),
    )
    return jsonify(
        {**link_json(link), "url": sharing.shareable_url(svc, link, request.host_url)}
    )


@bp.post("/links/<link_id>/send")
def send_link(link_id: str) -> tuple[Response, int]:
    """Email the link's URL to someone (limited per user per hour)."""
    data = _body()
    user = _user()
    to = _optional(data, "to", (str,)) or ""
    if not to.strip():  # a share: each recipient gets their own link
        count = mailing.send_to_recipients(
            services(),
            user,
            link_id,
            _optional(data, "message", (str,)) or "",
            request.host_url,
            **client(request.environ),
        )
        return jsonify({"queued": True, "to": "", "count": count}), 202
    mailing.send_link(
        services(),
        user,
        link_id,
        to,
        _optional(data, "message", (str,)) or "",
        request.host_url,
        **client(request.environ),
    )
    return jsonify({"queued": True, "to": to.strip()}), 202


@bp.delete("/links/<link_id>")
def revoke_link(link_id: str) -> Response:
    user = _user()
    revoked = sharing.revoke_link(
        services(),
        user,
        link_id,
        actor=f"api:{user.username}",
        **client(request.environ),
    )
    return jsonify(link_json(revoked))


# -- groups and their policy (admins) -----------------------------------------


def group_json(group: Group) -> dict[str, Any]:
    return {
        "name": group.name,
        "default_expiry": group.default_expiry,
        "max_expiry": group.max_expiry,
        "max_downloads": group.max_downloads,
        "password_required": group.password_required,
        "ranges": group.ranges.split(),
        "members": list(group.members),
    }


def _admin() -> User:
    user = _user()
    if not user.is_admin:
        raise NotGranted("Only administrators manage groups.")
    return user


def _rules(data: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(RULES) - {"name"})
    if unknown:
        raise InvalidInput(f"{unknown[0]} is not a group rule: {', '.join(RULES)}.")
    return {name: data[name] for name in RULES if name in data}


@bp.get("/groups")
def list_groups() -> Response:
    _admin()
    return jsonify({"items": [group_json(g) for g in services().store.groups.list()]})


@bp.post("/groups")
def create_group() -> tuple[Response, int]:
    actor = f"api:{_admin().username}"
    data = _body()
    name = data.get("name")
    if not isinstance(name, str):
        raise InvalidInput("A group needs a name.")
    group = policy.add_group(services(), name, actor, **_rules(data))
    return jsonify(group_json(group)), 201


@bp.get("/groups/<name>")
def get_group(name: str) -> Response:
    _admin()
    return jsonify(group_json(services().store.groups.get(name)))


@bp.patch("/groups/<name>")
def change_group(name: str) -> Response:
    actor = f"api:{_admin().username}"
    group = policy.change_group(services(), name, actor, **_rules(_body()))
    return jsonify(group_json(group))


@bp.delete("/groups/<name>")
def remove_group(name: str) -> tuple[str, int]:
    policy.remove_group(services(), name, f"api:{_admin().username}")
    return "", 204


@bp.put("/groups/<name>/members/<username>")
def join_group(name: str, username: str) -> Response:
    actor = f"api:{_admin().username}"
    return jsonify(group_json(policy.join_group(services(), name, username, actor)))


@bp.delete("/groups/<name>/members/<username>")
def leave_group(name: str, username: str) -> Response:
    actor = f"api:{_admin().username}"
    return jsonify(group_json(policy.leave_group(services(), name, username, actor)))
