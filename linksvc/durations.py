"""Durations as people write them: ``90s``, ``15m``, ``2h``, ``7d``, ``2w``."""

from __future__ import annotations

import re

from .errors import BadDuration

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d{1,9})\s*([smhdw])\s*$")


def parse_duration(text: str | int) -> int:
    """Return the number of seconds ``text`` stands for.

    A bare integer is taken as seconds so that settings may say ``3600``.
    Zero and negative durations are refused: a link must live a while.
    """
    if isinstance(text, bool):
        raise BadDuration(str(text))
    if isinstance(text, int):
        seconds = text
    else:
        match = _PATTERN.match(text)
        if match is None:
            raise BadDuration(text)
        seconds = int(match.group(1)) * UNITS[match.group(2)]
    if seconds <= 0:
        raise BadDuration(str(text))
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest exact spelling of ``seconds`` that parse_duration reads."""
    for unit, size in sorted(UNITS.items(), key=lambda item: -item[1]):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
