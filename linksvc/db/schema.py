"""The database tables, in SQLAlchemy Core; Alembic migrations follow these.

Times are whole UTC seconds since the epoch in integer columns: the same on
SQLite and PostgreSQL, and cheap to compare on the download path.
"""

from __future__ import annotations

from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(256), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    # Rotated at logout: a copied session cookie dies with the session.
    Column("session_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # For notices (issue 15); empty when not given.
    Column("email", String(254), nullable=False, default=""),
    # Where this user's link events are POSTed, and the HMAC key ("" none).
    Column("webhook_url", String(2048), nullable=False, default=""),
    Column("webhook_secret", String(64), nullable=False, default=""),
    # The key before the last rotation: it signs beside the new one until
    # webhook_previous_until (unix time), so receivers can move over.
    Column("webhook_secret_previous", String(64), nullable=False, default=""),
    Column("webhook_previous_until", BigInteger),
    # "<issuer> <sub>" of a user who signs in with OpenID Connect (None: a
    # local account only).
    Column("oidc_subject", String(512)),
    # A TOTP second factor (base32 secret; None: none) and the last time step
    # a code was accepted for: a code counts once, on any worker.
    Column("totp_secret", String(64)),
    Column("totp_step", BigInteger),
    # Kept by the identity provider through SCIM, and its id for the person.
    Column("provisioned", Boolean, nullable=False, default=False),
    Column("external_id", String(256)),
    Index("ix_users_oidc_subject", "oidc_subject", unique=True),
)

#: One-time recovery codes of a second factor, sha256 of each (they are
#: random, 50 bits each: no slow hash needed).
recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("used_at", BigInteger),
    UniqueConstraint("user_id", "code_hash"),
)

grants = Table(
    "grants",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("prefix", String(1024), nullable=False),
    UniqueConstraint("user_id", "prefix"),
)

links = Table(
    "links",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("path", String(1024), nullable=False),
    Column("created_by", ForeignKey("users.id"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("not_before", BigInteger),
    Column("max_downloads", Integer),
    Column("download_count", Integer, nullable=False, default=0),
    Column("last_downloaded_at", BigInteger),
    # Who was counted last: a resumed range is free only for them (see
    # links.claim_download); cleared with the audit after audit_retention.
    Column("last_download_addr", String(64)),
    #: What that count was for (the file, a folder's member, or its zip):
    #: a range resumes only that.
    Column("last_download_item", String(1024)),
    Column("revoked_at", BigInteger),
    Column("revoked_by", ForeignKey("users.id")),
    Column("note", Text, nullable=False, default=""),
    # The recipient first sees a page with the file's name, size and expiry.
    Column("recipient_page", Boolean, nullable=False, default=False),
    # Options (issue 14): a werkzeug hash of the link's password; the address
    # ranges it may be used from ("" none); the file version it is pinned to
    # ("pin"; before 0009 "version", and "recipient_page" was "landing").
    Column("password_hash", String(256)),
    Column("ranges", Text, nullable=False, default=""),
    Column("pin", String(96)),
    # The token names only the link; the rest is read from this row.
    Column("opaque", Boolean, nullable=False, default=False),
    # What the token was signed with, kept when an edit changes the row, so
    # the URL stays the same text (None: the row's own values).
    Column("token_expires_at", BigInteger),
    Column("token_limited", Boolean),
    # Issue 15: the path is a folder (a listing, members, a streamed zip).
    Column("folder", Boolean, nullable=False, default=False),
    # Tell the owner on the first download; when each notice was queued.
    Column("notify", Boolean, nullable=False, default=False),
    Column("first_noticed_at", BigInteger),
    Column("used_up_noticed_at", BigInteger),
    Column("reminded_at", BigInteger),
    Column("expiry_noticed_at", BigInteger),
    # Addresses the link was sent to through linksvc (space separated).
    Column("sent_to", Text, nullable=False, default=""),
    # The owner no longer reaches the path: the link does not work (issue 21).
    Column("suspended", Boolean, nullable=False, default=False),
    # An upload link (a file request) into the folder at ``path``, and its
    # limits (None: the settings' defaults); types: extensions, "" any.
    Column("upload", Boolean, nullable=False, default=False),
    Column("upload_max_file_size", BigInteger),
    Column("upload_max_files", Integer),
    Column("upload_max_bytes", BigInteger),
    Column("upload_types", Text, nullable=False, default=""),
    # Issue 25: a share for named recipients is a row that opens nothing
    # ("share") with one link per recipient under it (``parent_id``), each
    # with its own token, count, limit, audit and revocation.
    Column("parent_id", String(32)),
    Column("share", Boolean, nullable=False, default=False),
    Column("recipient_label", String(254), nullable=False, default=""),
    Column("recipient_email", String(254), nullable=False, default=""),
    # The recipient must give a one-time code sent to recipient_email.
    Column("verify", Boolean, nullable=False, default=False),
    # The expired or used-up page offers "ask for more time".
    Column("more_time", Boolean, nullable=False, default=False),
    Index("ix_links_created_by", "created_by"),
    Index("ix_links_path", "path"),
    Index("ix_links_parent_id", "parent_id"),
)

codes = Table(
    "codes",
    metadata,
    # One-time codes sent to a recipient's address (hashed, short-lived).
    Column("id", Integer, primary_key=True),
    Column("link_id", ForeignKey("links.id", ondelete="CASCADE"), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("used_at", BigInteger),
    Index("ix_codes_link_id", "link_id"),
)

time_requests = Table(
    "time_requests",
    metadata,
    # A recipient's "ask for more time" and what the owner decided.
    Column("id", String(32), primary_key=True),
    Column("link_id", ForeignKey("links.id", ondelete="CASCADE"), nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("email", String(254), nullable=False, default=""),
    Column("remote_addr", String(64), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("decided_at", BigInteger),
    Column("decision", String(16), nullable=False, default=""),
    Index("ix_time_requests_link_id", "link_id"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", BigInteger, nullable=False),
    # created, revoked, download, resume, check, preview, refused
    Column("event", String(16), nullable=False),
    # ok, invalid, expired, revoked, used_up, not_yet_valid, missing, ...
    Column("outcome", String(32), nullable=False),
    Column("link_id", String(32)),
    Column("path", String(1024)),
    Column("actor", String(128), nullable=False, default=""),
    Column("remote_addr", String(64), nullable=False, default=""),
    Column("user_agent", String(512), nullable=False, default=""),
    Column("status", Integer, nullable=False, default=0),
    Column("bytes", BigInteger, nullable=False, default=0),
    # False when the client left before the whole body went out.
    Column("complete", Boolean),
    # Identical requests within one fold window share a row (see audit.py).
    Column("count", Integer, nullable=False, default=1),
    # Whom an account event is about (the user added, disabled, granted …).
    Column("subject", String(64)),
    # What an edit changed ("expires_at: … → …; password: changed").
    Column("detail", Text),
    Index("ix_audit_at", "at"),
    Index("ix_audit_link_id", "link_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    # "email" or "webhook"; a message is sent at most once per key.
    Column("kind", String(16), nullable=False),
    Column("key", String(200), nullable=False, unique=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE")),
    Column("link_id", String(32)),
    Column("event", String(32), nullable=False),
    Column("recipient", String(2048), nullable=False),
    Column("subject", String(512), nullable=False, default=""),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("due_at", BigInteger, nullable=False),
    # A sender holds a message until then, so two never send it at once.
    Column("locked_until", BigInteger),
    Column("attempts", Integer, nullable=False, default=0),
    Column("sent_at", BigInteger),
    Column("failed_at", BigInteger),
    Column("last_error", Text, nullable=False, default=""),
    # Events this message stands for: notices to one receiver in one window
    # are coalesced into one message (notify/notices.py).
    Column("events", Integer, nullable=False, default=1),
    Index("ix_outbox_due", "sent_at", "failed_at", "due_at"),
    Index("ix_outbox_user", "user_id"),
)

crcs = Table(
    "crcs",
    metadata,
    # A file version (path:size-mtime_ns-inode) and its CRC-32, for zips.
    Column("key", String(1200), primary_key=True),
    Column("crc", BigInteger, nullable=False),
)

digests = Table(
    "digests",
    metadata,
    # A file version (path:size-mtime_ns-inode) and its SHA-256 (hex).
    Column("key", String(1200), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("computed_at", BigInteger, nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    # Policy for links made by members; None or empty: no rule of this group.
    Column("default_expiry", BigInteger),
    Column("max_expiry", BigInteger),
    Column("max_downloads", Integer),
    Column("password_required", Boolean, nullable=False, default=False),
    # Links must list address ranges, each inside these ("" no requirement).
    Column("ranges", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    # Kept by the identity provider through SCIM, and its id for the group.
    Column("provisioned", Boolean, nullable=False, default=False),
    Column("external_id", String(256)),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    UniqueConstraint("group_id", "user_id"),
)

#: What a group's members may reach, beside their own grants.
group_grants = Table(
    "group_grants",
    metadata,
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), nullable=False),
    Column("prefix", String(1024), nullable=False),
    UniqueConstraint("group_id", "prefix"),
)

#: Each sign-in of a person: listed on their account page, ended one by one
#: or all at once; a request is served only while its row is live.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("seen_at", BigInteger, nullable=False),
    Column("remote_addr", String(64), nullable=False, default=""),
    Column("user_agent", String(256), nullable=False, default=""),
    # "password", "password+totp", "password+recovery" or "oidc"
    Column("method", String(32), nullable=False),
    Column("ended_at", BigInteger),
    Index("ix_sessions_user_id", "user_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(128), nullable=False),
    # sha256 of the secret part; the secret itself is shown once and not kept.
    Column("token_hash", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger),
    Column("revoked_at", BigInteger),
)

#: What upload links received (tus uploads), in quarantine until decided.
uploads = Table(
    "uploads",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("link_id", ForeignKey("links.id", ondelete="CASCADE"), nullable=False),
    # The uploader's file name, cleaned.
    Column("name", String(255), nullable=False),
    # The declared Upload-Length, and how far the bytes have come.
    Column("length", BigInteger, nullable=False),
    Column("received", BigInteger, nullable=False),
    # uploading, waiting, infected, accepted, rejected, terminated, expired
    Column("status", String(16), nullable=False),
    Column("sha256", String(64)),
    # The scanner's finding (a signature name), or why it was refused.
    Column("verdict", String(255)),
    Column("remote_addr", String(64), nullable=False),
    Column("user_agent", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("completed_at", BigInteger),
    Column("decided_at", BigInteger),
    Column("decided_by", String(64)),
    # Where an accepted file went, under the tree.
    Column("accepted_path", String(1024)),
    # A PATCH holds the upload until then: a second one at once is refused.
    Column("lease_until", BigInteger),
    Index("ix_uploads_link_id", "link_id"),
    Index("ix_uploads_status", "status"),
)

#: Passkeys (WebAuthn credentials) of local accounts.
passkeys = Table(
    "passkeys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # base64url of the credential id the authenticator made (unique).
    Column("credential_id", String(1400), nullable=False, unique=True),
    # base64url of the COSE public key; the private key never leaves the device.
    Column("public_key", Text, nullable=False),
    Column("sign_count", BigInteger, nullable=False),
    Column("name", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # When it last signed a challenge (ms): a challenge made before that is
    # refused, so a captured answer cannot be replayed.
    Column("last_used_ms", BigInteger),
    Index("ix_passkeys_user_id", "user_id"),
)

#: Bearer tokens of SCIM clients (the identity provider), made by an admin.
scim_tokens = Table(
    "scim_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("label", String(128), nullable=False),
    # sha256 of the secret part, as for API tokens.
    Column("token_hash", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger),
    Column("revoked_at", BigInteger),
)
