"""Byte sizes people type: ``512``, ``10K``, ``10M``, ``1G``, ``2T`` (powers of
1024, ``B`` or ``iB`` optional); pure."""

from __future__ import annotations

import re

_SIZE = re.compile(r"\s*(\d{1,15})\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)
_FACTOR = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class BadSize(ValueError):
    """Not a size this module reads."""


def parse_size(text: str | int) -> int:
    """Bytes in ``text``; BadSize when it is not a size."""
    if isinstance(text, bool):
        raise BadSize("a size such as 10M or 1G")
    if isinstance(text, int):
        if text < 0:
            raise BadSize("a size such as 10M or 1G")
        return text
    found = _SIZE.fullmatch(str(text))
    if found is None:
        raise BadSize(f"{str(text)[:40]!r} is not a size such as 10M or 1G")
    return int(found.group(1)) * _FACTOR[found.group(2).lower()]
