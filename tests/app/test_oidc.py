"""Single sign-on against a real OpenID Connect provider (oidc-provider-mock,
a Flask app serving discovery, JWKS, a login form and signed tokens) on
127.0.0.1: real HTTP for discovery, the token exchange and the keys."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from linksvc.links import sharing
from linksvc.services import of

from ..conftest import audit_rows
from ..oidc import Provider
from .test_scim import scim_token
from .test_scim import USER as USER_SCHEMA


@pytest.fixture(scope="module")
def running_provider():
    """One provider for the module (its key and server made once); each test
    gets it with no forged answers and sets its own users."""
    running = Provider()
    yield running
    running.stop()


@pytest.fixture
def provider(running_provider):
    running_provider.rewrite = None
    yield running_provider
    running_provider.rewrite = None


@pytest.fixture(autouse=True)
def client_secret(monkeypatch):
    monkeypatch.setenv("LINKSVC_OIDC_CLIENT_SECRET", "test-client-secret")


@pytest.fixture
def sso_app(make_app, provider):
    return make_app(
        oidc_issuer=provider.url,
        oidc_client_id="linksvc-test",
        oidc_name="Example IdP",
        public_base_url="http://localhost",
    )


def begin(client, next_path=None) -> str:
    url = "/login/oidc" + (f"?next={next_path}" if next_path else "")
    response = client.get(url)
    assert response.status_code == 302
    location = response.headers["Location"]
    query = parse_qs(urlsplit(location).query)
    # authorization code + PKCE (S256), state and nonce
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] and query["nonce"] and query["code_challenge"]
    assert query["redirect_uri"] == ["http://localhost/login/oidc/callback"]
    return location


def back(client, returned: str):
    parts = urlsplit(returned)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(client, provider, sub="zoe-sub", next_path=None):
    return back(client, provider.authorize(begin(client, next_path), sub))


def test_the_login_page_offers_the_provider(sso_app):
    page = sso_app.test_client().get("/login")
    assert page.status_code == 200
    assert "Sign in with Example IdP" in page.text
    assert 'href="/login/oidc' in page.text


def test_first_sign_in_makes_the_user_and_the_second_updates_them(
    sso_app,
    provider,
):
    svc = of(sso_app)
    provider.user("zoe-sub", preferred_username="zoe", email="zoe@example.org")
    client = sso_app.test_client()
    done = sign_in(client, provider, next_path="/links")
    assert done.status_code == 302, done.text
    assert done.headers["Location"] == "/links"
    assert client.get("/links").status_code == 200  # logged in
    assert "single sign-on" in client.get("/account/sessions").text
    user = svc.store.users.by_name("zoe")
    assert user.email == "zoe@example.org" and not user.is_admin
    assert user.oidc_subject == f"{provider.url} zoe-sub"
    # Renamed and moved at the provider: the same account, a new address.
    provider.user("zoe-sub", preferred_username="zoe.renamed", email="z@example.org")
    other = sso_app.test_client()
    assert sign_in(other, provider).status_code == 302
    assert [u.username for u in svc.store.users.list()].count("zoe") == 1
    assert svc.store.users.by_name("zoe").email == "z@example.org"
    svc.audit.flush()
    logins = [r for r in audit_rows(svc) if r.event == "login"]
    assert [(r.outcome, r.detail) for r in logins] == [("ok", "oidc")] * 2


def test_a_wrong_state_is_refused_with_a_page(sso_app, provider):
    provider.user("zoe-sub", preferred_username="zoe")
    client = sso_app.test_client()
    returned = provider.authorize(begin(client), "zoe-sub")
    forged = returned.replace("state=", "state=forged")
    response = back(client, forged)
    assert response.status_code == 403
    assert "Sign-in failed" in response.text and "state does not match" in response.text
    assert "Traceback" not in response.text
    assert of(sso_app).store.users.by_name_or_none("zoe") is None


def test_a_code_is_good_once(sso_app, provider):
    provider.user("zoe-sub", preferred_username="zoe")
    client = sso_app.test_client()
    returned = provider.authorize(begin(client), "zoe-sub")
    assert back(client, returned).status_code == 302
    # The same code again, under a fresh sign-in of the same browser:
    fresh = parse_qs(urlsplit(begin(client)).query)["state"][0]
    code = parse_qs(urlsplit(returned).query)["code"][0]
    replay = client.get(f"/login/oidc/callback?code={code}&state={fresh}")
    assert replay.status_code == 403 and "good only once" in replay.text


def test_a_tampered_id_token_is_refused(sso_app, provider):
    provider.user("zoe-sub", preferred_username="zoe")

    def tamper(path, body):
        if path != "/oauth2/token":
            return body
        token = json.loads(body)
        head, claims, signature = token["id_token"].split(".")
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
        token["id_token"] = f"{head}.{claims}.{flipped}"
        return json.dumps(token).encode()

    provider.rewrite = tamper
    response = sign_in(sso_app.test_client(), provider)
    assert response.status_code == 403 and "ID token is not valid" in response.text
    assert of(sso_app).store.users.by_name_or_none("zoe") is None


def test_an_expired_id_token_is_refused(make_app):
    """The provider's ID tokens expired five minutes before they were made
    (past the two minutes of clock skew Authlib allows)."""
    stale = Provider(token_age=timedelta(minutes=-5))
    try:
        app = make_app(
            oidc_issuer=stale.url,
            oidc_client_id="linksvc-test",
            public_base_url="http://localhost",
        )
        stale.user("zoe-sub", preferred_username="zoe")
        response = sign_in(app.test_client(), stale)
        assert response.status_code == 403
        assert "ID token is not valid" in response.text and "expired" in response.text
        assert of(app).store.users.by_name_or_none("zoe") is None
    finally:
        stale.stop()


def test_tokens_of_another_issuer_are_refused(sso_app, provider):
    """A mix-up: the provider's discovery sends the token exchange and keys to
    another provider, whose genuine tokens name itself as issuer."""
    other = Provider()
    try:
        other.user("zoe-sub", preferred_username="zoe")
        provider.user("zoe-sub", preferred_username="zoe")

        def elsewhere(path, body):
            if path != "/.well-known/openid-configuration":
                return body
            doc = json.loads(body)
            doc["token_endpoint"] = f"{other.url}/oauth2/token"
            doc["jwks_uri"] = f"{other.url}/jwks"
            return json.dumps(doc).encode()

        provider.rewrite = elsewhere
        client = sso_app.test_client()
        location = begin(client)
        # the browser is sent to the other provider's form too
        location = location.replace(provider.url, other.url)
        response = back(client, other.authorize(location, "zoe-sub"))
        assert response.status_code == 403
        assert "ID token is not valid" in response.text
        assert of(sso_app).store.users.by_name_or_none("zoe") is None
    finally:
        other.stop()


def test_a_discovery_document_of_another_issuer_is_refused(sso_app, provider):
    def foreign(path, body):
        if path != "/.well-known/openid-configuration":
            return body
        doc = json.loads(body)
        doc["issuer"] = "https://idp.example.org"
        return json.dumps(doc).encode()

    provider.rewrite = foreign
    response = sso_app.test_client().get("/login/oidc")
    assert response.status_code == 403 and "names another issuer" in response.text


def test_an_outside_name_never_takes_over_a_local_account(sso_app, provider):
    provider.user("mallory-sub", preferred_username="admin")
    response = sign_in(sso_app.test_client(), provider, sub="mallory-sub")
    assert response.status_code == 403 and "not linked" in response.text
    assert of(sso_app).store.users.by_name("admin").oidc_subject is None


def test_an_account_provisioned_by_scim_is_linked_at_its_first_sign_in(
    sso_app, provider
):
    svc = of(sso_app)
    made = sso_app.test_client().post(
        "/scim/v2/Users",
        json={"schemas": [USER_SCHEMA], "userName": "yuki"},
        headers={"Authorization": f"Bearer {scim_token(sso_app)}"},
    )
    assert made.status_code == 201
    provider.user("yuki-sub", preferred_username="yuki")
    client = sso_app.test_client()
    assert sign_in(client, provider, sub="yuki-sub").status_code == 302
    yuki = svc.store.users.by_name("yuki")
    assert yuki.oidc_subject == f"{provider.url} yuki-sub" and yuki.provisioned
    assert str(yuki.id) == made.json["id"]
    # Another subject with the same name is not her.
    provider.user("other-sub", preferred_username="yuki")
    assert sign_in(sso_app.test_client(), provider, sub="other-sub").status_code == 403


def test_a_name_that_cannot_be_a_user_name_is_refused(sso_app, provider):
    provider.user("odd-sub", preferred_username="../etc")
    response = sign_in(sso_app.test_client(), provider, sub="odd-sub")
    assert response.status_code == 403 and "cannot be a user name" in response.text


def test_a_disabled_account_cannot_sign_in(sso_app, provider):
    provider.user("zoe-sub", preferred_username="zoe")
    assert sign_in(sso_app.test_client(), provider).status_code == 302
    of(sso_app).store.users.set_disabled("zoe", True)
    response = sign_in(sso_app.test_client(), provider)
    assert response.status_code == 403 and "disabled" in response.text


def test_password_logins_can_be_turned_off_but_for_the_break_glass_admin(
    make_app, provider
):
    from ..conftest import csrf_token
    from ..conftest import PASSWORDS

    app = make_app(
        oidc_issuer=provider.url,
        oidc_client_id="linksvc-test",
        local_logins=False,
        break_glass_admin="admin",
    )
    client = app.test_client()
    page = client.get("/login")
    assert "Administrator sign-in with a password" in page.text
    form = {"csrf_token": csrf_token(client, "/login"), "password": "whatever1"}
    refused = client.post("/login", data={**form, "username": "alice"})
    assert refused.status_code == 403 and "turned off" in refused.text
    right = {**form, "username": "admin", "password": PASSWORDS["admin"]}
    assert client.post("/login", data=right).status_code == 302


def test_sso_is_off_without_an_issuer(client):
    assert client.get("/login/oidc").status_code == 404
    assert "/login/oidc" not in client.get("/login").text


def test_start_up_stops_without_the_client_secret(make_app, provider, monkeypatch):
    from linksvc.core.errors import ConfigError

    monkeypatch.delenv("LINKSVC_OIDC_CLIENT_SECRET")
    with pytest.raises(ConfigError, match="needs the client secret"):
        make_app(oidc_issuer=provider.url, oidc_client_id="linksvc-test")


def test_a_back_channel_logout_ends_every_session_of_that_person(sso_app, provider):
    provider.user("zoe-sub", preferred_username="zoe")
    laptop, phone = sso_app.test_client(), sso_app.test_client()
    assert sign_in(laptop, provider).status_code == 302
    assert sign_in(phone, provider).status_code == 302
    assert laptop.get("/links").status_code == 200
    token = provider.logout_token(aud="linksvc-test", sub="zoe-sub")
    response = sso_app.test_client().post(
        "/login/oidc/backchannel-logout", data={"logout_token": token}
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert laptop.get("/links").status_code == 302
    assert phone.get("/links").status_code == 302
    svc = of(sso_app)
    svc.audit.flush()
    (row,) = [r for r in audit_rows(svc) if r.event == "session"]
    assert (row.outcome, row.actor, row.subject) == ("ended", "oidc-backchannel", "zoe")


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"aud": "someone-else"}, "for another client"),
        ({"iss": "https://idp.example.org"}, "from another issuer"),
        ({"iat": 1_000_000_000}, "too old"),
        ({"jti": None}, "without a jti"),
        ({"events": {"other": {}}}, "not a logout event"),
        ({"nonce": "n"}, "with a nonce"),
        ({"sub": None}, "without a sub"),
    ],
)
def test_a_logout_token_that_is_not_a_logout_is_refused(sso_app, provider, claims, why):
    provider.user("zoe-sub", preferred_username="zoe")
    laptop = sso_app.test_client()
    assert sign_in(laptop, provider).status_code == 302
    base = {"sub": "zoe-sub", "aud": "linksvc-test"}
    token = provider.logout_token(**{**base, **claims})
    response = sso_app.test_client().post(
        "/login/oidc/backchannel-logout", data={"logout_token": token}
    )
    assert response.status_code == 400 and why in response.json["error_description"]
    assert response.json["error"] == "invalid_request"
    assert laptop.get("/links").status_code == 200  # still signed in


def test_a_forged_logout_token_is_refused_and_costs_little(sso_app, provider):
    provider.user("zoe-sub", preferred_username="zoe")
    laptop = sso_app.test_client()
    assert sign_in(laptop, provider).status_code == 302
    token = provider.logout_token(aud="linksvc-test", sub="zoe-sub")
    head, body, signature = token.split(".")
    forged = f"{head}.{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    outsider = sso_app.test_client()
    for value in (forged, "", "x" * 9000, "not.a.jwt"):
        response = outsider.post(
            "/login/oidc/backchannel-logout", data={"logout_token": value}
        )
        assert response.status_code == 400
    assert laptop.get("/links").status_code == 200


def test_api_tokens_of_sso_users_expire_and_need_a_recent_sign_in(sso_app, provider):
    import re

    from freezegun import freeze_time

    from ..conftest import csrf_token

    provider.user("zoe-sub", preferred_username="zoe")
    client = sso_app.test_client()
    with freeze_time("2026-12-03 10:00:00", tick=True) as clock:
        assert sign_in(client, provider).status_code == 302
        page = client.get("/account/tokens").text
        assert 'name="password"' not in page and "stop working 90 days" in page
        form = {"csrf_token": csrf_token(client, "/account/tokens"), "label": "ci"}
        made = client.post("/account/tokens", data=form)
        assert made.status_code == 201
        secret = re.search(r"(lsv_[A-Za-z0-9_-]+)", made.text).group(1)
        headers = {"Authorization": f"Bearer {secret}"}
        assert client.get("/api/v1/links", headers=headers).status_code == 200
        clock.tick(11 * 60)  # the sign-in is no longer recent
        late = client.post("/account/tokens", data=form)
        assert late.status_code == 400 and "Sign in again with" in late.text
        clock.tick(89 * 86400)
        assert client.get("/api/v1/links", headers=headers).status_code == 200
        clock.tick(2 * 86400)  # 91 days old
        gone = client.get("/api/v1/links", headers=headers)
        assert gone.status_code == 401 and "expired" in gone.json["message"]


def test_callbacks_are_limited_per_address_before_anything_goes_out(make_app, provider):
    app = make_app(
        oidc_issuer=provider.url,
        oidc_client_id="linksvc-test",
        public_base_url="http://localhost",
        login_limit_per_address="3 per minute",
    )
    client = app.test_client()
    asked = []
    provider.rewrite = lambda path, body: asked.append(path) or body
    statuses = [
        client.get("/login/oidc/callback?code=x&state=y").status_code for _ in range(5)
    ]
    assert statuses == [403, 403, 403, 429, 429]
    assert "/oauth2/token" not in asked  # a wrong state asks the provider nothing


def test_groups_from_the_provider_decide_mapped_memberships(make_app, provider):
    from linksvc.links import policy

    app = make_app(
        oidc_issuer=provider.url,
        oidc_client_id="linksvc-test",
        public_base_url="http://localhost",
        oidc_group_map={"staff": "limited", "contractors": "outside"},
    )
    svc = of(app)
    with app.app_context():
        policy.add_group(svc, "limited", max_downloads=1)
        policy.add_group(svc, "outside", max_expiry="1d")
        policy.add_group(svc, "manual")
    provider.user("zoe-sub", preferred_username="zoe", groups=["staff", "chess"])
    assert sign_in(app.test_client(), provider).status_code == 302
    zoe = svc.store.users.by_name("zoe")
    with app.app_context():
        policy.join_group(svc, "manual", "zoe")
    assert {g.name for g in svc.store.groups.of_user(zoe.id)} == {"limited", "manual"}
    # Moved at the provider: staff no more, contractors now.
    provider.user("zoe-sub", preferred_username="zoe", groups=["contractors"])
    assert sign_in(app.test_client(), provider).status_code == 302
    assert {g.name for g in svc.store.groups.of_user(zoe.id)} == {"outside", "manual"}
    svc.audit.flush()
    changes = [
        (r.outcome, r.subject)
        for r in audit_rows(svc)
        if r.event == "group" and r.actor == "oidc"
    ]
    assert changes == [
        ("joined", "limited"),
        ("joined", "outside"),
        ("left", "limited"),
    ]


def test_an_sso_account_never_signs_in_with_a_password(sso_app, provider):
    """Even with a password an administrator set for it: a leaver removed
    at the provider must not come back through the login form."""
    from ..conftest import Auth

    provider.user("zoe-sub", preferred_username="zoe")
    assert sign_in(sso_app.test_client(), provider).status_code == 302
    of(sso_app).store.users.set_password("zoe", "a-password-1")
    client = sso_app.test_client()
    response = Auth(client).login("zoe", "a-password-1")
    assert (
        response.status_code == 200 and "Wrong user name or password" in response.text
    )
    assert client.get("/links").status_code == 302


def test_groups_from_the_provider_decide_grants_open_sessions_included(
    make_app, provider
):
    from linksvc.links import policy

    app = make_app(
        oidc_issuer=provider.url,
        oidc_client_id="linksvc-test",
        public_base_url="http://localhost",
        oidc_group_map={"staff": "docs"},
        on_access_lost="revoke",
    )
    svc = of(app)
    with app.app_context():
        policy.add_group(svc, "docs")
        policy.grant_group(svc, "docs", "readme.txt")
    provider.user("zoe-sub", preferred_username="zoe", groups=["staff"])
    laptop = app.test_client()
    assert sign_in(laptop, provider).status_code == 302
    assert laptop.get("/protected/readme.txt").status_code == 200
    with app.app_context():
        zoe = svc.store.users.by_name("zoe")
        link, token = sharing.create_link(svc, zoe, "readme.txt")
    # Left staff at the provider: the next sign-in (anywhere) takes it away,
    # from the laptop's open session too, and revokes her link to it.
    provider.user("zoe-sub", preferred_username="zoe", groups=[])
    assert sign_in(app.test_client(), provider).status_code == 302
    assert laptop.get("/protected/readme.txt").status_code == 403
    assert svc.store.links.get(link.id).revoked_at is not None
    assert app.test_client().get(f"/d/{token}").status_code == 410
