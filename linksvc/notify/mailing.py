"""Sending a link's URL to someone by email, from the dashboard or the API;
no Flask. The message is queued in the outbox (delivery.py sends it); the
address is kept with the link, for reminders (notices.py) and the audit.
"""

from __future__ import annotations

import secrets
from typing import Any

from ..core.clock import minutes
from ..core.clock import now as clock_now
from ..core.errors import InvalidInput
from ..core.errors import TooManyRequests
from ..core.text import EMAIL
from ..core.text import filesize
from ..links import sharing
from ..services import Services

#: Addresses remembered per link for reminders (the latest ones).
MAX_SENT_TO = 20


def send_link(
    svc: Services,
    by: Any,
    link_id: str,
    to: str,
    message: str = "",
    base_url: str | None = None,
    **client: Any,
) -> None:
    """Email a link's URL to ``to`` (at most ``send_limit`` per user): the
    message names the file, its size and expiry; the address is kept with
    the link (reminders) and in the audit."""
    to = (to or "").strip()
    if len(to) > 254 or not EMAIL.fullmatch(to):
        raise InvalidInput(f"{to[:80]!r} is not an email address.")
    if len(message or "") > 1000:
        raise InvalidInput("The message may have at most 1000 characters.")
    link = sharing.visible_link(svc, by, link_id)
    url = sharing.shareable_url(svc, link, base_url)
    if url is None:
        raise InvalidInput("Only a link that still works can be sent.")
    if not svc.settings.smtp_host:
        raise InvalidInput("This server sends no email (smtp_host is not set).")
    _queue(svc, by, link, to, message, url, **client)


def send_to_recipients(
    svc: Services,
    by: Any,
    share_id: str,
    message: str = "",
    base_url: str | None = None,
    **client: Any,
) -> int:
    """Email each recipient of a share who has an address their own link
    (each message counts against ``send_limit``); returns how many were
    queued. Revoked and used-up recipients are left out."""
    if len(message or "") > 1000:
        raise InvalidInput("The message may have at most 1000 characters.")
    share = sharing.visible_link(svc, by, share_id)
    if not share.share:
        raise InvalidInput("This link has no recipients; send it to an address.")
    if not svc.settings.smtp_host:
        raise InvalidInput("This server sends no email (smtp_host is not set).")
    queued = 0
    for one in svc.store.links.recipients([share.id])[share.id]:
        url = sharing.shareable_url(svc, one, base_url)
        if one.recipient_email and url is not None:
            _queue(svc, by, one, one.recipient_email, message, url, **client)
            queued += 1
    return queued


def _queue(
    svc: Services, by: Any, link: Any, to: str, message: str, url: str, **client: Any
) -> None:
    """Queue one message with ``url`` for ``to`` (held to ``send_limit``)."""
    wait = svc.sends.hit(str(by.id))
    if wait is not None:
        raise TooManyRequests(
            "You have sent many links by email; try again later.", wait
        )
    if link.folder:
        size = "a folder"
    else:
        size = filesize(svc.tree.file(link.path)[2].st_size)
    name = link.path.rsplit("/", 1)[-1] + ("/" if link.folder else "")
    note = f"\n{by.username} wrote:\n{message.strip()}\n" if message.strip() else ""
    body = (
        f"{by.username} shared {name} ({size}) with you through linksvc.\n{note}\n"
        f"Download it before {minutes(link.expires_at)} UTC:\n\n{url}\n"
    )
    now = clock_now()
    addresses = [a for a in link.sent_to.split() if a != to][-(MAX_SENT_TO - 1) :]
    svc.store.links.sent(
        link,
        " ".join([*addresses, to]),
        {
            "kind": "email",
            "key": f"send:{link.id}:{secrets.token_hex(8)}",
            "user_id": by.id,
            "link_id": link.id,
            "event": "sent",
            "recipient": to,
            "subject": f"{by.username} shared {name} with you",
            "body": body,
        },
        now,
        # A mail scanner fetches every URL of the message: a limited link
        # sent by email shows the recipient page, downloaded by a POST.
        recipient_page=link.max_downloads is not None and not link.folder,
    )
    svc.audit.record(
        "sent",
        "ok",
        link_id=link.id,
        path=link.path,
        actor=by.username,
        subject=to[:64],
        **client,
    )
