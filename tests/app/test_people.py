"""Account and admin pages for people: same rules and audit as the CLI."""

import re

from linksvc.cli import cli

from ..conftest import audit_rows
from ..conftest import Auth
from ..conftest import csrf_token
from ..conftest import PASSWORDS


def once(page: str) -> str:
    return re.search(r'id="new-password" type="text" readonly value="([^"]+)"', page)[1]


def test_only_admins_see_the_people_pages(client, auth):
    auth.login("alice")
    assert client.get("/admin/users/").status_code == 403
    assert client.get("/admin/users/bob").status_code == 403
    assert "/admin/users" not in client.get("/").get_data(as_text=True)
    anonymous = client.application.test_client()
    assert anonymous.get("/admin/users/").status_code in (302, 303)


def test_an_admin_adds_a_user_with_a_grant_who_then_logs_in(client, auth, svc, app):
    auth.login("admin")
    form = csrf_token(client, "/admin/users/")
    created = client.post(
        "/admin/users/",
        data={"csrf_token": form, "username": "carol", "grants": "reports/q3, web"},
    )
    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    password = once(created.get_data(as_text=True))
    carol = svc.store.users.by_name("carol")
    assert carol.grants == ("reports/q3", "web") and not carol.is_admin
    other = app.test_client()
    assert Auth(other).login("carol", password).status_code in (302, 303)
    listing = other.get("/").get_data(as_text=True)
    assert "reports/" in listing and "big.bin" not in listing
    events = [(r.event, r.outcome, r.subject, r.actor) for r in audit_rows(svc)]
    assert ("user", "added", "carol", "admin") in events


def test_bad_names_and_grants_are_refused_and_nothing_is_added(client, auth, svc):
    auth.login("admin")
    form = csrf_token(client, "/admin/users/")
    for data in (
        {"username": "../x"},
        {"username": "alice"},
        {"username": "dora", "grants": "../outside"},
    ):
        response = client.post("/admin/users/", data={"csrf_token": form, **data})
        assert response.status_code == 400, data
    assert [u.username for u in svc.store.users.list()] == ["admin", "alice", "bob"]


def test_grants_disable_enable_admin_and_reset_from_the_user_page(
    client, auth, svc, app
):
    auth.login("admin")
    form = csrf_token(client, "/admin/users/bob")
    client.post("/admin/users/bob/grants", data={"csrf_token": form, "prefix": "web"})
    assert svc.store.users.by_name("bob").grants == ("web",)
    client.post("/admin/users/bob/grants/web/remove", data={"csrf_token": form})
    assert svc.store.users.by_name("bob").grants == ()
    bob = app.test_client()
    Auth(bob).login("bob")
    client.post("/admin/users/bob/disable", data={"csrf_token": form})
    assert svc.store.users.by_name("bob").disabled
    assert bob.get("/").status_code in (302, 303)  # his session ended
    client.post("/admin/users/bob/enable", data={"csrf_token": form})
    client.post("/admin/users/bob/admin/1", data={"csrf_token": form})
    assert svc.store.users.by_name("bob").is_admin
    reset = client.post("/admin/users/bob/password", data={"csrf_token": form})
    new = once(reset.get_data(as_text=True))
    assert Auth(app.test_client()).login("bob", PASSWORDS["bob"]).status_code == 200
    assert Auth(app.test_client()).login("bob", new).status_code in (302, 303)
    own = client.post("/admin/users/admin/admin/0", data={"csrf_token": form})
    assert own.status_code == 400 and svc.store.users.by_name("admin").is_admin
    rows = audit_rows(svc)
    outcomes = [r.outcome for r in rows if r.subject == "bob" and r.event == "user"]
    assert outcomes == [
        "granted",
        "ungranted",
        "disabled",
        "enabled",
        "admin",
        "password",
    ]


def test_the_people_forms_need_csrf(client, auth, svc):
    auth.login("admin")
    assert client.post("/admin/users/bob/disable").status_code == 400
    assert client.post("/admin/users/", data={"username": "eve"}).status_code == 400
    assert not svc.store.users.by_name("bob").disabled


def test_a_user_changes_their_password_and_other_sessions_end(client, auth, app, svc):
    auth.login("alice")
    elsewhere = app.test_client()
    Auth(elsewhere).login("alice")
    form = csrf_token(client, "/account/")
    wrong = client.post(
        "/account/password",
        data={"csrf_token": form, "pw-current": "nope", "pw-new": "new-password-1"},
    )
    assert wrong.status_code == 400
    assert "The current password is not right." in wrong.get_data(as_text=True)
    changed = client.post(
        "/account/password",
        data={
            "csrf_token": form,
            "pw-current": PASSWORDS["alice"],
            "pw-new": "new-password-1",
        },
    )
    assert changed.headers["Location"] == "/account/"
    assert client.get("/").status_code == 200  # this browser stays in
    assert elsewhere.get("/").status_code in (302, 303)  # the other ended
    assert Auth(app.test_client()).login("alice", "new-password-1").status_code in (
        302,
        303,
    )
    assert ("user", "password", "alice", "alice") in [
        (r.event, r.outcome, r.subject, r.actor) for r in audit_rows(svc)
    ]


def test_a_user_sets_their_email_address(client, auth, svc):
    auth.login("alice")
    form = csrf_token(client, "/account/")
    bad = client.post("/account/email", data={"csrf_token": form, "email": "nope"})
    assert bad.status_code == 400 and "is not an email address" in bad.get_data(True)
    ok = client.post(
        "/account/email", data={"csrf_token": form, "email": " alice@example.org "}
    )
    assert ok.status_code in (302, 303)
    assert svc.store.users.by_name("alice").email == "alice@example.org"
    assert "alice@example.org" in client.get("/account/").get_data(as_text=True)


def test_the_cli_records_account_changes_too(runner, svc):
    runner.invoke(cli, ["user", "grant", "bob", "web"])
    runner.invoke(cli, ["user", "disable", "bob"])
    assert [(r.outcome, r.actor, r.path) for r in audit_rows(svc) if r.subject] == [
        ("granted", "cli", "web"),
        ("disabled", "cli", None),
    ]


def test_missing_form_fields_are_a_400_not_a_500(client, auth):
    auth.login("admin")
    form = csrf_token(client, "/admin/users/")
    assert client.post("/admin/users/", data={"csrf_token": form}).status_code == 400
    assert client.post("/account/email", data={"csrf_token": form}).status_code in (
        302,
        303,
    )
    assert (
        client.post("/account/password", data={"csrf_token": form}).status_code == 400
    )
    assert (
        client.post("/admin/users/bob/grants", data={"csrf_token": form}).status_code
        == 400
    )
