"""What happens to a person's account beyond its row; no Flask."""

from __future__ import annotations

from .services import Services
from .sharing import revoke_many


def disable_user(svc: Services, username: str, actor: str = "cli") -> list[str]:
    """Disable an account: its sessions and API tokens end and its links are
    revoked (the ids are returned)."""
    user = svc.store.users.set_disabled(username, True)
    return revoke_many(svc, None, owner=user, actor=actor)
