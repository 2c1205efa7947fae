"""The coalescer: requests for one key that wait together run as one batch."""

from __future__ import annotations

import threading
import time

import pytest

from linksvc.db.coalesce import Coalescer


class Runs:
    """A ``run`` that records its batches and can be held mid-run."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[int]]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.fail: set[int] = set()

    def __call__(self, key: str, items: list[int]) -> int:
        self.batches.append((key, list(items)))
        self.started.set()
        assert self.release.wait(10)
        if self.fail & set(items):
            raise RuntimeError("the database went away")
        return sum(items)


def _join_in_threads(coalescer, key, items, results):
    def one(item):
        try:
            results[item] = coalescer.join(key, item)
        except RuntimeError as exc:
            results[item] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in items]
    for t in threads:
        t.start()
    return threads


def _wait_queued(coalescer, key, count):
    """Until ``count`` items wait under ``key`` (the threads have joined)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with coalescer._lock:
            queue = coalescer._queues.get(key, ())
            if sum(len(b.items) for b in queue) == count:
                return
        time.sleep(0.001)
    raise AssertionError(f"{count} items never queued")


def _behind_a_running_batch(coalescer, runs, first, waiting):
    """``first`` joins and its run is held; ``waiting`` join behind it; then
    the run is let go and every thread finishes: what each one got."""
    runs.release.clear()
    results: dict[int, object] = {}
    threads = _join_in_threads(coalescer, "a", [first], results)
    assert runs.started.wait(10)
    threads += _join_in_threads(coalescer, "a", waiting, results)
    _wait_queued(coalescer, "a", len(waiting))
    runs.release.set()
    for t in threads:
        t.join(10)
    return results


def test_a_lone_request_runs_at_once_by_itself():
    runs = Runs()
    coalescer = Coalescer(runs, threading.Event)
    assert coalescer.join("a", 5) == (5, 0)
    assert runs.batches == [("a", [5])]
    assert coalescer._queues == {}


def test_requests_that_wait_for_a_running_statement_go_together_as_one():
    runs = Runs()
    coalescer = Coalescer(runs, threading.Event)
    results = _behind_a_running_batch(coalescer, runs, 100, [1, 2, 3, 4])
    # One run for the first, one for the four that waited behind it.
    assert runs.batches[0] == ("a", [100])
    assert len(runs.batches) == 2
    assert sorted(runs.batches[1][1]) == [1, 2, 3, 4]
    assert results[100] == (100, 0)
    order = runs.batches[1][1]
    for item in (1, 2, 3, 4):
        assert results[item] == (10, order.index(item))
    assert coalescer._queues == {}


def test_nobody_joins_a_statement_that_has_started():
    runs = Runs()
    coalescer = Coalescer(runs, threading.Event)
    _behind_a_running_batch(coalescer, runs, 1, [2])
    assert runs.batches == [("a", [1]), ("a", [2])]


def test_keys_do_not_wait_for_each_other():
    runs = Runs()
    coalescer = Coalescer(runs, threading.Event)
    runs.release.clear()
    results: dict[int, object] = {}
    first = _join_in_threads(coalescer, "a", [1], results)
    assert runs.started.wait(10)
    other = threading.Thread(target=lambda: results.update({2: coalescer.join("b", 2)}))
    other.start()
    deadline = time.monotonic() + 10
    while len(runs.batches) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    # "b" started while "a" was still held.
    assert runs.batches == [("a", [1]), ("b", [2])]
    runs.release.set()
    for t in [*first, other]:
        t.join(10)
    assert results == {1: (1, 0), 2: (2, 0)}


def test_a_failed_statement_fails_its_batch_and_the_next_one_still_runs():
    runs = Runs()
    coalescer = Coalescer(runs, threading.Event)
    runs.fail = {2}
    results = _behind_a_running_batch(coalescer, runs, 1, [2, 3])
    assert results[1] == (1, 0)
    assert isinstance(results[2], RuntimeError)
    assert isinstance(results[3], RuntimeError)
    assert coalescer.join("a", 7) == (7, 0)
    assert coalescer._queues == {}


@pytest.mark.parametrize("most", [1, 3])
def test_a_batch_takes_at_most_most_requests(most):
    runs = Runs()
    coalescer = Coalescer(runs, threading.Event, most=most)
    results = _behind_a_running_batch(coalescer, runs, 0, list(range(1, 7)))
    sizes = [len(items) for _, items in runs.batches[1:]]
    assert sum(sizes) == 6
    assert max(sizes) == most
    assert len(results) == 7


def test_the_first_request_pauses_so_that_those_ready_join_it():
    """``pause`` runs before a fresh key's batch starts: what joins during it
    goes in the same statement."""
    runs = Runs()
    results: dict[int, object] = {}
    joined: list[threading.Thread] = []

    def pause():
        joined.extend(_join_in_threads(coalescer, "a", [2, 3], results))
        _wait_queued(coalescer, "a", 3)

    coalescer = Coalescer(runs, threading.Event, pause=pause)
    assert coalescer.join("a", 1) == (6, 0)
    for t in joined:
        t.join(10)
    assert len(runs.batches) == 1
    key, items = runs.batches[0]
    assert items[0] == 1 and sorted(items) == [1, 2, 3]
    assert results[2][0] == results[3][0] == 6


def test_if_the_first_request_dies_in_its_pause_another_runs_the_batch():
    runs = Runs()
    results: dict[int, object] = {}
    joined: list[threading.Thread] = []

    def pause():
        joined.extend(_join_in_threads(coalescer, "a", [2], results))
        _wait_queued(coalescer, "a", 2)
        raise KeyboardInterrupt  # the caller is killed (GreenletExit on the loop)

    coalescer = Coalescer(runs, threading.Event, pause=pause)
    with pytest.raises(KeyboardInterrupt):
        coalescer.join("a", 1)
    for t in joined:
        t.join(10)
    # The batch still ran, for both (the dead caller's item included).
    assert runs.batches == [("a", [1, 2])]
    assert results[2] == (3, 1)
    assert coalescer._queues == {}
