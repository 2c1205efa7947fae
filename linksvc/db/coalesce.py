"""Concurrent requests for the same statement share one run of it; no Flask.

On a database server every commit waits for its WAL flush, and counts of one
link wait for each other's row lock: a thousand one-time downloads a second
of one link would be a thousand flushes in a row. Requests that ask while a
statement for the same key is running wait for it, and then go together as
one batch: one statement, one commit, its result shared (a read) or handed
out in arrival order (a count that grants up to the link's remaining
downloads). Nobody joins a run that has already started, so every request's
statement begins after the request arrived: a revocation committed before it
asked is always seen.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from collections.abc import Hashable
from typing import Generic
from typing import Protocol
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")

#: The most requests one batch takes; the next ones make another batch.
MOST = 256


class Event(Protocol):
    def set(self) -> None: ...

    def wait(self, timeout: float | None = None) -> bool | None: ...


class _Batch(Generic[T, R]):
    __slots__ = (
        "items",
        "turn",
        "done",
        "resumed",
        "taken",
        "finished",
        "result",
        "error",
    )

    def __init__(self, event: Callable[[], Event], item: T) -> None:
        self.items = [item]
        #: Set when the batch may run (the one before it has finished).
        self.turn = event()
        #: Set when it has run: ``result`` or ``error`` is there.
        self.done = event()
        #: Set once the first caller's pause is over (when it pauses).
        self.resumed: Event | None = None
        self.taken = False
        self.finished = False
        self.result: R | None = None
        self.error: BaseException | None = None

    def outcome(self) -> R:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class Coalescer(Generic[K, T, R]):
    """Runs ``run(key, items)`` for batches of the items joined under ``key``.

    ``event`` makes the waiting primitive of the callers' kind (gevent's
    Event on the event loop, threading's for threads); one coalescer serves
    one kind. ``run`` is called by one of the batch's own callers (the first
    to find it its turn), so a caller that leaves while waiting strands no one.
    ``pause`` is called by the first caller of a key nothing runs for, before
    its batch starts: gevent's ``sleep(0)`` lets the greenlets that are ready
    join it, instead of the first always running alone.
    """

    def __init__(
        self,
        run: Callable[[K, list[T]], R],
        event: Callable[[], Event],
        most: int = MOST,
        pause: Callable[[], object] | None = None,
    ) -> None:
        self._run = run
        self._event = event
        self._pause = pause
        self._most = most
        self._lock = threading.Lock()
        #: Keys with a batch running; their batches waiting, oldest first.
        self._queues: dict[K, deque[_Batch[T, R]]] = {}

    def join(self, key: K, item: T) -> tuple[R, int]:
        """``item`` run with the others of ``key`` that wait with it: the
        batch's result and this item's place in the batch (0 is first)."""
        with self._lock:
            queue = self._queues.get(key)
            fresh = queue is None
            if queue is None:
                queue = self._queues[key] = deque()
            last = queue[-1] if queue else None
            if last is not None and not last.taken and len(last.items) < self._most:
                batch, place = last, len(last.items)
                last.items.append(item)
            else:
                batch, place = _Batch(self._event, item), 0
                queue.append(batch)
                if fresh:
                    batch.turn.set()  # nothing of this key runs: its turn now
        if fresh and self._pause is not None:
            # Let the requests that are ready at this moment reach here and
            # join (on the loop: one turn of it, microseconds). They wait
            # until it is over; if this caller never comes back, one of them
            # runs the batch.
            batch.resumed = self._event()
            try:
                self._pause()
            finally:
                batch.resumed.set()
        batch.turn.wait()
        if batch.resumed is not None:
            batch.resumed.wait()
        with self._lock:
            mine = not batch.taken
            if mine:
                batch.taken = True
                queue.popleft()  # it is at the head: its turn came
        if mine:
            return self._go(key, batch), place
        batch.done.wait()
        return batch.outcome(), place

    def _go(self, key: K, batch: _Batch[T, R]) -> R:
        try:
            batch.result = self._run(key, batch.items)
        except BaseException as exc:
            batch.error = exc
        finally:
            with self._lock:
                batch.finished = True
                queue = self._queues[key]
                if queue:
                    queue[0].turn.set()
                else:
                    del self._queues[key]
            batch.done.set()
            batch.turn.set()
        return batch.outcome()
