"""Who an identity provider's signed claims make a person here; no Flask.

web/oidc.py has Authlib check the ID token (signature by the provider's
keys, issuer, audience, expiry, nonce) and hands the claims here: the first
sign-in makes the account, every later one finds it by the provider's
subject (never by name, so renaming at the provider keeps the account, and
an outside name can never take over a local one) and updates the email.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.errors import SignInFailed
from ..db.users import User
from ..links import policy
from ..services import Services
from .people import EMAIL
from .people import USERNAME


def subject_of(issuer: str, claims: Mapping[str, object]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise SignInFailed("The provider's ID token names no subject.")
    return f"{issuer} {sub}"


def sign_in(
    svc: Services, issuer: str, claims: Mapping[str, object], **client: Any
) -> User:
    """The account the claims name, made at the first sign-in; SignInFailed
    for a disabled account or a name that cannot be (or is already) a
    local one (audited; the sign-in itself is recorded when its session
    starts, web/auth.py: sign_in)."""
    subject = subject_of(issuer, claims)
    email = claims.get("email")
    email = email if isinstance(email, str) and EMAIL.fullmatch(email) else ""
    user = svc.store.users.by_subject(subject)
    try:
        if user is None:
            user = _first(svc, subject, claims, email)
        elif user.disabled:
            raise SignInFailed(f"The account {user.username!r} is disabled here.")
        elif email and email != user.email:
            user = svc.store.users.set_email(user.username, email)
    except SignInFailed as exc:
        svc.audit.record(
            "login",
            "refused",
            actor="oidc",
            subject=subject[:64],
            detail=str(exc),
            **client,
        )
        raise
    follow_groups(svc, user, claims)
    return user


def follow_groups(svc: Services, user: User, claims: Mapping[str, object]) -> None:
    """Follow the provider's groups claim (see :func:`follow_group_names`)."""
    listed = claims.get(svc.settings.oidc_groups_claim)
    theirs = set()
    if isinstance(listed, list):
        theirs = {g for g in listed if isinstance(g, str)}
    follow_group_names(svc, user, theirs, "oidc")


def follow_group_names(svc: Services, user: User, theirs: set[str], actor: str) -> None:
    """Put ``user`` in each mapped linksvc group the provider (or directory)
    lists them in, and out of each mapped one it no longer lists (policies
    and grants apply at once: they are read on every request). Unmapped
    groups stay as an administrator set them."""
    mapping = svc.settings.oidc_group_map
    if not mapping:
        return
    wanted = {ours for idp, ours in mapping if idp in theirs}
    mapped = {ours for _, ours in mapping}
    now_in = {g.name for g in svc.store.groups.of_user(user.id)}
    known = {g.name for g in svc.store.groups.list()}
    for name in sorted((wanted - now_in) & known):
        policy.join_group(svc, name, user.username, actor=actor)
    for name in sorted((now_in & mapped) - wanted):
        policy.leave_group(svc, name, user.username, actor=actor)


def _first(
    svc: Services, subject: str, claims: Mapping[str, object], email: str
) -> User:
    claim = svc.settings.oidc_username_claim
    name = claims.get(claim)
    if not isinstance(name, str) or not USERNAME.fullmatch(name):
        raise SignInFailed(
            f"The provider's {claim!r} claim ({name!r}) cannot be a user name here: "
            "1 to 64 letters, digits, dots, underscores, @ or hyphens."
        )
    existing = svc.store.users.by_name_or_none(name)
    if existing is not None and existing.provisioned and existing.oidc_subject is None:
        # Made by the provider through SCIM: its first sign-in links it.
        if existing.disabled:
            raise SignInFailed(f"The account {name!r} is disabled here.")
        svc.store.users.set_subject(existing.id, subject)
        svc.audit.record("user", "linked", actor="oidc", subject=name)
        return svc.store.users.by_name(name)
    if existing is not None:
        raise SignInFailed(
            f"An account named {name!r} exists here and is not linked to "
            "single sign-on; an administrator must rename or link it."
        )
    user = svc.store.users.add_federated(name, subject, email)
    svc.audit.record("user", "added", actor="oidc", subject=user.username)
    return user
