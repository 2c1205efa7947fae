"""Blueprint: single sign-on with OpenID Connect (Authlib's Flask client).

``/login/oidc`` sends the browser to the provider with ``state``, a
``nonce`` and a PKCE challenge (S256), kept in the session; the provider
sends it back to ``/login/oidc/callback`` with a code, which Authlib trades
for tokens and whose ID token it checks: signature (the provider's JWKS,
fetched again when a new key id appears, so key rotation is followed),
issuer, audience, expiry and nonce. accounts/sso.py decides who that is.
Every failure is one clear page (SignInFailed), never a stack trace.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.base_client.errors import MismatchingStateError
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint
from flask import current_app
from flask import Flask
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from werkzeug.wrappers import Response

from ..accounts import sso
from ..config import Settings
from ..core.clients import client
from ..core.errors import ConfigError
from ..core.errors import SignInFailed
from ..core.errors import UnknownLink
from ..notify.delivery import secret_from
from .auth import safe_next
from .auth import start_session
from .ext import services

bp = Blueprint("oidc", __name__, url_prefix="/login/oidc")
EXTENSION = "linksvc.oidc"
#: Seconds the provider's discovery document and keys are waited for.
TIMEOUT = 10


def client_secret(settings: Settings) -> str:
    """The client secret: LINKSVC_OIDC_CLIENT_SECRET or its file; ConfigError
    at start-up (not at the first sign-in) when there is none."""
    try:
        path = settings.oidc_client_secret_file
        secret = secret_from("LINKSVC_OIDC_CLIENT_SECRET", path)
    except OSError as exc:
        raise ConfigError(f"The setting 'oidc_client_secret_file': {exc}") from None
    if not secret:
        raise ConfigError(
            "Single sign-on needs the client secret: set "
            "LINKSVC_OIDC_CLIENT_SECRET or oidc_client_secret_file."
        )
    return secret


def init_app(app: Flask, settings: Settings) -> None:
    """Register the provider when ``oidc_issuer`` is set (each app its own
    Authlib registry, so two apps never share a provider's client)."""
    if not settings.oidc_issuer:
        return
    oauth = OAuth(app)
    secret = client_secret(settings)
    oauth.register(
        "provider",
        client_id=settings.oidc_client_id,
        client_secret=secret,
        server_metadata_url=f"{settings.oidc_issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": settings.oidc_scopes,
            "code_challenge_method": "S256",
            "timeout": TIMEOUT,
        },
    )
    app.extensions[EXTENSION] = oauth
    app.register_blueprint(bp)


def _provider() -> Any:
    oauth = current_app.extensions.get(EXTENSION)
    if oauth is None:
        raise UnknownLink("Single sign-on is not set up here.")
    provider = oauth.create_client("provider")
    try:
        metadata = provider.load_server_metadata()
    except Exception as exc:  # the provider is down or answers nonsense
        raise SignInFailed(
            f"The identity provider cannot be reached ({type(exc).__name__}); "
            "try again in a moment."
        ) from None
    issuer = current_app.config["LINKSVC"].oidc_issuer
    if metadata.get("issuer") != issuer:
        # OpenID Connect Discovery 1.0, 4.3: the document must name the
        # issuer it was fetched from; anything else is another provider.
        raise SignInFailed("The identity provider's discovery names another issuer.")
    return provider


def _callback_url() -> str:
    base = current_app.config["LINKSVC"].public_base_url
    if base:
        return f"{base}/login/oidc/callback"
    return url_for("oidc.callback", _external=True)


@bp.get("")
def start() -> Response:
    """To the provider; ``next`` is where the user goes afterwards."""
    provider = _provider()
    wanted = safe_next(request.args.get("next"))
    response = provider.authorize_redirect(_callback_url())
    session["oidc_next"] = wanted
    return response


@bp.get("/callback")
def callback() -> Response:
    provider = _provider()
    if "error" in request.args:
        said = request.args.get("error_description") or request.args["error"]
        raise SignInFailed(f"The identity provider refused the sign-in: {said[:200]}")
    try:
        token = provider.authorize_access_token()
    except MismatchingStateError:
        raise SignInFailed(
            "This sign-in was not started from this browser (its state does "
            "not match); start again from the login page."
        ) from None
    except OAuthError as exc:
        if exc.error == "invalid_grant":
            why = "a sign-in code is good only once"
        else:
            why = "ask an administrator to check linksvc's client at the provider"
        raise SignInFailed(
            f"The identity provider did not accept this sign-in ({exc.error}); {why}."
        ) from None
    except Exception as exc:  # a forged, expired or foreign ID token
        raise SignInFailed(
            f"The identity provider's ID token is not valid here ({exc})."
        ) from None
    claims = token.get("userinfo") if isinstance(token, dict) else None
    if not claims:
        raise SignInFailed("The identity provider sent no ID token.")
    svc = services()
    issuer = current_app.config["LINKSVC"].oidc_issuer
    user = sso.sign_in(svc, issuer, dict(claims), **client(request.environ))
    wanted = session.get("oidc_next")
    start_session(user, "oidc")
    return redirect(safe_next(wanted if isinstance(wanted, str) else None))
