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

from linksvc import delivery
from linksvc import sharing
from linksvc.core.errors import InvalidInput
from linksvc.services import of

from .conftest import Auth
from .conftest import csrf_token
from .services import require_binary


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
    Auth(client).login("alice")
    saved = client.post(
        "/account/webhook/",
        data={"csrf_token": csrf_token(client, "/account/webhook/"), "url": url},
    )
    assert saved.status_code == 302
    secret = svc.store.users.by_name("alice").webhook_secret
    assert len(secret) == 64 and secret in client.get("/account/webhook/").text
    with app.app_context():
        alice = svc.store.users.by_name("alice")
        link, token = sharing.create_link(
            svc, alice, "reports/q3/summary.csv", "1h", max_downloads=1
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


def test_a_failing_receiver_is_retried(make_app, receiver, frozen):
    url, cert = receiver
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
    Auth(client).login("admin")
    refused = client.post(
        "/account/webhook/",
        data={"csrf_token": csrf_token(client, "/account/webhook/"), "url": url},
    )
    assert refused.status_code == 400 and "such webhooks are refused" in refused.text
