"""core/throttle.py: per-client limits on the limiter's storage."""

import pytest
from freezegun import freeze_time

from linksvc.core.throttle import Throttle


def test_a_key_over_its_limit_is_told_how_long_to_wait():
    with freeze_time("2026-03-01 12:00:10") as frozen:
        throttle = Throttle("memory://", "3 per minute", "t")
        assert [throttle.hit("a") for _ in range(3)] == [None, None, None]
        wait = throttle.hit("a")
        assert wait is not None and 1 <= wait <= 60
        assert throttle.hit("b") is None  # another client is not held
        frozen.tick(61)
        assert throttle.hit("a") is None


def test_every_limit_of_a_list_counts():
    throttle = Throttle("memory://", "100 per minute; 2 per hour", "t2")
    assert throttle.hit("a") is None and throttle.hit("a") is None
    wait = throttle.hit("a")
    assert wait is not None and wait > 60  # the hourly limit


def test_scopes_count_apart():
    one = Throttle("memory://", "1 per minute", "one")
    two = Throttle("memory://", "1 per minute", "two")
    assert one.hit("a") is None and two.hit("a") is None
    assert one.hit("a") is not None


def test_a_bad_limit_is_refused():
    with pytest.raises(ValueError):
        Throttle("memory://", "lots", "t")
