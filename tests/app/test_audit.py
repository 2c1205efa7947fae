"""The audit log: what is recorded, the admin view, exports, and failures."""

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from linksvc.cli import cli


@pytest.fixture
def history(client, make_link, svc, frozen):
    """A few days of activity by alice and admin."""
    alice = make_link("reports/q3/summary.csv", user="alice", expires="7d")
    client.get(f"/d/{alice}", headers={"User-Agent": "curl/8.0"})
    frozen.tick(timedelta(days=2))
    admin = make_link("readme.txt", user="admin", expires="1h")
    client.get(f"/d/{admin}")
    client.get("/d/forged.token")
    svc.audit.flush()
    return alice, admin


def test_link_history_page(client, auth, history, svc):
    link_id = next(x.id for x in svc.store.links.list() if x.owner == "alice")
    auth.login_as("alice")
    page = client.get(f"/links/{link_id}").get_data(as_text=True)
    assert "created" in page and "download" in page and "curl/8.0" in page
    assert "forged" not in page


def test_admin_audit_view_filters(client, auth, history):
    auth.login_as("admin")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert page.count('<tr class="outcome-') == 5
    by_user = client.get("/admin/audit?user=alice").get_data(as_text=True)
    assert by_user.count('<tr class="outcome-') == 2
    by_path = client.get("/admin/audit?path=reports").get_data(as_text=True)
    assert by_path.count('<tr class="outcome-') == 2
    refused = client.get("/admin/audit?outcome=link_invalid").get_data(as_text=True)
    assert refused.count('<tr class="outcome-') == 1
    first_day = client.get("/admin/audit?until=2026-03-01").get_data(as_text=True)
    assert first_day.count('<tr class="outcome-') == 2
    later = client.get("/admin/audit?since=2026-03-02").get_data(as_text=True)
    assert later.count('<tr class="outcome-') == 3
    bad = client.get("/admin/audit?since=yesterday")
    assert bad.status_code == 400


def test_admin_csv_export(client, auth, history):
    auth.login_as("admin")
    response = client.get("/admin/audit.csv?user=alice")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["event"], r["owner"]) for r in rows] == [
        ("download", "alice"),
        ("created", "alice"),
    ]
    assert rows[0]["user_agent"] == "curl/8.0"
    assert rows[0]["at"] == "2026-03-01T12:00:00Z"


def test_audit_is_for_admins_only(client, auth):
    auth.login_as("alice")
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/admin/audit.csv").status_code == 403


def test_cli_export_csv_and_jsonl(runner, history, frozen):
    result = runner.invoke(cli, ["audit", "export", "--since", "1d"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["event"] for r in rows] == ["refused", "download", "created"]
    result = runner.invoke(
        cli, ["audit", "export", "--since", "7d", "--format", "jsonl"]
    )
    records = [json.loads(line) for line in result.output.splitlines()]
    assert len(records) == 5
    assert records[0]["outcome"] == "link_invalid" and records[0]["status"] == 404
    assert records[-1]["event"] == "created" and records[-1]["owner"] == "alice"


def test_a_failing_audit_write_never_fails_the_download(client, make_link, svc, caplog):
    token = make_link()
    svc.audit.flush()
    with svc.store.engine.begin() as conn:
        conn.execute(text("DROP TABLE audit"))
    response = client.get(f"/d/{token}")
    assert response.status_code == 200
    assert response.data == b"hello from the protected tree\n"
    svc.audit.flush()
    assert "lost 1 audit records" in caplog.text
