"""Creating links from what a person asked for; no Flask.

The dashboard, the CLI and the API all create links here, so the grant check,
the path rules and the expiry limits cannot differ between them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .audit import AuditLog
from .durations import format_duration
from .durations import parse_duration
from .errors import ExpiryTooLong
from .errors import NotGranted
from .files import covers
from .files import ProtectedTree
from .signing import LinkSigner
from .store import Link
from .store import Store
from .store import User


@dataclass
class Services:
    """Everything a request, a command or a test needs, built once per app."""

    settings: dict[str, Any]
    store: Store
    tree: ProtectedTree
    signer: LinkSigner
    audit: AuditLog

    @classmethod
    def build(cls, settings: dict[str, Any], keys: list[str]) -> Services:
        store = Store(settings["database_url"])
        return cls(
            settings,
            store,
            ProtectedTree(settings["protected_dir"]),
            LinkSigner(keys),
            AuditLog(store.engine),
        )

    def check_grant(self, user: User, path: str) -> str:
        """The clean path if ``user`` may access it; PathRefused or NotGranted."""
        clean, _ = self.tree.resolve(path)
        if not covers(user.effective_grants, clean):
            raise NotGranted(f"you have no access to {clean!r}")
        return clean

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
        not_before: int | None = None,
        max_downloads: int | None = None,
        note: str = "",
        actor: str = "",
        remote_addr: str = "",
        user_agent: str = "",
    ) -> tuple[Link, str]:
        """Store and sign a link to an existing file ``user`` may access.

        Returns the link and its token. The expiry counts from ``not_before``
        when a start is given, so a scheduled link lives as long as asked.
        """
        clean = self.check_grant(user, path)
        self.tree.file(clean)
        start = int(time.time()) if not_before is None else int(not_before)
        expires_at = start + self.expiry_seconds(expires)
        link = self.store.create_link(
            clean,
            user.id,
            expires_at,
            self.signer.signing_key_id,
            not_before=not_before,
            max_downloads=max_downloads,
            note=note,
        )
        token = self.signer.issue(link.id, clean, expires_at, not_before)
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

    def link_url(self, token: str, base_url: str | None = None) -> str:
        """The absolute download URL: ``public_base_url`` wins over the request."""
        base = self.settings["public_base_url"] or (base_url or "").rstrip("/")
        if not base:
            raise ValueError("set public_base_url to print absolute links")
        return f"{base}/d/{token}"
