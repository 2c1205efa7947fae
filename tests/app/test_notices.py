"""Email notices, reminders, webhooks and links sent by email, through the
outbox, against a real local SMTP server (aiosmtpd) and a real HTTPS
receiver."""

import email
import threading
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from linksvc.cli import cli
from linksvc.core.errors import InvalidInput
from linksvc.core.errors import TooManyRequests
from linksvc.notify import delivery
from linksvc.notify import mailing
from linksvc.notify import notices
from linksvc.services import of

from ..conftest import audit_rows
from ..conftest import csrf_token
from ..conftest import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def to(self, address):
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, inbox
    controller.stop()


@pytest.fixture
def mail_app(make_app, smtp):
    port, inbox = smtp
    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        mail_from="files@example.org",
        reminder_before="1d",
    )
    svc = of(app)
    svc.store.users.set_email("alice", "alice@example.org")
    return app, svc, inbox


def body(message) -> str:
    return message.get_payload(decode=True).decode()


def share(app, svc, path="reports/q3/summary.csv", **kw):
    from linksvc.links import sharing

    with app.app_context():
        alice = svc.store.users.by_name("alice")
        return sharing.create_link(
            svc, alice, path, sharing.options(expires=kw.pop("expires", "2d"), **kw)
        )


def test_the_owner_hears_of_the_first_download_and_a_used_up_link(mail_app, frozen):
    app, svc, inbox = mail_app
    client = app.test_client()
    link, token = share(app, svc, notify=True, max_downloads=2, note="for the auditors")
    quiet, quiet_token = share(app, svc, max_downloads=1)
    for _ in range(2):
        assert client.get(f"/d/{token}").status_code == 200
    assert client.get(f"/d/{quiet_token}").status_code == 200
    svc.audit.flush()
    assert delivery.run_once(svc) == (3, 0)
    mails = inbox.to("alice@example.org")
    subjects = sorted(m["Subject"] for m in mails)
    assert subjects == [
        "Downloaded: summary.csv",
        "Used up: summary.csv",
        "Used up: summary.csv",
    ]
    first = next(m for m in mails if m["Subject"].startswith("Downloaded"))
    assert "for the auditors" in body(first) and "127.0.0.1" in body(first)
    assert f"https://links.example.org/links/{link.id}" in body(first)
    for message in mails:
        assert (
            token not in message.as_string() and quiet_token not in message.as_string()
        )
        assert "/d/" not in body(message)
    # Each notice once: nothing more to send.
    client.get(f"/d/{token}")
    svc.audit.flush()
    assert delivery.run_once(svc) == (0, 0)


def test_reminders_go_once_to_the_owner_and_the_recipients(mail_app, frozen):
    app, svc, inbox = mail_app
    link, token = share(app, svc, expires="3d")
    with app.test_request_context():
        alice = svc.store.users.by_name("alice")
        mailing.send_link(svc, alice, link.id, "bob@example.net", "Here it is")
    downloaded, dtoken = share(app, svc, expires="3d")
    app.test_client().get(f"/d/{dtoken}")
    svc.audit.flush()
    delivery.run_once(svc)
    assert [m["Subject"] for m in inbox.to("bob@example.net")] == [
        "alice shared summary.csv with you"
    ]
    frozen.tick(timedelta(days=2, hours=1))  # less than a day left now
    # Two runs at once remind each link once.
    threads = [
        threading.Thread(target=delivery.run_once, args=(svc,)) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    delivery.run_once(svc)
    owner = [m["Subject"] for m in inbox.to("alice@example.org")]
    assert owner == ["Not downloaded yet: summary.csv"]
    to_bob = [
        m for m in inbox.to("bob@example.net") if m["Subject"].startswith("Reminder")
    ]
    assert len(to_bob) == 1 and f"/d/{token}" in body(to_bob[0])
    result = app.test_cli_runner().invoke(cli, ["notify"])
    assert result.exit_code == 0 and "sent 0 messages" in result.output


def test_sending_a_link_by_email_is_checked_limited_and_recorded(mail_app, make_app):
    app, svc, inbox = mail_app
    link, token = share(app, svc)
    with app.test_request_context():
        alice = svc.store.users.by_name("alice")
        bob = svc.store.users.by_name("bob")
        for several in (
            "not an address\r\nBcc: x@y.z",
            "a,b,c,d@example.org",  # four mailboxes for one use, before
            "a@example.org, b@example.org",
            "a@example.org;b@example.org",
            "Bob <b@example.org>",
            '"a,b"@example.org',
        ):
            with pytest.raises(InvalidInput):
                mailing.send_link(svc, alice, link.id, several)
        from linksvc.core.errors import UnknownLink

        with pytest.raises(UnknownLink):
            mailing.send_link(svc, bob, link.id, "bob@example.net")
        for i in range(20):
            mailing.send_link(svc, alice, link.id, f"r{i}@example.net")
        with pytest.raises(TooManyRequests):
            mailing.send_link(svc, alice, link.id, "late@example.net")
    delivery.run_once(svc)
    got = inbox.to("r3@example.net")[0]
    assert "summary.csv (21 B)" in body(got) and f"/d/{token}" in body(got)
    assert "UTC" in body(got)
    svc.audit.flush()
    sent = [r for r in audit_rows(svc) if r.event == "sent"]
    assert len(sent) == 20 and sent[0].subject == "r0@example.net"
    assert svc.store.links.get(link.id).sent_to.split()[-1] == "r19@example.net"


def test_the_dashboard_and_the_api_send_links(mail_app, smtp):
    app, svc, inbox = mail_app
    client = app.test_client()
    link, token = share(app, svc)
    from ..conftest import Auth

    Auth(client).login_as("alice")
    page = client.get(f"/links/{link.id}")
    assert "Send by email" in page.text
    form = {
        "send-csrf_token": csrf_token(client, f"/links/{link.id}"),
        "send-to": "carol@example.net",
        "send-message": "the Q3 numbers",
    }
    assert client.post(f"/links/{link.id}/send", data=form).status_code == 302
    api_token = (
        app.test_cli_runner()
        .invoke(cli, ["token", "create", "t", "--user", "alice"])
        .output.splitlines()[-1]
    )
    from .test_api import check

    answer = client.post(
        f"/api/v1/links/{link.id}/send",
        json={"to": "dave@example.net"},
        headers={"Authorization": f"Bearer {api_token}"},
    )
    assert check(answer, "/links/{link_id}/send", "post") == {
        "queued": True,
        "to": "dave@example.net",
    }
    delivery.run_once(svc)
    assert "the Q3 numbers" in body(inbox.to("carol@example.net")[0])
    assert inbox.to("dave@example.net")


def test_failures_are_retried_with_back_off_then_shown_to_admins(make_app, frozen):
    app = make_app(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none")
    svc = of(app)
    svc.store.users.set_email("alice", "alice@example.org")
    link, token = share(app, svc, notify=True)
    app.test_client().get(f"/d/{token}")
    svc.audit.flush()
    assert delivery.run_once(svc) == (0, 1)
    assert delivery.run_once(svc) == (0, 0)  # not due yet: 1 minute
    frozen.tick(61)
    assert delivery.run_once(svc) == (0, 1)
    for _ in range(10):
        frozen.tick(6 * 3600 + 1)
        delivery.run_once(svc)
    (message,) = svc.store.outbox.list()
    assert message.failed_at is not None and message.attempts == 8
    assert "ConnectionRefusedError" in message.last_error
    client = app.test_client()
    from ..conftest import Auth

    Auth(client).login_as("admin")
    page = client.get("/admin/outbox").text
    assert "given up" in page and "first_download" in page
    failed = app.test_cli_runner().invoke(cli, ["notify", "--failed"])
    assert "alice@example.org" in failed.output


def test_a_download_does_not_wait_for_a_dead_mail_server(make_app):
    import time

    app = make_app(smtp_host="192.0.2.1", smtp_port=25, smtp_security="none")
    svc = of(app)
    svc.store.users.set_email("alice", "alice@example.org")
    _, token = share(app, svc, notify=True)
    started = time.monotonic()
    assert app.test_client().get(f"/d/{token}").status_code == 200
    assert time.monotonic() - started < 1
    svc.audit.flush()
    assert [m.event for m in svc.store.outbox.list()] == ["first_download"]


def test_old_messages_are_forgotten_with_the_audit_retention(mail_app, frozen):
    app, svc, inbox = mail_app
    link, token = share(app, svc, notify=True)
    app.test_client().get(f"/d/{token}")
    svc.audit.flush()
    assert delivery.run_once(svc) == (1, 0)
    assert len(svc.store.outbox.list()) == 1
    frozen.tick(timedelta(days=91))
    delivery.run_once(svc)
    assert svc.store.outbox.list() == []


def test_a_link_shorter_than_the_reminder_time_is_not_reminded_of(mail_app, frozen):
    app, svc, inbox = mail_app
    share(app, svc, expires="1d")  # reminder_before is 1d: it would come at once
    share(app, svc, expires="25h")
    assert notices.remind(svc, int(frozen().timestamp())) == 0
    frozen.tick(timedelta(hours=1))
    assert notices.remind(svc, int(frozen().timestamp())) == 1


def test_a_one_time_link_sent_by_email_survives_a_mail_scanner(mail_app):
    """Mail scanners (Safe Links and others) fetch every URL of a message,
    and every URL of the page it leads to, with a browser's user agent: a
    one-time link sent by linksvc must still be there for its recipient."""
    import re
    from urllib.parse import urljoin

    app, svc, inbox = mail_app
    link, token = share(app, svc, max_downloads=1)
    with app.test_request_context():
        alice = svc.store.users.by_name("alice")
        mailing.send_link(svc, alice, link.id, "bob@example.net")
    delivery.run_once(svc)
    (message,) = inbox.to("bob@example.net")
    url = re.search(r"https://\S+", body(message))[0]
    scanner = app.test_client()
    agent = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120"}
    seen, pending = set(), [url]
    while pending:
        at = pending.pop()
        if at in seen or len(seen) > 50:
            continue
        seen.add(at)
        for method in ("HEAD", "GET"):
            got = scanner.open(at, method=method, headers=agent)
            assert got.status_code < 500
        if got.mimetype == "text/html":
            for ref in re.findall(r'(?:href|src)="([^"]+)"', got.text):
                pending.append(urljoin(at, ref.replace("&amp;", "&")))
    assert any("download=1" in u for u in seen) or len(seen) > 1
    assert svc.store.links.get(link.id).download_count == 0
    # The recipient presses Download: the one download is theirs.
    recipient = app.test_client()
    page = recipient.get(url, headers=agent)
    assert page.status_code == 200 and "1 download left" in page.text
    form = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    got = recipient.post(url, data={"csrf_token": form[1]}, headers=agent)
    assert got.status_code == 200 and got.data == b"quarter,revenue\nQ3,1\n"
    assert svc.store.links.get(link.id).download_count == 1
