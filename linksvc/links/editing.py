"""Changing a live link without changing its URL; no Flask.

The expiry, download limit, note, password and address ranges live in the
link's row, which every download reads (db/claims.py), so an edit applies at
once and the token (signed from what the link was first made with) keeps its
text. The dashboard, the API and the CLI all come here.
"""

from __future__ import annotations

from typing import Any

from ..core import addresses
from ..core.clock import minutes
from ..core.clock import now as clock_now
from ..core.durations import parse_duration
from ..core.durations import parse_instant
from ..core.errors import AlreadyRevoked
from ..core.errors import EditConflict
from ..core.errors import InvalidInput
from ..core.errors import PolicyRefused
from ..db.links import Link
from ..db.users import User
from ..services import Services
from . import sharing
from .policy import download_limit
from .policy import policy_for

#: "Leave it as it is", as opposed to None ("remove it").
UNCHANGED: Any = object()


def new_expiry(value: str | int, now: int) -> int:
    """An edit's expiry: a duration from now (``3d``, ``+3d``, or seconds) or
    an ISO 8601 moment."""
    if isinstance(value, bool):
        raise InvalidInput("expires must be a duration such as 3d, or a time.")
    if isinstance(value, int):
        return now + parse_duration(value)
    return parse_instant(value, now)


def edit_link(
    svc: Services,
    by: User,
    link_id: str,
    *,
    expires: str | int = UNCHANGED,
    max_downloads: int | str | None = UNCHANGED,
    note: str = UNCHANGED,
    password: str | None = UNCHANGED,
    ranges: str | list[str] | None = UNCHANGED,
    revision: str | None = None,
    actor: str = "",
    **client: Any,
) -> Link:
    """Change what was given of a link of ``by``'s (or any, for an admin).

    A new expiry counts from now and may be at most ``max_expiry`` (and the
    owner's group maximum) from now: extending is allowed, also of an
    expired link, as the owner could share it again anyway. A revoked link
    stays revoked. The owner's group policy applies as when it was made;
    the audit records what changed (never the password) and who changed it.
    With ``revision`` (what the form or client last saw), an edit of a link
    changed since is refused (EditConflict) rather than undoing that change.
    """
    link = sharing.visible_link(svc, by, link_id)
    if revision is not None and revision != link.revision:
        raise EditConflict(
            f"Link {link.id} was changed by someone else since you loaded it; "
            "its current settings are shown: look at them and save again."
        )
    if link.revoked_at is not None:
        raise AlreadyRevoked(f"Link {link.id} is revoked; it cannot be changed.")
    owner = svc.store.users.get(link.created_by) or by
    policy = policy_for(svc, owner)
    now = clock_now()
    changes: dict[str, Any] = {}
    said: list[str] = []
    if expires is not UNCHANGED and expires not in (None, ""):
        at = new_expiry(expires, now)
        if at <= now:
            raise InvalidInput(
                "The new expiry must be in the future; revoke the link to end it now."
            )
        if link.not_before is not None and at <= link.not_before:
            raise InvalidInput("The new expiry must come after the link's start.")
        sharing.within_max_expiry(svc, at - now)
        policy.expiry(at - now, svc.settings.default_expiry)
        if at != link.expires_at:
            changes["expires_at"] = at
            said.append(f"expires_at: {minutes(link.expires_at)} → {minutes(at)} UTC")
    if max_downloads is not UNCHANGED:
        limit = download_limit(max_downloads)
        if limit is None and policy.max_downloads:
            raise PolicyRefused(
                f"Group {policy.max_downloads[1]!r} requires a download limit "
                "on every link."
            )
        policy.downloads(limit)
        if link.max_downloads is None and limit is not None:
            # Downloads of an unlimited link are counted in batches: add
            # this process's pending ones before a limit starts to count.
            svc.audit.flush(timeout=2)
        if limit != link.max_downloads:
            changes["max_downloads"] = limit
            was = _shown(link.max_downloads)
            said.append(f"max_downloads: {was} → {_shown(limit)}")
    if note is not UNCHANGED:
        clean = sharing.clean_note(note)
        if clean != link.note:
            changes["note"] = clean
            said.append("note changed")
    if password is not UNCHANGED:
        secret = sharing.clean_password(password)
        policy.check_password(secret is not None)
        if secret is not None:
            changes["password_hash"] = sharing.hashed(secret)
            said.append("password " + ("changed" if link.has_password else "set"))
        elif link.has_password:
            changes["password_hash"] = None
            said.append("password removed")
    if ranges is not UNCHANGED:
        clean_ranges = addresses.parse_ranges(ranges)
        policy.check_ranges(clean_ranges)
        if clean_ranges != link.ranges:
            changes["ranges"] = clean_ranges
            said.append(f"ranges: {link.ranges or 'any'} → {clean_ranges or 'any'}")
    if not changes:
        return link
    edited = svc.store.links.edit(link, changes)
    svc.audit.record(
        "edited",
        "ok",
        link_id=link.id,
        path=link.path,
        actor=actor or by.username,
        detail="; ".join(said),
        **client,
    )
    return edited


def _shown(limit: int | None) -> str:
    return "no limit" if limit is None else str(limit)
