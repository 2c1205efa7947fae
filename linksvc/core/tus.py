"""The tus 1.0.0 resumable upload protocol's headers (core, creation,
termination and expiration extensions: https://tus.io/protocols/resumable-upload);
pure: what a request says, and what answers must carry.

The web adapter (web/uploads.py) reads headers with these functions and the
feature (links/uploads.py) decides; nothing here touches a file or a row.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from datetime import UTC
from email.utils import format_datetime

from .errors import BadRequest

VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration"
#: The media type of a PATCH body.
OFFSET_STREAM = "application/offset+octet-stream"
#: Most metadata a creation may carry (it is kept on the row).
MAX_METADATA = 4096


class TusError(BadRequest):
    """A request that breaks the protocol; ``status`` says how (400, 409,
    412, 413, 415, 460)."""

    code = "tus"

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.api_status = status


def check_version(header: str | None) -> None:
    """Every request but OPTIONS names the version it speaks (412 else)."""
    if header != VERSION:
        raise TusError(f"Send Tus-Resumable: {VERSION}.", 412)


def whole_number(header: str | None, name: str) -> int:
    """A header that must be a non-negative integer (400 else)."""
    if (
        header is None
        or not header.isascii()
        or not header.isdigit()
        or len(header) > 18
    ):
        raise TusError(f"{name} must be a non-negative whole number.")
    return int(header)


def metadata(header: str | None) -> dict[str, str]:
    """Upload-Metadata: ``key base64value`` pairs, comma separated; values
    decoded as UTF-8 (a value that is not is refused: names are text)."""
    if not header:
        return {}
    if len(header) > MAX_METADATA:
        raise TusError("Upload-Metadata is too long.")
    found: dict[str, str] = {}
    for pair in header.split(","):
        key, _, value = pair.strip().partition(" ")
        if not key or not key.isascii() or " " in key or key in found:
            raise TusError("Upload-Metadata is not key/value pairs.")
        try:
            found[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise TusError(f"Upload-Metadata {key!r} is not base64 of UTF-8.") from None
    return found


def expires(at: int) -> str:
    """Upload-Expires: an RFC 9110 date."""
    return format_datetime(datetime.fromtimestamp(at, UTC), usegmt=True)


def common_headers() -> dict[str, str]:
    return {"Tus-Resumable": VERSION, "Cache-Control": "no-store"}


def options_headers(max_size: int) -> dict[str, str]:
    return {
        **common_headers(),
        "Tus-Version": VERSION,
        "Tus-Extension": EXTENSIONS,
        "Tus-Max-Size": str(max_size),
    }
