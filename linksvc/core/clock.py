"""The one clock and the one way times are written; no Flask.

Times are whole UTC seconds since the epoch everywhere (database, tokens,
audit); people read them as ISO 8601 in UTC.
"""

from __future__ import annotations

import time
from datetime import datetime
from datetime import UTC


def now() -> int:
    """The current time in whole seconds (freezegun moves it in tests)."""
    return int(time.time())


def utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def iso(ts: float | None) -> str | None:
    """``2026-11-25T09:00:00Z``, or None for no time."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def minutes(ts: float | None) -> str:
    """``2026-11-25 09:00``, for tables where seconds are noise; empty for none."""
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts))
