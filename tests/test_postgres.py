"""The same store and download path on PostgreSQL (psycopg 3)."""

from datetime import timedelta

import pytest

from linksvc import sharing
from linksvc.services import of as services_of

from .services import postgres_database


@pytest.fixture
def pg_app(make_app):
    with postgres_database() as url:
        app = make_app(database_url=url)
        store = services_of(app).store
        store.migrate()
        store.users.add("admin", "admin-password-1", is_admin=True)
        yield app
        services_of(app).close()


def test_links_limits_revocation_and_audit_on_postgres(pg_app, frozen):
    svc = services_of(pg_app)
    client = pg_app.test_client()
    with pg_app.app_context():
        admin = svc.store.users.by_name("admin")
        one, one_time = sharing.create_link(
            svc, admin, "readme.txt", "1h", max_downloads=1
        )
        many, unlimited = sharing.create_link(svc, admin, "big.bin", "1h")
    assert client.get(f"/d/{one_time}").status_code == 200
    assert client.get(f"/d/{one_time}").status_code == 410
    for _ in range(3):
        assert client.get(f"/d/{unlimited}").status_code == 200
    assert (
        client.get(f"/d/{unlimited}", headers={"Range": "bytes=5-9"}).status_code == 206
    )
    svc.audit.flush()
    assert svc.store.links.get(one.id).download_count == 1
    assert svc.store.links.get(many.id).download_count == 3
    sharing.revoke_link(svc, admin, many.id)
    assert client.get(f"/d/{unlimited}").status_code == 410
    frozen.tick(timedelta(hours=2))
    assert client.get(f"/d/{one_time}").status_code == 410
    from linksvc.db import audit

    svc.audit.flush()
    outcomes = [r["outcome"] for r in audit.query(svc.store.engine, limit=None)]
    assert outcomes.count("ok") == 2 + 5 + 1  # created, downloads, revoked
    assert {"link_used_up", "link_revoked", "link_expired"} <= set(outcomes)


def test_api_on_postgres(pg_app):
    svc = services_of(pg_app)
    admin = svc.store.users.by_name("admin")
    _, secret = svc.store.tokens.create(admin.id, "pg")
    client = pg_app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    created = client.post("/api/v1/links", json={"path": "readme.txt"}, headers=headers)
    assert created.status_code == 201
    listed = client.get("/api/v1/links", headers=headers).get_json()
    assert listed["total"] == 1
