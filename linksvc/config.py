"""Settings: ``settings.toml`` plus ``LINKSVC_*`` environment, validated.

Every key has a default here, a type, and an environment override named
``LINKSVC_<KEY>``. An unknown key or a value of the wrong type stops start-up
with a message that names the key, because a typo in a deployment should not
silently fall back to a default.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from pathlib import Path
from typing import Any

from .core.addresses import parse_ranges
from .core.durations import parse_duration
from .core.errors import BadDuration
from .core.errors import ConfigError
from .core.errors import InvalidInput

#: Folder whose files can be shared; nothing outside it is ever served.
PROTECTED_DIR = "protected"
#: Folder for the database file and the secret keys.
INSTANCE_DIR = "instance"
#: SQLAlchemy URL; empty means ``sqlite:///<instance_dir>/linksvc.sqlite3``.
DATABASE_URL = ""
#: Expiry offered first when a link is created.
DEFAULT_EXPIRY = "1d"
#: No link may live longer than this.
MAX_EXPIRY = "30d"
#: Base of every absolute link; empty means taken from the request (and then
#: ``trusted_hosts`` should be set, or a spoofed Host header names the link).
PUBLIC_BASE_URL = ""
#: How long after a limited link's last counted download a range request may
#: still resume it, so a one-time download can finish after a dropped line.
RESUME_WINDOW = "1h"
#: A connection that has not sent a whole request head within this is closed
#: (slow-header attacks); also how long an idle keep-alive connection waits.
HEADER_TIMEOUT = "15s"
#: Real threads per worker for work that would block the event loop
#: (password hashes, database writes, statements to a database server).
THREADS = 16
#: Connections one worker holds at once; 0: as many as the open-file limit
#: allows (two descriptors each: the socket and the file being sent).
CONNECTIONS = 0
#: Who sends file bytes: "none" (linksvc itself), "nginx" (X-Accel-Redirect
#: to ``offload_prefix``, an internal location; see deploy/nginx.conf) or
#: "sendfile" (X-Sendfile, for Apache mod_xsendfile or lighttpd).
OFFLOAD = "none"
#: The internal nginx location that serves protected_dir.
OFFLOAD_PREFIX = "/_protected"
#: Where the files are: "local" (protected_dir) or "s3" (the objects under
#: s3_prefix in s3_bucket; credentials from AWS_ACCESS_KEY_ID and
#: AWS_SECRET_ACCESS_KEY or AWS_SHARED_CREDENTIALS_FILE, never this file).
STORAGE = "local"
S3_BUCKET = ""
#: The key prefix the tree starts at ("" for the whole bucket).
S3_PREFIX = ""
#: For S3-compatible stores (MinIO, Ceph RGW, Garage, R2); "" for AWS.
S3_ENDPOINT_URL = ""
S3_REGION = ""
#: "auto", "path" (most self-hosted stores) or "virtual".
S3_ADDRESSING_STYLE = "auto"
#: How an object's bytes go out: "stream" (through linksvc, counted to the
#: byte) or "redirect" (a 302 to a presigned GET URL, after every check and
#: the count; the store sends the bytes and the audit cannot know them).
S3_OFFLOAD = "stream"
#: Seconds a presigned URL lives (redirect): long enough to follow it.
PRESIGN_TTL = 60
#: New links first show the recipient a page (name, size, expiry, a
#: Download button) instead of downloading at once; a choice per link.
RECIPIENT_PAGE = False
#: New links carry only a key id and the link id: the path, expiry and
#: flags are read from the database, so a leaked URL says nothing of the file.
OPAQUE_LINKS = False
#: New links are pinned to the file as it is (size, time, inode): if it is
#: replaced or changed, the link answers 410. A choice per link.
PIN = False
#: Wrong (and right) password attempts allowed per link, from anywhere: an
#: office shares one address, so the limit is the link's, not the client's.
LINK_PASSWORD_LIMIT = "5 per minute; 30 per hour"
#: Current-password checks allowed per account (before a token is made or
#: the password changed): a stolen session cannot guess its own password.
REAUTH_LIMIT = "5 per minute; 20 per hour"
#: A "Download all" whose client takes no bytes for this long is dropped,
#: freeing its slot (a client that never reads cannot hold it).
SEND_TIMEOUT = "60s"
#: "Download all" archives one worker makes at once (GET and HEAD: each
#: walks the folder); one client address may hold a quarter of them.
ZIP_SLOTS = 8
#: Cross-Origin-Resource-Policy on files and link pages: "same-origin"
#: (other sites cannot embed them), "same-site", "cross-origin" or "" (none).
CROSS_ORIGIN_RESOURCE_POLICY = "same-origin"
#: How long a right password unlocks a link in that browser.
UNLOCK_LIFETIME = "1h"
#: New links tell their owner (by email, when the owner has an address) of
#: their first download; a choice per link.
NOTIFY = False
#: The SMTP server for notices; empty: no email is sent (messages wait in
#: the outbox). The password comes from LINKSVC_SMTP_PASSWORD or the file
#: ``smtp_password_file`` names, never from this file.
SMTP_HOST = ""
SMTP_PORT = 587
#: "starttls" (port 587), "tls" (implicit TLS, port 465) or "none" (a relay
#: on this machine only).
SMTP_SECURITY = "starttls"
SMTP_USER = ""
SMTP_PASSWORD_FILE = ""
MAIL_FROM = "linksvc@localhost"
#: Remind the owner (and anyone the link was sent to) this long before a
#: link that was not downloaded expires; "0s": no reminders.
REMINDER_BEFORE = "1d"
#: A webhook for every user's link events (each user may add their own);
#: its key comes from LINKSVC_WEBHOOK_SECRET or ``webhook_secret_file``.
WEBHOOK_URL = ""
WEBHOOK_SECRET_FILE = ""
#: Webhook URLs that resolve to loopback, private or link-local addresses
#: are refused (no requests into this machine's own services) unless this.
WEBHOOK_ALLOW_PRIVATE = False
#: A CA bundle to verify webhook receivers with; empty: the system's.
WEBHOOK_CA_FILE = ""
#: The signature headers webhooks carry: "standard" (Standard Webhooks:
#: webhook-id, webhook-timestamp, webhook-signature), "linksvc" (the
#: deprecated X-Linksvc-Signature alone) or "both" (for one release, while
#: receivers move to the standard).
WEBHOOK_FORMAT = "both"
#: How long a user's previous signing key keeps signing beside a new one.
WEBHOOK_ROTATION = "1d"
#: Links a user may send by email through linksvc.
SEND_LIMIT = "20 per hour"
#: One-time codes sent to a recipient, per recipient's link and per address.
CODE_LIMIT = "5 per hour"
#: How long a recipient's one-time code works.
CODE_LIFETIME = "10m"
#: "Ask for more time" requests per link, and per client address.
MORE_TIME_LIMIT = "3 per day"
#: How often each server looks for due messages and reminders.
OUTBOX_INTERVAL = "30s"
#: Log every request (gunicorn's access log) to standard output.
ACCESS_LOG = True
#: Failed logins allowed per user name from one client address
#: (Flask-Limiter syntax).
LOGIN_LIMIT = "5 per minute; 20 per hour"
#: Failed logins allowed per client address, whatever the names.
LOGIN_LIMIT_PER_ADDRESS = "20 per minute; 100 per hour"
#: Failed logins allowed per user name across all addresses; a browser that
#: logged in as that user before (device cookie) is not held to it, so an
#: outsider cannot lock a user out.
LOGIN_LIMIT_PER_NAME = "10 per minute; 50 per hour"
#: Failed API-token authentications allowed per client address.
API_AUTH_LIMIT = "20 per minute; 100 per hour"
#: SCIM requests per token (an identity provider syncing thousands of people
#: stays well under it; a leaked token cannot flood the database).
SCIM_LIMIT = "1200 per minute"
#: Refused ``/d/`` requests allowed per client address; beyond it, 429.
REFUSAL_LIMIT = "60 per minute; 600 per hour"
#: How many proxies in front of us set X-Forwarded-For/-Proto; 0 trusts none.
TRUSTED_PROXIES = 0
#: How long audit records and stored client addresses are kept.
AUDIT_RETENTION = "90d"
#: A session unused this long ends.
SESSION_IDLE_TIMEOUT = "2h"
#: A session ends this long after its login, however busy.
SESSION_LIFETIME = "12h"
#: Where login attempts are counted: ``memory://`` (one process: with several
#: workers each counts alone) or ``redis://host:6379`` (shared).
RATELIMIT_STORAGE_URL = "memory://"
#: Seconds a request waits for a locked database before answering 503.
DATABASE_TIMEOUT = 5
#: Host names the server answers to; empty accepts any.
TRUSTED_HOSTS: list[str] = []
#: Single sign-on with OpenID Connect: the provider's issuer URL (its
#: discovery document is <issuer>/.well-known/openid-configuration); empty:
#: none. The client secret comes from LINKSVC_OIDC_CLIENT_SECRET or the file
#: ``oidc_client_secret_file`` names, never from this file.
OIDC_ISSUER = ""
OIDC_CLIENT_ID = ""
OIDC_CLIENT_SECRET_FILE = ""
#: The login page's button says "Sign in with <oidc_name>".
OIDC_NAME = "single sign-on"
OIDC_SCOPES = "openid email profile"
#: The ID token claim that names the user (their linksvc user name), and
#: the one that lists their groups at the provider.
OIDC_USERNAME_CLAIM = "preferred_username"
OIDC_GROUPS_CLAIM = "groups"
#: Identity provider group -> linksvc group, re-read at every sign-in: a
#: person is in a mapped linksvc group exactly while the provider lists them
#: in a group mapped to it (groups not mapped are left as they are). In
#: settings.toml a table (``[oidc_group_map]`` ``staff = "staff"``); in the
#: environment ``idp-group=group,other=group``.
OIDC_GROUP_MAP: dict[str, str] = {}
#: What happens to a person's links to paths they can no longer reach (a
#: group left, a group's grant taken back): "keep" (they stay until they
#: expire or are revoked) or "revoke" (revoked at once).
ON_ACCESS_LOST = "keep"
#: Local accounts (user name and password) may log in; with single sign-on
#: an organisation may turn them off, all but ``break_glass_admin``.
LOCAL_LOGINS = True
#: The one local administrator who may always log in with a password (so a
#: provider outage does not lock everyone out); empty: none.
BREAK_GLASS_ADMIN = ""
#: Who must add a second factor (TOTP) to their password: "none", "admins"
#: or "everyone"; until they do, signing in leads only to setting it up.
#: Single sign-on users are left to their identity provider.
REQUIRE_SECOND_FACTOR = "none"
#: API tokens of single sign-on users expire this long after they were made
#: (their access follows the organisation's sign-in); "0s": never.
SSO_TOKEN_LIFETIME = "90d"

#: LDAP / Active Directory sign-in (an alternative to OpenID Connect): the
#: server's URL, ldaps://HOST or ldap://HOST (then StartTLS, which
#: ``ldap_starttls`` may only turn off with ``ldap_allow_plain``, for
#: tests); empty: none. The reader's password (``ldap_bind_dn``) comes from
#: LINKSVC_LDAP_BIND_PASSWORD or the file ``ldap_bind_password_file`` names.
LDAP_URL = ""
LDAP_STARTTLS = True
LDAP_ALLOW_PLAIN = False
LDAP_CA_FILE = ""
LDAP_BIND_DN = ""
LDAP_BIND_PASSWORD_FILE = ""
#: Where people are, which entry a sign-in name is ({username}, escaped),
#: and the attributes that hold the name, the address and a stable id.
LDAP_USER_BASE = ""
LDAP_USER_FILTER = "(&(objectClass=inetOrgPerson)(uid={username}))"
LDAP_USERNAME_ATTRIBUTE = "uid"
LDAP_EMAIL_ATTRIBUTE = "mail"
LDAP_ID_ATTRIBUTE = "entryUUID"
#: Where groups are, which ones a person is in ({dn}: their entry, escaped),
#: and the attribute that names a group (mapped by ``oidc_group_map``).
LDAP_GROUP_BASE = ""
LDAP_GROUP_FILTER = "(&(objectClass=groupOfNames)(member={dn}))"
LDAP_GROUP_ATTRIBUTE = "cn"
#: Seconds an LDAP request may take before the sign-in fails.
LDAP_TIMEOUT = 5

#: Upload links (file requests): what one link takes at most unless its
#: owner asks for less (sizes: 512, 10K, 10M, 1G), how long an unfinished
#: upload is kept, the free disk below which no upload starts (507), new
#: uploads per client address, and uploads receiving bytes at once per
#: link and per worker (429 beyond).
UPLOAD_MAX_FILE_SIZE = "4G"
UPLOAD_MAX_FILES = 100
UPLOAD_MAX_BYTES = "20G"
UPLOAD_EXPIRY = "24h"
UPLOAD_FREE_DISK = "1G"
UPLOAD_LIMIT = "30 per minute; 300 per hour"
UPLOADS_PER_LINK = 4
UPLOADS_PER_WORKER = 64
#: ClamAV's clamd: a unix socket path (or host:port); every finished upload
#: is scanned before it can be accepted. Empty: no scanner.
CLAMD_SOCKET = ""

#: On SIGTERM, keep serving this long with /readyz answering 503 before the
#: graceful stop, so a load balancer stops sending first ("0s": stop at once).
DRAIN_SECONDS = "0s"
#: ``/metrics`` (Prometheus) answers a scraper that sends this as
#: ``Authorization: Bearer``, or one from ``metrics_networks``; with neither
#: set it answers no one (404). Better given as LINKSVC_METRICS_TOKEN.
METRICS_TOKEN = ""
METRICS_NETWORKS: list[str] = []
#: "text" (lines for people) or "json" (one JSON object a line: every log
#: record, every request, every audit event; gunicorn's access log is off).
LOG_FORMAT = "text"

ENV_PREFIX = "LINKSVC_"
SETTINGS_FILE = "settings.toml"


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("a non-empty path")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("a string")
    return value


def _duration(value: Any) -> int:
    try:
        return parse_duration(value)
    except BadDuration as exc:
        raise TypeError(str(exc)) from None


def _duration_or_zero(value: Any) -> int:
    if value in ("0", "0s", 0, ""):
        return 0
    return _duration(value)


def _limit(value: Any) -> str:
    from limits import parse_many

    try:
        parse_many(_str(value))
    except ValueError:
        raise TypeError("a rate like '5 per minute; 20 per hour'") from None
    return value


def _seconds(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise TypeError("a number of seconds") from None
    if isinstance(value, bool) or not 0 < seconds <= 600:
        raise TypeError("a number of seconds between 0 and 600")
    return seconds


def _count(value: Any) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if type(value) is not int or not 0 <= value <= 10:
        raise TypeError("a whole number from 0 to 10")
    return value


def _positive(high: int, zero: bool = False) -> Callable[[Any], int]:
    low = 0 if zero else 1

    def convert(value: Any) -> int:
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if type(value) is not int or not low <= value <= high:
            raise TypeError(f"a whole number from {low} to {high}")
        return value

    return convert


def _choice(*choices: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in choices:
            raise TypeError("one of " + ", ".join(repr(c) for c in choices))
        return value

    return convert


def _location(value: Any) -> str:
    value = _str(value).rstrip("/")
    if not value.startswith("/") or any(c in value for c in " ?#\\"):
        raise TypeError("a URL path such as /_protected")
    return value


def _bool(value: Any) -> bool:
    if isinstance(value, str) and value.lower() in (
        "true",
        "1",
        "yes",
        "false",
        "0",
        "no",
    ):
        return value.lower() in ("true", "1", "yes")
    if not isinstance(value, bool):
        raise TypeError("true or false")
    return value


def _host_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(
        isinstance(v, str) for v in value
    ):
        raise TypeError("a list of host names")
    return tuple(value)


def _networks(value: Any) -> str:
    try:
        return parse_ranges(value)
    except InvalidInput as exc:
        raise TypeError(f"a list of address ranges ({exc})") from None


def _group_map(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, str):
        pairs = [part.split("=", 1) for part in value.split(",") if part.strip()]
        if not all(len(p) == 2 for p in pairs):
            raise TypeError("pairs like idp-group=group, separated by commas")
        value = {k.strip(): v.strip() for k, v in pairs}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and v for k, v in value.items()
    ):
        raise TypeError("a table of identity provider group = linksvc group")
    return tuple(sorted(value.items()))


def _setting(default: Any, convert: Callable[[Any], Any]) -> Any:
    """A field of :class:`Settings`: its default as written in settings.toml
    and the converter that checks it (no dataclass default: every value
    comes through :func:`validate`)."""
    return field(metadata={"default": default, "convert": convert})


def _base_url(value: Any) -> str:
    value = _str(value).rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise TypeError("an http:// or https:// URL")
    return value


def _size(value: Any) -> int:
    from .core.sizes import BadSize
    from .core.sizes import parse_size

    try:
        return parse_size(value)
    except BadSize:
        raise TypeError("a size such as 10M or 1G") from None


def drain_marker(instance_dir: str, master_pid: int) -> Path:
    """The file that says the server with ``master_pid`` is draining before a
    stop: /readyz (in every worker) answers 503 while it exists."""
    return Path(instance_dir, f"draining.{master_pid}")


def _ldap_url(value: Any) -> str:
    value = _str(value).rstrip("/")
    if value and not value.startswith(("ldap://", "ldaps://")):
        raise TypeError("an ldap:// or ldaps:// URL")
    return value


@dataclass(frozen=True)
class Settings:
    """The validated settings, built once by :func:`validate`; read as
    attributes (``svc.settings.max_expiry``), so a misspelt name is a type
    error, not a KeyError at the first request that reads it."""

    protected_dir: str = _setting(PROTECTED_DIR, _path)
    instance_dir: str = _setting(INSTANCE_DIR, _path)
    database_url: str = _setting(DATABASE_URL, _str)
    default_expiry: int = _setting(DEFAULT_EXPIRY, _duration)
    max_expiry: int = _setting(MAX_EXPIRY, _duration)
    public_base_url: str = _setting(PUBLIC_BASE_URL, _base_url)
    trusted_hosts: tuple[str, ...] = _setting(TRUSTED_HOSTS, _host_list)
    resume_window: int = _setting(RESUME_WINDOW, _duration)
    login_limit: str = _setting(LOGIN_LIMIT, _limit)
    login_limit_per_address: str = _setting(LOGIN_LIMIT_PER_ADDRESS, _limit)
    login_limit_per_name: str = _setting(LOGIN_LIMIT_PER_NAME, _limit)
    api_auth_limit: str = _setting(API_AUTH_LIMIT, _limit)
    scim_limit: str = _setting(SCIM_LIMIT, _limit)
    refusal_limit: str = _setting(REFUSAL_LIMIT, _limit)
    trusted_proxies: int = _setting(TRUSTED_PROXIES, _count)
    audit_retention: int = _setting(AUDIT_RETENTION, _duration)
    session_idle_timeout: int = _setting(SESSION_IDLE_TIMEOUT, _duration)
    session_lifetime: int = _setting(SESSION_LIFETIME, _duration)
    ratelimit_storage_url: str = _setting(RATELIMIT_STORAGE_URL, _str)
    database_timeout: float = _setting(DATABASE_TIMEOUT, _seconds)
    header_timeout: int = _setting(HEADER_TIMEOUT, _duration)
    threads: int = _setting(THREADS, _positive(256))
    connections: int = _setting(CONNECTIONS, _positive(1_000_000, zero=True))
    access_log: bool = _setting(ACCESS_LOG, _bool)
    recipient_page: bool = _setting(RECIPIENT_PAGE, _bool)
    opaque_links: bool = _setting(OPAQUE_LINKS, _bool)
    pin: bool = _setting(PIN, _bool)
    link_password_limit: str = _setting(LINK_PASSWORD_LIMIT, _limit)
    unlock_lifetime: int = _setting(UNLOCK_LIFETIME, _duration)
    reauth_limit: str = _setting(REAUTH_LIMIT, _limit)
    send_timeout: int = _setting(SEND_TIMEOUT, _duration)
    zip_slots: int = _setting(ZIP_SLOTS, _positive(1024))
    cross_origin_resource_policy: str = _setting(
        CROSS_ORIGIN_RESOURCE_POLICY,
        _choice("same-origin", "same-site", "cross-origin", ""),
    )
    notify: bool = _setting(NOTIFY, _bool)
    smtp_host: str = _setting(SMTP_HOST, _str)
    smtp_port: int = _setting(SMTP_PORT, _positive(65535))
    smtp_security: str = _setting(SMTP_SECURITY, _choice("starttls", "tls", "none"))
    smtp_user: str = _setting(SMTP_USER, _str)
    smtp_password_file: str = _setting(SMTP_PASSWORD_FILE, _str)
    mail_from: str = _setting(MAIL_FROM, _str)
    reminder_before: int = _setting(REMINDER_BEFORE, _duration_or_zero)
    webhook_url: str = _setting(WEBHOOK_URL, _str)
    webhook_secret_file: str = _setting(WEBHOOK_SECRET_FILE, _str)
    webhook_allow_private: bool = _setting(WEBHOOK_ALLOW_PRIVATE, _bool)
    webhook_ca_file: str = _setting(WEBHOOK_CA_FILE, _str)
    webhook_format: str = _setting(
        WEBHOOK_FORMAT, _choice("standard", "linksvc", "both")
    )
    webhook_rotation: int = _setting(WEBHOOK_ROTATION, _duration)
    send_limit: str = _setting(SEND_LIMIT, _limit)
    code_limit: str = _setting(CODE_LIMIT, _limit)
    code_lifetime: int = _setting(CODE_LIFETIME, _duration)
    more_time_limit: str = _setting(MORE_TIME_LIMIT, _limit)
    outbox_interval: int = _setting(OUTBOX_INTERVAL, _duration)
    offload: str = _setting(OFFLOAD, _choice("none", "nginx", "sendfile"))
    offload_prefix: str = _setting(OFFLOAD_PREFIX, _location)
    storage: str = _setting(STORAGE, _choice("local", "s3"))
    s3_bucket: str = _setting(S3_BUCKET, _str)
    s3_prefix: str = _setting(S3_PREFIX, _str)
    s3_endpoint_url: str = _setting(S3_ENDPOINT_URL, _str)
    s3_region: str = _setting(S3_REGION, _str)
    s3_addressing_style: str = _setting(
        S3_ADDRESSING_STYLE, _choice("auto", "path", "virtual")
    )
    s3_offload: str = _setting(S3_OFFLOAD, _choice("stream", "redirect"))
    presign_ttl: int = _setting(PRESIGN_TTL, _duration)
    oidc_issuer: str = _setting(OIDC_ISSUER, _base_url)
    oidc_client_id: str = _setting(OIDC_CLIENT_ID, _str)
    oidc_client_secret_file: str = _setting(OIDC_CLIENT_SECRET_FILE, _str)
    oidc_name: str = _setting(OIDC_NAME, _str)
    oidc_scopes: str = _setting(OIDC_SCOPES, _str)
    oidc_username_claim: str = _setting(OIDC_USERNAME_CLAIM, _str)
    oidc_groups_claim: str = _setting(OIDC_GROUPS_CLAIM, _str)
    oidc_group_map: tuple[tuple[str, str], ...] = _setting(OIDC_GROUP_MAP, _group_map)
    on_access_lost: str = _setting(ON_ACCESS_LOST, _choice("keep", "revoke"))
    local_logins: bool = _setting(LOCAL_LOGINS, _bool)
    break_glass_admin: str = _setting(BREAK_GLASS_ADMIN, _str)
    sso_token_lifetime: int = _setting(SSO_TOKEN_LIFETIME, _duration_or_zero)
    require_second_factor: str = _setting(
        REQUIRE_SECOND_FACTOR, _choice("none", "admins", "everyone")
    )
    ldap_url: str = _setting(LDAP_URL, _ldap_url)
    ldap_starttls: bool = _setting(LDAP_STARTTLS, _bool)
    ldap_allow_plain: bool = _setting(LDAP_ALLOW_PLAIN, _bool)
    ldap_ca_file: str = _setting(LDAP_CA_FILE, _str)
    ldap_bind_dn: str = _setting(LDAP_BIND_DN, _str)
    ldap_bind_password_file: str = _setting(LDAP_BIND_PASSWORD_FILE, _str)
    ldap_user_base: str = _setting(LDAP_USER_BASE, _str)
    ldap_user_filter: str = _setting(LDAP_USER_FILTER, _str)
    ldap_username_attribute: str = _setting(LDAP_USERNAME_ATTRIBUTE, _str)
    ldap_email_attribute: str = _setting(LDAP_EMAIL_ATTRIBUTE, _str)
    ldap_id_attribute: str = _setting(LDAP_ID_ATTRIBUTE, _str)
    ldap_group_base: str = _setting(LDAP_GROUP_BASE, _str)
    ldap_group_filter: str = _setting(LDAP_GROUP_FILTER, _str)
    ldap_group_attribute: str = _setting(LDAP_GROUP_ATTRIBUTE, _str)
    ldap_timeout: float = _setting(LDAP_TIMEOUT, _seconds)
    upload_max_file_size: int = _setting(UPLOAD_MAX_FILE_SIZE, _size)
    upload_max_files: int = _setting(UPLOAD_MAX_FILES, _positive(1_000_000))
    upload_max_bytes: int = _setting(UPLOAD_MAX_BYTES, _size)
    upload_expiry: int = _setting(UPLOAD_EXPIRY, _duration)
    upload_free_disk: int = _setting(UPLOAD_FREE_DISK, _size)
    upload_limit: str = _setting(UPLOAD_LIMIT, _limit)
    uploads_per_link: int = _setting(UPLOADS_PER_LINK, _positive(10_000))
    uploads_per_worker: int = _setting(UPLOADS_PER_WORKER, _positive(100_000))
    clamd_socket: str = _setting(CLAMD_SOCKET, _str)
    drain_seconds: int = _setting(DRAIN_SECONDS, _duration_or_zero)
    metrics_token: str = _setting(METRICS_TOKEN, _str)
    metrics_networks: str = _setting(METRICS_NETWORKS, _networks)
    log_format: str = _setting(LOG_FORMAT, _choice("text", "json"))
    #: From LINKSVC_SECRET_KEYS or given by tests; empty: instance/secret_keys.
    secret_keys: tuple[str, ...] = ()


#: key -> (default, converter), from the fields. Converters raise TypeError
#: with what they want.
SCHEMA: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    f.name: (f.metadata["default"], f.metadata["convert"])
    for f in fields(Settings)
    if f.metadata
}

#: Old names still read for one release (a warning names the new one).
RENAMED = {"pin_versions": "pin", "notify_first_download": "notify"}

#: Keys that hold paths, resolved against the settings file's folder.
PATH_KEYS = ("protected_dir", "instance_dir")


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a settings file; refuses secrets, which belong in the instance."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(
            f"The settings file {os.fspath(path)!r} does not exist."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"The settings file {os.fspath(path)!r} is not TOML: {exc}."
        ) from None
    for secret in (
        "smtp_password",
        "webhook_secret",
        "oidc_client_secret",
        "ldap_bind_password",
    ):
        if secret in data:
            raise ConfigError(
                f"The setting {secret}: secrets do not belong in the settings "
                f"file; set LINKSVC_{secret.upper()} or {secret}_file"
            )
    for secret in ("s3_access_key_id", "s3_secret_access_key", "aws_secret_access_key"):
        if secret in data:
            raise ConfigError(
                f"The setting {secret}: credentials do not belong in the settings "
                "file; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                "AWS_SHARED_CREDENTIALS_FILE (or give the machine a role)"
            )
    if "secret_keys" in data:
        raise ConfigError(
            "The setting secret_keys: secrets do not belong in the settings file; run "
            "`linksvc init` (writes instance/secret_keys) or set LINKSVC_SECRET_KEYS"
        )
    return data


def from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``LINKSVC_<KEY>`` overrides for keys in the schema (old names too)."""
    return {
        key: environ[ENV_PREFIX + key.upper()]
        for key in (*SCHEMA, *RENAMED)
        if ENV_PREFIX + key.upper() in environ
    }


def _renamed(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with old names read as the new ones; both at once is an error."""
    out = dict(raw)
    for old, new in RENAMED.items():
        if old in out:
            if new in out:
                raise ConfigError(
                    f"The setting {old!r} is the old name of {new!r}: give only one."
                )
            logging.getLogger("linksvc").warning(
                "the setting %r is now called %r; the old name ends next release",
                old,
                new,
            )
            out[new] = out.pop(old)
    return out


def validate(raw: Mapping[str, Any], base_dir: Path) -> Settings:
    """Fill defaults, convert types and resolve paths; raise ConfigError."""
    raw = _renamed(raw)
    unknown = sorted(set(raw) - set(SCHEMA) - {"secret_keys"})
    if unknown:
        raise ConfigError(
            f"There is no setting {unknown[0]!r} (unknown setting); "
            f"known: {', '.join(SCHEMA)}."
        )
    values: dict[str, Any] = {}
    for key, (default, convert) in SCHEMA.items():
        value = raw.get(key, default)
        try:
            values[key] = convert(value)
        except TypeError as exc:
            raise ConfigError(
                f"The setting {key!r} must be {exc} (got {value!r})."
            ) from None
    for key in PATH_KEYS:
        values[key] = str((base_dir / values[key]).resolve())
    if not values["database_url"]:
        db = Path(values["instance_dir"], "linksvc.sqlite3")
        values["database_url"] = f"sqlite:///{db}"
    if values["default_expiry"] > values["max_expiry"]:
        raise ConfigError("The setting 'default_expiry' must not exceed 'max_expiry'.")
    if values["oidc_issuer"]:
        if not values["oidc_client_id"]:
            raise ConfigError("The setting 'oidc_client_id' must go with oidc_issuer.")
        if "openid" not in values["oidc_scopes"].split():
            raise ConfigError("The setting 'oidc_scopes' must include 'openid'.")
    if values["ldap_url"]:
        _check_ldap(values)
    if values["storage"] == "s3":
        _check_s3(values)
    if raw.get("secret_keys"):
        values["secret_keys"] = tuple(raw["secret_keys"])
    return Settings(**values)


def _check_s3(values: dict[str, Any]) -> None:
    if not values["s3_bucket"]:
        raise ConfigError("The setting 's3_bucket' must go with storage = \"s3\".")
    if values["offload"] != "none":
        raise ConfigError(
            "The setting 'offload' is for files on a disk; with storage = \"s3\" "
            'use s3_offload = "redirect".'
        )
    if not 1 <= values["presign_ttl"] <= 3600:
        raise ConfigError("The setting 'presign_ttl' must be between 1 s and 1 h.")
    prefix = values["s3_prefix"].strip("/")
    if prefix:
        from .core.errors import PathRefused
        from .files.tree import ProtectedTree

        try:
            ProtectedTree.clean(prefix)
        except PathRefused:
            raise ConfigError(
                "The setting 's3_prefix' must be a clean key prefix."
            ) from None


def _check_ldap(values: dict[str, Any]) -> None:
    plain = values["ldap_url"].startswith("ldap://") and not values["ldap_starttls"]
    if plain and not values["ldap_allow_plain"]:
        raise ConfigError(
            "The setting 'ldap_starttls' may only be off with ldap_allow_plain "
            "(passwords would cross the network in the clear): use ldaps:// "
            "or StartTLS."
        )
    if not values["ldap_user_base"]:
        raise ConfigError("The setting 'ldap_user_base' must go with ldap_url.")
    if "{username}" not in values["ldap_user_filter"]:
        raise ConfigError("The setting 'ldap_user_filter' must contain {username}.")
    if values["ldap_group_base"] and "{dn}" not in values["ldap_group_filter"]:
        raise ConfigError("The setting 'ldap_group_filter' must contain {dn}.")


def load(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from ``path`` (or ``LINKSVC_SETTINGS``, or ./settings.toml).

    Without any file the defaults apply, relative to the working directory.
    """
    environ = os.environ if environ is None else environ
    path = path or environ.get(ENV_PREFIX + "SETTINGS")
    raw: dict[str, Any] = {}
    if path is None and Path(SETTINGS_FILE).is_file():
        path = SETTINGS_FILE
    if path is not None:
        raw = _renamed(read_file(path))
        base_dir = Path(path).resolve().parent
    else:
        base_dir = Path.cwd()
    raw.update(_renamed(from_environ(environ)))
    return validate(raw, base_dir)
