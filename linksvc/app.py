"""The composition root: :func:`create_app` builds the parts from the
settings and registers the web adapters on a Flask app.

Nothing below imports Flask at start-up: ``import linksvc.core`` (or
``linksvc.links.options``) loads no Flask, so pure modules stay testable
without an app.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask import Request
from flask.sessions import SecureCookieSession
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config
from . import logs
from . import services as services_module
from .db.store import private_instance_problems
from .keys import ENV_KEYS
from .keys import KeyRing
from .keys import read_keys
from .keys import require_keys
from .metrics import Metrics
from .notify import delivery
from .notify import notices


class CookielessSessions(SecureCookieSessionInterface):
    """No cookie, nothing to verify: spares the download path a signer."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


class KeyFollower:
    """The outermost WSGI layer: once per request, follow a rotated or
    retired key (links and sessions alike), with no restart."""

    def __init__(self, app: Flask, wsgi: Callable) -> None:
        self.app, self.wsgi = app, wsgi

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable:
        svc = services_module.of(self.app)
        svc.refresh_keys()
        keys = svc.keyring.keys  # oldest to newest: the last one signs
        if self.app.secret_key != keys[-1]:
            self.app.secret_key = keys[-1]
        if self.app.config["SECRET_KEY_FALLBACKS"] != keys[:-1]:
            self.app.config["SECRET_KEY_FALLBACKS"] = keys[:-1]
        # Form tokens, like sessions, outlive a rotation and end with a
        # retirement (itsdangerous takes the list; the last one signs). Not
        # only when the fallbacks change: a worker that saw no request
        # between a rotation and the retirement goes from [old] to [new]
        # with the same (empty) fallbacks, and kept signing forms with the
        # retired key, which every other worker refused (400).
        if self.app.config["WTF_CSRF_SECRET_KEY"] != list(keys):
            self.app.config["WTF_CSRF_SECRET_KEY"] = list(keys)
        return self.wsgi(environ, start_response)


def observed(app: Flask, svc: services_module.Services, wsgi: Callable) -> Callable:
    """The outermost layer: each request counted (metrics) and, with
    ``log_format = "json"``, logged as a line once its response is out."""
    from .web.observe import Observe
    from .web.observe import route_of

    metrics = svc.metrics
    json_lines = svc.settings.log_format == "json"

    def finish(seen: Any, environ: dict[str, Any]) -> None:
        ended = time.perf_counter()
        metrics.finished(seen, ended)
        if json_lines:
            logs.log_request(seen, environ, ended)

    app.before_request(route_of)
    return Observe(wsgi, metrics.started, finish)


def create_app(
    settings: Mapping[str, Any] | None = None,
    settings_path: str | os.PathLike[str] | None = None,
) -> Flask:
    """Build the app from ``settings`` (tests) or settings.toml + environment."""
    from .web import account
    from .web import admin
    from .web import api
    from .web import auth
    from .web import dashboard
    from .web import download
    from .web import groups
    from .web import handlers
    from .web import health
    from .web import links
    from .web import oidc
    from .web import passkeys
    from .web import people
    from .web import scim
    from .web import uploads
    from .web import webhooks
    from .web.ext import csrf

    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    # A doubled slash is refused as a path, not redirected to a different one.
    app.url_map.merge_slashes = False
    if settings is None:
        conf = config.load(settings_path)
    else:
        conf = config.validate(settings, Path.cwd())
    given = conf.secret_keys
    keys = require_keys(list(given) or read_keys(conf.instance_dir))
    from_file = not given and not os.environ.get(ENV_KEYS)
    keyring = KeyRing(conf.instance_dir, keys, from_file)
    Path(conf.instance_dir).mkdir(mode=0o700, parents=True, exist_ok=True)

    secure = conf.public_base_url.startswith("https://")
    app.config.update(
        LINKSVC=conf,
        SECRET_KEY=keyring.keys[-1],
        SECRET_KEY_FALLBACKS=keyring.keys[:-1],
        WTF_CSRF_SECRET_KEY=list(keyring.keys),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_NAME="linksvc_session",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        PREFERRED_URL_SCHEME="https" if secure else "http",
        TRUSTED_HOSTS=list(conf.trusted_hosts) or None,
        MAX_CONTENT_LENGTH=1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
        # Pages send no Referer (Referrer-Policy: no-referrer), so Flask-WTF's
        # Referer check on https would refuse every form; the session-bound
        # token and SameSite=Lax cookies are the protection.
        WTF_CSRF_SSL_STRICT=False,
    )

    if not conf.public_base_url and not conf.trusted_hosts:
        app.logger.warning(
            "public_base_url and trusted_hosts are both empty: share links are "
            "built from the request's Host header, which a client can spoof"
        )
    delivery.require_webhook_secret(conf)
    svc = services_module.build(conf, keyring)
    svc.notices = notices.subscribe(svc)
    svc.metrics = Metrics(svc.audit)
    if conf.log_format == "json":
        svc.event_lines = logs.EventLines(svc.audit)
    app.extensions[services_module.EXTENSION] = svc
    for problem in private_instance_problems(conf.instance_dir):
        app.logger.warning("%s: chmod it so only its owner can read it", problem)
    wsgi: Callable = links.FastLinks(app, app.wsgi_app, svc)
    if conf.trusted_proxies:
        # Only as many X-Forwarded-* hops as there are proxies of ours: an
        # outsider's own X-Forwarded-For never names the client.
        n = conf.trusted_proxies
        wsgi = ProxyFix(wsgi, x_for=n, x_proto=n)
    app.wsgi_app = observed(app, svc, KeyFollower(app, wsgi))  # type: ignore[method-assign]
    app.session_interface = CookielessSessions()

    csrf.init_app(app)
    auth.init_app(app)
    handlers.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(passkeys.bp)
    auth.throttle_logins(app)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(download.bp)
    app.register_blueprint(links.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(people.bp)
    app.register_blueprint(groups.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(scim.bp)
    app.register_blueprint(uploads.bp)
    app.register_blueprint(health.bp)
    oidc.init_app(app, conf)
    csrf.exempt(api.bp)
    csrf.exempt(scim.bp)
    return app
