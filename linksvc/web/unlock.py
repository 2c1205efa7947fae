"""Blueprint: ``POST /d/<token>``, a recipient giving a link's password.

Attempts are limited per link (``link_password_limit``), not per address: an
office shares one address, and an attacker has many. Every attempt counts
before the hash is checked, in the limiter's storage (atomic, and shared by
every worker and instance when it is Redis), so parallel guesses cannot slip
past the limit. A right password sets a cookie scoped to the link's path.
"""

from __future__ import annotations

from flask import Blueprint
from flask import current_app
from flask import redirect
from flask import request
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response

from ..core.clock import now
from ..core.errors import LinksvcError
from ..core.errors import TooManyRequests
from ..core.offload import offload
from ..core.unlock import COOKIE
from ..db.claims import PEEK
from ..gates import genuine
from ..gates import guard_for
from .clients import client
from .ext import services
from .locked import locked_page
from .locked import UnlockForm
from .recording import refuse

bp = Blueprint("unlock", __name__)


@bp.post("/d/<token>")
def unlock(token: str):
    svc = services()
    environ = request.environ
    claims = None
    try:
        claims, state = genuine(svc, token)
        _, _, st = svc.tree.file(claims.path)
        # The link must work now, from here, for this file (all but the password).
        guard = guard_for(svc, environ, claims, st, password=False)
        svc.store.claims.claim(claims, now(), PEEK, state=state, guard=guard)
    except LinksvcError as exc:
        refused = refuse(svc, environ, exc, claims)
        raise refused.error from None
    link = svc.store.links.get(claims.link_id)
    target = f"/d/{token}"
    if link.password_hash is None:
        return redirect(target, 303)
    form = UnlockForm()
    if not form.validate_on_submit():
        return locked_page(form, 400)
    who = client(environ)
    record = dict(link_id=link.id, path=link.path, fold=True, **who)
    wait = svc.passwords.hit(link.id)
    if wait is not None:
        svc.audit.record("unlock", "rate_limited", status=429, **record)
        raise TooManyRequests(
            "Too many password attempts for this link; try again later.", wait
        )
    if not offload(check_password_hash, link.password_hash, form.password.data):
        svc.audit.record("unlock", "wrong_password", status=403, **record)
        form.password.errors = ["That is not the link's password."]
        return locked_page(form, 403)
    svc.audit.record("unlock", "ok", status=303, **record)
    response: Response = redirect(target, 303)
    response.set_cookie(
        COOKIE,
        svc.unlocks.value(link.id, link.password_hash),
        max_age=svc.unlocks.lifetime,
        path=target,
        # Secure exactly when the session cookie is (an https public URL).
        secure=request.is_secure or current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
