"""RFC 9110 preconditions and byte ranges, decided before a byte is sent; no Flask.

Werkzeug's ``send_file`` answers 416 to a Range it cannot parse or that has
several ranges, and ignores If-Match and If-Unmodified-Since. nginx (and the
RFC) ignore an unparseable Range or an unknown unit, send multipart/byteranges
for several ranges, and answer 412 to a failed precondition. :func:`decide`
follows the RFC; the download view only carries the decision out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field

from werkzeug.http import parse_date
from werkzeug.http import parse_etags

#: More ranges than this in one request are ignored and the whole file sent,
#: as RFC 9110 14.2 allows, so a request cannot make us seek thousands of times.
MAX_RANGES = 32
_SPEC = re.compile(r"^([0-9]*)-([0-9]*)$")
#: A range number longer than this is "more than any file": Python's int()
#: refuses strings of thousands of digits, and no file is 10**18 bytes.
_MAX_DIGITS = 18
_HUGE = 10**18


@dataclass(frozen=True)
class Decision:
    """What to send: ``status`` and, for 206, the ``(start, end)`` inclusive ranges."""

    status: int
    ranges: list[tuple[int, int]] = field(default_factory=list)

    @property
    def starts_at_zero(self) -> bool:
        """A full body, or a range that begins the file: a new download."""
        return self.status == 200 or any(start == 0 for start, _ in self.ranges)

    def body_length(self, size: int) -> int:
        if self.status == 200:
            return size
        return sum(end - start + 1 for start, end in self.ranges)


def make_etag(size: int, mtime_ns: int) -> str:
    """A strong validator, as nginx spells it: modification time and size."""
    return f'"{mtime_ns // 1_000_000:x}-{size:x}"'


def parse_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """Satisfiable byte ranges of ``header``, ``[]`` if none is, None to ignore it.

    None means the header is not a bytes range we understand (unknown unit or
    bad syntax): the RFC says to ignore it and send the whole file. Overlapping
    and adjacent ranges are merged (RFC 9110 14.2 lets a server coalesce), so
    a response is never larger than the file plus the multipart framing.
    """
    unit, sep, specs = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    parts = [part.strip() for part in specs.split(",")]
    parts = [part for part in parts if part]
    if not parts or len(parts) > MAX_RANGES:
        return None
    ranges = []
    for part in parts:
        match = _SPEC.match(part)
        if match is None or match.group(0) == "-":
            return None
        first, last = match.groups()
        if first == "":
            suffix = _number(last)
            if suffix > 0 and size > 0:
                ranges.append((max(size - suffix, 0), size - 1))
            continue
        start = _number(first)
        end = _number(last) if last else size - 1
        if last and end < start:
            return None
        if start < size:
            ranges.append((start, min(end, size - 1)))
    return merge(ranges)


def _number(digits: str) -> int:
    return _HUGE if len(digits.lstrip("0")) > _MAX_DIGITS else int(digits)


def merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Ranges sorted, with overlapping and adjacent ones joined."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _strong_match(header: str, etag: str) -> bool:
    etags = parse_etags(header)
    return etags.star_tag or etags.contains(etag.strip('"'))


def _weak_match(header: str, etag: str) -> bool:
    etags = parse_etags(header)
    return etags.star_tag or etags.contains_weak(etag.strip('"'))


def decide(
    method: str, headers: Mapping[str, str], size: int, mtime: int, etag: str
) -> Decision:
    """The status of a GET or HEAD for a file, following RFC 9110 13.2.2.

    ``mtime`` is whole seconds, as HTTP dates are.
    """
    if_match = headers.get("If-Match")
    if if_match is not None:
        if not _strong_match(if_match, etag):
            return Decision(412)
    else:
        since = parse_date(headers.get("If-Unmodified-Since"))
        if since is not None and mtime > since.timestamp():
            return Decision(412)

    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        if _weak_match(if_none_match, etag):
            return Decision(304)
    else:
        since = parse_date(headers.get("If-Modified-Since"))
        if since is not None and mtime <= since.timestamp():
            return Decision(304)

    range_header = headers.get("Range")
    if method != "GET" and method != "HEAD" or range_header is None:
        return Decision(200)
    if_range = headers.get("If-Range")
    if if_range is not None and not _if_range_holds(if_range.strip(), mtime, etag):
        return Decision(200)
    ranges = parse_ranges(range_header, size)
    if ranges is None:
        return Decision(200)
    if not ranges:
        return Decision(416)
    return Decision(206, ranges)


def _if_range_holds(value: str, mtime: int, etag: str) -> bool:
    # An entity tag must match strongly; a weak one never does. A date must be
    # exactly the Last-Modified date (RFC 9110 13.1.5).
    if value.startswith(("W/", '"')):
        return value == etag
    date = parse_date(value)
    return date is not None and int(date.timestamp()) == mtime
