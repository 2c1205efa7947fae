"""RFC 9110 decisions, case by case; where Werkzeug differs, the test says so."""

import pytest

from linksvc.core.conditional import decide
from linksvc.core.conditional import make_etag
from linksvc.core.conditional import MAX_RANGES
from linksvc.core.conditional import parse_ranges

SIZE = 1000
MTIME = 1_700_000_000  # Tue, 14 Nov 2023 22:13:20 GMT
DATE = "Tue, 14 Nov 2023 22:13:20 GMT"
EARLIER = "Tue, 14 Nov 2023 22:13:19 GMT"
LATER = "Tue, 14 Nov 2023 22:13:21 GMT"
ETAG = make_etag(SIZE, MTIME * 1_000_000_000)


def d(headers, method="GET"):
    return decide(method, headers, SIZE, MTIME, ETAG)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", [(0, 99)]),
        ("bytes=100-", [(100, 999)]),
        ("bytes=-100", [(900, 999)]),
        ("bytes=-5000", [(0, 999)]),  # suffix longer than the file: all of it
        ("bytes=990-5000", [(990, 999)]),  # end clamped
        ("bytes=0-0,-1", [(0, 0), (999, 999)]),
        ("BYTES = 0-1 , 5-6", [(0, 1), (5, 6)]),  # unit is case-insensitive, OWS
        ("bytes=1000-", []),  # unsatisfiable
        ("bytes=-0", []),  # a zero-length suffix is unsatisfiable
        ("bytes=5000-6000,2000-", []),
        ("items=0-5", None),  # unknown unit: ignore Range
        ("bytes=5-1", None),  # last < first: invalid, ignore
        ("bytes=abc", None),
        ("bytes=", None),
        ("bytes=-", None),
        ("bytes=\u0661-2", None),  # Arabic-Indic digit is not a DIGIT
        ("bytes 0-5", None),
    ],
)
def test_parse_ranges(header, expected):
    assert parse_ranges(header, SIZE) == expected


def test_too_many_ranges_are_ignored():
    header = "bytes=" + ",".join(f"{i}-{i}" for i in range(MAX_RANGES + 1))
    assert parse_ranges(header, SIZE) is None
    assert d({"Range": header}).status == 200


def test_plain_get_is_200():
    assert d({}).status == 200


def test_single_range_is_206():
    decision = d({"Range": "bytes=10-19"})
    assert (decision.status, decision.ranges) == (206, [(10, 19)])
    assert decision.body_length(SIZE) == 10
    assert not decision.starts_at_zero


def test_multiple_ranges_are_206_not_416_as_werkzeug_answers():
    decision = d({"Range": "bytes=0-1,10-11"})
    assert decision.status == 206 and len(decision.ranges) == 2
    assert decision.starts_at_zero


def test_unknown_unit_is_ignored_not_416_as_werkzeug_answers():
    assert d({"Range": "lines=1-2"}).status == 200


def test_unsatisfiable_range_is_416():
    assert d({"Range": "bytes=1000-"}).status == 416


def test_if_none_match_hit_is_304_and_takes_precedence_over_dates():
    assert d({"If-None-Match": ETAG}).status == 304
    assert d({"If-None-Match": f"W/{ETAG}"}).status == 304  # weak comparison
    assert d({"If-None-Match": '"other", ' + ETAG}).status == 304
    assert d({"If-None-Match": "*"}).status == 304
    # A miss on the entity tag wins over a date that would say "not modified".
    assert d({"If-None-Match": '"other"', "If-Modified-Since": LATER}).status == 200


def test_if_modified_since():
    assert d({"If-Modified-Since": DATE}).status == 304
    assert d({"If-Modified-Since": LATER}).status == 304
    assert d({"If-Modified-Since": EARLIER}).status == 200
    assert d({"If-Modified-Since": "not a date"}).status == 200


def test_if_match_fails_with_412_which_werkzeug_ignores():
    assert d({"If-Match": '"other"'}).status == 412
    assert d({"If-Match": f"W/{ETAG}"}).status == 412  # strong comparison
    assert d({"If-Match": ETAG}).status == 200
    assert d({"If-Match": "*"}).status == 200
    # If-Match is checked before Range.
    assert d({"If-Match": '"other"', "Range": "bytes=0-1"}).status == 412


def test_if_unmodified_since():
    assert d({"If-Unmodified-Since": EARLIER}).status == 412
    assert d({"If-Unmodified-Since": DATE}).status == 200
    assert d({"If-Unmodified-Since": "garbage"}).status == 200
    # If-Match, when present, makes If-Unmodified-Since irrelevant.
    assert d({"If-Match": ETAG, "If-Unmodified-Since": EARLIER}).status == 200


def test_if_range_with_the_current_etag_or_date_honours_range():
    assert d({"Range": "bytes=5-", "If-Range": ETAG}).status == 206
    assert d({"Range": "bytes=5-", "If-Range": DATE}).status == 206


def test_if_range_that_does_not_match_sends_the_whole_file():
    assert d({"Range": "bytes=5-", "If-Range": '"old"'}).status == 200
    assert d({"Range": "bytes=5-", "If-Range": f"W/{ETAG}"}).status == 200
    assert d({"Range": "bytes=5-", "If-Range": LATER}).status == 200
    assert d({"Range": "bytes=5-", "If-Range": "garbage"}).status == 200


def test_head_follows_the_same_rules():
    assert d({"Range": "bytes=0-1"}, method="HEAD").status == 206
    assert d({"If-None-Match": ETAG}, method="HEAD").status == 304
