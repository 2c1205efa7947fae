"""A real OpenID Connect provider for the tests: oidc-provider-mock (a Flask
app serving discovery, JWKS, a login form and signed tokens) on a free
127.0.0.1 port, over real HTTP; ``rewrite`` lets a test forge its answers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
import requests
from werkzeug.serving import make_server

oidc_provider_mock = pytest.importorskip("oidc_provider_mock")


class Provider:
    """A running provider; ``rewrite`` may change what it answers."""

    def __init__(self, token_age: timedelta = timedelta(hours=1)) -> None:
        self.rewrite: Callable[[str, bytes], bytes] | None = None
        self.inner = inner = oidc_provider_mock.app(
            require_nonce=True, access_token_max_age=token_age
        )

        def wsgi(environ, start_response):
            path = environ.get("PATH_INFO", "")
            if self.rewrite is None:
                return inner(environ, start_response)
            captured = {}

            def keep(status, headers, exc_info=None):
                captured["status"], captured["headers"] = status, headers

            body = b"".join(inner(environ, keep))
            body = self.rewrite(path, body)
            headers = [
                (k, str(len(body)) if k.lower() == "content-length" else v)
                for k, v in captured["headers"]
            ]
            start_response(captured["status"], headers)
            return [body]

        self.server = make_server("127.0.0.1", 0, wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def user(self, sub: str, **claims) -> None:
        response = requests.put(f"{self.url}/users/{sub}", json=claims, timeout=5)
        assert response.status_code == 204

    def authorize(self, location: str, sub: str) -> str:
        """What the person does at the provider: pick ``sub``; returns the
        URL the provider sends the browser back to."""
        response = requests.post(
            location, data={"sub": sub}, allow_redirects=False, timeout=5
        )
        assert response.status_code == 302, response.text[:500]
        return response.headers["Location"]

    def stop(self) -> None:
        self.server.shutdown()

    def logout_token(self, **claims) -> str:
        """A Back-Channel Logout token signed with this provider's own key
        (the mock issues none itself): what the provider posts when a person
        signs out there."""
        import secrets
        import time

        import flask
        from joserfc import jwt
        from joserfc.jwk import RSAKey

        with self.inner.test_request_context():
            self.inner.preprocess_request()  # the mock's storage, on flask.g
            jwk = flask.g.oidc_provider_mock_storage.jwk
        private = jwk.as_dict(is_private=True)
        key = RSAKey.import_key(private)
        body = {
            "iss": self.url,
            "iat": int(time.time()),
            "jti": secrets.token_hex(8),
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        header = {"alg": "RS256", "typ": "logout+jwt", "kid": private.get("kid")}
        return jwt.encode(header, body, key)
