"""Links follow their owner's access: when a person's grants change, each of
their links to a path they no longer reach is suspended (it stops working,
the row says so) or, with ``on_access_lost = "revoke"``, revoked; a
suspended link works again when the access comes back.

Called by everything that changes what a person reaches: their own grants,
their groups, a group's grants, becoming or ceasing to be an admin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..files.tree import covers

if TYPE_CHECKING:
    from ..services import Services


def follow_access(svc: Services, username: str, actor: str) -> list[str]:
    """Bring ``username``'s links in line with their grants now; returns the
    ids whose state changed (suspended, revoked or working again)."""
    user = svc.store.users.by_name(username)
    grants = user.effective_grants if not user.disabled else []
    lost, back = [], []
    for link_id, path, suspended in svc.store.links.owned(user.id):
        reaches = covers(grants, path)
        if not reaches and not suspended:
            lost.append((link_id, path))
        elif reaches and suspended:
            back.append(link_id)
    if svc.settings.on_access_lost == "revoke":
        for link_id, path in lost:
            svc.store.links.revoke(link_id, None)
            svc.audit.record(
                "revoked",
                "ok",
                link_id=link_id,
                path=path,
                actor=actor,
                detail="access lost",
            )
    else:
        svc.store.links.set_suspended([i for i, _ in lost], True)
        for link_id, path in lost:
            svc.audit.record(
                "suspended",
                "ok",
                link_id=link_id,
                path=path,
                actor=actor,
                detail="access lost",
            )
    if back:
        svc.store.links.set_suspended(back, False)
        for link_id in back:
            svc.audit.record(
                "resumed", "ok", link_id=link_id, actor=actor, detail="access back"
            )
    return [i for i, _ in lost] + back
