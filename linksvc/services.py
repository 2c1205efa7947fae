"""The parts of one linksvc, built once and reached one way; no Flask.

:func:`build` makes them from the settings; the app keeps them in
``app.extensions`` and :func:`of` hands them to views, commands and tests
alike. The rules about links and people live beside what they are about
(accounts/, links/, notify/), not here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from .accounts.passwords import PasswordCheck
from .config import Settings
from .core.signing import LinkSigner
from .core.unlock import Unlocks
from .core.unlock import VERIFIED_COOKIE
from .core.unlock import VERIFIED_SALT
from .db.audit import AuditLog
from .db.counts import DeferredCounts
from .db.store import Store
from .directory import Directory
from .files.digests import Digests
from .files.digests import opener_of
from .files.quarantine import Quarantine
from .files.sending import Offload
from .files.tree import OpenFile
from .files.tree import ProtectedTree
from .keys import KeyRing
from .links.slots import ZipSlots
from .throttle import Throttle

#: Where the app keeps its Services.
EXTENSION = "linksvc"


@dataclass
class Services:
    """Everything a request, a command or a test needs."""

    settings: Settings
    store: Store
    tree: ProtectedTree
    keyring: KeyRing
    signer: LinkSigner
    audit: AuditLog
    #: Refused /d/ requests per client address.
    refusals: Throttle
    #: Failed API-token authentications per client address.
    api_auth: Throttle
    #: The one throttled check of passwords (links, accounts, logins).
    passwords: PasswordCheck
    #: Cookies that say a browser gave a link's password.
    unlocks: Unlocks
    #: Links sent by email, per user (settings "send_limit").
    sends: Throttle
    #: "Download all" archives this worker makes at once (settings
    #: "zip_slots").
    zips: ZipSlots
    #: Who sends file bytes when not linksvc (settings "offload").
    offload: Offload | None = None
    #: The receiver of the audit's ``written`` signal that queues notices
    #: (kept here: blinker holds receivers weakly).
    notices: Any = None
    #: Unlimited links' downloads, counted until the audit writer adds them.
    counts: DeferredCounts = field(default_factory=DeferredCounts)
    #: Single sign-on callbacks per client address (each may make us ask the
    #: provider for tokens), held to ``login_limit_per_address``.
    sso_callbacks: Throttle | None = None
    #: SCIM calls per bearer token, held to ``scim_limit``.
    scim_calls: Throttle | None = None
    #: The LDAP directory people sign in against (settings "ldap_url").
    directory: Directory | None = None
    #: Where uploads wait for their owner (instance_dir/uploads).
    quarantine: Quarantine = field(default_factory=lambda: Quarantine("uploads"))
    #: New uploads per client address (settings "upload_limit").
    upload_starts: Throttle | None = None
    #: Uploads receiving bytes at once on this worker ("uploads_per_worker").
    upload_slots: ZipSlots = field(default_factory=lambda: ZipSlots(64))
    #: Prometheus metrics (metrics.py); the app builds them.
    metrics: Any = None
    #: The audit's event lines when ``log_format = "json"`` (logs.py).
    event_lines: Any = None
    #: SHA-256 digests of file versions (Repr-Digest, SHA256SUMS).
    digests: Digests | None = None
    #: Cookies that say a browser gave the code sent to a recipient.
    verified: Unlocks = field(
        default_factory=lambda: Unlocks(["-"], 0, VERIFIED_COOKIE, VERIFIED_SALT)
    )
    #: Codes sent per recipient's link and per address ("code_limit").
    code_sends: Throttle | None = None
    code_sends_to: Throttle | None = None
    #: "Ask for more time" per link and per client ("more_time_limit").
    more_time_asks: Throttle | None = None

    def digest_of(self, opened: OpenFile) -> bytes | None:
        """The digest of an open file's version if known (else it is queued)."""
        if self.digests is None:
            return None
        return self.digests.known(opened.real, opened.st)

    def refresh_keys(self) -> None:
        """Follow a rotated or retired key (called once per request, by the
        WSGI layer in front of everything)."""
        if self.keyring.refresh():
            self.signer = LinkSigner(self.keyring.keys)
            self.unlocks = self.unlocks.renewed(self.keyring.keys)
            self.verified = self.verified.renewed(self.keyring.keys)

    def close(self) -> None:
        """Write what the audit holds and close the database."""
        self.audit.flush()
        self.store.dispose()


def build(settings: Settings, keyring: KeyRing) -> Services:
    store = Store(settings.database_url, settings.database_timeout)
    limits = settings.ratelimit_storage_url
    counts = DeferredCounts()
    tree = _tree(settings)
    return Services(
        settings,
        store,
        tree,
        keyring,
        LinkSigner(keyring.keys),
        AuditLog(store.engine, settings.audit_retention, counts),
        Throttle(limits, settings.refusal_limit, "refusal"),
        Throttle(limits, settings.api_auth_limit, "api-auth"),
        PasswordCheck(
            {
                "link": Throttle(limits, settings.link_password_limit, "link-password"),
                "account": Throttle(limits, settings.reauth_limit, "reauth"),
                "login": None,
            }
        ),
        Unlocks(keyring.keys, settings.unlock_lifetime),
        Throttle(limits, settings.send_limit, "send"),
        ZipSlots(settings.zip_slots),
        _offload(settings, tree),
        counts=counts,
        sso_callbacks=Throttle(limits, settings.login_limit_per_address, "sso"),
        scim_calls=Throttle(limits, settings.scim_limit, "scim"),
        directory=Directory(settings) if settings.ldap_url else None,
        quarantine=Quarantine(os.path.join(settings.instance_dir, "uploads")),
        upload_starts=Throttle(limits, settings.upload_limit, "upload-start"),
        upload_slots=ZipSlots(settings.uploads_per_worker),
        digests=Digests(opener_of(tree), store.digests.load, store.digests.save),
        verified=Unlocks(
            keyring.keys, settings.unlock_lifetime, VERIFIED_COOKIE, VERIFIED_SALT
        ),
        code_sends=Throttle(limits, settings.code_limit, "code-link"),
        code_sends_to=Throttle(limits, settings.code_limit, "code-address"),
        more_time_asks=Throttle(limits, settings.more_time_limit, "more-time"),
    )


def _tree(settings: Settings) -> ProtectedTree:
    """The files: the protected folder, or the objects of a bucket."""
    if settings.storage == "s3":
        from .files.objects import ObjectTree
        from .files.objects import s3_client_maker

        return ObjectTree(
            settings.s3_bucket,
            settings.s3_prefix,
            s3_client_maker(
                settings.s3_endpoint_url,
                settings.s3_region,
                settings.s3_addressing_style,
            ),
        )
    return ProtectedTree(settings.protected_dir)


def _offload(settings: Settings, tree: ProtectedTree) -> Offload | None:
    if settings.storage == "s3":
        if settings.s3_offload == "redirect":
            return Offload("redirect", presign_ttl=settings.presign_ttl)
        return None
    if settings.offload == "none":
        return None
    return Offload(settings.offload, settings.offload_prefix, tree.root)


def of(app: Any = None) -> Services:
    """The Services of ``app``, or of the current Flask app."""
    if app is None:
        from flask import current_app as app
    return app.extensions[EXTENSION]
