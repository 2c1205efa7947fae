"""The cookie that says "this browser gave the link's password"; no Flask.

After the right password the recipient's browser gets a short-lived signed
cookie scoped to the link's path (``/d/<token>``), so Range continuations and
download managers that share the browser's cookies need no form. The cookie
names the link and a fingerprint of its password hash: a new password (an
edit) makes every earlier cookie worthless. It never holds the password.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from itsdangerous import BadSignature
from itsdangerous import TimestampSigner
from werkzeug.http import parse_cookie

#: The cookie's name; its Path attribute is the link's own URL path.
COOKIE = "linksvc_unlock"
UNLOCK_SALT = "linksvc.unlock.v1"
#: The same for "this browser gave the code sent to the recipient": it
#: names the link and a fingerprint of the recipient's address.
VERIFIED_COOKIE = "linksvc_verified"
VERIFIED_SALT = "linksvc.verified.v1"


def _tag(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class Unlocks:
    """Makes and checks unlock cookies with the service's keys (oldest to
    newest: itsdangerous signs with the last and accepts any of them)."""

    def __init__(
        self,
        keys: Sequence[str | bytes],
        lifetime: int,
        cookie: str = COOKIE,
        salt: str = UNLOCK_SALT,
    ) -> None:
        self._signer = TimestampSigner(
            [k.encode() if isinstance(k, str) else k for k in keys], salt=salt
        )
        self.lifetime, self.cookie, self.salt = lifetime, cookie, salt

    def renewed(self, keys: Sequence[str | bytes]) -> Unlocks:
        """The same kind of cookie, signed with new keys."""
        return Unlocks(keys, self.lifetime, self.cookie, self.salt)

    def value(self, link_id: str, password_hash: str) -> str:
        """The cookie value for a link just unlocked."""
        return self._signer.sign(f"{link_id}.{_tag(password_hash)}").decode()

    def unlocked(self, cookie_header: str, link_id: str, password_hash: str) -> bool:
        """Whether the request's Cookie header holds a valid unlock for this
        link and its current password, signed within ``lifetime`` seconds."""
        if self.cookie not in cookie_header:
            return False
        want = f"{link_id}.{_tag(password_hash)}"
        for value in parse_cookie(cookie_header).getlist(self.cookie):
            try:
                said = self._signer.unsign(value, max_age=self.lifetime)
            except BadSignature:
                continue
            if said.decode() == want:
                return True
        return False
