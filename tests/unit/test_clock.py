"""core/clock.py: one clock, one way to write a time."""

import os
import time

from freezegun import freeze_time

from linksvc.core import clock


def test_now_is_whole_seconds_and_follows_the_frozen_clock():
    with freeze_time("2026-03-01 12:00:00.75"):
        assert clock.now() == 1772366400
        assert isinstance(clock.now(), int)


def test_times_are_utc_whatever_the_local_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    try:
        assert clock.iso(1772366400) == "2026-03-01T12:00:00Z"
        assert clock.minutes(1772366459) == "2026-03-01 12:00"
        moment = clock.utc(1772366400)
        assert (moment.hour, moment.utcoffset().total_seconds()) == (12, 0)
    finally:
        os.environ.pop("TZ", None)
        time.tzset()


def test_no_time_is_written_as_nothing():
    assert clock.iso(None) is None
    assert clock.minutes(None) == ""
    assert clock.iso(0) == "1970-01-01T00:00:00Z"
    assert clock.minutes(0) == "1970-01-01 00:00"
