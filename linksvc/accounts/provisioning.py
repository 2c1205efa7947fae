"""SCIM 2.0 provisioning (RFC 7643/7644): what the identity provider's
calls do to accounts and groups here; no Flask.

Resources are scim2-models objects, parsed and checked by the library in
web/scim.py. The provider sees only what it keeps (``provisioned``): a
local account or an administrator's group is never listed, changed or
deleted through SCIM, except that creating a group (or an account the
provider already signs in) of the same name adopts it, which is how an
administrator's group with grants gets its members from the provider.

A deactivated (``active: false``) or deleted account is disabled at once,
with everything that ends (sessions, API tokens: users.py), and its links
follow ``on_access_lost`` (links/ownership.py); reactivating it brings
suspended links back, never a session or a token.
"""

from __future__ import annotations

import re

from scim2_models import Email
from scim2_models import Group as ScimGroup
from scim2_models import GroupMember
from scim2_models import GroupMembership
from scim2_models import InvalidFilterException
from scim2_models import InvalidValueException
from scim2_models import Meta
from scim2_models import MutabilityException
from scim2_models import NotFoundException
from scim2_models import PatchOp
from scim2_models import UniquenessException
from scim2_models import User as ScimUser

from ..core.errors import GroupExists
from ..core.errors import InvalidInput
from ..core.errors import UserExists
from ..db.groups import Group
from ..db.users import User
from ..links import policy
from ..links.ownership import follow_access
from ..services import Services
from .people import EMAIL
from .people import USERNAME

#: Most resources one page lists (ServiceProviderConfig says so).
MAX_RESULTS = 200

#: The one filter form served: ``attribute eq "value"`` (RFC 7644 §3.4.2.2).
_FILTER = re.compile(r'\s*([A-Za-z.]+)\s+eq\s+"((?:[^"\\]|\\.){0,256})"\s*', re.I)

USER_FILTERS = ("userName", "externalId", "id")
GROUP_FILTERS = ("displayName", "externalId", "id")


def parse_filter(text: str | None, allowed: tuple[str, ...]) -> tuple[str | None, str]:
    """(attribute, value) of ``attr eq "value"`` for an allowed attribute,
    (None, "") for no filter; InvalidFilterException for anything else."""
    if not text:
        return None, ""
    found = _FILTER.fullmatch(text)
    names = {name.lower(): name for name in allowed}
    if found is None or found.group(1).lower() not in names:
        raise InvalidFilterException(
            detail=f"Only '<attribute> eq \"value\"' filters on {', '.join(allowed)} "
            "are served here."
        )
    value = re.sub(r"\\(.)", r"\1", found.group(2))
    return names[found.group(1).lower()], value


def _record(svc: Services, outcome: str, subject: str, actor: str, **extra) -> None:
    svc.audit.record("scim", outcome, subject=subject, actor=actor, **extra)


# -- users --------------------------------------------------------------------


def user_resource(user: User, location: str, groups: list[Group]) -> ScimUser:
    emails = [Email(value=user.email, primary=True)] if user.email else None
    return ScimUser(
        id=str(user.id),
        external_id=user.external_id,
        user_name=user.username,
        active=not user.disabled,
        emails=emails,
        groups=[
            GroupMembership(value=str(g.id), display=g.name, ref=None, type="direct")
            for g in groups
            if g.provisioned
        ]
        or None,
        meta=Meta(resource_type="User", location=location),
    )


def find_user(svc: Services, scim_id: str) -> User:
    """A provisioned account by its SCIM id; NotFoundException else."""
    user = svc.store.users.get(int(scim_id)) if scim_id.isdigit() else None
    if user is None or not user.provisioned:
        raise NotFoundException(detail=f"There is no user {scim_id!r} here.")
    return user


def list_users(
    svc: Services, filter_: str | None, start_index: int, count: int
) -> tuple[int, list[User]]:
    attribute, value = parse_filter(filter_, USER_FILTERS)
    total, ids = svc.store.provisioning.user_ids(
        attribute, value, max(start_index, 1) - 1, min(max(count, 0), MAX_RESULTS)
    )
    return total, [u for u in map(svc.store.users.get, ids) if u is not None]


def create_user(svc: Services, given: ScimUser, actor: str) -> User:
    """A new account, or the one the provider already signs in under that
    name (adopted); UniquenessException if a local account has it."""
    name = _username(given)
    existing = svc.store.users.by_name_or_none(name)
    if existing is not None and (existing.provisioned or not existing.federated):
        raise UniquenessException(
            detail=f"An account named {name!r} exists here"
            + ("." if existing.provisioned else " and is not the provider's.")
        )
    if existing is None:
        try:
            user = svc.store.users.add_provisioned(name, _email(given))
        except UserExists as exc:  # made meanwhile
            raise UniquenessException(detail=str(exc)) from None
        _record(svc, "user added", user.username, actor)
    else:
        user = existing
        _record(svc, "user adopted", user.username, actor)
    svc.store.provisioning.mark_user(user.id, True, given.external_id)
    return _apply(svc, svc.store.users.by_name(name), given, actor)


def replace_user(svc: Services, user: User, given: ScimUser, actor: str) -> User:
    """PUT: the account becomes what ``given`` says."""
    svc.store.provisioning.mark_user(user.id, True, given.external_id)
    return _apply(svc, user, given, actor)


def patch_user(svc: Services, user: User, patch: PatchOp, actor: str) -> User:
    """PATCH: the operations applied (by scim2-models) to the account as SCIM
    sees it, then written as a replacement."""
    current = user_resource(user, "", [])
    patch.patch(current)
    current.groups = None
    return replace_user(svc, user, current, actor)


def delete_user(svc: Services, user: User, actor: str) -> None:
    """DELETE: the account is disabled and no longer the provider's (kept
    for the audit trail and its links' history; SCIM then answers 404)."""
    _deactivate(svc, user, actor)
    svc.store.provisioning.mark_user(user.id, False, None)
    _record(svc, "user deleted", user.username, actor)


def _apply(svc: Services, user: User, given: ScimUser, actor: str) -> User:
    name = _username(given)
    if name != user.username:
        try:
            svc.store.users.rename(user.id, name)
        except UserExists as exc:
            raise UniquenessException(detail=str(exc)) from None
        _record(svc, "user renamed", name, actor, detail=f"was {user.username}")
    email = _email(given)
    if email != (svc.store.users.get(user.id) or user).email:
        svc.store.users.set_email(name, email)
    if given.active is False and not user.disabled:
        _deactivate(svc, user, actor, name)
    elif given.active is not False and user.disabled:
        svc.store.users.set_disabled(name, False)
        _record(svc, "user reactivated", name, actor)
        follow_access(svc, name, f"scim:{actor}")
    found = svc.store.users.get(user.id)
    assert found is not None
    return found


def _deactivate(svc: Services, user: User, actor: str, name: str | None = None) -> None:
    """Sessions and API tokens end at once (every worker reads them per
    request); links follow ``on_access_lost``."""
    name = name or user.username
    if not user.disabled:
        svc.store.users.set_disabled(name, True)
        _record(svc, "user deactivated", name, actor)
    follow_access(svc, name, f"scim:{actor}")


def _username(given: ScimUser) -> str:
    name = (given.user_name or "").strip()
    if not USERNAME.fullmatch(name):
        raise InvalidValueException(
            detail=f"userName {name[:80]!r} cannot be a user name here: 1 to 64 "
            "letters, digits, dots, underscores, @ or hyphens."
        )
    return name


def _email(given: ScimUser) -> str:
    emails = [e for e in given.emails or [] if e.value]
    chosen = next((e for e in emails if e.primary), emails[0] if emails else None)
    value = str(chosen.value).strip() if chosen else ""
    if value and (len(value) > 254 or not EMAIL.fullmatch(value)):
        raise InvalidValueException(detail=f"{value[:80]!r} is not an email address.")
    return value


# -- groups -------------------------------------------------------------------


def group_resource(svc: Services, group: Group, location: str) -> ScimGroup:
    ids = svc.store.provisioning.ids_of(group.members)
    names = svc.store.provisioning.user_names(list(ids.values()))
    return ScimGroup(
        id=str(group.id),
        external_id=group.external_id,
        display_name=group.name,
        members=[
            GroupMember(value=str(i), display=n, type="User", ref=None)
            for i, n in sorted(names.items())
        ]
        or None,
        meta=Meta(resource_type="Group", location=location),
    )


def find_group(svc: Services, scim_id: str) -> Group:
    group = svc.store.groups.by_id(int(scim_id)) if scim_id.isdigit() else None
    if group is None or not group.provisioned:
        raise NotFoundException(detail=f"There is no group {scim_id!r} here.")
    return group


def list_groups(
    svc: Services, filter_: str | None, start_index: int, count: int
) -> tuple[int, list[Group]]:
    attribute, value = parse_filter(filter_, GROUP_FILTERS)
    if attribute == "displayName":
        value = _group_name(svc, value, check=False)
    total, ids = svc.store.provisioning.group_ids(
        attribute, value, max(start_index, 1) - 1, min(max(count, 0), MAX_RESULTS)
    )
    return total, [g for g in map(svc.store.groups.by_id, ids) if g is not None]


def create_group(svc: Services, given: ScimGroup, actor: str) -> Group:
    """A new group, or an administrator's group of that name (adopted, its
    grants and policies kept); UniquenessException if the provider has it."""
    name = _group_name(svc, given.display_name or "")
    try:
        group = policy.add_group(svc, name, actor=f"scim:{actor}")
    except GroupExists:
        group = svc.store.groups.get(name)
        if group.provisioned:
            raise UniquenessException(detail=f"The group {name!r} exists.") from None
        _record(svc, "group adopted", name, actor)
    except InvalidInput as exc:
        raise InvalidValueException(detail=str(exc)) from None
    svc.store.provisioning.mark_group(group.id, True, given.external_id)
    return _members(svc, svc.store.groups.get(name), given, actor)


def replace_group(svc: Services, group: Group, given: ScimGroup, actor: str) -> Group:
    if _group_name(svc, given.display_name or "") != group.name:
        raise MutabilityException(
            detail="A group keeps its name here; map the new name to it "
            "(oidc_group_map) or make a new group."
        )
    svc.store.provisioning.mark_group(group.id, True, given.external_id)
    return _members(svc, group, given, actor)


def patch_group(svc: Services, group: Group, patch: PatchOp, actor: str) -> Group:
    current = group_resource(svc, group, "")
    patch.patch(current)
    return replace_group(svc, group, current, actor)


def delete_group(svc: Services, group: Group, actor: str) -> None:
    """DELETE: its members leave it (losing what it granted, at once); the
    group itself, with the grants and policies an administrator gave it,
    stays here, no longer the provider's."""
    for member in group.members:
        policy.leave_group(svc, group.name, member, actor=f"scim:{actor}")
    svc.store.provisioning.mark_group(group.id, False, None)
    _record(svc, "group deleted", group.name, actor)


def _members(svc: Services, group: Group, given: ScimGroup, actor: str) -> Group:
    """Make the group's members the provisioned accounts ``given`` lists."""
    wanted_ids = {str(m.value) for m in given.members or [] if m.value}
    bad = sorted(i for i in wanted_ids if not i.isdigit())
    names = svc.store.provisioning.user_names(
        [int(i) for i in wanted_ids if i.isdigit()]
    )
    missing = sorted({i for i in wanted_ids if i.isdigit()} - {str(i) for i in names})
    if bad or missing:
        raise InvalidValueException(
            detail=f"No provisioned user has the id {(bad + missing)[0][:40]!r}."
        )
    wanted = set(names.values())
    current = set(group.members)
    provisioned_now = set(svc.store.provisioning.ids_of(tuple(current)))
    by = f"scim:{actor}"
    for name in sorted(wanted - current):
        policy.join_group(svc, group.name, name, actor=by)
    for name in sorted(current - wanted):
        if name in provisioned_now and svc.store.users.by_name(name).provisioned:
            policy.leave_group(svc, group.name, name, actor=by)
    return svc.store.groups.get(group.name)


def _group_name(svc: Services, display_name: str, check: bool = True) -> str:
    """The linksvc group a provider's group name is: mapped by
    ``oidc_group_map`` (as at sign-in), else the same name."""
    display_name = display_name.strip()
    for idp, ours in svc.settings.oidc_group_map:
        if idp == display_name:
            return ours
    if check and not policy.GROUP_NAME.fullmatch(display_name):
        raise InvalidValueException(
            detail=f"The group name {display_name[:80]!r} cannot be a group name "
            "here; map it to one (oidc_group_map)."
        )
    return display_name
