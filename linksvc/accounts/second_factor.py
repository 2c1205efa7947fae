"""Second factors for local accounts: TOTP (pyotp) and one-time recovery
codes; no Flask.

A code is checked once per time step (the step is stored, in one UPDATE,
so a code seen over a shoulder or replayed on another worker is refused),
within one step either side for clocks that drift; tries are limited per
account (``reauth_limit``, shared in the limiter's storage) before any
check. Ten recovery codes are shown once and kept as sha256 (random, 50
bits each: no slow hash needed); each works once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import pyotp

from ..core.errors import InvalidInput
from ..core.errors import TooManyAttempts
from ..db.users import User
from ..services import Services

#: Recovery codes made at enrolment.
RECOVERY_CODES = 10
#: Time steps either side of now a code may be from.
DRIFT = 1
ISSUER = "linksvc"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def new_recovery_codes() -> list[str]:
    # 10 characters of a 32-letter alphabet without 0/O, 1/I: 50 bits each.
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return [
        "".join(secrets.choice(alphabet) for _ in range(5))
        + "-"
        + "".join(secrets.choice(alphabet) for _ in range(5))
        for _ in range(RECOVERY_CODES)
    ]


def code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def matching_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step ``code`` belongs to (now, or one either side), compared
    in constant time; None if it is none of them. Pure."""
    code = code.strip().replace(" ", "")
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    moment = time.time() if at is None else at
    now_step = int(moment // totp.interval)
    found = None
    for step in range(now_step - DRIFT, now_step + DRIFT + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def enrol(svc: Services, user: User, secret: str, code: str) -> list[str]:
    """Turn the second factor on once ``code`` shows the app has ``secret``;
    returns the recovery codes (shown once). InvalidInput otherwise."""
    step = matching_step(secret, code)
    if step is None:
        raise InvalidInput(
            "That code does not match; check the app's clock and try again."
        )
    codes = new_recovery_codes()
    svc.store.users.set_second_factor(user.id, secret, [code_hash(c) for c in codes])
    svc.store.users.use_step(user.id, step)
    svc.audit.record(
        "user", "second factor on", actor=user.username, subject=user.username
    )
    return codes


def remove(svc: Services, user: User, actor: str) -> None:
    svc.store.users.set_second_factor(user.id, None)
    svc.audit.record("user", "second factor off", actor=actor, subject=user.username)


def verify(svc: Services, user: User, code: str) -> str | None:
    """How ``code`` proves the second factor ("totp" or "recovery"), or None;
    TooManyAttempts past the account's limit (that try is not checked)."""
    if user.totp_secret is None:
        return None
    throttle = svc.passwords.throttles.get("account")
    if throttle is not None:
        wait = throttle.hit(f"second-factor:{user.id}")
        if wait is not None:
            raise TooManyAttempts(
                "Too many codes tried for this account; try again later.", wait
            )
    step = matching_step(user.totp_secret, code)
    if step is not None and svc.store.users.use_step(user.id, step):
        return "totp"
    if "-" in code and svc.store.users.use_recovery_code(user.id, code_hash(code)):
        return "recovery"
    return None
