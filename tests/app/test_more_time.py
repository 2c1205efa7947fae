# ruff: noqa: F811
""" "Ask for more time" (issue 25 item 4): the expired or used-up page of a
link whose owner allows it takes a short request; the owner approves with
one click (dashboard, or the signed action in the email, POST-confirmed);
the same URL works again; the recipient is told; all of it audited."""

import re

from linksvc.links import sharing
from linksvc.notify import delivery

from ..conftest import audit_rows
from ..conftest import Auth
from ..conftest import link_row
from .test_notices import body
from .test_notices import mail_app  # noqa: F401  (a fixture)
from .test_notices import smtp  # noqa: F401  (a fixture)

CSV = b"quarter,revenue\nQ3,1\n"


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]


def make(app, svc, **kw):
    with app.app_context():
        alice = svc.store.users.by_name("alice")
        link, token = sharing.create_link(
            svc, alice, "reports/q3/summary.csv", sharing.options(**kw)
        )
    return link, token


def ask(client, token, message="please", email=""):
    page = client.get(f"/d/{token}")
    assert page.status_code == 410 and "Ask for more time" in page.text
    return client.post(
        f"/d/{token}",
        data={
            "csrf_token": csrf(page.text),
            "action": "more_time",
            "message": message,
            "email": email,
        },
    )


def test_an_expired_link_asks_and_the_email_approval_brings_it_back(
    mail_app,
    frozen,
):
    app, svc, inbox = mail_app
    link, token = make(app, svc, expires="1h", more_time=True)
    client = app.test_client()
    frozen.tick(2 * 3600)
    asked = ask(client, token, "I was on holiday", "ann@example.org")
    assert asked.status_code == 410 and "We told the person" in asked.text
    delivery.run_once(svc)
    (mail,) = inbox.to("alice@example.org")
    text = body(mail)
    assert "I was on holiday" in text and token not in text
    action = re.search(r"https://links\.example\.org(/more-time/\S+)", text)[1]
    # A mail scanner's GET decides nothing.
    scanned = app.test_client().get(action)
    assert scanned.status_code == 200 and "Approve" in scanned.text
    assert client.get(f"/d/{token}").status_code == 410
    owner = app.test_client()
    page = owner.get(action)
    approved = owner.post(
        action, data={"csrf_token": csrf(page.text), "decision": "approve"}
    )
    assert approved.status_code == 200 and "approved" in approved.text
    got = client.get(f"/d/{token}")  # the same URL
    assert got.status_code == 200 and got.data == CSV
    assert link_row(svc, link.id).expires_at > link.expires_at + 3600
    delivery.run_once(svc)
    (told,) = inbox.to("ann@example.org")
    assert "works again" in body(told) and token not in body(told)
    # Once decided, the action cannot decide again.
    again = owner.post(
        action, data={"csrf_token": csrf(page.text), "decision": "decline"}
    )
    assert "approved" in again.text
    events = [(r.event, r.outcome) for r in audit_rows(svc)]
    assert ("more_time", "asked") in events and ("more_time", "approved") in events


def test_a_used_up_link_gets_one_more_download_from_the_dashboard(
    mail_app,
):
    app, svc, inbox = mail_app
    link, token = make(app, svc, expires="1d", max_downloads=1, more_time=True)
    client = app.test_client()
    assert client.get(f"/d/{token}").data == CSV
    assert ask(client, token).status_code == 410
    owner = app.test_client()
    Auth(owner).login_as("alice")
    page = owner.get(f"/links/{link.id}")
    assert "Requests for more time" in page.text and "please" in page.text
    request_id = re.search(rf"/links/{link.id}/more-time/([\w-]+)", page.text)[1]
    done = owner.post(
        f"/links/{link.id}/more-time/{request_id}",
        data={"csrf_token": csrf(page.text), "decision": "approve"},
    )
    assert done.status_code == 302
    assert client.get(f"/d/{token}").data == CSV
    assert client.get(f"/d/{token}").status_code == 410
    assert link_row(svc, link.id).max_downloads == 2


def test_only_links_that_allow_it_offer_it_and_asking_is_limited(mail_app):
    """(Used up rather than expired: the limiter's memory storage does not
    follow freezegun's clock.)"""
    app, svc, inbox = mail_app
    _, plain = make(app, svc, expires="1h", max_downloads=1)
    _, allowed = make(app, svc, expires="1h", max_downloads=1, more_time=True)
    client = app.test_client()
    assert client.get(f"/d/{plain}").data == CSV
    assert client.get(f"/d/{allowed}").data == CSV
    page = client.get(f"/d/{plain}")
    assert page.status_code == 410 and "Ask for more time" not in page.text
    refused = client.post(
        f"/d/{plain}",
        data={
            "csrf_token": csrf(client.get(f"/d/{allowed}").text),
            "action": "more_time",
        },
    )
    assert refused.status_code in (403, 404)
    answers = [ask(client, allowed).status_code for _ in range(3)]
    page = client.get(f"/d/{allowed}")
    fourth = client.post(
        f"/d/{allowed}",
        data={"csrf_token": csrf(page.text), "action": "more_time", "message": "x"},
    )
    assert answers == [410, 410, 410] and fourth.status_code == 429
    long = client.post(
        f"/d/{allowed}",
        data={
            "csrf_token": csrf(page.text),
            "action": "more_time",
            "message": "x" * 501,
        },
    )
    assert long.status_code == 400
    from sqlalchemy import func
    from sqlalchemy import select

    from linksvc.db.schema import time_requests

    with svc.store.engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(time_requests)).scalar() == 3
        )
