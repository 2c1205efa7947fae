"""Flask glue shared by the blueprints: extensions and the services accessor."""

from __future__ import annotations

from flask import current_app
from flask_login import LoginManager
from flask_wtf import CSRFProtect

from .sharing import Services

csrf = CSRFProtect()
login_manager = LoginManager()


def services() -> Services:
    return current_app.extensions["linksvc"]
