"""Links from what a person asked for: create, see, revoke, spell; no Flask.

The dashboard, the CLI and the API all come here, so the grant check, the
path rules and the expiry limits cannot differ between them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from dataclasses import replace
from typing import Any

from ..accounts.access import granted_file
from ..accounts.access import granted_folder
from ..accounts.access import is_folder
from ..core.clock import now as clock_now
from ..core.errors import InvalidInput
from ..core.errors import LinksvcError
from ..core.errors import UnknownLink
from ..db.hashing import hashed as hash_secret
from ..db.links import Link
from ..db.users import User
from ..files.tree import version
from ..services import Services
from .options import LinkOptions
from .options import parse
from .policy import policy_for

#: Every option left to its setting and the group policy.
DEFAULTS = LinkOptions()


@dataclass(frozen=True)
class Target:
    """What a user may make a link to, as :func:`target` found it: the real
    path under the tree, whether it is a folder, and a file's stat (the
    version a pinned link keeps)."""

    path: str
    folder: bool
    st: os.stat_result | None = None


def target(svc: Services, user: User, path: str) -> Target:
    """The one grant check before a link is made (the share page, the API,
    the CLI): NotGranted, or what ``path`` names. The whole tree is not a
    folder one can share."""
    if is_folder(svc, path):
        clean, _ = granted_folder(svc, user, path)
        if not clean:
            raise InvalidInput("Name a folder to share, not the whole protected tree.")
        return Target(clean, folder=True)
    clean, _, st = granted_file(svc, user, path)
    return Target(clean, folder=False, st=st)


def options(**raw: object) -> LinkOptions:
    """LinkOptions from values by name, parsed now (the CLI, tests)."""
    return parse(raw, clock_now())


def create_link(
    svc: Services,
    user: User,
    shared: Target | str,
    asked: LinkOptions = DEFAULTS,
    *,
    actor: str = "",
    remote_addr: str = "",
    user_agent: str = "",
) -> tuple[Link, str]:
    """Store and sign a link to what ``shared`` names (a path is checked
    against ``user``'s grants first: :func:`target`).

    Returns the link and its token. Options left None take their setting
    (``recipient_page``, ``pin``, ``notify``, ``opaque_links``) and the
    user's group policy (expiry, download limit), which also judges the
    rest. The expiry counts from ``not_before`` when a start is given, so a
    scheduled link lives as long as asked. A folder link is never pinned.
    """
    if asked.recipients:
        raise InvalidInput("Links for recipients are made as a share.")
    if asked.verify:
        raise InvalidInput("A code is sent to a recipient: name recipients to verify.")
    made = _made(svc, user, shared, asked)
    link = _add(svc, user, made)
    _created(svc, user, made, link, actor, remote_addr, user_agent)
    return link, link_token(svc, link)


def create_share(
    svc: Services,
    user: User,
    shared: Target | str,
    asked: LinkOptions,
    *,
    actor: str = "",
    remote_addr: str = "",
    user_agent: str = "",
) -> tuple[Link, list[tuple[Link, str]]]:
    """A share for named recipients: one row the owner sees (it opens
    nothing itself) and one link per recipient under it, each with its own
    token, count, limit, audit and revocation, and the share's options.
    Returns the share and each recipient's link and token."""
    if not asked.recipients:
        raise InvalidInput("A share for recipients needs at least one recipient.")
    if asked.verify and not svc.settings.smtp_host:
        raise InvalidInput("Codes are sent by email, and this server sends none.")
    made = _made(svc, user, shared, asked)
    share = _add(svc, user, made, {"share": True})
    _created(svc, user, made, share, actor, remote_addr, user_agent)
    links = []
    for one in asked.recipients:
        link = _add(
            svc,
            user,
            made,
            {
                "parent_id": share.id,
                "recipient_label": one.label,
                "recipient_email": one.email,
                "verify": bool(asked.verify) and bool(one.email),
            },
        )
        detail = f"recipient {one.label} of share {share.id}"
        _created(svc, user, made, link, actor, remote_addr, user_agent, detail)
        links.append((link, link_token(svc, link)))
    return share, links


@dataclass(frozen=True)
class _Made:
    """What a new link will be, once the rules judged the request."""

    target: Target
    chosen: LinkOptions
    start: int
    now: int


def _made(svc: Services, user: User, shared: Target | str, asked: LinkOptions) -> _Made:
    if isinstance(shared, str):
        shared = target(svc, user, shared)
    now = clock_now()
    settings = svc.settings
    if asked.not_before is not None and asked.not_before - now > settings.max_expiry:
        raise InvalidInput("A link may not start later than max_expiry from now.")
    start = now if asked.not_before is None else asked.not_before
    chosen = asked.resolved(
        recipient_page=settings.recipient_page,
        pin=settings.pin,
        notify=settings.notify,
        opaque=settings.opaque_links,
    )
    chosen = replace(chosen, folder=shared.folder, pin=chosen.pin and not shared.folder)
    chosen = policy_for(svc, user).applied(chosen, start, settings)
    assert chosen.expires is not None  # the policy gives every new link one
    return _Made(shared, chosen, start, now)


def _add(
    svc: Services, user: User, made: _Made, recipient: dict[str, object] | None = None
) -> Link:
    chosen, shared = made.chosen, made.target
    assert chosen.expires is not None
    return svc.store.links.add(
        shared.path,
        user.id,
        chosen.expires.at(made.start),
        chosen,
        password_hash=hashed(chosen.password),
        pin=version(shared.st) if chosen.pin and shared.st is not None else None,
        created_at=made.now,
        recipient={"more_time": bool(chosen.more_time), **(recipient or {})},
    )


def _created(
    svc: Services,
    user: User,
    made: _Made,
    link: Link,
    actor: str,
    remote_addr: str,
    user_agent: str,
    detail: str | None = None,
) -> None:
    if not made.target.folder and not link.share:
        file_digest(svc, link)  # its hashing starts now, not at the first download
    svc.audit.record(
        "created",
        "ok",
        link_id=link.id,
        path=made.target.path,
        actor=actor or user.username,
        remote_addr=remote_addr,
        user_agent=user_agent,
        detail=detail,
    )


def file_digest(svc: Services, link: Link) -> bytes | None:
    """The SHA-256 of a file link's file as it is now, if known (if not, its
    hashing is queued); None for a folder, an upload link or a missing file."""
    if link.folder or link.upload:
        return None
    try:
        opened = svc.tree.open(link.path)
    except LinksvcError:
        return None
    opened.close()
    return svc.digest_of(opened)


def visible_link(svc: Services, user: User, link_id: str) -> Link:
    """The link if ``user`` owns it or is an admin; UnknownLink otherwise,
    so other people's link ids cannot be probed."""
    link = svc.store.links.get(link_id)
    if link.created_by != user.id and not user.is_admin:
        raise UnknownLink(f"There is no link with id {link_id!r}.")
    return link


def revoke_link(
    svc: Services, by: User | None, link_id: str, actor: str = "", **client: Any
) -> Link:
    """Revoke a link as its owner or an admin (``by``), or as the operator
    on the server's command line (``by`` None); the audit log says who."""
    if by is not None:
        visible_link(svc, by, link_id)
    link = svc.store.links.revoke(link_id, by.id if by else None)
    # A share is revoked with every recipient's link (one transaction).
    ids = [link.id]
    if link.share:
        ids += [r.id for r in svc.store.links.recipients([link.id])[link.id]]
    for each in ids:
        svc.audit.record(
            "revoked",
            "ok",
            link_id=each,
            path=link.path,
            actor=actor or (by.username if by else "cli"),
            **client,
        )
    return link


def revoke_many(
    svc: Services,
    by: User | None,
    owner: User | None = None,
    path_prefix: str | None = None,
    actor: str = "",
) -> list[str]:
    """Revoke every live link of ``owner`` and/or under ``path_prefix``."""
    if path_prefix is not None:
        path_prefix = svc.tree.clean(path_prefix)
        if path_prefix:
            # Links are stored under the real path they resolve to, so
            # an alias (a symlinked folder) names its target here too.
            try:
                path_prefix = svc.tree.relative(svc.tree.resolve(path_prefix)[1])
            except LinksvcError:
                pass
    ids = svc.store.links.revoke_many(
        by.id if by else None, owner.id if owner else None, path_prefix
    )
    actor = actor or (by.username if by else "cli")
    for link_id in ids:
        svc.audit.record("revoked", "ok", link_id=link_id, actor=actor)
    return ids


def link_token(svc: Services, link: Link) -> str:
    """The link's token: signed again from its row, with its creation time
    and what it was first signed with (an edit does not change it), so the
    text is the one first handed out (with the current signing key)."""
    if link.opaque:
        return svc.signer.issue_opaque(link.id)
    limited = link.token_limited
    if limited is None:
        limited = link.max_downloads is not None
    return svc.signer.issue(
        link.id,
        link.path,
        link.token_expires_at or link.expires_at,
        link.not_before,
        limited=limited,
        at=link.created_at,
        recipient_page=link.recipient_page,
        folder=link.folder,
    )


def shareable_url(svc: Services, link: Link, base_url: str | None = None) -> str | None:
    """The URL to copy again while the link can still be used (active or
    scheduled); None for a revoked, expired or used-up link."""
    if link.share or link.status(clock_now()) not in ("active", "scheduled"):
        return None  # a share opens nothing: each recipient has their URL
    # An upload link's page is /u/<token>, never /d/.
    return link_url(svc, link_token(svc, link), base_url, "u" if link.upload else "d")


def link_url(
    svc: Services, token: str, base_url: str | None = None, prefix: str = "d"
) -> str:
    """The absolute URL (``/d/``, or an upload link's ``/u/``):
    ``public_base_url`` wins over the request."""
    base = svc.settings.public_base_url or (base_url or "").rstrip("/")
    if not base:
        raise ValueError("Set public_base_url to print absolute links.")
    return f"{base}/{prefix}/{token}"


def hashed(password: str | None) -> str | None:
    return None if password is None else hash_secret(password)
