"""What to tell whom, queued in the outbox; no Flask.

* the owner, by email, of a link's first download (a choice per link) and of
  a limited link used up;
* the owner, and whoever the link was sent to through linksvc, a while before
  a link nobody downloaded expires (:func:`remind`);
* webhooks (the owner's, and the global one) of downloads, refusals and
  expiries.

Download and refusal notices are queued by the audit writer after it wrote
the records (:func:`subscribe`: a receiver of the audit's ``written``
signal), so a download never waits for them.
Messages to the owner name the file and link, never the token: the owner's
dashboard has the URL. delivery.py sends what is queued.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from ..core.clock import iso
from ..core.clock import minutes
from ..core.clock import now as clock_now
from ..db.audit import written
from ..db.notices import Marking
from ..links import sharing
from ..services import Services

#: Expired links whose expiry is still worth a webhook (older ones are only
#: marked, so the first run after an upgrade does not flood receivers).
EXPIRY_NEWS = 86400


def _link_page(svc: Services, link_id: str) -> str:
    base = svc.settings.public_base_url
    return f"{base}/links/{link_id}" if base else f"/links/{link_id}"


def _email(key: str, link: Any, event: str, to: str, subject: str, body: str) -> dict:
    return {
        "kind": "email",
        "key": key,
        "user_id": link.user_id,
        "link_id": link.id,
        "event": event,
        "recipient": to,
        "subject": subject,
        "body": body,
    }


def _name(link: Any) -> str:
    return link.path.rsplit("/", 1)[-1] + ("/" if link.folder else "")


def _note(link: Any) -> str:
    return f"Note: {link.note}\n" if link.note else ""


def webhook_payload(event: str, link: Any, at: int, **extra: Any) -> str:
    body = {
        "event": event,
        "at": iso(at),
        "link": {"id": link.id, "path": link.path, "note": link.note},
        **extra,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def _webhooks(
    svc: Services, link: Any, event: str, body: str, events: int | None = None
) -> list[dict]:
    """One message per receiver: the owner's webhook and the global one.
    With ``events`` (downloads, refusals) the message coalesces: while it
    waits, more such events of the link for that receiver only add to its
    count, so a hammered link costs one message per send, not one per hit."""
    found = []
    # A disabled user's webhook hears nothing more (the global one still does).
    own = "" if getattr(link, "disabled", False) else link.webhook_url
    for user_id, url in (
        (link.user_id, own),
        (None, svc.settings.webhook_url),
    ):
        if url:
            key = f"webhook:{secrets.token_hex(12)}"
            if events is not None:
                receiver = hashlib.sha256(url.encode()).hexdigest()[:16]
                key = f"webhook:{user_id or 0}:{receiver}:{link.id}:{event}"
            found.append(
                {
                    "kind": "webhook",
                    "key": key,
                    "user_id": user_id,
                    "link_id": link.id,
                    "event": event,
                    "recipient": url,
                    "body": body,
                    **({"events": events} if events is not None else {}),
                }
            )
    return found


#: Seconds a link with nothing to tell is not looked up again.
QUIET = 30


#: Upload outcomes the owner is told about.
ARRIVALS = ("received", "infected")


def _has_news(svc: Services, link: Any) -> bool:
    """Whether a download or refusal of ``link`` may have something to tell:
    a first-download notice still owed, a limit not yet reported used up, or
    a webhook to call."""
    return bool(
        (link.notify and link.first_noticed_at is None)
        or (link.max_downloads is not None and link.used_up_noticed_at is None)
        or (link.webhook_url and not link.disabled)
        or svc.settings.webhook_url
    )


def subscribe(svc: Services) -> Callable[..., None]:
    """Queue notices of the downloads and refusals ``svc.audit`` writes: a
    receiver of its ``written`` signal (returned: the caller keeps it, as
    blinker holds receivers weakly).

    It reads first and writes only when there is news, so busy links with
    nothing to tell cost one indexed read per batch (none for QUIET seconds
    once known), and never the database's write lock.
    """
    quiet: dict[str, float] = {}

    def hook(sender: Any, rows: list[dict[str, Any]]) -> None:
        moment = time.monotonic()
        rows = [
            r
            for r in rows
            if (
                r["event"] in ("download", "refused")
                or (r["event"] == "upload" and r["outcome"] in ARRIVALS)
            )
            and r["link_id"]
            and quiet.get(r["link_id"], 0) < moment
        ]
        if not rows:
            return
        owners = svc.store.notices.owners({r["link_id"] for r in rows})
        if len(quiet) > 100_000:
            quiet.clear()
        for link_id, link in owners.items():
            if not _has_news(svc, link):
                quiet[link_id] = moment + QUIET
        rows = [r for r in rows if r["link_id"] in owners and r["link_id"] not in quiet]
        if rows:
            _queue_news(svc, rows, owners)

    written.connect(hook, sender=svc.audit)
    return hook


def _queue_news(svc: Services, rows: list[dict[str, Any]], owners: dict) -> None:
    now = clock_now()
    ids = {r["link_id"] for r in rows if r["event"] == "download"}
    owed = {i for i in ids if owners[i].notify and owners[i].first_noticed_at is None}
    full = {
        i
        for i in ids
        if owners[i].max_downloads is not None
        and owners[i].used_up_noticed_at is None
        and owners[i].download_count >= owners[i].max_downloads
    }
    arrived = {
        r["link_id"]
        for r in rows
        if r["event"] == "upload" and owners[r["link_id"]].notify
    }
    hooks = svc.settings.webhook_url or any(owners[i].webhook_url for i in owners)
    if not (owed or full or hooks or arrived):
        return  # nothing to write: the write lock stays free for downloads

    # Files that arrived earlier this hour: the hour's one email names them.
    hour = now // 3600
    earlier = {
        link_id: [
            u.name
            for u in reversed(svc.store.uploads.of_link(link_id, limit=20))
            if u.completed_at is not None and u.completed_at // 3600 == hour
        ]
        for link_id in arrived
    }

    def work(tx: Marking) -> Any:
        messages = []
        webhook_messages: list[dict] = []
        firsts = tx.first_downloads(owed, now)
        for link_id in firsts:
            link = owners[link_id]
            if link.email:
                first = next(r for r in rows if r["link_id"] == link_id)
                messages.append(_first_download(svc, link, first))
        for link_id in tx.used_up(full, now):
            link = owners[link_id]
            if link.email:
                messages.append(_used_up(svc, link))
        arrivals = []
        for link_id in arrived:
            link = owners[link_id]
            if link.email:
                names = earlier.get(link_id, []) + [
                    r["path"]
                    for r in rows
                    if r["link_id"] == link_id and r["event"] == "upload"
                ]
                arrivals.append(_arrived(svc, link, list(dict.fromkeys(names)), now))
        for row in rows:
            link = owners[row["link_id"]]
            extra = {
                "status": row["status"],
                "outcome": row["outcome"],
                "bytes": row["bytes"],
                "client": row["remote_addr"],
            }
            if row["event"] == "refused":
                extra["count"] = row["count"]
            body = webhook_payload(row["event"], link, row["at"], **extra)
            webhook_messages += _webhooks(
                svc, link, row["event"], body, row.get("count") or 1
            )
        tx.queue(messages, now)
        # This hour's email, while it waits, lists what arrived since too.
        tx.queue_replacing(arrivals, now)
        tx.queue_coalesced(webhook_messages, now)

    svc.store.notices.transaction(work)


def _first_download(svc: Services, link: Any, row: dict[str, Any]) -> dict:
    limit = f" of {link.max_downloads}" if link.max_downloads else ""
    body = (
        f"Your link to {link.path} was downloaded for the first time, at "
        f"{minutes(row['at'])} UTC from {row['remote_addr'] or 'an unknown address'}.\n"
        f"{_note(link)}Downloads so far: {link.download_count}{limit}.\n"
        f"It expires at {minutes(link.expires_at)} UTC.\n\n"
        f"The link and its history: {_link_page(svc, link.id)}\n"
    )
    subject = f"Downloaded: {_name(link)}"
    return _email(f"first:{link.id}", link, "first_download", link.email, subject, body)


def _arrived(svc: Services, link: Any, names: list[str], now: int) -> dict:
    """Files came through an upload link: at most one email a link an hour
    (the key is the hour's), so a sender cannot flood the owner's inbox."""
    shown = "\n".join(f"  {name}" for name in names[:20])
    body = (
        f"Files arrived through your upload link into {link.path}:\n{shown}\n"
        "They wait for you: accept or reject them on the link's page.\n\n"
        f"{_note(link)}{_link_page(svc, link.id)}\n"
    )
    subject = f"Files arrived: {_name(link)}"
    key = f"uploads:{link.id}:{now // 3600}"
    return _email(key, link, "upload", link.email, subject, body)


def _used_up(svc: Services, link: Any) -> dict:
    body = (
        f"Your link to {link.path} has been downloaded {link.download_count} "
        f"time{'s' if link.download_count != 1 else ''}, its limit, and no longer "
        f"works.\n{_note(link)}\nThe link and its history: {_link_page(svc, link.id)}\n"
    )
    subject = f"Used up: {_name(link)}"
    return _email(f"used_up:{link.id}", link, "used_up", link.email, subject, body)


def remind(svc: Services, now: int) -> int:
    """Queue reminders of links not downloaded that expire within
    ``reminder_before``; each link once, whoever else runs at the same time.
    A link that lives no longer than that is not reminded of: the reminder
    would come as it is made. Returns how many links were reminded of."""
    before = svc.settings.reminder_before
    if not before:
        return 0

    def work(tx: Marking) -> Any:
        reminded = tx.due_reminders(now, before)
        owners = tx.owners(reminded)
        messages = []
        for link_id in reminded:
            link = owners[link_id]
            when = minutes(link.expires_at)
            if link.email:
                body = (
                    f"Your link to {link.path} has not been downloaded yet and "
                    f"expires at {when} UTC.\n{_note(link)}\nExtend it or share it "
                    f"again from its page: {_link_page(svc, link.id)}\n"
                )
                messages.append(
                    _email(
                        f"remind:{link.id}",
                        link,
                        "reminder",
                        link.email,
                        f"Not downloaded yet: {_name(link)}",
                        body,
                    )
                )
            if link.sent_to:
                messages += _recipient_reminders(svc, link, when)
        tx.queue(messages, now)
        return len(reminded)

    return svc.store.notices.transaction(work)


def _recipient_reminders(svc: Services, link: Any, when: str) -> list[dict]:
    """One reminder for each address the link was sent to, with its URL."""
    try:
        url = sharing.shareable_url(svc, svc.store.links.get(link.id))
    except ValueError:  # no public_base_url: no URL to remind them of
        return []
    if url is None:
        return []
    body = (
        f"{link.username} shared {_name(link)} with you through linksvc. It has "
        f"not been downloaded yet and the link expires at {when} UTC:\n\n{url}\n"
    )
    subject = f"Reminder: {_name(link)} expires soon"
    return [
        _email(f"remind:{link.id}:{address}", link, "reminder", address, subject, body)
        for address in link.sent_to.split()
    ]


def expiries(svc: Services, now: int) -> int:
    """Mark links that expired; queue webhooks of the recent ones."""

    def work(tx: Marking) -> Any:
        marked = tx.expired(now)
        owners = tx.owners(marked)
        messages = []
        for link_id in marked:
            link = owners[link_id]
            if now - link.expires_at <= EXPIRY_NEWS:
                body = webhook_payload(
                    "expired", link, link.expires_at, downloads=link.download_count
                )
                messages += _webhooks(svc, link, "expired", body)
        tx.queue(messages, now)
        return len(marked)

    return svc.store.notices.transaction(work)
