"""SCIM provisioning through the Flask client: what deactivating, limits and
tokens do here (the protocol itself is driven by scim2-client against a real
server in tests/live/test_scim_live.py)."""

from __future__ import annotations

import pytest

from linksvc.cli import cli
from linksvc.links import policy
from linksvc.links import sharing
from linksvc.services import of

from ..conftest import audit_rows
from ..conftest import Auth

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def scim_token(app, label="idp") -> str:
    result = app.test_cli_runner().invoke(cli, ["scim", "token", "create", label])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


class Scim:
    def __init__(self, app, token=None) -> None:
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token or scim_token(app)}"}

    def call(self, method, path, body=None):
        return self.client.open(
            "/scim/v2" + path,
            method=method,
            json=body,
            headers=self.headers,
            content_type="application/scim+json",
        )

    def person(self, name, **extra) -> str:
        made = self.call(
            "POST", "/Users", {"schemas": [USER], "userName": name, **extra}
        )
        assert made.status_code == 201, made.text
        return made.json["id"]

    def active(self, scim_id, value: bool):
        op = {"op": "replace", "path": "active", "value": value}
        done = self.call(
            "PATCH", f"/Users/{scim_id}", {"schemas": [PATCH], "Operations": [op]}
        )
        assert done.status_code == 200, done.text
        return done


@pytest.mark.parametrize(("rule", "after"), [("keep", 403), ("revoke", 410)])
def test_deactivating_ends_sessions_tokens_and_links_at_once(make_app, rule, after):
    app = make_app(on_access_lost=rule)
    svc = of(app)
    scim = Scim(app)
    with app.app_context():
        policy.add_group(svc, "staff")
        policy.grant_group(svc, "staff", "reports")
    scim_id = scim.person("hana")
    with app.app_context():
        policy.join_group(svc, "staff", "hana")
        hana = svc.store.users.by_name("hana")
        link, token = sharing.create_link(svc, hana, "reports/q3/summary.csv")
        _, api_secret = svc.store.tokens.create(hana.id, "script")
    browser = app.test_client()
    Auth(browser).login_as("hana")
    assert browser.get("/protected/reports/q3/summary.csv").status_code == 200
    api = {"Authorization": f"Bearer {api_secret}"}
    assert app.test_client().get("/api/v1/links", headers=api).status_code == 200

    scim.active(scim_id, False)
    assert browser.get("/protected/reports/q3/summary.csv").status_code in (302, 401)
    assert app.test_client().get("/api/v1/links", headers=api).status_code == 401
    assert app.test_client().get(f"/d/{token}").status_code == after
    assert svc.store.sessions.of_user(hana.id) == []

    scim.active(scim_id, True)
    # Suspended links come back with the account; sessions and tokens do not.
    assert app.test_client().get(f"/d/{token}").status_code == (
        200 if rule == "keep" else 410
    )
    assert app.test_client().get("/api/v1/links", headers=api).status_code == 401
    svc.audit.flush()
    said = [(r.event, r.outcome, r.actor) for r in audit_rows(svc)]
    assert ("scim", "user deactivated", "idp") in said
    assert ("scim", "user reactivated", "idp") in said


def test_a_provisioned_account_never_signs_in_with_a_password(app):
    scim = Scim(app)
    scim.person("ivan")
    with app.app_context():
        svc = of(app)
        svc.store.users.set_password("ivan", "a-password-set-here")
    assert (
        Auth(app.test_client()).login("ivan", "a-password-set-here").status_code != 302
    )


def test_lists_are_paged_and_filtered(app):
    scim = Scim(app)
    ids = [scim.person(f"p{n}", externalId=f"x{n}") for n in range(5)]
    page = scim.call("GET", "/Users?startIndex=2&count=2")
    assert page.status_code == 200
    body = page.json
    assert body["totalResults"] == 5 and body["startIndex"] == 2
    assert body["itemsPerPage"] == 2
    assert [r["id"] for r in body["Resources"]] == ids[1:3]
    one = scim.call("GET", '/Users?filter=externalId eq "x3"').json
    assert one["totalResults"] == 1 and one["Resources"][0]["userName"] == "p3"
    none = scim.call("GET", "/Users?count=0").json
    assert none["totalResults"] == 5 and none["Resources"] == []
    assert scim.call("GET", "/Users?count=-1").status_code == 400


def test_calls_are_limited_per_token(make_app):
    app = make_app(scim_limit="3 per minute")
    scim = Scim(app)
    answers = [scim.call("GET", "/Users") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].headers["Retry-After"].isdigit()
    assert answers[-1].json["status"] == "429"
    other = Scim(app, scim_token(app, "second"))  # another token, its own count
    assert other.call("GET", "/Users").status_code == 200


def test_an_anonymous_client_writes_nothing_and_is_throttled(make_app):
    app = make_app(api_auth_limit="2 per minute")
    svc = of(app)
    client = app.test_client()
    svc.audit.flush()
    before = len(audit_rows(svc))
    body = {"schemas": [USER], "userName": "mallory"}
    answers = [
        client.post("/scim/v2/Users", json=body, headers={"Authorization": "Bearer x"})
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [401, 401, 429]
    svc.audit.flush()
    assert len(audit_rows(svc)) == before
    assert svc.store.users.by_name_or_none("mallory") is None


def test_a_revoked_token_is_refused_and_listed(app):
    runner = app.test_cli_runner()
    secret = scim_token(app, "entra")
    token_id = secret.removeprefix("lsvscim_").split("_")[0]
    scim = Scim(app, secret)
    assert scim.call("GET", "/Users").status_code == 200
    listed = runner.invoke(cli, ["scim", "token", "list"]).output
    assert token_id in listed and "entra" in listed and "active" in listed
    assert runner.invoke(cli, ["scim", "token", "revoke", token_id]).exit_code == 0
    assert scim.call("GET", "/Users").status_code == 401
    assert "revoked" in runner.invoke(cli, ["scim", "token", "list"]).output


def test_a_mapped_group_name_lands_in_the_linksvc_group(make_app):
    app = make_app(oidc_group_map={"Finance Team": "finance"})
    svc = of(app)
    with app.app_context():
        policy.add_group(svc, "finance")
        policy.grant_group(svc, "finance", "reports")
    scim = Scim(app)
    person = scim.person("jack")
    made = scim.call(
        "POST",
        "/Groups",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Finance Team",
            "members": [{"value": person}],
        },
    )
    assert made.status_code == 201, made.text
    assert made.json["displayName"] == "finance"
    assert svc.store.groups.get("finance").members == ("jack",)
    assert "reports" in svc.store.users.by_name("jack").effective_grants
    unmapped = scim.call(
        "POST",
        "/Groups",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Has Spaces",
        },
    )
    assert unmapped.status_code == 400 and "map it" in unmapped.json["detail"]
    gone = scim.call("DELETE", f"/Groups/{made.json['id']}")
    assert gone.status_code == 204
    assert svc.store.groups.get("finance").members == ()  # the group stays
    assert svc.store.groups.grants_of("finance") == ["reports"]
