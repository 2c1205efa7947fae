"""The same store and download path on PostgreSQL (psycopg 3)."""

from datetime import timedelta

import pytest

from linksvc.links import sharing
from linksvc.services import of as services_of

from ..services import postgres_database


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
            svc, admin, "readme.txt", sharing.options(expires="1h", max_downloads=1)
        )
        many, unlimited = sharing.create_link(
            svc, admin, "big.bin", sharing.options(expires="1h")
        )
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

    svc.audit.flush()
    outcomes = [r["outcome"] for r in svc.store.records.query(limit=None)]
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


def test_link_options_folders_and_notices_on_postgres(pg_app, frozen, tree):
    """This round's writes on PostgreSQL: edits, groups, the outbox (queue
    once, hold, reminders marked once), CRCs kept for zips."""
    import io
    import zipfile

    from linksvc.links import editing
    from linksvc.links import policy
    from linksvc.notify import delivery
    from linksvc.notify import notices

    svc = services_of(pg_app)
    client = pg_app.test_client()
    svc.store.users.set_email("admin", "admin@example.org")
    with pg_app.app_context():
        admin = svc.store.users.by_name("admin")
        link, token = sharing.create_link(
            svc,
            admin,
            "reports/q3",
            sharing.options(expires="1d", notify=True, max_downloads=3),
        )
    policy.add_group(svc, "ops", max_expiry="2d")
    policy.join_group(svc, "ops", "admin")
    edited = editing.edit_link(
        svc, admin, link.id, sharing.options(expires="2d", password="six six")
    )
    assert edited.has_password and edited.expires_at > link.expires_at
    editing.edit_link(svc, admin, link.id, sharing.options(password=None))
    first = client.get(f"/d/{token}?zip=1")
    assert first.status_code == 200
    with zipfile.ZipFile(io.BytesIO(first.data)) as archive:
        assert archive.testzip() is None
    again = client.get(f"/d/{token}?zip=1", headers={"Range": "bytes=10-"})
    assert again.status_code == 206 and again.data == first.data[10:]
    from sqlalchemy import func
    from sqlalchemy import select

    from linksvc.db.schema import crcs

    with svc.store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(crcs)).scalar() >= 1
    svc.audit.flush()
    with pg_app.app_context():
        _, quiet = sharing.create_link(
            svc, admin, "readme.txt", sharing.options(expires="25h")
        )
    frozen.tick(timedelta(hours=1))
    assert notices.remind(svc, int(frozen().timestamp())) == 1  # the unused one
    assert notices.remind(svc, int(frozen().timestamp())) == 0
    events = sorted(m.event for m in svc.store.outbox.list())
    assert events == ["first_download", "reminder"]
    held = svc.store.outbox.hold_due(int(frozen().timestamp()), ("email",))
    assert len(held) == 2
    assert svc.store.outbox.hold_due(int(frozen().timestamp()), ("email",)) == []
    assert delivery.run_once(svc) == (0, 0)  # no smtp_host: email waits


@pytest.mark.parametrize("name", ["count", "plain"])
def test_one_batch_statement_grants_no_more_than_the_downloads_left(pg_app, name):
    """A batch of 5 counts of a link with 3 downloads left: 3 granted, the
    row at its limit, and the next batch gets none."""
    svc = services_of(pg_app)
    with pg_app.app_context():
        admin = svc.store.users.by_name("admin")
        link, _ = sharing.create_link(
            svc, admin, "readme.txt", sharing.options(expires="1h", max_downloads=4)
        )
    claims = svc.store.claims
    at = svc.store.links.get(link.id).created_at
    key = (name, link.id, "readme.txt", at)
    assert claims._count_batch(key, [("10.0.0.1", "readme.txt")]) == 1
    items = [(f"10.0.0.{i}", "readme.txt") for i in range(2, 7)]
    assert claims._count_batch(key, items) == 3
    row = claims.state(link.id)
    assert row.download_count == 4
    assert row.last_download_addr == "10.0.0.6"
    assert claims._count_batch(key, items) == 0
    assert claims._count_batch(("plain", link.id, "other.txt", at), items) == 0
    assert svc.store.links.get(link.id).download_count == 4
