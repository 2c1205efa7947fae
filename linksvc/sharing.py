"""Creating links from what a person asked for; no Flask.

The dashboard, the CLI and the API all create links here, so the grant check,
the path rules and the expiry limits cannot differ between them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audit import AuditLog
from .durations import format_duration
from .durations import parse_duration
from .durations import parse_instant
from .errors import ExpiryTooLong
from .errors import InvalidInput
from .errors import LinksvcError
from .errors import NotGranted
from .errors import UnknownLink
from .files import covers
from .files import Entry
from .files import leads_to_grant
from .files import ProtectedTree
from .keys import KeyRing
from .signing import LinkSigner
from .store import Link
from .store import Store
from .store import User
from .throttle import Throttle


@dataclass
class Services:
    """Everything a request, a command or a test needs, built once per app."""

    settings: dict[str, Any]
    store: Store
    tree: ProtectedTree
    keyring: KeyRing
    signer: LinkSigner
    audit: AuditLog
    refusals: Throttle
    api_auth: Throttle

    @classmethod
    def build(cls, settings: dict[str, Any], keyring: KeyRing) -> Services:
        store = Store(settings["database_url"], settings["database_timeout"])
        return cls(
            settings,
            store,
            ProtectedTree(settings["protected_dir"]),
            keyring,
            LinkSigner(keyring.keys),
            AuditLog(store.engine, settings["audit_retention"]),
            Throttle(
                settings["ratelimit_storage_url"], settings["refusal_limit"], "refusal"
            ),
            Throttle(
                settings["ratelimit_storage_url"],
                settings["api_auth_limit"],
                "api-auth",
            ),
        )

    def refresh_keys(self) -> bool:
        """Follow a rotated or retired key; True when the keys changed."""
        if self.keyring.refresh():
            self.signer = LinkSigner(self.keyring.keys)
            return True
        return False

    def granted_file(self, user: User, path: str) -> tuple[str, Path, os.stat_result]:
        """The file at ``path`` if ``user``'s grants cover both the path and
        what it resolves to, as tree.file gives it, but named by its real
        path under the tree. The grant is checked first, so a file outside
        the grants is refused whether or not it exists; a symlink inside a
        grant that leads to another folder is judged by that folder's grants."""
        clean = self.tree.clean(path)
        grants = user.effective_grants
        if not covers(grants, clean):
            raise NotGranted(f"You have no access to {clean!r}.")
        _, real, st = self.tree.file(clean)
        target = self.tree.relative(real)
        if not covers(grants, target):
            raise NotGranted(f"You have no access to {clean!r}.")
        return target, real, st

    def browse(self, user: User, folder: str) -> tuple[str, list[Entry]]:
        """A folder's clean path and what ``user`` may see in it: a folder
        their grants cover, or one on the way to a grant (judged by where it
        really leads, too); NotGranted else."""
        clean, real = self.tree.resolve(folder)
        grants = user.effective_grants
        for name in {clean, self.tree.relative(real)}:
            if not (covers(grants, name) or leads_to_grant(grants, name)):
                raise NotGranted(f"You have no access to {clean!r}.")
        return clean, self.tree.listing(clean, grants)

    def expiry_seconds(self, expires: str | int | None) -> int:
        """Seconds a new link lives: the default, or ``expires`` up to the maximum."""
        if expires is None or expires == "":
            return self.settings["default_expiry"]
        seconds = parse_duration(expires)
        limit = self.settings["max_expiry"]
        if seconds > limit:
            raise ExpiryTooLong(
                f"links may live at most {format_duration(limit)}, "
                f"not {format_duration(seconds)}"
            )
        return seconds

    def create_link(
        self,
        user: User,
        path: str,
        expires: str | int | None = None,
        *,
        not_before: str | int | None = None,
        max_downloads: int | str | None = None,
        note: str = "",
        actor: str = "",
        remote_addr: str = "",
        user_agent: str = "",
    ) -> tuple[Link, str]:
        """Store and sign a link to an existing file ``user`` may access.

        Returns the link and its token. The expiry counts from ``not_before``
        when a start is given, so a scheduled link lives as long as asked.
        """
        clean, _, _ = self.granted_file(user, path)
        now = int(time.time())
        seconds = self.expiry_seconds(expires)
        max_downloads = _limit(max_downloads)
        note = _note(note)
        if not_before in (None, ""):
            not_before = None
        else:
            not_before = parse_instant(not_before, now)
            if not_before <= now:
                not_before = None  # a start in the past is simply "now"
            elif not_before - now > self.settings["max_expiry"]:
                raise InvalidInput(
                    "a link may not start later than max_expiry from now"
                )
        start = now if not_before is None else not_before
        expires_at = start + seconds
        link = self.store.create_link(
            clean,
            user.id,
            expires_at,
            self.signer.signing_key_id,
            not_before=not_before,
            max_downloads=max_downloads,
            note=note,
        )
        token = self.signer.issue(
            link.id, clean, expires_at, not_before, limited=max_downloads is not None
        )
        self.audit.record(
            "created",
            "ok",
            link_id=link.id,
            path=clean,
            actor=actor or user.username,
            remote_addr=remote_addr,
            user_agent=user_agent,
        )
        return link, token

    def visible_link(self, user: User, link_id: str) -> Link:
        """The link if ``user`` owns it or is an admin; UnknownLink otherwise,
        so other people's link ids cannot be probed."""
        link = self.store.link(link_id)
        if link.created_by != user.id and not user.is_admin:
            raise UnknownLink(f"no link with id {link_id!r}")
        return link

    def revoke_link(
        self, by: User | None, link_id: str, actor: str = "", **client: str
    ) -> Link:
        """Revoke a link as its owner or an admin (``by``), or as the operator
        on the server's command line (``by`` None); the audit log says who."""
        if by is not None:
            self.visible_link(by, link_id)
        link = self.store.revoke_link(link_id, by.id if by else None)
        self.audit.record(
            "revoked",
            "ok",
            link_id=link.id,
            path=link.path,
            actor=actor or (by.username if by else "cli"),
            **client,
        )
        return link

    def revoke_many(
        self,
        by: User | None,
        owner: User | None = None,
        path_prefix: str | None = None,
        actor: str = "",
    ) -> list[str]:
        """Revoke every live link of ``owner`` and/or under ``path_prefix``."""
        if path_prefix is not None:
            path_prefix = self.tree.clean(path_prefix)
            if path_prefix:
                # Links are stored under the real path they resolve to, so
                # an alias (a symlinked folder) names its target here too.
                try:
                    path_prefix = self.tree.relative(self.tree.resolve(path_prefix)[1])
                except LinksvcError:
                    pass
        ids = self.store.revoke_links(
            by.id if by else None, owner.id if owner else None, path_prefix
        )
        actor = actor or (by.username if by else "cli")
        for link_id in ids:
            self.audit.record("revoked", "ok", link_id=link_id, actor=actor)
        return ids

    def disable_user(self, username: str, actor: str = "cli") -> list[str]:
        """Disable an account: its sessions end and its links are revoked."""
        user = self.store.set_disabled(username, True)  # also ends API tokens
        return self.revoke_many(None, owner=user, actor=actor)

    def link_url(self, token: str, base_url: str | None = None) -> str:
        """The absolute download URL: ``public_base_url`` wins over the request."""
        base = self.settings["public_base_url"] or (base_url or "").rstrip("/")
        if not base:
            raise ValueError("set public_base_url to print absolute links")
        return f"{base}/d/{token}"


#: The largest download limit accepted; beyond it, leave the link unlimited.
MAX_DOWNLOADS = 1_000_000
#: Longest note on a link, in characters.
MAX_NOTE = 500


def _limit(value: int | str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"max_downloads must be a whole number, not {value!r}"
        ) from None
    if isinstance(value, bool) or not 1 <= limit <= MAX_DOWNLOADS:
        raise InvalidInput(f"max_downloads must be between 1 and {MAX_DOWNLOADS}")
    return limit


def _note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"the note may have at most {MAX_NOTE} characters")
    return note
