"""Flask glue shared by the blueprints: extensions and the one accessor."""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

from ..services import of as services  # noqa: F401  (the views' accessor)

csrf = CSRFProtect()
login_manager = LoginManager()


def make_limiter(app: Flask) -> Limiter:
    """A limiter per app, so tests (and apps) never share counts."""
    conf = app.config["LINKSVC"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", conf.ratelimit_storage_url)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    return Limiter(get_remote_address, app=app, default_limits=[])
