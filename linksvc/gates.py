"""What a link's row asks of a request beyond a genuine token; no Flask.

The network it comes from (address ranges), the file being the one shared
(a pinned version) and the password (an unlock cookie). The download path,
the recipient page and previews all check a link through :func:`guard_for`.
"""

from __future__ import annotations

import os
from typing import Any

from .core import addresses
from .core.clock import now as clock_now
from .core.errors import AddressRefused
from .core.errors import FileChanged
from .core.errors import PasswordRequired
from .core.files import version
from .core.signing import Claims
from .db.claims import Guard
from .db.claims import LinkState
from .services import Services


def genuine(svc: Services, token: str) -> tuple[Claims, LinkState | None]:
    """The claims of a genuine token; an opaque one's come from its row,
    which is returned too so that the claim does not read it again."""
    claims = svc.signer.verify(token)
    if claims.opaque:
        return svc.store.claims.resolve(claims)
    return claims, None


def guard_for(
    svc: Services,
    environ: dict[str, Any],
    claims: Claims,
    st: os.stat_result | None,
    password: bool = True,
) -> Guard:
    """The checks of a link's options, in the order a recipient can act on:
    the network, then whether the file is still the one shared, then the
    password (an unlock cookie for this link and its current password)."""

    def guard(state: LinkState) -> None:
        addr = environ.get("REMOTE_ADDR") or ""
        if state.ranges and not addresses.allows(state.ranges, addr):
            raise AddressRefused(
                f"This link can only be used from certain networks; your "
                f"address {addr[:64]} is not in them."
            )
        if state.version is not None and (st is None or state.version != version(st)):
            raise FileChanged("The file has changed since this link was made.")
        if (
            password
            and state.password_hash is not None
            and not svc.unlocks.unlocked(
                environ.get("HTTP_COOKIE", ""), claims.link_id, state.password_hash
            )
        ):
            raise PasswordRequired("This link is protected by a password.")

    return guard


def claim_request(
    svc: Services,
    environ: dict[str, Any],
    claims: Claims,
    state: LinkState | None,
    mode: str,
    st: os.stat_result | None,
) -> str:
    """Claim the link for this request (db/claims.py), with its options
    checked by :func:`guard_for`; COUNTED, DEFERRED or FREE, or why not."""
    return svc.store.claims.claim(
        claims,
        clock_now(),
        mode,
        svc.settings["resume_window"],
        environ.get("REMOTE_ADDR") or "",
        state,
        guard_for(svc, environ, claims, st),
    )
