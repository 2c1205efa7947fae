"""Grants by group: members reach what their groups grant, at once, and
lose it at once; on_access_lost decides what happens to their links."""

from __future__ import annotations

import pytest

from linksvc.cli import cli
from linksvc.links import policy
from linksvc.links import sharing
from linksvc.services import of

from ..conftest import audit_rows
from ..conftest import Auth
from ..conftest import csrf_token


@pytest.fixture
def docs(app, svc):
    with app.app_context():
        policy.add_group(svc, "docs")
    return "docs"


def test_a_group_grant_reaches_every_member_at_once(app, svc, docs):
    alice = app.test_client()
    Auth(alice).login_as("alice")
    assert alice.get("/protected/readme.txt").status_code == 403
    with app.app_context():
        policy.grant_group(svc, docs, "readme.txt", "admin")
        policy.join_group(svc, docs, "alice", "admin")
    assert alice.get("/protected/readme.txt").status_code == 200  # same session
    assert alice.get("/protected/reports/q3/summary.csv").status_code == 200  # own
    with app.app_context():
        policy.ungrant_group(svc, docs, "readme.txt", "admin")
    assert alice.get("/protected/readme.txt").status_code == 403
    svc.audit.flush()
    said = [(r.outcome, r.detail) for r in audit_rows(svc) if r.event == "group"]
    assert ("granted", "path: readme.txt") in said
    assert ("ungranted", "path: readme.txt") in said


@pytest.mark.parametrize(("rule", "revoked"), [("keep", False), ("revoke", True)])
def test_on_access_lost_decides_what_happens_to_their_links(make_app, rule, revoked):
    app = make_app(on_access_lost=rule)
    svc = of(app)
    with app.app_context():
        policy.add_group(svc, "docs")
        policy.grant_group(svc, "docs", "readme.txt")
        policy.join_group(svc, "docs", "alice")
        alice = svc.store.users.by_name("alice")
        lost, token = sharing.create_link(svc, alice, "readme.txt")
        kept, kept_token = sharing.create_link(svc, alice, "reports/q3/summary.csv")
        policy.leave_group(svc, "docs", "alice")
    client = app.test_client()
    assert (svc.store.links.get(lost.id).revoked_at is not None) is revoked
    assert svc.store.links.get(kept.id).revoked_at is None  # still her own grant
    # Either way the link to what she no longer reaches stops working.
    gone = client.get(f"/d/{token}")
    assert gone.status_code == (410 if revoked else 403)
    if not revoked:
        assert "can no longer reach" in gone.text
        assert svc.store.links.get(lost.id).status(0) == "suspended"
    assert client.get(f"/d/{kept_token}").status_code == 200
    with app.app_context():  # access comes back: a kept link works again
        policy.join_group(svc, "docs", "alice")
    assert client.get(f"/d/{token}").status_code == (410 if revoked else 200)
    svc.audit.flush()
    events = [(r.event, r.link_id) for r in audit_rows(svc)]
    if revoked:
        assert ("revoked", lost.id) in events
    else:
        assert ("suspended", lost.id) in events and ("resumed", lost.id) in events


def test_a_personal_ungrant_suspends_the_links_it_no_longer_covers(app, svc):
    with app.app_context():
        alice = svc.store.users.by_name("alice")
        link, token = sharing.create_link(svc, alice, "reports/q3/summary.csv")
        admin_link, admin_token = sharing.create_link(
            svc, svc.store.users.by_name("admin"), "reports/q3/summary.csv"
        )
    client = app.test_client()
    assert client.get(f"/d/{token}").status_code == 200
    result = app.test_cli_runner().invoke(
        cli, ["user", "ungrant", "alice", "reports/q3"]
    )
    assert result.exit_code == 0, result.output
    assert client.get(f"/d/{token}").status_code == 403
    assert client.get(f"/d/{admin_token}").status_code == 200  # admins reach all
    assert client.head(f"/d/{token}").status_code == 403
    app.test_cli_runner().invoke(cli, ["user", "grant", "alice", "reports"])
    assert client.get(f"/d/{token}").status_code == 200


def test_admins_grant_and_take_back_on_the_group_page(app, svc, docs):
    admin = app.test_client()
    Auth(admin).login_as("admin")
    token = csrf_token(admin, "/admin/groups/docs")
    done = admin.post(
        "/admin/groups/docs/grants", data={"csrf_token": token, "prefix": "readme.txt"}
    )
    assert done.status_code == 302
    page = admin.get("/admin/groups/docs").text
    assert "<code>readme.txt</code>" in page
    assert svc.store.groups.grants_of("docs") == ["readme.txt"]
    admin.post(
        "/admin/groups/docs/grants/readme.txt/remove", data={"csrf_token": token}
    )
    assert svc.store.groups.grants_of("docs") == []
    outside = admin.post(
        "/admin/groups/docs/grants", data={"csrf_token": token, "prefix": "../etc"}
    )
    assert outside.status_code == 400 and svc.store.groups.grants_of("docs") == []


def test_the_cli_grants_by_group(app, svc, docs):
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["group", "grant", "docs", "reports/"])
    assert result.exit_code == 0 and "docs: grants reports" in result.output
    assert svc.store.groups.grants_of("docs") == ["reports"]
    result = runner.invoke(cli, ["group", "ungrant", "docs", "reports"])
    assert result.exit_code == 0 and svc.store.groups.grants_of("docs") == []
