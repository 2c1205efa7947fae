"""web/handlers.py: every error becomes its status, title, hint and shape."""

import pytest

from linksvc.core import errors
from linksvc.services import of as services_of
from linksvc.web.openapi import document


def all_errors(cls=errors.LinksvcError):
    for sub in cls.__subclasses__():
        yield sub
        yield from all_errors(sub)


def test_every_error_declares_a_code_status_and_title():
    for cls in all_errors():
        assert cls.code and cls.title, cls
        assert 400 <= cls.status < 600, cls
        assert cls.api_status in (None, 422), cls


def test_openapi_and_the_admin_filters_list_every_error_code():
    from linksvc.web.admin import OUTCOMES

    codes = set(errors.LinksvcError.codes())
    assert {"link_expired", "rate_limited", "path_refused"} <= codes
    assert codes <= set(OUTCOMES)
    schema = document()["components"]["schemas"]["Error"]
    assert set(schema["properties"]["error"]["examples"]) >= codes


@pytest.mark.parametrize(
    ("path", "status", "title"),
    [
        ("/d/garbage", 404, "Link not found"),
        ("/protected/%2e%2e/x", 302, None),
    ],
)
def test_pages_carry_status_title_request_id_and_headers(client, path, status, title):
    response = client.get(path)
    assert response.status_code == status
    if title:
        page = response.get_data(as_text=True)
        assert title in page and response.headers["X-Request-Id"] in page
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_the_api_answers_its_own_status_and_json(client, app, svc):
    with app.app_context():
        alice = svc.store.users.by_name("alice")
        _, token = svc.store.tokens.create(alice.id, "t")
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post("/api/v1/links", json={"path": "../x"}, headers=headers)
    assert response.status_code == 422  # api_status, where a page says 400
    assert response.get_json()["error"] == "path_refused"
    assert response.get_json()["message"].endswith(".")


def test_a_hint_and_retry_after_reach_the_page(make_app, svc):
    strict = make_app(refusal_limit="1 per minute")
    client = strict.test_client()
    first = client.get("/d/garbage").get_data(as_text=True)
    assert errors.LinkInvalid.hint.split(".")[0] in first
    second = client.get("/d/garbage")
    assert second.status_code == 429 and int(second.headers["Retry-After"]) > 0


def test_a_database_error_is_a_503_with_retry_after(app, client, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def broken(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    from ..conftest import Auth

    Auth(client).login_as("alice")
    monkeypatch.setattr(type(services_of(app).store.links), "list", broken)
    response = client.get("/links")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Try again shortly" in response.get_data(as_text=True)


def test_healthz_answers_without_login_or_audit(client, svc):
    from ..conftest import audit_rows

    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert "Set-Cookie" not in response.headers
    assert audit_rows(svc) == []


def test_readyz_names_each_check_and_is_503_when_the_database_is_gone(make_app):
    """/healthz says the process answers; /readyz says what it depends on."""
    broken = make_app(
        database_url="postgresql+psycopg://postgres@127.0.0.1:9/none",
        database_timeout=1,
    )
    client = broken.test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503 and response.headers["Retry-After"]
    body = response.get_json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"].startswith("failed")
    assert body["checks"]["keys"] == "ok" and body["checks"]["protected_dir"] == "ok"
    assert set(body["checks"]) == {
        "database",
        "keys",
        "protected_dir",
        "limiter",
        "outbox_sender",
        "disk",
    }


def test_readyz_is_ready_cheap_and_writes_nothing(client, svc, monkeypatch):
    from ..conftest import audit_rows

    pings = []
    real = svc.store.ping
    monkeypatch.setattr(svc.store, "ping", lambda: pings.append(1) or real())
    answers = [client.get("/readyz") for _ in range(20)]
    assert {a.status_code for a in answers} == {200}
    assert answers[0].get_json()["status"] == "ready"
    assert len(pings) == 1  # checked at most once a second per worker
    assert all("Set-Cookie" not in a.headers for a in answers)
    svc.audit.flush()
    assert audit_rows(svc) == []


def test_readyz_says_when_the_disk_is_under_the_floor(make_app):
    app = make_app(upload_free_disk="100000T")
    body = app.test_client().get("/readyz").get_json()
    assert body["checks"]["disk"].startswith("under") and body["status"] == "not ready"
