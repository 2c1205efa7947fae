"""Sessions people can see and end (OWASP ASVS 5.0 §7.5.2): the account
page lists where one is signed in; ending a session takes effect on the
next request of that browser, on any worker."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func
from sqlalchemy import select

from linksvc.db.schema import sessions
from linksvc.db.sessions import MAX_LIVE

from ..conftest import audit_rows
from ..conftest import Auth
from ..conftest import csrf_token


def browser(app, agent: str, address: str = "127.0.0.1"):
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=agent, REMOTE_ADDR=address)
    return client


def signed_in(app, username="alice", agent="Firefox/140", address="127.0.0.1"):
    client = browser(app, agent, address)
    assert Auth(client).login(username).status_code == 302
    return client


def end_urls(page: str) -> list[str]:
    return re.findall(r'action="(/[^"]*sessions/[^"/]+/end)"', page)


def test_the_account_page_lists_each_sign_in(app):
    laptop = signed_in(app, agent="Firefox/140", address="192.0.2.10")
    signed_in(app, agent="MobileSafari/18", address="198.51.100.7")
    page = laptop.get("/account/sessions")
    assert page.status_code == 200
    text = page.text
    assert "Firefox/140" in text and "MobileSafari/18" in text
    assert "192.0.2.10" in text and "198.51.100.7" in text
    assert text.count("this session") == 1 and "password" in text
    assert len(end_urls(text)) == 2


def test_ending_another_session_signs_that_browser_out_at_once(app, svc):
    laptop = signed_in(app, agent="Firefox/140")
    phone = signed_in(app, agent="MobileSafari/18")
    assert phone.get("/links").status_code == 200
    page = laptop.get("/account/sessions").text
    (phone_row,) = [r for r in page.split("<tr") if "MobileSafari/18" in r]
    (url,) = end_urls(phone_row)
    token = csrf_token(laptop, "/account/sessions")
    ended = laptop.post(url, data={"csrf_token": token})
    assert ended.status_code == 302
    gone = phone.get("/links")
    assert gone.status_code == 302 and "/login" in gone.headers["Location"]
    assert laptop.get("/links").status_code == 200  # this one goes on
    svc.audit.flush()
    (row,) = [r for r in audit_rows(svc) if r.event == "session"]
    assert (row.outcome, row.actor, row.subject) == ("ended", "alice", "alice")


def test_a_session_ended_on_one_worker_ends_on_another(make_app):
    """Two apps on one database stand for two workers (or instances)."""
    first = make_app()
    second = make_app()
    laptop = signed_in(first, agent="Firefox/140")
    cookie = laptop.get_cookie("linksvc_session")
    other = second.test_client()
    other.set_cookie("linksvc_session", cookie.value)
    assert other.get("/links").status_code == 200
    token = csrf_token(laptop, "/account/sessions")
    laptop.post("/account/sessions/end-others", data={"csrf_token": token})
    (url,) = end_urls(laptop.get("/account/sessions").text)
    laptop.post(url, data={"csrf_token": token})  # ends its own: logged out
    assert laptop.get("/links").status_code == 302
    assert other.get("/links").status_code == 302


def test_end_all_others_keeps_this_one(app):
    laptop = signed_in(app, agent="Firefox/140")
    others = [signed_in(app, agent=f"Agent/{i}") for i in range(3)]
    token = csrf_token(laptop, "/account/sessions")
    done = laptop.post("/account/sessions/end-others", data={"csrf_token": token})
    assert done.status_code == 302
    assert "Ended 3 other sessions." in laptop.get("/account/sessions").text
    assert all(o.get("/links").status_code == 302 for o in others)
    assert laptop.get("/links").status_code == 200


def test_someone_elses_session_cannot_be_ended(app, svc):
    alice = signed_in(app, "alice")
    bob_admin = signed_in(app, "admin")
    (bob_url,) = end_urls(bob_admin.get("/account/sessions").text)
    sid = bob_url.split("/")[-2]
    token = csrf_token(alice, "/account/sessions")
    refused = alice.post(f"/account/sessions/{sid}/end", data={"csrf_token": token})
    assert refused.status_code == 404
    assert bob_admin.get("/links").status_code == 200
    forged = alice.post(f"/account/sessions/{sid}/end")  # no CSRF token
    assert forged.status_code == 400


def test_an_admin_sees_and_ends_anyones_sessions(app):
    alice = signed_in(app, "alice", agent="Firefox/140")
    admin = signed_in(app, "admin")
    page = admin.get("/admin/users/alice/sessions")
    assert page.status_code == 200 and "Firefox/140" in page.text
    assert "Sessions of alice" in page.text
    token = csrf_token(admin, "/admin/users/alice/sessions")
    (url,) = end_urls(page.text)
    assert admin.post(url, data={"csrf_token": token}).status_code == 302
    assert alice.get("/links").status_code == 302
    again = signed_in(app, "alice")
    admin.post("/admin/users/alice/sessions/end", data={"csrf_token": token})
    assert again.get("/links").status_code == 302
    assert admin.get("/links").status_code == 200
    assert alice.get("/admin/users/alice/sessions").status_code == 302  # not an admin
    assert signed_in(app, "alice").get("/admin/users/alice/sessions").status_code == 403


def test_logout_ends_every_session_row(app, svc):
    first = signed_in(app, agent="A/1")
    signed_in(app, agent="A/2")
    Auth(first).logout()
    alice = svc.store.users.by_name("alice")
    assert svc.store.sessions.of_user(alice.id) == []


def test_what_one_person_can_make_us_keep_is_bounded(app, svc):
    """Rows come only from sign-ins that succeeded; at most MAX_LIVE live ones,
    and a person's dead rows go at their next sign-in."""
    clients = []
    for _ in range(MAX_LIVE + 2):  # the form's sign-in is tested above
        clients.append(app.test_client())
        Auth(clients[-1]).login_as("alice")
    alice = svc.store.users.by_name("alice")
    assert len(svc.store.sessions.of_user(alice.id)) == MAX_LIVE
    live = [c.get("/links").status_code for c in clients]
    assert live.count(200) == MAX_LIVE and live[-1] == 200  # the newest lives
    wrong = browser(app, "Guess/1")
    assert Auth(wrong).login("alice", "wrong password").status_code == 200
    signed_in(app, agent="A/last")
    with svc.store.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(sessions)).scalar_one()
    # the live ones and the one this sign-in ended; the earlier ended ones
    # were deleted
    assert rows == MAX_LIVE + 1


@pytest.mark.parametrize("path", ["/account/sessions", "/admin/users/alice/sessions"])
def test_session_pages_need_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_sign_ins_are_audited_by_method_and_failures_fold(app, svc):
    signed_in(app, "alice", address="192.0.2.5")
    guesser = browser(app, "Guess/1", "203.0.113.9")
    for _ in range(4):
        assert Auth(guesser).login("alice", "not her password").status_code == 200
    svc.audit.flush()
    logins = [r for r in audit_rows(svc) if r.event == "login"]
    ok = [r for r in logins if r.outcome == "ok"]
    refused = [r for r in logins if r.outcome == "refused"]
    assert [(r.actor, r.detail, r.remote_addr) for r in ok] == [
        ("alice", "password", "192.0.2.5")
    ]
    assert len(refused) == 1 and refused[0].count == 4  # one folded row
    assert refused[0].subject == "alice" and refused[0].remote_addr == "203.0.113.9"
