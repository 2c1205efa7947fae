"""db/counts.py: unlimited links' downloads, held until the writer adds them."""

from linksvc.db.counts import DeferredCounts


def test_counts_are_pending_until_written_and_only_then_gone():
    counts = DeferredCounts()
    assert not counts and counts.pending("a") == 0
    counts.add("a", 100)
    counts.add("a", 90)
    counts.add("b", 50)
    assert counts and (counts.pending("a"), counts.pending("b")) == (2, 1)
    taken = counts.take()
    assert taken == {"a": (2, 100), "b": (1, 50)}  # the newest time of each
    assert not counts  # nothing left to take ...
    assert counts.pending("a") == 2  # ... but not in the row yet
    counts.add("a", 120)  # counted while the writer writes
    assert counts.pending("a") == 3
    counts.done(taken)
    assert (counts.pending("a"), counts.pending("b")) == (1, 0)
    assert counts.take() == {"a": (1, 120)}


def test_two_batches_in_flight_are_each_finished_on_their_own():
    counts = DeferredCounts()
    counts.add("a", 1)
    first = counts.take()
    counts.add("a", 2)
    second = counts.take()
    assert counts.pending("a") == 2
    counts.done(first)
    assert counts.pending("a") == 1
    counts.done(second)
    assert counts.pending("a") == 0
