"""The password hashes the store keeps (accounts' and links'), made and
compared off the event loop: a werkzeug hash takes ~0.1 s of CPU by design
and releases the GIL, so on a real thread it stalls no other request."""

from __future__ import annotations

from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from ..files.offload import offload


def hashed(secret: str) -> str:
    return offload(generate_password_hash, secret)


def matches(stored: str, given: str) -> bool:
    return bool(offload(check_password_hash, stored, given))
