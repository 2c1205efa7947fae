"""A share's recipients as its owner sees them: one line each, with who
opened it, when, from where, how much arrived and whether all of it; no
Flask. (A share and its recipients' links are made by links/sharing.py.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..db.links import Link
from ..services import Services
from . import sharing

#: Events that sent a recipient bytes, and those that only showed a page.
_SENT = ("download", "resume")
_LOOKED = ("page", "preview", "unlock", "check")


@dataclass(frozen=True)
class Line:
    """One recipient's line under their share."""

    link: Link
    url: str | None
    #: The newest record that sent bytes (at, remote_addr, bytes, complete).
    last_sent: dict[str, Any] | None
    #: The newest record of a look at their link (a page, a check).
    last_seen: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        link, sent = self.link, self.last_sent
        return {
            "id": link.id,
            "label": link.recipient_label,
            "email": link.recipient_email or None,
            "url": self.url,
            "download_count": link.download_count,
            "max_downloads": link.max_downloads,
            "revoked": link.revoked_at is not None,
            "verify": link.verify,
            "last_download": None
            if sent is None
            else {
                "at": sent["at"],
                "remote_addr": sent["remote_addr"],
                "bytes": sent["bytes"],
                "complete": sent["complete"],
            },
        }


def lines(
    svc: Services, share: Link, base_url: str | None = None, activity: bool = True
) -> list[Line]:
    """The share's recipients, in the order they were named; with
    ``activity``, each one's newest download and look from the audit (two
    small queries per recipient, at most 50 recipients)."""
    if not share.share:
        return []
    if activity:
        svc.audit.flush(timeout=1)  # what was just done is shown
    found = []
    for link in svc.store.links.recipients([share.id])[share.id]:
        sent = seen = None
        if activity:
            records = svc.store.records
            sent = next(
                iter(records.query(link_id=link.id, events=_SENT, limit=1)), None
            )
            seen = next(
                iter(records.query(link_id=link.id, events=_LOOKED, limit=1)), None
            )
        found.append(Line(link, sharing.shareable_url(svc, link, base_url), sent, seen))
    return found
