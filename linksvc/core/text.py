"""Text from users, made safe to show: no terminal escapes, no bidi tricks; no Flask.

A label, note or file name may hold control characters (an ESC sequence
rewrites a terminal) or bidirectional overrides (``invoice\u202egpj.exe``
reads as ``invoiceexe.jpg``). :func:`printable` spells them as escapes.
"""

from __future__ import annotations

import re

#: Bidirectional embedding, override and isolate controls (and the marks).
BIDI_CONTROLS = (
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
#: An address with one @ and a dot in its domain; the mail server judges more.
#: One address: a dot-atom local part (RFC 5322 atext, no commas, quotes,
#: brackets or semicolons, which a mail server could read as several
#: recipients) and a host name.
EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}]")


def has_bidi(text: str) -> bool:
    return any(c in BIDI_CONTROLS for c in text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with control and bidi characters written as ``\\xNN``/``\\uNNNN``."""
    return _UNSAFE.sub(_escape, text)


def filesize(size: float) -> str:
    """A size as people read it: 21 B, 4.0 KiB, 1.5 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.0f} B"
