"""Signing webhook bodies: the Standard Webhooks headers and linksvc's own
(deprecated) ``X-Linksvc-Signature``; pure.

Standard Webhooks (https://www.standardwebhooks.com): ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"<id>.<timestamp>.<body>">``, one ``v1,…`` per key, space-separated, so a
receiver keeps verifying while a key is being rotated. A key is written
``whsec_<base64 of its bytes>``; a key from before this format (any other
string) signs with its UTF-8 bytes, and :func:`standard_form` says how a
receiver must write it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from .errors import InvalidInput

PREFIX = "whsec_"
#: Every format a webhook can be sent in; "both" sends both header sets.
FORMATS = ("standard", "linksvc", "both")


def new_key() -> str:
    """A new signing key in the Standard Webhooks form (32 random bytes)."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def key_bytes(key: str) -> bytes:
    """The HMAC key a written key stands for."""
    if key.startswith(PREFIX):
        try:
            return base64.b64decode(key[len(PREFIX) :], validate=True)
        except binascii.Error:
            raise InvalidInput("A whsec_ key is base64 after its prefix.") from None
    return key.encode()


def standard_form(key: str) -> str:
    """The key as a Standard Webhooks library takes it (``whsec_…``)."""
    if key.startswith(PREFIX):
        return key
    return PREFIX + base64.b64encode(key.encode()).decode()


def parse_keys(text: str) -> list[str]:
    """The keys an environment variable or key file holds: one or more,
    separated by white space, the newest first (all of them sign)."""
    keys = text.split()
    for key in keys:
        key_bytes(key)
    return keys


def standard_headers(
    keys: Sequence[str], message_id: str, timestamp: int, body: str
) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every key."""
    if not keys:
        raise ValueError("a webhook needs at least one key")
    signed = f"{message_id}.{timestamp}.{body}".encode()
    signatures = " ".join(
        "v1,"
        + base64.b64encode(
            hmac.new(key_bytes(key), signed, hashlib.sha256).digest()
        ).decode()
        for key in keys
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }


def linksvc_signature(key: str, timestamp: int, body: str) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with the key's
    text as written (what receivers of earlier releases compute)."""
    mac = hmac.new(key.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def headers(
    webhook_format: str,
    keys: Sequence[str],
    message_id: str,
    timestamp: int,
    body: str,
) -> dict[str, str]:
    """The signature headers of one delivery in ``webhook_format``. The
    deprecated header is signed with the newest key only, as before."""
    out: dict[str, str] = {}
    if webhook_format in ("standard", "both"):
        out.update(standard_headers(keys, message_id, timestamp, body))
    if webhook_format in ("linksvc", "both"):
        out["X-Linksvc-Signature"] = linksvc_signature(keys[0], timestamp, body)
    return out
