"""``/healthz`` for load balancers: no login, no audit, no session."""

from __future__ import annotations

from flask import Blueprint
from flask import jsonify
from werkzeug.wrappers import Response

from .ext import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 while this instance can reach its database, else 503."""
    try:
        services().store.ping()
    except Exception:
        response = jsonify({"status": "unavailable", "database": "unreachable"})
        response.headers["Retry-After"] = "5"
        return response, 503
    response = jsonify({"status": "ok"})
    response.headers["Cache-Control"] = "no-store"
    return response, 200
