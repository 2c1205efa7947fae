"""People's accounts: the rules and audit records the CLI and the admin
pages share; no Flask.

Every change is recorded in the audit log as event ``user`` with what
happened (``added``, ``disabled``, ``password``, ``granted`` …), who did it
(``actor``) and whom it is about (``subject``).
"""

from __future__ import annotations

import re
import secrets
from functools import partial

from ..core.clock import now as clock_now
from ..core.errors import InvalidInput
from ..core.text import EMAIL
from ..core.webhook_signatures import new_key
from ..db.users import User
from ..links.ownership import follow_access
from ..links.sharing import revoke_many
from ..notify.delivery import check_webhook_url
from ..services import Services

#: User names people can type and read back: letters, digits, . _ @ -.
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
#: Shortest password accepted.
MIN_PASSWORD = 8


def _record(svc: Services, outcome: str, subject: str, actor: str, **extra) -> None:
    svc.audit.record("user", outcome, subject=subject, actor=actor, **extra)


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"The password must have at least {MIN_PASSWORD} characters."
        )
    return password


def new_password() -> str:
    """A password to hand over once (the user changes it on their page)."""
    return secrets.token_urlsafe(12)


def add_user(
    svc: Services,
    username: str,
    password: str,
    *,
    admin: bool = False,
    grants: tuple[str, ...] = (),
    actor: str = "cli",
) -> User:
    if not USERNAME.fullmatch(username):
        raise InvalidInput(
            "A user name has 1 to 64 letters, digits, dots, underscores, @ or "
            "hyphens, and starts with a letter or digit."
        )
    clean = [svc.tree.clean(prefix) for prefix in grants]
    user = svc.store.users.add(username, check_password(password), admin, clean)
    _record(svc, "added", user.username, actor)
    return user


def grant(svc: Services, username: str, prefix: str, actor: str = "cli") -> User:
    clean = svc.tree.clean(prefix)
    user = svc.store.users.grant(username, clean)
    _record(svc, "granted", user.username, actor, path=clean)
    follow_access(svc, user.username, actor)
    return user


def ungrant(svc: Services, username: str, prefix: str, actor: str = "cli") -> User:
    clean = svc.tree.clean(prefix)
    user = svc.store.users.ungrant(username, clean)
    _record(svc, "ungranted", user.username, actor, path=clean)
    follow_access(svc, user.username, actor)
    return user


def set_password(
    svc: Services, username: str, password: str, actor: str = "cli"
) -> User:
    """A new password: the user's sessions and API tokens end."""
    user = svc.store.users.set_password(username, check_password(password))
    _record(svc, "password", user.username, actor)
    return user


def reauthenticate(svc: Services, user: User, password: str) -> bool:
    """Whether ``password`` is ``user``'s, asked again before something that
    outlives the session (a token, a new password): limited per account
    (``reauth_limit``), so a stolen session cannot guess it; TooManyAttempts
    past the limit."""
    verify = partial(svc.passwords.check, "account", user.id)
    return svc.store.users.authenticate(user.username, password, verify) is not None


def change_own_password(svc: Services, user: User, current: str, new: str) -> User:
    """The user's own change: the current password first."""
    if not reauthenticate(svc, user, current):
        raise InvalidInput("The current password is not right.")
    return set_password(svc, user.username, new, actor=user.username)


def set_email(svc: Services, username: str, email: str, actor: str) -> User:
    email = email.strip()
    if email and (len(email) > 254 or not EMAIL.fullmatch(email)):
        raise InvalidInput(f"{email!r} is not an email address.")
    user = svc.store.users.set_email(username, email)
    _record(svc, "email", user.username, actor)
    return user


def set_webhook(
    svc: Services, user: User, url: str, new_secret: bool, actor: str
) -> User:
    """Set (or, with ``url`` empty, remove) ``user``'s webhook. A new signing
    key is made for a new URL, on request, or when there is none yet. A key
    replaced on request keeps signing beside the new one for
    ``webhook_rotation``, so the receiver can take the new key without
    refusing a delivery meanwhile; a new URL starts with one key."""
    url = check_webhook_url(svc, url)
    if not url:
        changed = svc.store.users.set_webhook(user.username, "", "")
    elif not user.webhook_secret or url != user.webhook_url:
        changed = svc.store.users.set_webhook(user.username, url, new_key())
    elif new_secret:
        until = clock_now() + svc.settings.webhook_rotation
        changed = svc.store.users.set_webhook(
            user.username, url, new_key(), user.webhook_secret, until
        )
    else:
        changed = user
    _record(svc, "webhook", user.username, actor, detail=f"webhook: {url or 'none'}")
    return changed


def set_admin(svc: Services, username: str, admin: bool, actor: str) -> User:
    user = svc.store.users.set_admin(username, admin)
    _record(svc, "admin" if admin else "not_admin", user.username, actor)
    follow_access(svc, user.username, actor)
    return user


def enable_user(svc: Services, username: str, actor: str = "cli") -> User:
    user = svc.store.users.set_disabled(username, False)
    _record(svc, "enabled", user.username, actor)
    return user


def disable_user(svc: Services, username: str, actor: str = "cli") -> list[str]:
    """Disable an account: its sessions and API tokens end and its links are
    revoked (the ids are returned)."""
    user = svc.store.users.set_disabled(username, True)
    _record(svc, "disabled", user.username, actor)
    return revoke_many(svc, None, owner=user, actor=actor)
