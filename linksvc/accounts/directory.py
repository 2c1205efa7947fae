"""Signing in against LDAP / Active Directory, and the periodic sync that
disables people who left; no Flask.

The directory judges the password (linksvc binds as the person's entry:
linksvc/directory.py). The account here is made at the first sign-in and
found again by the entry's stable id (``ldap_id_attribute``: entryUUID,
objectGUID), never by name, so a local account is never taken over and a
renamed entry keeps its account. Groups map as single sign-on's do
(``oidc_group_map``), at every sign-in and every sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from ..core.errors import SignInFailed
from ..db.users import User
from ..directory import Person
from ..links.ownership import follow_access
from ..services import Services
from .people import EMAIL
from .people import USERNAME
from .sso import follow_group_names

SUBJECT_PREFIX = "ldap:"


def handles(svc: Services, username: str) -> bool:
    """Whether a sign-in with this name goes to the directory: it is set up
    and the name is not a local account's (those keep their password here)."""
    if svc.directory is None:
        return False
    user = svc.store.users.by_name_or_none(username.strip())
    return user is None or _is_directory(user)


def sign_in(svc: Services, username: str, password: str, **client: Any) -> User | None:
    """The account if the directory accepts the password, else None (a
    wrong password or an unknown name, which the caller records alike);
    SignInFailed for a disabled account or a name that cannot be one."""
    assert svc.directory is not None
    person = svc.directory.authenticate(username.strip(), password)
    if person is None:
        return None
    subject = SUBJECT_PREFIX + person.id
    user = svc.store.users.by_subject(subject)
    try:
        if user is None:
            user = _first(svc, subject, person)
        elif user.disabled:
            raise SignInFailed(f"The account {user.username!r} is disabled here.")
    except SignInFailed as exc:
        svc.audit.record(
            "login",
            "refused",
            actor="ldap",
            subject=person.username[:64],
            detail=str(exc),
            **client,
        )
        raise
    return _update(svc, user, person, "ldap")


def _first(svc: Services, subject: str, person: Person) -> User:
    if not USERNAME.fullmatch(person.username):
        raise SignInFailed(
            f"The directory's name {person.username[:80]!r} cannot be a user name "
            "here: 1 to 64 letters, digits, dots, underscores, @ or hyphens."
        )
    if svc.store.users.by_name_or_none(person.username) is not None:
        raise SignInFailed(
            f"An account named {person.username!r} exists here and is not the "
            "directory's; an administrator must rename or link it."
        )
    user = svc.store.users.add_federated(person.username, subject, _email(person))
    svc.audit.record("user", "added", actor="ldap", subject=user.username)
    return user


def _update(svc: Services, user: User, person: Person, actor: str) -> User:
    email = _email(person)
    if email and email != user.email:
        user = svc.store.users.set_email(user.username, email)
    follow_group_names(svc, user, set(person.groups), actor)
    return user


def _email(person: Person) -> str:
    email = person.email.strip()
    return email if len(email) <= 254 and EMAIL.fullmatch(email) else ""


def _is_directory(user: User) -> bool:
    return (user.oidc_subject or "").startswith(SUBJECT_PREFIX)


@dataclass
class SyncReport:
    checked: int = 0
    disabled: list[str] = field(default_factory=list)
    updated: int = 0


def sync(svc: Services, actor: str = "directory") -> SyncReport:
    """Every enabled directory account checked against the directory: one
    whose entry is gone is disabled (its sessions and API tokens end, its
    links follow ``on_access_lost``); the others get their address and
    mapped groups as the directory has them now."""
    assert svc.directory is not None
    report = SyncReport()
    for user in svc.store.users.list():
        if not _is_directory(user) or user.disabled:
            continue
        report.checked += 1
        person = svc.directory.find((user.oidc_subject or "")[len(SUBJECT_PREFIX) :])
        if person is None:
            svc.store.users.set_disabled(user.username, True)
            svc.audit.record(
                "user",
                "disabled",
                actor=actor,
                subject=user.username,
                detail="gone from the directory",
            )
            follow_access(svc, user.username, actor)
            report.disabled.append(user.username)
        else:
            _update(svc, user, person, actor)
            report.updated += 1
    return report
