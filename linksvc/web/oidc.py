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

import time
from typing import Any

from authlib.integrations.base_client.errors import MismatchingStateError
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint
from flask import current_app
from flask import Flask
from flask import jsonify
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
from ..core.errors import TooManyRequests
from ..core.errors import UnknownLink
from ..notify.delivery import secret_from
from .auth import safe_next
from .auth import sign_in
from .ext import csrf
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
    app.extensions[EXTENSION + ".jwks"] = {}
    app.register_blueprint(bp)
    # The provider posts logout tokens server to server: no form, no CSRF
    # token; the token's signature is the proof.
    csrf.exempt(backchannel_logout)


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
    svc = services()
    # Each callback may make us ask the provider for tokens: held per
    # address, like failed logins, before anything goes out.
    if svc.sso_callbacks is not None:
        wait = svc.sso_callbacks.hit(request.remote_addr or "")
        if wait is not None:
            raise TooManyRequests("Too many sign-ins from your address; wait.", wait)
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
    issuer = current_app.config["LINKSVC"].oidc_issuer
    user = sso.sign_in(svc, issuer, dict(claims), **client(request.environ))
    wanted = session.get("oidc_next")
    sign_in(user, "oidc")
    return redirect(safe_next(wanted if isinstance(wanted, str) else None))


#: OpenID Connect Back-Channel Logout 1.0: what a logout token must carry.
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: Longest logout token read; the provider's are a few hundred bytes.
MAX_LOGOUT_TOKEN = 8192
#: How old (by ``iat``) a logout token may be, and how far ahead of our clock.
LOGOUT_TOKEN_AGE, CLOCK_SKEW = 300, 60
#: Keys are fetched again for an unknown key id at most this often: a flood
#: of made-up key ids cannot make us hammer the provider.
JWKS_REFETCH = 60


class LogoutRefused(ValueError):
    """A logout token that is not the provider's, or not a logout."""


def _logout_claims(provider: Any, token: str) -> dict[str, Any]:
    from joserfc import jwt
    from joserfc.errors import InvalidKeyIdError
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    if not token or len(token) > MAX_LOGOUT_TOKEN:
        raise LogoutRefused("no logout_token, or one too long")
    algorithms = provider.load_server_metadata().get(
        "id_token_signing_alg_values_supported"
    ) or ["RS256"]
    try:
        try:
            keys = KeySet.import_key_set(provider.fetch_jwk_set())
            decoded = jwt.decode(token, keys, algorithms=algorithms)
        except InvalidKeyIdError:
            state = current_app.extensions[EXTENSION + ".jwks"]
            if time.monotonic() - state.get("at", -JWKS_REFETCH) < JWKS_REFETCH:
                raise
            state["at"] = time.monotonic()
            keys = KeySet.import_key_set(provider.fetch_jwk_set(force=True))
            decoded = jwt.decode(token, keys, algorithms=algorithms)
    except (JoseError, ValueError) as exc:
        raise LogoutRefused(f"not signed by the provider ({exc})") from None
    claims = dict(decoded.claims)
    settings = current_app.config["LINKSVC"]
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    iat = claims.get("iat")
    now = time.time()
    events = claims.get("events")
    if claims.get("iss") != settings.oidc_issuer:
        raise LogoutRefused("from another issuer")
    if settings.oidc_client_id not in audiences:
        raise LogoutRefused("for another client")
    if (
        not isinstance(iat, int)
        or not now - LOGOUT_TOKEN_AGE <= iat <= now + CLOCK_SKEW
    ):
        raise LogoutRefused("too old, or from the future")
    if not isinstance(claims.get("jti"), str):
        raise LogoutRefused("without a jti")
    if not isinstance(events, dict) or LOGOUT_EVENT not in events:
        raise LogoutRefused("not a logout event")
    if "nonce" in claims:
        raise LogoutRefused("with a nonce (an ID token, not a logout token)")
    if not isinstance(claims.get("sub"), str):
        raise LogoutRefused("without a sub (sessions are ended by subject here)")
    return claims


@bp.post("/backchannel-logout")
def backchannel_logout() -> tuple[Response, int]:
    """The provider tells us a person signed out there (or left): every
    session of theirs ends at once, on every worker (the rows decide)."""
    svc = services()
    who = client(request.environ)
    try:
        claims = _logout_claims(_provider(), request.form.get("logout_token", ""))
    except LogoutRefused as exc:
        wait = svc.refusals.hit(who["remote_addr"])
        if wait is not None:  # refusal_limit, as on /d/
            raise TooManyRequests(
                "Too many refused requests; try again later.", wait
            ) from None
        svc.audit.record(
            "session",
            "refused",
            fold=True,
            actor="oidc-backchannel",
            detail=f"logout token {exc}"[:200],
            **who,
        )
        body = {"error": "invalid_request", "error_description": f"logout token {exc}"}
        return _no_store(jsonify(body)), 400
    issuer = current_app.config["LINKSVC"].oidc_issuer
    user = svc.store.users.by_subject(sso.subject_of(issuer, claims))
    if user is not None:
        svc.store.users.end_sessions(user.id)
        svc.audit.record(
            "session",
            "ended",
            actor="oidc-backchannel",
            subject=user.username,
            detail="all (back-channel logout)",
            **who,
        )
    return _no_store(Response(status=200)), 200


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
