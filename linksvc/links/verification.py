"""Recipient verification: a one-time code sent to the recipient's address
before their link opens; no Flask.

The email carries the code and never a link, so a mail scanner that fetches
every URL of a message cannot use it up or verify for the recipient. Codes
are 8 random digits, work once, for ``code_lifetime``, for five guesses
(db/codes.py); sending is held to ``code_limit`` per recipient's link and
per address, and wrong guesses count as refusals of the client's address.
A right code gives that browser a signed cookie for that link only.
"""

from __future__ import annotations

import secrets
from typing import Any

from ..core.clock import now as clock_now
from ..core.errors import TooManyRequests
from ..core.errors import WrongCode
from ..core.signing import Claims
from ..db.claims import LinkState
from ..notify import delivery
from ..services import Services

#: Digits in a code: 10^8 codes, five guesses each.
DIGITS = 8


def masked(email: str) -> str:
    """An address as the page shows it: enough to recognise, not to read."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'•' * max(1, min(len(local) - 1, 6))}@{domain}"


def send_code(svc: Services, claims: Claims, state: LinkState) -> None:
    """Email a new code to the recipient's address (held to ``code_limit``
    per link and per address; TooManyRequests beyond)."""
    to = state.recipient_email
    for throttle, key in ((svc.code_sends, claims.link_id), (svc.code_sends_to, to)):
        wait = throttle.hit(key.lower()) if throttle is not None else None
        if wait is not None:
            raise TooManyRequests(
                "A code was sent several times already; look for it in your "
                "mail, or try again later.",
                wait,
            )
    code = f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"
    now = clock_now()
    lifetime = svc.settings.code_lifetime
    svc.store.codes.add(claims.link_id, code, now, lifetime)
    name = claims.path.rsplit("/", 1)[-1] or "protected"
    minutes = max(1, lifetime // 60)
    svc.store.outbox.add(
        [
            {
                "kind": "email",
                "key": f"code:{claims.link_id}:{secrets.token_hex(8)}",
                "user_id": state.created_by,
                "link_id": claims.link_id,
                "event": "code",
                "recipient": to,
                "subject": f"Your code for {name}",
                "body": (
                    f"Your code to download {name}:\n\n"
                    f"    {code[:4]} {code[4:]}\n\n"
                    f"Enter it on the page that asked for it. It works once, "
                    f"for {minutes} minutes.\nIf you did not ask for it, "
                    "ignore this message: nobody can use your link without it.\n"
                ),
            }
        ],
        now,
    )
    delivery.wake()  # the outbox sends it now, not at its next run


def check_code(svc: Services, claims: Claims, given: str | None) -> None:
    """The code given for the link, or WrongCode."""
    code = "".join(c for c in (given or "") if c.isdigit())
    if len(code) != DIGITS or not svc.store.codes.use(
        claims.link_id, code, clock_now()
    ):
        raise WrongCode(
            "That code does not work: it is wrong, used, or older than "
            f"{max(1, svc.settings.code_lifetime // 60)} minutes. Ask for a new one."
        )


def cookie_value(svc: Services, claims: Claims, state: LinkState) -> str:
    return svc.verified.value(claims.link_id, state.recipient_email.lower())


def verified(svc: Services, environ: dict[str, Any], link_id: str, email: str) -> bool:
    return svc.verified.unlocked(environ.get("HTTP_COOKIE", ""), link_id, email.lower())
