"""Webhooks: signed JSON POSTs over HTTPS, through the outbox, and no
requests into private addresses."""

import hashlib
import hmac
import http.server
import json
import ssl
import subprocess
import threading
import time

import pytest

from linksvc.core.errors import InvalidInput
from linksvc.links import sharing
from linksvc.notify import delivery
from linksvc.services import of

from ..conftest import Auth
from ..conftest import csrf_token
from ..services import require_binary


class Receiver(http.server.BaseHTTPRequestHandler):
    got: list = []
    status = 200

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        self.got.append((dict(self.headers), self.rfile.read(length).decode()))
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(tmp_path):
    require_binary("openssl", "Debian package openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    Receiver.got, Receiver.status = [], 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://localhost:{server.server_port}/hook", cert
    server.shutdown()
    server.server_close()


def verify(secret: str, headers: dict, body: str) -> bool:
    t, v1 = (
        part.split("=", 1)[1] for part in headers["X-Linksvc-Signature"].split(",")
    )
    mac = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, v1) and abs(time.time() - int(t)) < 300


def test_download_refusal_and_expiry_events_are_signed_and_delivered(
    make_app, receiver, frozen
):
    url, cert = receiver
    app = make_app(webhook_allow_private=True, webhook_ca_file=str(cert))
    svc = of(app)
    client = app.test_client()
    Auth(client).login_as("alice")
    saved = client.post(
        "/account/webhook/",
        data={"csrf_token": csrf_token(client, "/account/webhook/"), "url": url},
    )
    assert saved.status_code == 302
    secret = svc.store.users.by_name("alice").webhook_secret
    page = client.get("/account/webhook/").text
    assert secret.startswith("whsec_") and secret in page
    with app.app_context():
        alice = svc.store.users.by_name("alice")
        link, token = sharing.create_link(
            svc,
            alice,
            "reports/q3/summary.csv",
            sharing.options(expires="1h", max_downloads=1),
        )
    assert client.get(f"/d/{token}").status_code == 200
    assert client.get(f"/d/{token}").status_code == 410
    svc.audit.flush()
    frozen.tick(3601)
    assert delivery.run_once(svc) == (3, 0)
    events = {}
    for headers, body in Receiver.got:
        assert headers["Content-Type"] == "application/json"
        # freezegun holds time, so check the signature against the frozen clock
        t, v1 = (p.split("=", 1)[1] for p in headers["X-Linksvc-Signature"].split(","))
        mac = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256)
        assert hmac.compare_digest(mac.hexdigest(), v1)
        events[headers["X-Linksvc-Event"]] = json.loads(body)
    assert set(events) == {"download", "refused", "expired"}
    assert events["download"]["link"] == {
        "id": link.id,
        "path": "reports/q3/summary.csv",
        "note": "",
    }
    assert (
        events["download"]["bytes"] == 21
        and events["refused"]["outcome"] == "link_used_up"
    )
    assert token not in json.dumps(events)
    history = client.get("/account/webhook/").text
    assert history.count("delivered") == 3


def test_a_failing_receiver_is_retried(make_app, receiver, frozen, monkeypatch):
    url, cert = receiver
    monkeypatch.setenv("LINKSVC_WEBHOOK_SECRET", "s" * 32)
    Receiver.status = 500
    app = make_app(
        webhook_url=url, webhook_allow_private=True, webhook_ca_file=str(cert)
    )
    svc = of(app)
    with app.app_context():
        _, token = sharing.create_link(
            svc, svc.store.users.by_name("admin"), "readme.txt"
        )
    app.test_client().get(f"/d/{token}")
    svc.audit.flush()
    assert delivery.run_once(svc) == (0, 1)
    Receiver.status = 200
    frozen.tick(61)
    assert delivery.run_once(svc) == (1, 0)
    (message,) = svc.store.outbox.list(kind="webhook")
    assert message.attempts == 2 and message.sent_at is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost:8443/x",
        "https://[::1]/x",
        "https://169.254.169.254/latest/meta-data",
        "https://10.1.2.3/x",
        "https://[::ffff:192.168.0.1]/x",
        "http://example.org/x",
        "ftp://example.org/x",
        "https://user:pw@example.org/x",
        # IPv4 inside IPv6: compatible, 6to4, NAT64, Teredo (client 192.0.2.45)
        "https://[::127.0.0.1]/x",
        "https://[::10.0.0.1]/x",
        "https://[2002:c0a8:101::1]/x",
        "https://[2002:7f00:1::1]/x",
        "https://[64:ff9b::10.0.0.1]/x",
        "https://[64:ff9b::169.254.169.254]/x",
        "https://[64:ff9b:1::a00:1]/x",
        "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x",
    ],
)
def test_webhooks_into_private_addresses_are_refused(svc, url):
    with pytest.raises(InvalidInput):
        delivery.check_webhook_url(svc, url)


def test_a_url_that_turns_private_at_delivery_is_not_called(make_app, receiver):
    url, cert = receiver
    app = make_app(webhook_ca_file=str(cert))  # private addresses not allowed
    svc = of(app)
    svc.store.users.set_webhook(
        "admin", url, "k" * 64
    )  # as if it had resolved publicly
    with app.app_context():
        _, token = sharing.create_link(
            svc, svc.store.users.by_name("admin"), "readme.txt"
        )
    app.test_client().get(f"/d/{token}")
    svc.audit.flush()
    assert delivery.run_once(svc) == (0, 1)
    assert Receiver.got == []
    (message,) = svc.store.outbox.list(kind="webhook")
    assert "loopback, private or reserved" in message.last_error
    client = app.test_client()
    Auth(client).login_as("admin")
    refused = client.post(
        "/account/webhook/",
        data={"csrf_token": csrf_token(client, "/account/webhook/"), "url": url},
    )
    assert refused.status_code == 400 and "such webhooks are refused" in refused.text


def test_ipv6_forms_of_public_ipv4_addresses_stay_allowed():
    assert delivery.public_address("64:ff9b::8.8.8.8")
    assert delivery.public_address("2002:808:808::1")
    assert not delivery.public_address("64:ff9b::127.0.0.1")


def test_the_server_wide_webhook_refuses_to_start_without_a_secret(
    make_app, monkeypatch
):
    from linksvc.core.errors import ConfigError

    monkeypatch.delenv("LINKSVC_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError, match="no secret"):
        make_app(webhook_url="https://hooks.example.org/x")
    monkeypatch.setenv("LINKSVC_WEBHOOK_SECRET", "s" * 32)
    assert make_app(webhook_url="https://hooks.example.org/x")


def test_a_disabled_users_webhook_hears_nothing_more(app, svc, make_link):
    """It kept receiving refusals of their links, with each client's address."""
    from linksvc.accounts import people as accounts

    svc.store.users.set_webhook("alice", "https://hooks.example.org/a", "k" * 64)
    token = make_link("reports/q3/summary.csv", user="alice")
    client = app.test_client()
    assert client.get(f"/d/{token}").status_code == 200
    svc.audit.flush()
    assert len(svc.store.outbox.list(kind="webhook")) == 1
    accounts.disable_user(svc, "alice", actor="test")
    client.get(f"/d/{token}")
    client.get(f"/d/{token}", headers={"Range": "bytes=0-1"})
    svc.audit.flush()
    assert len(svc.store.outbox.list(kind="webhook")) == 1


@pytest.fixture
def dead_receiver():
    """A receiver that takes the connection and never answers."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield f"https://localhost:{server.getsockname()[1]}/hook"
    server.close()


def test_a_dead_receiver_and_a_hammered_link_delay_no_one_else(
    make_app, receiver, dead_receiver, monkeypatch
):
    """One user's 1,000 downloads queued 1,000 messages, and the outbox sent
    50 per run, one at a time, 15 s per socket step: another user's notice
    waited behind them. Now a hammered link's events coalesce, each receiver
    is served on its own, and a dead one delays only itself."""
    url, cert = receiver
    monkeypatch.setattr(delivery, "RUN_WAIT", 2.0)
    app = make_app(webhook_allow_private=True, webhook_ca_file=str(cert))
    svc = of(app)
    # Alice's receiver is dead; admin's link is hammered; bob is anyone else.
    hammered_url = url.replace("/hook", "/admin")
    svc.store.users.set_webhook("alice", dead_receiver, "a" * 64)
    svc.store.users.set_webhook("admin", hammered_url, "k" * 64)
    svc.store.users.set_webhook("bob", url, "b" * 64)
    with app.app_context():
        _, dead = sharing.create_link(
            svc, svc.store.users.by_name("alice"), "reports/q3/summary.csv"
        )
        _, hammered = sharing.create_link(
            svc, svc.store.users.by_name("admin"), "big.bin"
        )
        svc.store.users.grant("bob", "readme.txt")
        _, quiet = sharing.create_link(
            svc, svc.store.users.by_name("bob"), "readme.txt"
        )
    client = app.test_client()
    assert client.get(f"/d/{dead}").status_code == 200
    for _ in range(300):
        assert client.head(f"/d/{hammered}").status_code == 200
        assert (
            client.get(f"/d/{hammered}", headers={"Range": "bytes=0-0"}).status_code
            == 206
        )
    assert client.get(f"/d/{quiet}").status_code == 200
    svc.audit.flush()
    waiting = svc.store.outbox.list(kind="webhook", unsent=True)
    assert sorted((m.recipient, m.events) for m in waiting) == sorted(
        [(dead_receiver, 1), (hammered_url, 300), (url, 1)]
    )
    started = time.monotonic()
    sent, failed = delivery.run_once(svc)
    assert time.monotonic() - started < delivery.RUN_WAIT + 1
    assert (sent, failed) == (2, 0)  # admin's and bob's; alice's is being tried
    bobs = [g for g in Receiver.got if json.loads(g[1])["link"]["path"] == "readme.txt"]
    (got,) = bobs
    assert verify("b" * 64, got[0], got[1])
    hammer = [g for g in Receiver.got if json.loads(g[1])["link"]["path"] == "big.bin"]
    assert [json.loads(g[1])["count"] for g in hammer] == [300]
    # Alice's message stays held while it is tried: never sent twice.
    assert delivery.run_once(svc) == (0, 0)


def test_coalesced_downloads_arrive_as_one_message_with_their_count(make_app, receiver):
    url, cert = receiver
    app = make_app(webhook_allow_private=True, webhook_ca_file=str(cert))
    svc = of(app)
    svc.store.users.set_webhook("admin", url, "k" * 64)
    with app.app_context():
        _, token = sharing.create_link(
            svc, svc.store.users.by_name("admin"), "readme.txt"
        )
    client = app.test_client()
    for _ in range(5):
        client.get(f"/d/{token}")
    svc.audit.flush()
    assert delivery.run_once(svc) == (1, 0)
    (got,) = Receiver.got
    body = json.loads(got[1])
    assert body["event"] == "download" and body["count"] == 5
    assert verify("k" * 64, got[0], got[1])
    # The next download is a new message (the first one was sent).
    client.get(f"/d/{token}")
    svc.audit.flush()
    assert delivery.run_once(svc) == (1, 0)
    assert "count" not in json.loads(Receiver.got[1][1])


# -- Standard Webhooks (issue 25 item 5) ----------------------------------------


def _alice_with_a_link(make_app, receiver, **settings):
    url, cert = receiver
    app = make_app(webhook_allow_private=True, webhook_ca_file=str(cert), **settings)
    svc = of(app)
    client = app.test_client()
    Auth(client).login_as("alice")
    saved = client.post(
        "/account/webhook/",
        data={"csrf_token": csrf_token(client, "/account/webhook/"), "url": url},
    )
    assert saved.status_code == 302
    with app.app_context():
        _, token = sharing.create_link(
            svc, svc.store.users.by_name("alice"), "reports/q3/summary.csv"
        )
    return app, svc, client, token


def _deliver_one_download(app, svc, token):
    Receiver.got.clear()
    assert app.test_client().get(f"/d/{token}").status_code == 200
    svc.audit.flush()
    assert delivery.run_once(svc) == (1, 0)
    (got,) = Receiver.got
    return got


def test_standard_webhooks_verify_with_the_standardwebhooks_library(
    make_app, receiver, frozen
):
    from standardwebhooks.webhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    app, svc, client, token = _alice_with_a_link(
        make_app, receiver, webhook_format="standard"
    )
    key = svc.store.users.by_name("alice").webhook_secret
    page = client.get("/account/webhook/").text
    assert key.startswith("whsec_") and key in page
    assert "X-Linksvc-Signature" not in page
    # The first try fails: the retry carries the same webhook-id.
    Receiver.status = 503
    client.get(f"/d/{token}")
    svc.audit.flush()
    assert delivery.run_once(svc) == (0, 1)
    Receiver.status = 200
    frozen.tick(61)
    assert delivery.run_once(svc) == (1, 0)
    (first, (headers, body)) = Receiver.got
    assert first[0]["webhook-id"] == headers["webhook-id"]
    assert "X-Linksvc-Signature" not in headers
    assert headers["webhook-id"].startswith("msg_")
    payload = Webhook(key).verify(body, headers)
    assert payload["event"] == "download"
    assert payload["link"]["path"] == "reports/q3/summary.csv"
    with pytest.raises(WebhookVerificationError):
        Webhook(key).verify(body.replace("download", "Download"), headers)
    with pytest.raises(WebhookVerificationError):  # another key
        Webhook("whsec_" + "A" * 43 + "=").verify(body, headers)
    frozen.tick(600)  # a replay ten minutes later is too old
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(key).verify(body, headers)


def test_a_rotated_key_signs_beside_the_new_one_until_the_rotation_ends(
    make_app, receiver, frozen
):
    from standardwebhooks.webhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    app, svc, client, token = _alice_with_a_link(
        make_app, receiver, webhook_rotation="1h"
    )
    old = svc.store.users.by_name("alice").webhook_secret
    url, _ = receiver
    rotated = client.post(
        "/account/webhook/",
        data={
            "csrf_token": csrf_token(client, "/account/webhook/"),
            "url": url,
            "new_secret": "y",
        },
    )
    assert rotated.status_code == 302
    new = svc.store.users.by_name("alice").webhook_secret
    assert new != old and new.startswith("whsec_")
    page = client.get("/account/webhook/").text
    assert new in page and "previous key keeps signing" in page and old not in page
    headers, body = _deliver_one_download(app, svc, token)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(body, headers) and Webhook(new).verify(body, headers)
    # The deprecated header is signed with the new key only.
    assert verify_frozen(new, headers, body)
    frozen.tick(3601)
    headers, body = _deliver_one_download(app, svc, token)
    assert len(headers["webhook-signature"].split(" ")) == 1
    assert Webhook(new).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, headers)
    assert "previous key" not in client.get("/account/webhook/").text


def verify_frozen(key: str, headers: dict, body: str) -> bool:
    t, v1 = (p.split("=", 1)[1] for p in headers["X-Linksvc-Signature"].split(","))
    mac = hmac.new(key.encode(), f"{t}.{body}".encode(), hashlib.sha256)
    return hmac.compare_digest(mac.hexdigest(), v1)


@pytest.mark.parametrize(
    ("webhook_format", "standard", "deprecated"),
    [("standard", True, False), ("linksvc", False, True), ("both", True, True)],
)
def test_webhook_format_chooses_the_headers(
    make_app, receiver, frozen, webhook_format, standard, deprecated
):
    from standardwebhooks.webhooks import Webhook

    app, svc, client, token = _alice_with_a_link(
        make_app, receiver, webhook_format=webhook_format
    )
    key = svc.store.users.by_name("alice").webhook_secret
    headers, body = _deliver_one_download(app, svc, token)
    assert ("webhook-signature" in headers) is standard
    assert ("X-Linksvc-Signature" in headers) is deprecated
    if standard:
        assert Webhook(key).verify(body, headers)
    if deprecated:
        assert verify_frozen(key, headers, body)


def test_a_key_from_before_the_standard_verifies_in_its_standard_form(
    make_app, receiver, frozen
):
    """A hex key made by an earlier release keeps working for both headers;
    the page shows the whsec_ form a Standard Webhooks library takes."""
    from standardwebhooks.webhooks import Webhook

    app, svc, client, token = _alice_with_a_link(make_app, receiver)
    url, _ = receiver
    svc.store.users.set_webhook("alice", url, "k" * 64)
    standard = "whsec_" + __import__("base64").b64encode(b"k" * 64).decode()
    assert standard in client.get("/account/webhook/").text
    headers, body = _deliver_one_download(app, svc, token)
    assert verify_frozen("k" * 64, headers, body)
    assert Webhook(standard).verify(body, headers)


def test_the_server_wide_webhook_signs_with_every_key_it_is_given(
    make_app, receiver, frozen, monkeypatch
):
    from standardwebhooks.webhooks import Webhook

    from linksvc.core.webhook_signatures import new_key

    url, cert = receiver
    new, old = new_key(), new_key()
    monkeypatch.setenv("LINKSVC_WEBHOOK_SECRET", f"{new}\n{old}")
    app = make_app(
        webhook_url=url, webhook_allow_private=True, webhook_ca_file=str(cert)
    )
    svc = of(app)
    with app.app_context():
        _, token = sharing.create_link(
            svc, svc.store.users.by_name("admin"), "readme.txt"
        )
    headers, body = _deliver_one_download(app, svc, token)
    assert Webhook(new).verify(body, headers) and Webhook(old).verify(body, headers)
    assert verify_frozen(new, headers, body)
    monkeypatch.setenv("LINKSVC_WEBHOOK_SECRET", "whsec_not*base64")
    with pytest.raises(Exception, match="base64"):
        make_app(webhook_url=url)
