"""Blueprint: the logged-in ``/protected/<path>``, a user's direct access to
the files their grants cover (links are under ``/d/``: web/links.py)."""

from __future__ import annotations

from flask import Blueprint
from flask import request
from flask_login import login_required

from ..accounts import access
from ..core.clients import client
from ..files import sending
from ..files.sending import FileResponse
from ..links.opening import decision_for
from .auth import current
from .ext import services

bp = Blueprint("download", __name__)


@bp.route("/protected/<path:filename>", methods=["GET", "HEAD"])
@login_required
def protected(filename: str) -> FileResponse:
    """The tutorial's route: a logged-in user's direct access, grants checked,
    audited like a link."""
    user = current()
    svc = services()
    environ = request.environ
    opened = access.granted_open(svc, user, filename)
    real_path = svc.tree.relative(opened.real)
    decision = decision_for(environ, opened.st)
    response = sending.send(
        environ, opened, decision, svc.offload, svc.digest_of(opened)
    )
    policy = svc.settings.cross_origin_resource_policy
    if policy:
        response.headers.append(("Cross-Origin-Resource-Policy", policy))
    who = client(environ)
    sends_body = environ["REQUEST_METHOD"] == "GET" and decision.status in (200, 206)

    def record(sent: int, complete: bool | None) -> None:
        svc.audit.record(
            "download" if sends_body else "check",
            "ok" if decision.status in (200, 206) else str(decision.status),
            fold=not sends_body,
            path=real_path,
            actor=user.username,
            status=decision.status,
            bytes=sent,
            complete=complete if sends_body else None,  # None also when handed over
            **who,
        )

    response.tally.callback = record
    return response
