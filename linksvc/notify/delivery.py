"""Sending what the outbox holds: email over SMTP, webhooks over HTTPS; no
Flask.

:func:`run_once` queues what is due (reminders, expiries) and sends due
messages; each server runs it every ``outbox_interval`` on a real thread
(:func:`start`), and ``linksvc notify`` runs it once (cron, a systemd timer).
A failure is logged and retried with back-off (db/outbox.py).

Webhooks: a JSON body, POSTed with the Standard Webhooks headers
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) and, for one
release, the deprecated ``X-Linksvc-Signature: t=<unix time>, v1=<hex>``, as
``webhook_format`` says (core/webhook_signatures.py), so a receiver can verify
the sender and refuse replays (an old timestamp).

A webhook URL must be https and resolve only to public addresses (no
requests into this machine's own services or its network) unless
``webhook_allow_private``; the address checked is the one connected to, so a
DNS answer cannot change between check and use.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import ipaddress
import json
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

from ..config import Settings
from ..core import webhook_signatures as signatures
from ..core.clock import now as clock_now
from ..core.errors import ConfigError
from ..core.errors import InvalidInput
from ..db.outbox import Message
from ..services import Services
from . import notices

log = logging.getLogger("linksvc.notify.delivery")
#: Seconds a webhook receiver or the SMTP server has for each step.
TIMEOUT = 15
#: Seconds one webhook delivery may take in all (connect, send, answer): a
#: slow receiver cannot hold a sender, nor outlast a message's hold.
DELIVERY_DEADLINE = 10.0
#: Receivers served at once, each on its own thread: a slow or dead one
#: delays only its own messages.
RECEIVERS_AT_ONCE = 8
#: Seconds a run waits for its deliveries before it leaves the slow ones
#: to finish on their own (their messages stay held meanwhile).
RUN_WAIT = 5.0


def secret_from(env_name: str, file_setting: str) -> str:
    """A secret from the environment, or from the file a setting names."""
    value = os.environ.get(env_name, "")
    if not value and file_setting:
        value = Path(file_setting).read_text().strip()
    return value


# -- webhooks -----------------------------------------------------------------


#: IPv6 prefixes that carry an IPv4 address in their last 32 bits: NAT64
#: (RFC 6052 and the local-use 64:ff9b:1::/48 of RFC 8215).
_NAT64 = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: mapped (::ffff:a.b.c.d),
    IPv4-compatible (::a.b.c.d), 6to4 (2002::/16), Teredo (2001::/32: its
    server and client) and NAT64."""
    found = []
    if address.ipv4_mapped:
        found.append(address.ipv4_mapped)
    packed = address.packed
    if packed[:12] == bytes(12) and int(address) > 1:
        found.append(ipaddress.IPv4Address(packed[12:]))
    if address.sixtofour:
        found.append(address.sixtofour)
    if address.teredo:
        found.extend(address.teredo)
    if any(address in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(packed[12:]))
    return found


def public_address(ip: str) -> bool:
    """Whether a webhook may connect to ``ip``: a global unicast address, and
    so is every IPv4 address it embeds."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner:
            return all(public_address(str(a)) for a in inner)
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
    addresses = [str(info[4][0]) for info in found]
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
        resolve(url, svc.settings.webhook_allow_private)
    return url


class _Pinned(http.client.HTTPSConnection):
    """HTTPS to the address that was checked, with the host's name for SNI
    and the certificate."""

    def __init__(self, host: str, address: str, port: int, context, timeout) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        context = self._context  # type: ignore[attr-defined]
        self.sock = context.wrap_socket(sock, server_hostname=self.host)


class UserGone(Exception):
    """A message for a user who is disabled or removed: never sent."""


def require_webhook_secret(settings: Settings) -> None:
    """The server-wide webhook signs with a secret, or the server does not
    start (an empty key would sign what anyone can forge)."""
    if not settings.webhook_url:
        return
    try:
        secret = secret_from("LINKSVC_WEBHOOK_SECRET", settings.webhook_secret_file)
    except OSError as exc:
        raise ConfigError(f"webhook_secret_file cannot be read: {exc}") from None
    if not secret:
        raise ConfigError(
            "webhook_url is set but it has no secret: set LINKSVC_WEBHOOK_SECRET "
            "or webhook_secret_file (a file holding the key)."
        )
    try:
        signatures.parse_keys(secret)
    except InvalidInput as exc:
        raise ConfigError(f"The webhook secret is refused: {exc}") from None


def _clock() -> float:
    """A monotonic clock no test's frozen time moves."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def _within(conn: http.client.HTTPConnection, deadline: float) -> None:
    """Give the next step only what is left of the delivery's deadline."""
    left = deadline - _clock()
    if left <= 0:
        raise TimeoutError(f"no answer within {DELIVERY_DEADLINE:g} s")
    if conn.sock is not None:
        conn.sock.settimeout(min(left, TIMEOUT))


def send_webhook(svc: Services, message: Message) -> None:
    scheme, host, port, address = resolve(
        message.recipient, svc.settings.webhook_allow_private
    )
    timestamp = int(time.time())
    if message.user_id is None:
        keys = signatures.parse_keys(
            secret_from("LINKSVC_WEBHOOK_SECRET", svc.settings.webhook_secret_file)
        )
    else:
        user = svc.store.users.get(message.user_id)
        if user is None or user.disabled:
            raise UserGone("the webhook's owner is disabled or removed")
        keys = user.webhook_keys(timestamp)
    deadline = _clock() + DELIVERY_DEADLINE
    step = min(TIMEOUT, DELIVERY_DEADLINE)
    if scheme == "https":
        context = ssl.create_default_context(
            cafile=svc.settings.webhook_ca_file or None
        )
        conn: http.client.HTTPConnection = _Pinned(host, address, port, context, step)
    else:
        conn = http.client.HTTPConnection(address, port, timeout=step)
    body = message.body
    if message.events > 1:
        payload = json.loads(body)
        payload["count"] = message.events  # coalesced: how many events
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    parts = urlsplit(message.recipient)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Host": host if port in (80, 443) else f"{host}:{port}",
        "Content-Type": "application/json",
        "User-Agent": "linksvc-webhook/1",
        "X-Linksvc-Event": message.event,
        "X-Linksvc-Delivery": str(message.id),
        # The same id on every retry: a receiver drops a delivery it has.
        **signatures.headers(
            svc.settings.webhook_format, keys, f"msg_{message.id}", timestamp, body
        ),
    }
    try:
        conn.connect()
        _within(conn, deadline)
        conn.request("POST", target, body=body.encode(), headers=headers)
        _within(conn, deadline)
        response = conn.getresponse()
        _within(conn, deadline)
        response.read(65536)
    finally:
        conn.close()
    if not 200 <= response.status < 300:
        raise OSError(f"the receiver answered {response.status}")


# -- email --------------------------------------------------------------------


def send_email(svc: Services, message: Message) -> None:
    s = svc.settings
    email = EmailMessage()
    email["From"] = s.mail_from
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.body)
    if s.smtp_security == "tls":
        server: smtplib.SMTP = smtplib.SMTP_SSL(
            s.smtp_host,
            s.smtp_port,
            timeout=TIMEOUT,
            context=ssl.create_default_context(),
        )
    else:
        server = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=TIMEOUT)
    with server:
        if s.smtp_security == "starttls":
            server.starttls(context=ssl.create_default_context())
        if s.smtp_user:
            password = secret_from("LINKSVC_SMTP_PASSWORD", s.smtp_password_file)
            server.login(s.smtp_user, password)
        # To exactly the one address stored, whatever the header could mean.
        server.send_message(email, to_addrs=[message.recipient])


# -- the sender -----------------------------------------------------------------


def run_once(svc: Services) -> tuple[int, int]:
    """Queue what is due, then send what is due: (sent, failed) messages of
    the deliveries that ended within RUN_WAIT. Each receiver's messages go
    out in order on a thread of their own, so a slow or dead receiver delays
    only itself; its messages stay held (never sent twice) until it ends."""
    by_receiver: dict[str, list[Message]] = {}
    for message in _due(svc):
        by_receiver.setdefault(message.recipient, []).append(message)
    if not by_receiver:
        return 0, 0
    groups = list(by_receiver.values())
    if len(groups) == 1:  # one receiver: nothing to wait for but it
        return _deliver(svc, groups[0])
    futures = [_pool().submit(_deliver, svc, group) for group in groups]
    done, _ = concurrent.futures.wait(futures, timeout=RUN_WAIT)
    sent = failed = 0
    for future in done:
        s, f = future.result()
        sent, failed = sent + s, failed + f
    return sent, failed


def _due(svc: Services) -> list[Message]:
    """Queue reminders and expiries, prune, and hold what is due to send."""
    now = clock_now()
    notices.remind(svc, now)
    notices.expiries(svc, now)
    # Sent and given-up messages are kept as long as the audit log.
    svc.store.outbox.prune(now - svc.settings.audit_retention)
    kinds = ("email", "webhook") if svc.settings.smtp_host else ("webhook",)
    return svc.store.outbox.hold_due(now, kinds)


#: The delivery threads (greenlets in a gevent worker, whose sockets and
#: DNS cooperate; real threads elsewhere).
_senders: concurrent.futures.ThreadPoolExecutor | None = None


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _senders
    if _senders is None:
        _senders = concurrent.futures.ThreadPoolExecutor(
            RECEIVERS_AT_ONCE, thread_name_prefix="linksvc-deliver"
        )
    return _senders


def _deliver(svc: Services, messages: list[Message]) -> tuple[int, int]:
    """One receiver's messages, in order: (sent, failed)."""
    sent = failed = 0
    for message in messages:
        try:
            (send_email if message.kind == "email" else send_webhook)(svc, message)
        except UserGone as exc:
            svc.store.outbox.give_up(message, clock_now(), str(exc))
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


#: Set to send at once what was just queued (a recipient's code), instead
#: of at the next ``outbox_interval``.
_woken = threading.Event()


def wake() -> None:
    """Have this process's outbox loop run now."""
    _woken.set()


def start(svc: Services) -> threading.Thread:
    """Run :func:`run_once` every ``outbox_interval`` for as long as the
    process lives (its database work on a real thread; deliveries wait on
    cooperative sockets)."""

    def loop() -> None:
        while True:
            try:
                run_once(svc)
            except Exception:
                log.exception("the outbox run failed")
            _woken.wait(svc.settings.outbox_interval)
            _woken.clear()

    thread = threading.Thread(target=loop, name="linksvc-outbox", daemon=True)
    thread.start()
    return thread
