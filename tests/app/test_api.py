"""The JSON API, checked against its own OpenAPI document."""

import re

import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from linksvc.cli import cli
from linksvc.web.openapi import document

from ..conftest import audit_rows
from ..conftest import link_row
from ..conftest import SECRET

DOC = document()
REGISTRY = Registry().with_resource(
    "urn:linksvc-openapi", DRAFT202012.create_resource(DOC)
)


def check(response, path: str, method: str) -> dict:
    """Validate a real response against the document; return its JSON."""
    operation = DOC["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], f"{status} not documented"
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    ref = {"$ref": "urn:linksvc-openapi" + schema["$ref"]}
    validator = jsonschema.Draft202012Validator(ref, registry=REGISTRY)
    validator.validate(response.get_json())
    return response.get_json()


@pytest.fixture
def token(runner):
    result = runner.invoke(cli, ["token", "create", "ci", "--user", "alice"])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[-1]


@pytest.fixture
def api(client, token):
    class Api:
        def __getattr__(self, method):
            def call(url, **kw):
                headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
                return getattr(client, method)(f"/api/v1{url}", headers=headers, **kw)

            return call

    return Api()


def test_openapi_document_is_served_and_valid(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == DOC
    assert DOC["openapi"] == "3.1.0"
    for schema in DOC["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer lsv_nope_nope"},
        {"Authorization": "Basic YWxpY2U6eA=="},
    ],
)
def test_requests_without_a_valid_token_are_401_json(client, headers):
    response = client.get("/api/v1/links", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert check(response, "/links", "get")["error"] == "unauthorized"


def test_a_session_cookie_is_not_accepted(client, auth):
    auth.login_as("alice")
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/links").status_code == 401


def test_create_get_list_revoke(api, client, tree, svc):
    created = api.post(
        "/links",
        json={
            "path": "reports/q3/summary.csv",
            "expires": "2h",
            "max_downloads": 2,
            "note": "for Bob",
        },
    )
    assert created.status_code == 201
    body = check(created, "/links", "post")
    assert body["url"].startswith("https://links.example.org/d/")
    assert body["max_downloads"] == 2 and body["note"] == "for Bob"
    assert created.headers["Location"] == f"/api/v1/links/{body['id']}"
    download = client.get(body["url"].removeprefix("https://links.example.org"))
    assert download.data == (tree / "reports/q3/summary.csv").read_bytes()

    one = check(api.get(f"/links/{body['id']}"), "/links/{link_id}", "get")
    # The same URL again, while the link works (signed again from its row).
    assert one["download_count"] == 1 and one["url"] == body["url"]

    page = check(api.get("/links?per_page=1"), "/links", "get")
    assert page["total"] == 1 and [i["id"] for i in page["items"]] == [body["id"]]

    revoked = api.delete(f"/links/{body['id']}")
    assert check(revoked, "/links/{link_id}", "delete")["status"] == "revoked"
    again = api.delete(f"/links/{body['id']}")
    assert again.status_code == 409
    assert check(again, "/links/{link_id}", "delete")["error"] == "already_revoked"
    gone = client.get(body["url"].removeprefix("https://links.example.org"))
    assert gone.status_code == 410
    # A revoked link never shows a working URL again.
    assert (
        check(api.get(f"/links/{body['id']}"), "/links/{link_id}", "get")["url"] is None
    )
    events = [
        (r.event, r.actor) for r in audit_rows(svc) if r.event in ("created", "revoked")
    ]
    assert events == [("created", "api:alice"), ("revoked", "api:alice")]


def test_list_is_paged_and_only_mine(api, make_link):
    for _ in range(3):
        make_link("reports/q3/summary.csv", user="alice")
    make_link("readme.txt", user="admin")
    first = check(api.get("/links?page=1&per_page=2"), "/links", "get")
    second = check(api.get("/links?page=2&per_page=2"), "/links", "get")
    assert first["total"] == 3
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    assert {i["path"] for i in first["items"] + second["items"]} == {
        "reports/q3/summary.csv"
    }
    for odd in ("0", "-1", "x", "%C2%B2", "%D9%A3", "9" * 30):
        bad = api.get(f"/links?page={odd}")
        assert check(bad, "/links", "get")["error"] == "bad_request"


def test_someone_elses_link_is_404(api, make_link, svc):
    make_link("readme.txt", user="admin")
    other = svc.store.links.list()[0].id
    assert check(api.get(f"/links/{other}"), "/links/{link_id}", "get")["error"] == (
        "not_found"
    )
    assert api.delete(f"/links/{other}").status_code == 404
    assert link_row(svc, other).revoked_at is None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"path": "readme.txt"}, 403, "forbidden"),
        ({"path": "reports/q3/nope.csv"}, 404, "not_found"),
        ({"path": "../outside/secret.txt"}, 422, "path_refused"),
        ({"path": "reports/q3/summary.csv", "expires": "soon"}, 422, "bad_duration"),
        ({"path": "reports/q3/summary.csv", "expires": "60d"}, 422, "expiry_too_long"),
        ({"path": "reports/q3/summary.csv", "max_downloads": 0}, 422, "invalid"),
        ({"path": "reports/q3/summary.csv", "max_downloads": "2"}, 422, "invalid"),
        ({"path": "reports/q3/summary.csv", "not_before": "later"}, 422, "invalid"),
        ({"path": "reports/q3/summary.csv", "note": 5}, 422, "invalid"),
        ({"path": "reports/q3/summary.csv", "colour": "red"}, 422, "invalid"),
        (
            {"path": "reports/q3/summary.csv", "pin": True, "pinned": True},
            422,
            "invalid",
        ),
        ({"path": "reports/q3/summary.csv", "pin": "yes"}, 422, "invalid"),
        ({}, 422, "invalid"),
        ([1, 2], 400, "bad_request"),
    ],
)
def test_create_errors(api, svc, body, status, code):
    response = api.post("/links", json=body)
    assert response.status_code == status
    assert check(response, "/links", "post")["error"] == code
    assert SECRET not in response.data
    assert svc.store.links.list() == []


def test_non_json_body_is_400(api):
    response = api.post("/links", data="path=readme.txt")
    assert response.status_code == 400
    assert check(response, "/links", "post")["error"] == "bad_request"


def test_files(api):
    top = check(api.get("/files"), "/files", "get")
    assert [e["path"] for e in top["entries"]] == ["reports"]
    q3 = check(api.get("/files?folder=reports/q3"), "/files", "get")
    assert q3["entries"][0]["path"] == "reports/q3/summary.csv"
    assert q3["entries"][0]["type"] == "file"
    outside = api.get("/files?folder=web")
    assert outside.status_code == 403
    assert check(outside, "/files", "get")["error"] == "forbidden"
    missing = api.get("/files?folder=reports/q3/nope")
    assert check(missing, "/files", "get")["error"] == "not_found"
    refused = api.get("/files?folder=../outside")
    assert check(refused, "/files", "get")["error"] == "path_refused"


def test_unknown_api_route_and_method_are_json(api):
    missing = api.get("/nope")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    wrong = api.put("/links")
    assert wrong.status_code == 405
    assert wrong.get_json()["error"] == "method_not_allowed"


def test_revoked_token_and_disabled_user_are_refused(client, token, runner, svc):
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/links", headers=headers).status_code == 200
    runner.invoke(cli, ["user", "disable", "alice"])
    assert client.get("/api/v1/links", headers=headers).status_code == 401
    runner.invoke(cli, ["user", "enable", "alice"])
    # Enabling gives nothing from before back: the token was revoked with it.
    assert client.get("/api/v1/links", headers=headers).status_code == 401
    token_id = token.split("_")[1]
    revoked = runner.invoke(cli, ["token", "revoke", token_id, "--user", "alice"])
    assert revoked.exit_code == 1 and "no active API token" in revoked.output


def test_tokens_are_stored_hashed(token, svc):
    from sqlalchemy import select

    from linksvc.db.schema import api_tokens

    with svc.store.engine.connect() as conn:
        stored = conn.execute(select(api_tokens.c.token_hash)).scalar_one()
    assert token.split("_", 2)[2] not in stored and len(stored) == 64


def test_tokens_page_creates_and_revokes(client, auth):
    from ..conftest import csrf_token
    from ..conftest import PASSWORDS

    auth.login_as("alice")
    form = csrf_token(client, "/account/tokens")
    created = client.post(
        "/account/tokens",
        data={"csrf_token": form, "label": "laptop", "password": PASSWORDS["alice"]},
    )
    assert created.status_code == 201
    page = created.get_data(as_text=True)
    secret = re.search(r'id="api-token" type="text" readonly value="([^"]+)"', page)[1]
    assert secret.startswith("lsv_")
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/links", headers=headers).status_code == 200
    token_id = secret.split("_")[1]
    form = csrf_token(client, "/account/tokens")
    client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": form})
    assert client.get("/api/v1/links", headers=headers).status_code == 401
    assert "revoked" in client.get("/account/tokens").get_data(as_text=True)


def test_links_may_show_a_recipient_page_and_bools_are_checked(api, client):
    created = api.post(
        "/links", json={"path": "reports/q3/summary.csv", "recipient_page": True}
    )
    assert created.status_code == 201
    url = created.get_json()["url"].removeprefix("https://links.example.org")
    page = client.get(url)
    assert page.mimetype == "text/html" and "summary.csv" in page.get_data(True)
    bad = api.post(
        "/links", json={"path": "reports/q3/summary.csv", "recipient_page": 1}
    )
    assert bad.status_code == 422
    assert bad.get_json()["message"] == "recipient_page must be true or false."
    also_bad = api.post(
        "/links", json={"path": "reports/q3/summary.csv", "max_downloads": True}
    )
    assert also_bad.status_code == 422


@pytest.mark.parametrize("name", ["pin", "pinned"])
def test_pin_has_one_name_and_the_old_one_is_still_read(api, svc, name):
    response = api.post("/links", json={"path": "reports/q3/summary.csv", name: True})
    body = check(response, "/links", "post")
    assert response.status_code == 201 and body["pin"] is True
    assert body["pinned"] is True  # the old name, sent for one release
    assert link_row(svc, body["id"]).pin is not None
