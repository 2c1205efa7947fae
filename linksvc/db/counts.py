"""The download counts of unlimited links, held in memory until the audit
writer adds them to their rows in a batch.

An unlimited link's count need not be atomic (nothing is refused by it), so
a download waits for no write: :meth:`add` only counts in memory, and the
audit writer takes what is held into its next transaction. A page that shows
a count adds :meth:`pending` instead of waiting for the writer.
"""

from __future__ import annotations

import threading


class DeferredCounts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: link id -> (downloads, the last one's time), not taken yet
        self._held: dict[str, tuple[int, int]] = {}
        #: what the writer took and has not finished writing
        self._writing: dict[str, tuple[int, int]] = {}

    def add(self, link_id: str, at: int) -> None:
        with self._lock:
            n, last = self._held.get(link_id, (0, 0))
            self._held[link_id] = (n + 1, max(last, at))

    def take(self) -> dict[str, tuple[int, int]]:
        """Everything held, for the writer's next transaction."""
        with self._lock:
            taken, self._held = self._held, {}
            for link_id, (n, at) in taken.items():
                m, last = self._writing.get(link_id, (0, 0))
                self._writing[link_id] = (m + n, max(last, at))
            return taken

    def done(self, taken: dict[str, tuple[int, int]]) -> None:
        """``taken`` is in the rows now (or was lost, and logged)."""
        with self._lock:
            for link_id, (n, _) in taken.items():
                m, last = self._writing.pop(link_id, (0, 0))
                if m > n:
                    self._writing[link_id] = (m - n, last)

    def pending(self, link_id: str) -> int:
        """Downloads of ``link_id`` this process counted that its row does
        not show yet."""
        with self._lock:
            held = self._held.get(link_id, (0, 0))[0]
            return held + self._writing.get(link_id, (0, 0))[0]

    def __bool__(self) -> bool:
        return bool(self._held)
