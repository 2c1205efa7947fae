"""Durations as people write them: ``90s``, ``15m``, ``2h``, ``7d``, ``2w``."""

from __future__ import annotations

import re
from datetime import datetime
from datetime import UTC

from .errors import BadDuration
from .errors import InvalidInput

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*([0-9]{1,9})\s*([smhdw])\s*$")


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


def parse_instant(text: str | int, now: float) -> int:
    """A moment as epoch seconds: ISO 8601 (UTC when no offset is given), a
    number of epoch seconds, or a duration from ``now`` such as ``+2h``."""
    if isinstance(text, bool):
        raise InvalidInput(f"{text!r} is not a time")
    if isinstance(text, int):
        return text
    text = text.strip()
    if text.startswith("+") or _PATTERN.match(text):
        return int(now) + parse_duration(text.removeprefix("+"))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a time: write ISO 8601 (2026-12-01T09:00, UTC "
            "unless an offset is given) or a delay such as +2h."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
