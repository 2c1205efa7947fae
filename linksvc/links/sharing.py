"""Links from what a person asked for: create, see, revoke, spell; no Flask.

The dashboard, the CLI and the API all come here, so the grant check, the
path rules and the expiry limits cannot differ between them.
"""

from __future__ import annotations

from typing import Any

from werkzeug.security import generate_password_hash

from ..accounts.access import granted_file
from ..accounts.access import granted_folder
from ..accounts.access import is_folder
from ..core import addresses
from ..core.clock import now as clock_now
from ..core.durations import format_duration
from ..core.durations import parse_duration
from ..core.durations import parse_instant
from ..core.errors import ExpiryTooLong
from ..core.errors import InvalidInput
from ..core.errors import LinksvcError
from ..core.errors import UnknownLink
from ..db.links import Link
from ..db.users import User
from ..files.offload import offload
from ..files.tree import version
from ..services import Services
from .policy import download_limit
from .policy import Policy
from .policy import policy_for

#: Link passwords: long enough not to be guessed within the per-link
#: throttle, short enough to read out on the phone.
MIN_LINK_PASSWORD, MAX_LINK_PASSWORD = 6, 128


def expiry_seconds(
    svc: Services, expires: str | int | None, policy: Policy | None = None
) -> int:
    """Seconds a new link lives: the default, or ``expires`` up to the
    maximum (of the settings, then of the user's groups)."""
    policy = policy or Policy()
    if expires is None or expires == "":
        return policy.expiry(None, svc.settings.default_expiry)
    seconds = parse_duration(expires)
    within_max_expiry(svc, seconds)
    return policy.expiry(seconds, svc.settings.default_expiry)


def within_max_expiry(svc: Services, seconds: int) -> None:
    limit = svc.settings.max_expiry
    if seconds > limit:
        raise ExpiryTooLong(
            f"Share links may live at most {format_duration(limit)}, "
            f"not {format_duration(seconds)}."
        )


def create_link(
    svc: Services,
    user: User,
    path: str,
    expires: str | int | None = None,
    *,
    not_before: str | int | None = None,
    max_downloads: int | str | None = None,
    note: str = "",
    recipient_page: bool | None = None,
    password: str | None = None,
    ranges: str | list[str] | None = None,
    pin: bool | None = None,
    notify: bool | None = None,
    actor: str = "",
    remote_addr: str = "",
    user_agent: str = "",
) -> tuple[Link, str]:
    """Store and sign a link to an existing file ``user`` may access.

    Returns the link and its token. The expiry counts from ``not_before``
    when a start is given, so a scheduled link lives as long as asked.
    ``recipient_page`` (default: the setting) makes the link show the
    recipient a page before the download; ``password`` asks the recipient
    for it; ``ranges`` limits it to address ranges; ``pin`` (default: the
    setting) ties it to the file as it is now; ``notify`` (default: the
    setting) tells the owner of the first download. A folder gives a folder
    link. The user's group policy applies to all of it.
    """
    if recipient_page is None:
        recipient_page = svc.settings.recipient_page
    if pin is None:
        pin = svc.settings.pin
    folder = is_folder(svc, path)
    if folder:
        # A folder link shares what the folder holds when it is opened.
        clean, _ = granted_folder(svc, user, path)
        if not clean:
            raise InvalidInput("Name a folder to share, not the whole protected tree.")
        st, pin = None, False
    else:
        clean, _, st = granted_file(svc, user, path)
    if notify is None:
        notify = svc.settings.notify
    now = clock_now()
    policy = policy_for(svc, user)
    seconds = expiry_seconds(svc, expires, policy)
    max_downloads = policy.downloads(download_limit(max_downloads))
    note = clean_note(note)
    password = clean_password(password)
    policy.check_password(password is not None)
    ranges = addresses.parse_ranges(ranges)
    policy.check_ranges(ranges)
    if not_before in (None, ""):
        not_before = None
    else:
        not_before = parse_instant(not_before, now)
        if not_before <= now:
            not_before = None  # a start in the past is simply "now"
        elif not_before - now > svc.settings.max_expiry:
            raise InvalidInput("A link may not start later than max_expiry from now.")
    start = now if not_before is None else not_before
    expires_at = start + seconds
    link = svc.store.links.add(
        clean,
        user.id,
        expires_at,
        not_before=not_before,
        max_downloads=max_downloads,
        note=note,
        landing=bool(recipient_page),
        password_hash=hashed(password),
        ranges=ranges,
        version=version(st) if pin and st is not None else None,
        opaque=svc.settings.opaque_links,
        folder=folder,
        notify=bool(notify),
    )
    token = link_token(svc, link)
    svc.audit.record(
        "created",
        "ok",
        link_id=link.id,
        path=clean,
        actor=actor or user.username,
        remote_addr=remote_addr,
        user_agent=user_agent,
    )
    return link, token


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
    svc.audit.record(
        "revoked",
        "ok",
        link_id=link.id,
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
        page=link.landing,
        folder=link.folder,
    )


def shareable_url(svc: Services, link: Link, base_url: str | None = None) -> str | None:
    """The URL to copy again while the link can still be used (active or
    scheduled); None for a revoked, expired or used-up link."""
    if link.status(clock_now()) not in ("active", "scheduled"):
        return None
    return link_url(svc, link_token(svc, link), base_url)


def link_url(svc: Services, token: str, base_url: str | None = None) -> str:
    """The absolute download URL: ``public_base_url`` wins over the request."""
    base = svc.settings.public_base_url or (base_url or "").rstrip("/")
    if not base:
        raise ValueError("Set public_base_url to print absolute links.")
    return f"{base}/d/{token}"


#: Longest note on a link, in characters.
MAX_NOTE = 500


def clean_password(password: str | None) -> str | None:
    """None or a password of acceptable length (the empty string is none)."""
    if password is None or password == "":
        return None
    if not isinstance(password, str):
        raise InvalidInput("The link's password must be text.")
    if not MIN_LINK_PASSWORD <= len(password) <= MAX_LINK_PASSWORD:
        raise InvalidInput(
            f"A link's password needs {MIN_LINK_PASSWORD} to "
            f"{MAX_LINK_PASSWORD} characters."
        )
    return password


def hashed(password: str | None) -> str | None:
    # Hashing takes tens of milliseconds: on a real thread, not the loop.
    return None if password is None else offload(generate_password_hash, password)


def clean_note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"The note may have at most {MAX_NOTE} characters.")
    return note
