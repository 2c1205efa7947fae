"""Download tokens: issue and verify, with itsdangerous; no Flask here.

A token is ``<key id>.<itsdangerous URL-safe timed token>``. The key id picks
the one key that can have signed it, so verifying costs one HMAC however many
old keys are still accepted, and retiring a key is just dropping it.

An *opaque* token is ``<key id>.<link id>.<signature>``: it says nothing about
the file; the path, expiry and flags are read from the link's row.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from itsdangerous import BadSignature
from itsdangerous import Signer
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode
from itsdangerous.encoding import base64_encode

from .clock import utc
from .errors import LinkExpired
from .errors import LinkInvalid
from .errors import LinkNotYetValid

#: key id . [.]payload . timestamp . signature, in the URL-safe alphabet
#: (a leading dot marks a compressed payload).
_SHAPE = re.compile(r"[0-9a-f]{8}\.\.?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
#: key id . link id . signature (HMAC-SHA1, 27 characters).
_OPAQUE_SHAPE = re.compile(r"[0-9a-f]{8}\.[A-Za-z0-9_-]{8,43}\.[A-Za-z0-9_-]{27}")
#: How many verified tokens a process remembers.
VERIFIED_CACHE = 4096
#: No token we issue is longer (a path is at most 1024 characters of UTF-8).
MAX_TOKEN = 16384
#: What a refused token is told: the same whatever was wrong with it.
INVALID_LINK = "Unknown or malformed link."
#: One salt per purpose: a download token can never pass as anything else.
DOWNLOAD_SALT = "linksvc.download.v1"
OPAQUE_SALT = "linksvc.download-opaque.v1"


def key_id(key: str | bytes) -> str:
    """A short public name for a key: it says which key, not what key."""
    if isinstance(key, str):
        key = key.encode()
    return hashlib.sha256(b"linksvc.key-id:" + key).hexdigest()[:8]


def check_window(expires_at: int, not_before: int | None, now: float) -> None:
    """Raise LinkExpired or LinkNotYetValid unless ``now`` is inside the
    link's window. Valid at exactly ``expires_at``, refused one second later,
    as itsdangerous treats ``max_age``."""
    if int(now) > expires_at:
        raise LinkExpired(utc(expires_at))
    if not_before is not None and int(now) < not_before:
        raise LinkNotYetValid(utc(not_before))


@dataclass(frozen=True)
class Claims:
    """What a genuine token says."""

    link_id: str
    path: str
    expires_at: int
    not_before: int | None
    key_id: str
    limited: bool = True
    #: The link first shows the recipient a page (name, size, expiry); the
    #: token's field is "w" (short, and the same in every token ever made).
    recipient_page: bool = False
    #: The token named only the link: the rest comes from its row.
    opaque: bool = False
    #: The path is a folder: a listing, its files, a streamed zip.
    folder: bool = False


class LinkSigner:
    """Signs with the newest key (the last of ``keys``, oldest to newest, as
    itsdangerous orders them); verifies with whichever key the token names."""

    def __init__(self, keys: Sequence[str | bytes], salt: str = DOWNLOAD_SALT):
        if not keys:
            raise ValueError("at least one secret key is needed")
        self._serializers = {
            key_id(key): URLSafeTimedSerializer(key, salt=salt) for key in keys
        }
        # itsdangerous derives the signing key on every loads(); a download
        # should not pay for that, so each key's signer is made once.
        self._signers = {
            kid: serializer.make_signer(salt)
            for kid, serializer in self._serializers.items()
        }
        self._opaque = {key_id(key): Signer(key, salt=OPAQUE_SALT) for key in keys}
        self.signing_key_id = key_id(keys[-1])
        # Popular links are verified once per process: the claims of a genuine
        # token never change (time rules are checked on every call). Only
        # genuine tokens are kept, so garbage cannot crowd them out.
        self._verified: dict[str, Claims] = {}

    def issue(
        self,
        link_id: str,
        path: str,
        expires_at: int,
        not_before: int | None = None,
        limited: bool = True,
        at: int | None = None,
        recipient_page: bool = False,
        folder: bool = False,
    ) -> str:
        """A token for a link; ``limited`` says it has a download limit, so a
        download must count it atomically before sending.

        ``at`` fixes the token's timestamp (the link's creation time): the same
        claims signed with the same key at the same ``at`` give the same text,
        so a link's URL can be shown again without storing it.
        """
        payload: dict[str, object] = {
            "i": link_id,
            "p": path,
            "e": int(expires_at),
            "m": int(limited),
        }
        if not_before is not None:
            payload["n"] = int(not_before)
        if recipient_page:
            payload["w"] = 1
        if folder:
            payload["f"] = 1
        kid = self.signing_key_id
        serializer = self._serializers[kid]
        if at is None:
            return f"{kid}.{serializer.dumps(payload)}"
        signer = serializer.make_signer(serializer.salt)
        signer.get_timestamp = lambda: int(at)  # type: ignore[attr-defined]
        signed = signer.sign(serializer.dump_payload(payload)).decode()
        return f"{kid}.{signed}"

    def issue_opaque(self, link_id: str) -> str:
        """A token that names only the link (and the key): always the same
        text for the same link and key, and nothing in it about the file."""
        kid = self.signing_key_id
        return f"{kid}.{self._opaque[kid].sign(link_id).decode()}"

    def verify(self, token: str) -> Claims:
        """Return the claims of a genuine token, or raise LinkInvalid
        (tampered, unknown key, garbage).

        Time rules are not checked here: the link's row in the database is
        the authority for expiry and start (see :func:`check_window`), so a
        token re-signed with a leaked key cannot widen a link.
        """
        claims = self._verified.get(token)
        if claims is None:
            if len(token) > MAX_TOKEN:
                raise LinkInvalid(INVALID_LINK)
            claims = self._genuine(token)
            if claims is None:
                raise LinkInvalid(INVALID_LINK)
            if len(self._verified) >= VERIFIED_CACHE:
                self._verified.clear()  # crude, bounded, and rarely reached
            self._verified[token] = claims
        return claims

    def _genuine(self, token: str) -> Claims | None:
        """The claims of a token we signed, spelled exactly as we spelled it,
        or None. Base64 decoding forgives ``/``, ``+``, padding and unused
        trailing bits; we do not, so one link has exactly one token text."""
        if _OPAQUE_SHAPE.fullmatch(token):
            return self._genuine_opaque(token)
        if not _SHAPE.fullmatch(token):
            return None
        kid, _, signed = token.partition(".")
        signer = self._signers.get(kid)
        if signer is None:
            return None
        try:
            payload = self._serializers[kid].load_payload(signer.unsign(signed))
            if any(
                base64_encode(base64_decode(part)).decode() != part
                for part in signed.split(".")
                if part
            ):
                return None
            return _claims(payload, kid)
        except (BadSignature, UnicodeError, ValueError, LinkInvalid):
            return None

    def _genuine_opaque(self, token: str) -> Claims | None:
        kid, _, signed = token.partition(".")
        signer = self._opaque.get(kid)
        if signer is None:
            return None
        link_id, _, signature = signed.partition(".")
        try:
            signer.unsign(signed)
        except BadSignature:
            return None
        if base64_encode(base64_decode(signature)).decode() != signature:
            return None
        return Claims(link_id, "", 0, None, kid, limited=False, opaque=True)


def _claims(payload: object, kid: str) -> Claims:
    # Genuine tokens always have this shape; anything else was not made here.
    if not isinstance(payload, dict):
        raise LinkInvalid(INVALID_LINK)
    link_id, path, expires = payload.get("i"), payload.get("p"), payload.get("e")
    not_before, limited = payload.get("n"), payload.get("m", 1)
    page, folder = payload.get("w", 0), payload.get("f", 0)
    if (
        not isinstance(link_id, str)
        or not isinstance(path, str)
        or type(expires) is not int
        or (not_before is not None and type(not_before) is not int)
        or limited not in (0, 1)
        or page not in (0, 1)
        or folder not in (0, 1)
    ):
        raise LinkInvalid(INVALID_LINK)
    return Claims(
        link_id,
        path,
        expires,
        not_before,
        kid,
        bool(limited),
        bool(page),
        folder=bool(folder),
    )
