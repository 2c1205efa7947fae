"""``/healthz`` and ``/readyz`` for load balancers and orchestrators: no
login, no session, no audit row, and cheap: ``/readyz``'s checks run at
most once a second per worker, so a flood of probes costs one database
round trip a second.

- ``/healthz``: the process answers (200), whatever its dependencies say.
- ``/readyz``: each dependency named with "ok" or what is wrong (the
  database, the signing keys, the protected directory, the limiter's
  storage, the outbox sender, free disk above ``upload_free_disk``), 200
  when all are ok, else 503; 503 "draining" while the server drains before
  a stop (``drain_seconds``), so traffic moves away first.
- ``/metrics``: Prometheus's text format (metrics.py), for a scraper with
  ``metrics_token`` (``Authorization: Bearer``) or from ``metrics_networks``;
  404 while neither is set, 401 otherwise, and a client's wrong tokens are
  held to ``api_auth_limit`` (429), like API tokens.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from typing import Any

from flask import abort
from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import request
from werkzeug.wrappers import Response

from ..config import drain_marker
from ..core import addresses
from ..core.clients import client
from ..files import offload
from ..metrics import CONTENT_TYPE
from ..metrics import StateCollector
from .ext import services

bp = Blueprint("health", __name__)

#: Seconds a worker reuses its last readiness answer.
CACHE = 1.0
_lock = threading.Lock()


def _answer(body: dict[str, Any], status: int) -> tuple[Response, int]:
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    if status != 200:
        response.headers["Retry-After"] = "5"
    return response, status


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 while this process answers requests."""
    return _answer({"status": "ok"}, 200)


def _checks() -> dict[str, str]:
    svc = services()
    found: dict[str, str] = {}

    def check(name: str, test: Any) -> None:
        try:
            said = test()
            found[name] = "ok" if said in (None, True) else str(said)
        except Exception as exc:  # every failure is a "not ready", named
            found[name] = f"failed: {type(exc).__name__}"

    check("database", svc.store.ping)
    check("keys", lambda: bool(svc.keyring.keys) or "no signing key")
    check("protected_dir", svc.tree.ready)
    check(
        "limiter",
        lambda: svc.refusals.limiter.storage.check() or "storage unreachable",
    )
    check("outbox_sender", _outbox_running)
    floor = svc.settings.upload_free_disk
    check(
        "disk",
        lambda: svc.quarantine.free_bytes() >= floor or f"under {floor} bytes free",
    )
    return found


def _outbox_running() -> bool | str:
    """The sender thread runs in a server's workers (not in the CLI or a
    test client, where there is nothing to check)."""
    names = {t.name for t in threading.enumerate()}
    if not offload.enabled():
        return True
    return "linksvc-outbox" in names or "not running"


def _draining() -> bool:
    return drain_marker(services().settings.instance_dir, os.getppid()).exists()


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    if _draining():
        return _answer({"status": "draining", "checks": {}}, 503)
    _last = current_app.extensions.setdefault(
        "linksvc.ready", {"at": -CACHE - 1.0, "checks": {}}
    )
    with _lock:
        if time.monotonic() - _last["at"] > CACHE:
            _last["checks"] = _checks()
            _last["at"] = time.monotonic()
        checks = dict(_last["checks"])
    ready = all(v == "ok" for v in checks.values())
    return _answer(
        {"status": "ready" if ready else "not ready", "checks": checks},
        200 if ready else 503,
    )


def _scraper_allowed() -> bool:
    """A scraper's token or address; 404 while metrics have neither."""
    settings = services().settings
    token, networks = settings.metrics_token, settings.metrics_networks
    if not token and not networks:
        abort(404)
    if networks and addresses.allows(networks, request.remote_addr or ""):
        return True
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer "):
        if hmac.compare_digest(given[7:].strip().encode(), token.encode()):
            return True
    if token and given:
        wait = services().api_auth.hit(client(request.environ)["remote_addr"])
        if wait is not None:
            response, _ = _answer({"status": "too many wrong tokens"}, 429)
            response.status_code = 429
            response.headers["Retry-After"] = str(wait)
            abort(response)
    return False


@bp.get("/metrics")
def metrics() -> Response:
    if not _scraper_allowed():
        response = Response("metrics need a bearer token\n", 401, mimetype="text/plain")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    svc = services()
    state = StateCollector(
        svc.store.outbox.counts, svc.store.ping, svc.quarantine.free_bytes
    )
    response = Response(svc.metrics.render(state), 200, content_type=CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response
