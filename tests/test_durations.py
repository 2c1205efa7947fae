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
