"""Flask glue shared by the blueprints: extensions and the services accessor."""

from __future__ import annotations

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

from .sharing import Services

csrf = CSRFProtect()
login_manager = LoginManager()


def make_limiter(app) -> Limiter:
    """A limiter per app, so tests (and apps) never share counts."""
    conf = app.config["LINKSVC"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", conf["ratelimit_storage_url"])
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter = Limiter(get_remote_address, app=app, default_limits=[])
    app.extensions["linksvc.limiter"] = limiter
    return limiter


def services() -> Services:
    return current_app.extensions["linksvc"]
