"""Sending what the outbox holds: email over SMTP, webhooks over HTTPS; no
Flask.

:func:`run_once` queues what is due (reminders, expiries) and sends due
messages; each server runs it every ``outbox_interval`` on a real thread
(:func:`start`), and ``linksvc notify`` runs it once (cron, a systemd timer).
A failure is logged and retried with back-off (db/outbox.py).

Webhooks: a JSON body, POSTed with ``X-Linksvc-Signature: t=<unix time>,
v1=<hex HMAC-SHA256 of "<t>.<body>">`` so a receiver can verify the sender
and refuse replays (an old ``t``). A webhook URL must be https and resolve
only to public addresses (no requests into this machine's own services or
its network) unless ``webhook_allow_private``; the address checked is the
one connected to, so a DNS answer cannot change between check and use.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import logging
import os
import smtplib
import socket
import ssl
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

from . import notices
from .core.clock import now as clock_now
from .core.errors import InvalidInput
from .core.offload import offload
from .db.outbox import Message
from .services import Services

log = logging.getLogger("linksvc.delivery")
#: Seconds a webhook receiver or the SMTP server has to answer.
TIMEOUT = 15


def secret_from(env_name: str, file_setting: str) -> str:
    """A secret from the environment, or from the file a setting names."""
    value = os.environ.get(env_name, "")
    if not value and file_setting:
        value = Path(file_setting).read_text().strip()
    return value


# -- webhooks -----------------------------------------------------------------


def public_address(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve(url: str, allow_private: bool) -> tuple[str, str, int, str]:
    """(scheme, host, port, address to connect to) of a webhook URL, or
    InvalidInput saying why it is refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput("A webhook URL must be an https:// URL.")
    if parts.scheme == "http" and not allow_private:
        raise InvalidInput("A webhook URL must be https://.")
    if parts.username or parts.password:
        raise InvalidInput("A webhook URL may not carry a user name or password.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise InvalidInput(f"The webhook host {parts.hostname!r} is unknown.") from None
    addresses = [info[4][0] for info in found]
    if not allow_private and not all(public_address(a) for a in addresses):
        raise InvalidInput(
            f"The webhook host {parts.hostname!r} resolves to a loopback, private "
            "or reserved address; such webhooks are refused."
        )
    return parts.scheme, parts.hostname, port, addresses[0]


def check_webhook_url(svc: Services, url: str) -> str:
    """The URL, if a webhook may be sent there (empty: none)."""
    url = url.strip()
    if url:
        if len(url) > 2048:
            raise InvalidInput("A webhook URL may have at most 2048 characters.")
        resolve(url, svc.settings["webhook_allow_private"])
    return url


def signature(secret: str, timestamp: int, body: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class _Pinned(http.client.HTTPSConnection):
    """HTTPS to the address that was checked, with the host's name for SNI
    and the certificate."""

    def __init__(self, host: str, address: str, port: int, context, timeout) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def send_webhook(svc: Services, message: Message) -> None:
    scheme, host, port, address = resolve(
        message.recipient, svc.settings["webhook_allow_private"]
    )
    if message.user_id is None:
        secret = secret_from(
            "LINKSVC_WEBHOOK_SECRET", svc.settings["webhook_secret_file"]
        )
    else:
        user = svc.store.users.get(message.user_id)
        secret = user.webhook_secret if user else ""
    if scheme == "https":
        context = ssl.create_default_context(
            cafile=svc.settings["webhook_ca_file"] or None
        )
        conn: http.client.HTTPConnection = _Pinned(
            host, address, port, context, TIMEOUT
        )
    else:
        conn = http.client.HTTPConnection(address, port, timeout=TIMEOUT)
    parts = urlsplit(message.recipient)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Host": host if port in (80, 443) else f"{host}:{port}",
        "Content-Type": "application/json",
        "User-Agent": "linksvc-webhook/1",
        "X-Linksvc-Event": message.event,
        "X-Linksvc-Delivery": str(message.id),
        "X-Linksvc-Signature": signature(secret, int(time.time()), message.body),
    }
    try:
        conn.request("POST", target, body=message.body.encode(), headers=headers)
        response = conn.getresponse()
        response.read(65536)
    finally:
        conn.close()
    if not 200 <= response.status < 300:
        raise OSError(f"the receiver answered {response.status}")


# -- email --------------------------------------------------------------------


def send_email(svc: Services, message: Message) -> None:
    s = svc.settings
    email = EmailMessage()
    email["From"] = s["mail_from"]
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.body)
    if s["smtp_security"] == "tls":
        server: smtplib.SMTP = smtplib.SMTP_SSL(
            s["smtp_host"],
            s["smtp_port"],
            timeout=TIMEOUT,
            context=ssl.create_default_context(),
        )
    else:
        server = smtplib.SMTP(s["smtp_host"], s["smtp_port"], timeout=TIMEOUT)
    with server:
        if s["smtp_security"] == "starttls":
            server.starttls(context=ssl.create_default_context())
        if s["smtp_user"]:
            password = secret_from("LINKSVC_SMTP_PASSWORD", s["smtp_password_file"])
            server.login(s["smtp_user"], password)
        server.send_message(email)


# -- the sender -----------------------------------------------------------------


def run_once(svc: Services) -> tuple[int, int]:
    """Queue what is due, then send what is due: (sent, failed) messages."""
    now = clock_now()
    notices.remind(svc, now)
    notices.expiries(svc, now)
    # Sent and given-up messages are kept as long as the audit log.
    svc.store.outbox.prune(now - svc.settings["audit_retention"])
    kinds = ("email", "webhook") if svc.settings["smtp_host"] else ("webhook",)
    sent = failed = 0
    for message in svc.store.outbox.hold_due(now, kinds):
        try:
            (send_email if message.kind == "email" else send_webhook)(svc, message)
        except Exception as exc:  # any failure: retried, logged, shown to admins
            failed += 1
            log.warning(
                "message %s (%s to %s) failed: %s",
                message.id,
                message.event,
                message.recipient,
                exc,
            )
            svc.store.outbox.failed(
                message, clock_now(), f"{type(exc).__name__}: {exc}"
            )
        else:
            sent += 1
            svc.store.outbox.sent(message.id, clock_now())
    return sent, failed


def start(svc: Services) -> threading.Thread:
    """Run :func:`run_once` every ``outbox_interval`` for as long as the
    process lives (its work on a real thread: SMTP and DNS may block)."""

    def loop() -> None:
        while True:
            try:
                offload(run_once, svc)
            except Exception:
                log.exception("the outbox run failed")
            time.sleep(svc.settings["outbox_interval"])

    thread = threading.Thread(target=loop, name="linksvc-outbox", daemon=True)
    thread.start()
    return thread
