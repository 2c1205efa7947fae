"""Per-client limits on what anonymous requests may cost us; no Flask.

The ``limits`` library (what Flask-Limiter is built on) counts in the same
storage as the login limits: ``memory://`` per process, ``redis://`` shared
by every worker and instance.
"""

from __future__ import annotations

import time

from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter


class Throttle:
    """``hit(key)`` counts one event; it answers how many seconds to wait
    when the key is over any of the limits, else None."""

    def __init__(self, storage_url: str, limits: str, scope: str) -> None:
        self.limiter = FixedWindowRateLimiter(storage_from_string(storage_url))
        self.limits = parse_many(limits)
        self.scope = scope

    def hit(self, key: str) -> int | None:
        for item in self.limits:
            if not self.limiter.hit(item, self.scope, key):
                reset = self.limiter.get_window_stats(item, self.scope, key).reset_time
                return max(1, int(reset - time.time() + 0.999))
        return None
