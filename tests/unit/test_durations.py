import pytest

from linksvc.core.durations import format_duration
from linksvc.core.durations import parse_duration
from linksvc.core.durations import parse_instant
from linksvc.core.errors import BadDuration
from linksvc.core.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("7d", 604800),
        ("2w", 1209600),
        (" 3h ", 10800),
        (3600, 3600),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "0s", "-5m", "5", "5x", "1.5h", "\u0663h", "10 years", True, 0, -1]
)
def test_bad_durations(text):
    with pytest.raises(BadDuration):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [1, 59, 60, 3600, 90000, 604800, 1209600])
def test_format_then_parse_is_identity(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


def test_parse_instant():
    assert parse_instant("2026-03-02T09:00", now=0) == 1772442000
    assert parse_instant("2026-03-02T10:00+01:00", now=0) == 1772442000
    assert parse_instant("2026-03-02T09:00:00Z", now=0) == 1772442000
    assert parse_instant("+2h", now=100) == 7300
    assert parse_instant(1234, now=0) == 1234
    for bad in ("tomorrow", "2026-13-01", True):
        with pytest.raises(InvalidInput):
            parse_instant(bad, now=0)


@pytest.mark.parametrize(
    ("seconds", "spelled"),
    [
        (604800, "1w"),
        (1209600, "2w"),
        (86400, "1d"),
        (90000, "25h"),
        (3600, "1h"),
        (7200, "2h"),
        (5400, "90m"),
        (90, "90s"),
        (61, "61s"),
    ],
)
def test_format_duration_picks_the_largest_exact_unit(seconds, spelled):
    from linksvc.core.durations import format_duration

    assert format_duration(seconds) == spelled
    assert parse_duration(spelled) == seconds


@pytest.mark.parametrize(
    ("text", "shown"),
    [("forever", "'forever'"), (0, "'0'"), (True, "'True'"), ("0s", "'0s'")],
)
def test_a_bad_duration_names_what_was_given(text, shown):
    with pytest.raises(BadDuration) as info:
        parse_duration(text)
    assert str(info.value).startswith(f"{shown} is not a duration")


def test_bad_instants_name_what_was_given():
    from linksvc.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="^True is not a time$"):
        parse_instant(True, 0)
    with pytest.raises(InvalidInput) as info:
        parse_instant("next tuesday", 0)
    assert str(info.value) == (
        "'next tuesday' is not a time: write ISO 8601 (2026-12-01T09:00, UTC "
        "unless an offset is given) or a delay such as +2h."
    )


def test_instants_without_an_offset_are_utc_whatever_the_local_zone(monkeypatch):
    import os
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert parse_instant("2026-12-01T09:00", 0) == 1796115600
        assert parse_instant("2026-12-01T09:00Z", 0) == 1796115600
        assert parse_instant("2026-12-01T10:00+01:00", 0) == 1796115600
    finally:
        os.environ.pop("TZ", None)
        time.tzset()
