"""Recipient verification (issue 25 item 2): a one-time code emailed to the
recipient (never a link), short-lived, single-use, limited, and a cookie for
that recipient's link only. Mail goes through a real SMTP server."""

import re

import pytest

from linksvc.links import sharing
from linksvc.notify import delivery

from ..conftest import audit_rows
from ..conftest import link_row
from .test_notices import body
from .test_notices import mail_app  # noqa: F401  (a fixture)
from .test_notices import smtp  # noqa: F401  (a fixture)

CSV = b"quarter,revenue\nQ3,1\n"


@pytest.fixture
def verified_share(mail_app):  # noqa: F811
    app, svc, inbox = mail_app
    with app.app_context():
        alice = svc.store.users.by_name("alice")
        share, made = sharing.create_share(
            svc,
            alice,
            "reports/q3/summary.csv",
            sharing.options(
                expires="1d",
                max_downloads=1,
                recipients=["ann@example.org", "bob@example.org", "Front desk"],
                verify=True,
            ),
        )
    tokens = {link.recipient_label: token for link, token in made}
    return app, svc, inbox, tokens


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]


def ask_code(client, token):
    page = client.get(f"/d/{token}")
    return client.post(
        f"/d/{token}", data={"csrf_token": csrf(page.text), "action": "send_code"}
    )


def code_in(message) -> str:
    return re.search(r"\b(\d{4}) (\d{4})\b", body(message)).group(0).replace(" ", "")


def test_a_recipient_enters_the_emailed_code_then_downloads(verified_share):
    app, svc, inbox, tokens = verified_share
    client = app.test_client()
    ann = tokens["ann@example.org"]
    page = client.get(f"/d/{ann}")
    assert page.status_code == 403 and "Check your email" in page.text
    assert "a••@example.org" in page.text and CSV not in page.data
    assert page.headers["Referrer-Policy"] == "no-referrer"
    # Nothing is counted and nothing sent until the recipient asks.
    assert inbox.messages == []
    assert client.get(f"/d/{ann}", headers={"Range": "bytes=0-3"}).status_code == 403
    asked = ask_code(client, ann)
    assert asked.status_code == 200 and "We sent a code" in asked.text
    assert delivery.run_once(svc) == (1, 0)
    (message,) = inbox.to("ann@example.org")
    text = body(message)
    assert "http" not in text and ann not in text  # a code, never a link
    code = code_in(message)
    wrong = client.post(
        f"/d/{ann}", data={"csrf_token": csrf(asked.text), "code": "00000000"}
    )
    assert wrong.status_code == 403 and "does not work" in wrong.text
    right = client.post(
        f"/d/{ann}",
        data={"csrf_token": csrf(asked.text), "code": code[:4] + " " + code[4:]},
    )
    assert right.status_code == 303 and right.headers["Location"].endswith(f"/d/{ann}")
    cookie = right.headers["Set-Cookie"]
    assert f"Path=/d/{ann}" in cookie and "HttpOnly" in cookie
    # The code worked once: used again (another browser) it does not.
    other = app.test_client()
    again = other.post(
        f"/d/{ann}",
        data={"csrf_token": csrf(other.get(f"/d/{ann}").text), "code": code},
    )
    assert again.status_code == 403
    got = client.get(f"/d/{ann}")
    assert got.status_code == 200 and got.data == CSV
    assert link_row(svc, svc.signer.verify(ann).link_id).download_count == 1
    # Ann's cookie is for Ann's link only, not Bob's.
    bob = client.get(f"/d/{tokens['bob@example.org']}")
    assert bob.status_code == 403 and CSV not in bob.data
    # A recipient with no address has no code to give.
    assert client.get(f"/d/{tokens['Front desk']}").data == CSV
    events = [(r.event, r.outcome) for r in audit_rows(svc)]
    assert ("refused", "wrong_code") in events


def test_codes_expire_and_die_after_five_wrong_tries(verified_share, frozen):
    app, svc, inbox, tokens = verified_share
    client = app.test_client()
    ann = tokens["ann@example.org"]
    page = ask_code(client, ann)
    delivery.run_once(svc)
    code = code_in(inbox.to("ann@example.org")[-1])
    frozen.tick(11 * 60)  # code_lifetime is 10 minutes
    late = client.post(f"/d/{ann}", data={"csrf_token": csrf(page.text), "code": code})
    assert late.status_code == 403
    page = ask_code(client, ann)
    delivery.run_once(svc)
    code = code_in(inbox.to("ann@example.org")[-1])
    for _ in range(5):
        client.post(
            f"/d/{ann}", data={"csrf_token": csrf(page.text), "code": "12345678"}
        )
    dead = client.post(f"/d/{ann}", data={"csrf_token": csrf(page.text), "code": code})
    assert dead.status_code == 403  # the right code, after five wrong ones


def test_sending_codes_is_limited_per_recipient_and_per_address(verified_share):
    app, svc, inbox, tokens = verified_share
    client = app.test_client()
    ann = tokens["ann@example.org"]
    codes, answers = [], []
    for _ in range(6):
        answers.append(ask_code(client, ann).status_code)
        if delivery.run_once(svc) == (1, 0):
            codes.append(code_in(inbox.to("ann@example.org")[-1]))
    assert answers == [200] * 5 + [429]
    assert len(inbox.to("ann@example.org")) == 5
    # The same address on another recipient's link counts too.
    with app.app_context():
        svc2 = svc
        alice = svc2.store.users.by_name("alice")
        _, made = sharing.create_share(
            svc2,
            alice,
            "reports/q3/summary.csv",
            sharing.options(recipients=["ann@example.org"], verify=True),
        )
    assert ask_code(client, made[0][1]).status_code == 429
    # Only the newest code works.
    page = client.get(f"/d/{ann}")
    if codes[0] != codes[-1]:
        stale = client.post(
            f"/d/{ann}", data={"csrf_token": csrf(page.text), "code": codes[0]}
        )
        assert stale.status_code == 403
    ok = client.post(
        f"/d/{ann}", data={"csrf_token": csrf(page.text), "code": codes[-1]}
    )
    assert ok.status_code == 303


def test_verification_needs_recipients_and_email(make_app):
    from linksvc.core.errors import InvalidInput
    from linksvc.services import of

    app = make_app()
    svc = of(app)
    alice = svc.store.users.by_name("alice")
    with pytest.raises(InvalidInput, match="sends none"):
        sharing.create_share(
            svc,
            alice,
            "reports/q3/summary.csv",
            sharing.options(recipients=["ann@example.org"], verify=True),
        )
    with pytest.raises(InvalidInput, match="name recipients"):
        sharing.create_link(
            svc, alice, "reports/q3/summary.csv", sharing.options(verify=True)
        )
