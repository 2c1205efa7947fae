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


@pytest.mark.parametrize(
    ("ranges", "merged"),
    [
        ([(0, 9), (5, 20)], [(0, 20)]),  # overlapping
        ([(0, 9), (10, 20)], [(0, 20)]),  # adjacent
        ([(0, 9), (11, 20)], [(0, 9), (11, 20)]),  # a gap of one byte stays
        ([(0, 50), (10, 20)], [(0, 50)]),  # contained: the longer end wins
        ([(30, 40), (0, 5), (6, 10)], [(0, 10), (30, 40)]),  # sorted first
        ([(0, 1), (3, 4), (2, 2)], [(0, 4)]),  # a chain
        ([], []),
    ],
)
def test_merge_joins_overlapping_and_adjacent_ranges(ranges, merged):
    from linksvc.core.conditional import merge

    assert merge(ranges) == merged


def test_a_suffix_range_first_does_not_end_the_list():
    assert parse_ranges("bytes=-1,0-0", SIZE) == [(0, 0), (999, 999)]


def test_suffix_ranges_of_tiny_files():
    assert parse_ranges("bytes=-5", 0) == []
    assert parse_ranges("bytes=-5", 1) == [(0, 0)]


def test_range_numbers_too_long_to_be_sizes_mean_more_than_the_file():
    assert parse_ranges("bytes=" + "9" * 5000 + "-", SIZE) == []
    assert parse_ranges("bytes=0-" + "9" * 5000, SIZE) == [(0, 999)]
    assert parse_ranges("bytes=-" + "9" * 5000, SIZE) == [(0, 999)]
    # 18 digits are still read as a number; leading zeros do not count.
    assert parse_ranges("bytes=" + "0" * 30 + "5-" + "0" * 30 + "9", SIZE) == [(5, 9)]


def test_exactly_max_ranges_are_honoured():
    spec = ",".join(f"{i * 3}-{i * 3}" for i in range(MAX_RANGES))
    assert len(parse_ranges(f"bytes={spec}", 10_000)) == MAX_RANGES


def test_etag_spells_milliseconds_and_size_in_hex_as_nginx():
    assert make_etag(1000, 1_700_000_000_123_456_789) == '"18bcfe5687b-3e8"'
    assert make_etag(0, 999_999) == '"0-0"'


def test_body_length_of_each_decision():
    from linksvc.core.conditional import Decision

    assert Decision(200).body_length(1000) == 1000
    assert Decision(206, [(0, 9), (20, 29)]).body_length(1000) == 20
    assert Decision(200).starts_at_zero and not Decision(206, [(5, 9)]).starts_at_zero
    assert Decision(206, [(5, 9), (0, 1)]).starts_at_zero
