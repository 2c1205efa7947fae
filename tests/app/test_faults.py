"""Faults: files changing under a link, a locked, full or missing database."""

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event

from linksvc.app import create_app
from linksvc.links import sharing
from linksvc.services import of as services_of

from ..conftest import audit_rows
from ..conftest import BufferedClient
from ..conftest import link_row


def test_a_truncated_file_is_sent_as_it_is_now(client, make_link, tree):
    token = make_link("big.bin")
    with open(tree / "big.bin", "r+b") as fh:
        fh.truncate(1000)
    response = client.get(f"/d/{token}")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "1000"
    assert response.data == (tree / "big.bin").read_bytes()


def test_a_replaced_file_never_mixes_old_and_new_bytes(client, make_link, tree):
    """Links name a path, not a version: a replaced file is served as it is
    now, and a resumed download of the old one restarts (If-Range)."""
    token = make_link("big.bin")
    first = client.get(f"/d/{token}", headers={"Range": "bytes=0-99"})
    old_etag = first.headers["ETag"]
    (tree / "big.bin").write_bytes(b"new content " * 100)
    resumed = client.get(
        f"/d/{token}", headers={"Range": "bytes=100-", "If-Range": old_etag}
    )
    assert resumed.status_code == 200
    assert resumed.data == b"new content " * 100
    assert resumed.headers["ETag"] != old_etag


@pytest.fixture
def quick_app(make_app):
    """The test database, with a database timeout of a fifth of a second."""
    return make_app(database_timeout=0.2)


def test_locked_database_gives_503_and_loses_nothing(quick_app, caplog):
    svc = services_of(quick_app)
    with quick_app.app_context():
        owner = svc.store.users.by_name("admin")
        _, limited = sharing.create_link(
            svc, owner, "readme.txt", sharing.options(expires="1h", max_downloads=1)
        )
        _, unlimited = sharing.create_link(
            svc, owner, "readme.txt", sharing.options(expires="1h")
        )
    svc.audit.flush()
    client = quick_app.test_client()
    db = Path(svc.settings.instance_dir) / "linksvc.sqlite3"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        busy = client.get(f"/d/{limited}")
        assert busy.status_code == 503
        assert busy.headers["Retry-After"]
        assert "Try again shortly" in busy.get_data(as_text=True)
        # Readers still read in WAL mode: an unlimited link is still served.
        served = client.get(f"/d/{unlimited}")
        assert served.status_code == 200
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    svc.audit.flush()
    # Nothing half-written: the one-time link is still unused and works now.
    one_time = next(x for x in svc.store.links.list() if x.max_downloads == 1)
    assert link_row(svc, one_time.id).download_count == 0
    assert client.get(f"/d/{limited}").status_code == 200
    assert client.get(f"/d/{limited}").status_code == 410


def test_pages_answer_503_while_the_database_is_locked(quick_app, svc):
    client = quick_app.test_client()
    from ..conftest import Auth

    Auth(client).login_as("alice")
    db = Path(svc.settings.instance_dir) / "linksvc.sqlite3"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        # Logging out writes (the session token rotates): the lock says no.
        from ..conftest import csrf_token

        form = csrf_token(client, "/")
        response = client.post("/logout", data={"csrf_token": form})
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # Nothing happened: still logged in, and logging out works now.
    assert client.get("/").status_code == 200
    form = csrf_token(client, "/")
    assert client.post("/logout", data={"csrf_token": form}).status_code in (302, 303)


def test_unreachable_database_gives_503_pages_and_json(settings, tmp_path):
    app = create_app(
        {
            **settings,
            "database_url": "postgresql+psycopg://postgres@127.0.0.1:9/none",
            "database_timeout": 1,
        }
    )
    app.test_client_class = BufferedClient
    client = app.test_client()
    token = services_of(app).signer.issue("abc", "readme.txt", 2**40)
    page = client.get(f"/d/{token}")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert b"Traceback" not in page.data and b"psycopg" not in page.data
    api = client.get("/api/v1/links", headers={"Authorization": "Bearer lsv_a_b"})
    assert api.status_code == 503
    assert api.get_json()["error"] == "unavailable"


def test_a_full_database_disk_never_fails_a_download(client, make_link, svc, caplog):
    token = make_link("readme.txt")
    svc.audit.flush()
    with svc.store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

    @event.listens_for(svc.store.engine, "connect")
    def _full(dbapi_connection, _record):
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    svc.store.dispose()  # new connections, each with the page limit
    for _ in range(50):
        response = client.get(f"/d/{token}", headers={"User-Agent": "x" * 400})
        assert response.status_code == 200
        assert response.data == b"hello from the protected tree\n"
    svc.audit.flush()
    assert "lost" in caplog.text and "audit records" in caplog.text


def test_audit_rows_match_downloads(client, make_link, svc):
    tokens = [make_link("readme.txt"), make_link("big.bin", max_downloads=3)]
    for _ in range(3):
        for token in tokens:
            client.get(f"/d/{token}")
    downloads = [r for r in audit_rows(svc) if r.event == "download"]
    assert len(downloads) == 6
    assert sum(link.download_count for link in svc.store.links.list()) == 6
