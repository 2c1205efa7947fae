"""Slots for "Download all": how many archives one worker makes at once,
shared fairly between client addresses; no Flask.

A zip walks its folder and streams for as long as its client reads, so the
number at once is bounded per worker (``zip_slots``, GET and HEAD alike),
and one address may hold at most a quarter of them: 48 connections from
one client that never read cannot shut everyone else out. A stream that
makes no progress for ``send_timeout`` is dropped (links/folders.py), which
frees its slot.
"""

from __future__ import annotations

import threading
from collections import Counter


class ZipSlots:
    """``take(addr)`` a slot or get False; ``give(addr)`` it back."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.per_address = max(1, total // 4)
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()
        self._used = 0

    def take(self, addr: str) -> bool:
        with self._lock:
            if self._used >= self.total or self._held[addr] >= self.per_address:
                return False
            self._used += 1
            self._held[addr] += 1
            return True

    def give(self, addr: str) -> None:
        with self._lock:
            self._used -= 1
            self._held[addr] -= 1
            if self._held[addr] <= 0:
                del self._held[addr]

    @property
    def used(self) -> int:
        return self._used
