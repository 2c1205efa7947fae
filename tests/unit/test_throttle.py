"""throttle.py: per-client limits on the limiter's storage."""

import pytest
from freezegun import freeze_time

from linksvc.throttle import Throttle


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


def test_the_wait_is_rounded_up_to_whole_seconds():
    with freeze_time("2026-03-01 12:00:00") as frozen:
        throttle = Throttle("memory://", "1 per minute", "round")
        assert throttle.hit("a") is None
        assert throttle.hit("a") == 60
        frozen.tick(59.5)
        assert throttle.hit("a") == 1


def test_scopes_count_apart_on_shared_storage():
    import secrets

    from ..services import REDIS_URL
    from ..services import require

    require("Redis", "127.0.0.1", 6379)
    key = secrets.token_hex(8)
    one = Throttle(REDIS_URL, "1 per minute", "one")
    two = Throttle(REDIS_URL, "1 per minute", "two")
    again = Throttle(REDIS_URL, "1 per minute", "one")
    assert one.hit(key) is None and two.hit(key) is None
    assert again.hit(key) is not None  # same scope, same storage: counted
