"""Changing a live link without changing its URL; no Flask.

The expiry, download limit, note, password and address ranges live in the
link's row, which every download reads (db/claims.py), so an edit applies at
once and the token (signed from what the link was first made with) keeps its
text. The dashboard, the API and the CLI all come here.
"""

from __future__ import annotations

from typing import Any

from ..core.clock import minutes
from ..core.clock import now as clock_now
from ..core.errors import AlreadyRevoked
from ..core.errors import EditConflict
from ..core.errors import InvalidInput
from ..db.links import Link
from ..db.users import User
from ..services import Services
from . import sharing
from .options import EDITABLE
from .options import LinkOptions
from .policy import policy_for


def edit_link(
    svc: Services,
    by: User,
    link_id: str,
    changes: LinkOptions,
    *,
    revision: str | None = None,
    actor: str = "",
    **client: Any,
) -> Link:
    """Change the options ``changes`` gives (``changes.given``) of a link of
    ``by``'s (or any, for an admin); the others stay as they are.

    A new expiry counts from now and may be at most ``max_expiry`` (and the
    owner's group maximum) from now: extending is allowed, also of an
    expired link, as the owner could share it again anyway. A revoked link
    stays revoked. The owner's group policy applies as when it was made;
    the audit records what changed (never the password) and who changed it.
    With ``revision`` (what the form or client last saw), an edit of a link
    changed since is refused (EditConflict) rather than undoing that change.
    """
    fixed = sorted(changes.given - set(EDITABLE))
    if fixed:
        raise InvalidInput(
            f"{fixed[0]} cannot be changed; these can: {', '.join(EDITABLE)}."
        )
    link = sharing.visible_link(svc, by, link_id)
    if revision is not None and revision != link.revision:
        raise EditConflict(
            f"Link {link.id} was changed by someone else since you loaded it; "
            "its current settings are shown: look at them and save again."
        )
    if link.revoked_at is not None:
        raise AlreadyRevoked(f"Link {link.id} is revoked; it cannot be changed.")
    owner = svc.store.users.get(link.created_by) or by
    now = clock_now()
    if (
        changes.expires is not None
        and link.not_before is not None
        and changes.expires.at(now) <= link.not_before
    ):
        raise InvalidInput("The new expiry must come after the link's start.")
    judged = policy_for(svc, owner).applied(changes, now, svc.settings, edit=True)
    columns: dict[str, Any] = {}
    said: list[str] = []
    given = changes.given
    if "expires" in given and judged.expires is not None:
        at = judged.expires.at(now)
        if at != link.expires_at:
            columns["expires_at"] = at
            said.append(f"expires_at: {minutes(link.expires_at)} → {minutes(at)} UTC")
    if "max_downloads" in given:
        limit = judged.max_downloads
        if link.max_downloads is None and limit is not None:
            # Downloads of an unlimited link are counted in batches: add
            # this process's pending ones before a limit starts to count.
            svc.audit.flush(timeout=2)
        if limit != link.max_downloads:
            columns["max_downloads"] = limit
            was = _shown(link.max_downloads)
            said.append(f"max_downloads: {was} → {_shown(limit)}")
    if "note" in given and judged.note != link.note:
        columns["note"] = judged.note
        said.append("note changed")
    if "password" in given:
        if judged.password is not None:
            columns["password_hash"] = sharing.hashed(judged.password)
            said.append("password " + ("changed" if link.has_password else "set"))
        elif link.has_password:
            columns["password_hash"] = None
            said.append("password removed")
    if "ranges" in given and judged.ranges != link.ranges:
        columns["ranges"] = judged.ranges
        said.append(f"ranges: {link.ranges or 'any'} → {judged.ranges or 'any'}")
    if not columns:
        return link
    edited = svc.store.links.edit(link, columns)
    touched = [link]
    if link.share:  # a share's change is every recipient's (their URLs stay)
        for one in svc.store.links.recipients([link.id])[link.id]:
            if one.revoked_at is None:
                svc.store.links.edit(one, columns)
                touched.append(one)
    for each in touched:
        svc.audit.record(
            "edited",
            "ok",
            link_id=each.id,
            path=link.path,
            actor=actor or by.username,
            detail="; ".join(said),
            **client,
        )
    return edited


def _shown(limit: int | None) -> str:
    return "no limit" if limit is None else str(limit)
