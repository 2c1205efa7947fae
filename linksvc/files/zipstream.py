"""A folder as a zip archive, built while it is sent; no Flask.

Every member is *stored* (not compressed): the archive's bytes then follow
from the members' names, sizes, times and CRCs alone, so its length is known
before the first byte (Content-Length), any byte range of it can be produced
on its own (a dropped "Download all" resumes), memory stays constant and no
temporary file is written. Compression would make the size unknowable in
advance and cost CPU on every download, for little: most large files people
share (photos, video, archives, office documents) are compressed already.

Each member's CRC-32 goes in its local header, so it is computed before the
member is sent (one extra read of the file; :class:`CrcCache` remembers it
per file version, so a resume or a second download reads nothing twice).
ZIP64 records are used where a size, an offset or the number of entries
needs them; names are UTF-8 (general purpose flag bit 11).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import UTC
from functools import partial
from typing import Any
from typing import BinaryIO

from werkzeug.http import http_date
from werkzeug.wsgi import ClosingIterator

from ..core.conditional import Decision
from .offload import offload
from .sending import attachment
from .sending import FILE_HEADERS
from .sending import FileResponse
from .sending import Tally

#: Read size while computing CRCs and sending member data.
CHUNK = 256 * 1024
_MAX32 = 0xFFFFFFFF
_MAX16 = 0xFFFF
_UTF8 = 1 << 11


#: Makes ``count`` bytes of a part of the archive, from ``skip`` into it.
Producer = Callable[[int, int], Iterator[bytes]]


@dataclass(frozen=True)
class Member:
    """One file of the archive: its name in the zip and where it is."""

    name: str
    path: str
    size: int
    mtime: float
    #: What identifies this version of the file (files/tree.py: version).
    version: str


def _dos_time(mtime: float) -> tuple[int, int]:
    t = datetime.fromtimestamp(max(mtime, 315532800), UTC)  # DOS starts in 1980
    date = ((t.year - 1980) << 9) | (t.month << 5) | t.day
    return (t.hour << 11) | (t.minute << 5) | (t.second // 2), date


def open_by_name(m: Member) -> BinaryIO:
    """Open a member by its path (tests; the app opens through its tree,
    following no symlink and refusing any other version of the file)."""
    return open(m.path, "rb")


#: Opens a member's file for reading: the app's refuses a swapped file.
Opener = Callable[[Member], BinaryIO]


def file_crc(path: str, size: int, fh: BinaryIO | None = None) -> int:
    """CRC-32 of the first ``size`` bytes of a file, read in chunks (from
    ``fh`` when given, which is closed)."""
    crc, left = 0, size
    with fh if fh is not None else open(path, "rb") as fh:
        while left > 0:
            chunk = fh.read(min(CHUNK, left))
            if not chunk:
                break
            crc = zlib.crc32(chunk, crc)
            left -= len(chunk)
    return crc


def _local_header(m: Member, crc: int) -> bytes:
    name = m.name.encode()
    zip64 = m.size >= _MAX32
    extra = struct.pack("<HHQQ", 1, 16, m.size, m.size) if zip64 else b""
    size32 = _MAX32 if zip64 else m.size
    time_, date = _dos_time(m.mtime)
    return (
        struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            45 if zip64 else 20,
            _UTF8,
            0,  # stored
            time_,
            date,
            crc,
            size32,
            size32,
            len(name),
            len(extra),
        )
        + name
        + extra
    )


def _central_entry(m: Member, crc: int, offset: int) -> bytes:
    name = m.name.encode()
    fields = []
    if m.size >= _MAX32:
        fields += [m.size, m.size]
    if offset >= _MAX32:
        fields.append(offset)
    extra = b""
    if fields:
        extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields)
    time_, date = _dos_time(m.mtime)
    size32 = _MAX32 if m.size >= _MAX32 else m.size
    return (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            (3 << 8) | 45,  # made by Unix, version 4.5
            45 if fields else 20,
            _UTF8,
            0,
            time_,
            date,
            crc,
            size32,
            size32,
            len(name),
            len(extra),
            0,
            0,
            0,
            (0o100644 << 16),  # a regular file, rw-r--r--
            _MAX32 if offset >= _MAX32 else offset,
        )
        + name
        + extra
    )


def _end_records(count: int, cd_offset: int, cd_size: int) -> bytes:
    needs64 = count >= _MAX16 or cd_offset >= _MAX32 or cd_size >= _MAX32
    tail = b""
    if needs64:
        zip64_end = struct.pack(
            "<IQHHIIQQQQ",
            0x06064B50,
            44,
            (3 << 8) | 45,
            45,
            0,
            0,
            count,
            count,
            cd_size,
            cd_offset,
        )
        locator = struct.pack("<IIQI", 0x07064B50, 0, cd_offset + cd_size, 1)
        tail = zip64_end + locator
    return tail + struct.pack(
        "<IHHHHIIH",
        0x06054B50,
        0,
        0,
        min(count, _MAX16),
        min(count, _MAX16),
        min(cd_size, _MAX32),
        min(cd_offset, _MAX32),
        0,
    )


class ZipPlan:
    """The layout of one archive: where each member's header and data lie,
    its total size, and how to produce any range of it.

    ``crc_of(member)`` gives a member's CRC-32, computing it if need be; it is
    asked only for members whose header or central entry is sent.
    """

    def __init__(
        self,
        members: Sequence[Member],
        crc_of: Callable[[Member], int],
        opener: Opener = open_by_name,
    ):
        self.members = list(members)
        self.crc_of = crc_of
        self.opener = opener
        self._offsets: list[int] = []
        offset = 0
        for m in self.members:
            self._offsets.append(offset)
            offset += self._header_size(m) + m.size
        self.cd_offset = offset
        self.cd_size = sum(
            len(_central_entry(m, 0, o))
            for m, o in zip(self.members, self._offsets, strict=True)
        )
        self.size = (
            self.cd_offset
            + self.cd_size
            + len(_end_records(len(self.members), self.cd_offset, self.cd_size))
        )

    @staticmethod
    def _header_size(m: Member) -> int:
        return 30 + len(m.name.encode()) + (20 if m.size >= _MAX32 else 0)

    def segments(self) -> Iterator[tuple[int, int, Producer]]:
        """(start, length, produce(skip, count)) for each part of the archive,
        in order: headers and data of each member, then the directory."""
        for m, offset in zip(self.members, self._offsets, strict=True):
            header_len = self._header_size(m)
            header = self._bytes(partial(self._header, m))
            yield offset, header_len, header
            yield offset + header_len, m.size, self._file(m, self.opener)
        yield self.cd_offset, self.size - self.cd_offset, self._bytes(self._directory)

    def _header(self, m: Member) -> bytes:
        return _local_header(m, self.crc_of(m))

    def _directory(self) -> bytes:
        entries = b"".join(
            _central_entry(m, self.crc_of(m), o)
            for m, o in zip(self.members, self._offsets, strict=True)
        )
        return entries + _end_records(len(self.members), self.cd_offset, self.cd_size)

    @staticmethod
    def _bytes(make: Callable[[], bytes]) -> Producer:
        def produce(skip: int, count: int) -> Iterator[bytes]:
            yield make()[skip : skip + count]

        return produce

    @staticmethod
    def _file(m: Member, opener: Opener) -> Producer:
        """A member's bytes, from its file opened when they are reached (an
        opener that refuses a changed file stops the archive: never other
        bytes under a planned name)."""

        def produce(skip: int, count: int) -> Iterator[bytes]:
            with opener(m) as fh:
                fh.seek(skip)
                left = count
                while left > 0:
                    chunk = fh.read(min(CHUNK, left))
                    if not chunk:
                        # The file shrank since the plan was made: the archive
                        # cannot be what was announced; stop short.
                        raise OSError(f"{m.path} changed while it was zipped")
                    left -= len(chunk)
                    yield chunk

        return produce

    def stream(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``start`` to ``end`` (inclusive; default: the last)."""
        end = self.size - 1 if end is None else end
        for seg_start, length, produce in self.segments():
            seg_end = seg_start + length - 1
            if length == 0 or seg_end < start:
                continue
            if seg_start > end:
                break
            skip = max(0, start - seg_start)
            count = min(seg_end, end) - seg_start - skip + 1
            yield from produce(skip, count)


class CrcCache:
    """CRCs of file versions, in memory (bounded) and, through ``load`` and
    ``save``, wherever the caller keeps them (the database)."""

    def __init__(
        self,
        load: Callable[[list[str]], dict[str, int]] | None = None,
        save: Callable[[dict[str, int]], None] | None = None,
        limit: int = 100_000,
        opener: Opener = open_by_name,
    ) -> None:
        self.opener = opener
        self._known: dict[str, int] = {}
        self._load, self._save, self._limit = load, save, limit
        self._new: dict[str, int] = {}

    def prefetch(self, members: Sequence[Member]) -> None:
        """Look up the stored CRCs of ``members`` in one go."""
        missing = [m.version for m in members if m.version not in self._known]
        if missing and self._load is not None:
            self._remember(self._load(missing))

    def crc(self, m: Member) -> int:
        found = self._known.get(m.version)
        if found is None:
            found = offload(lambda: file_crc(m.path, m.size, self.opener(m)))
            self._remember({m.version: found})
            self._new[m.version] = found
        return found

    def flush(self) -> None:
        """Store the CRCs computed since the last flush."""
        new, self._new = self._new, {}
        if new and self._save is not None:
            self._save(new)

    def _remember(self, found: dict[str, int]) -> None:
        if len(self._known) + len(found) > self._limit:
            self._known.clear()
        self._known.update(found)


def zip_response(
    environ: dict[str, Any],
    plan: ZipPlan,
    filename: str,
    decision: Decision,
    etag: str,
    mtime: int,
    on_close: Callable[[], None] | None = None,
) -> FileResponse:
    """The response for ``decision`` about the archive; GET and HEAD alike.
    One range at most is answered (several: the whole archive, as RFC 9110
    allows). Proxies are told not to buffer it (``X-Accel-Buffering: no``):
    it is made while it is sent."""
    status, size = decision.status, plan.size
    headers = [*FILE_HEADERS, ("X-Accel-Buffering", "no")]
    if status != 412:
        headers += [("ETag", etag), ("Last-Modified", http_date(mtime))]
    sends_body = environ.get("REQUEST_METHOD") != "HEAD" and status in (200, 206)
    tally = Tally(decision.body_length(size) if sends_body else 0)
    closers: list[Callable[[], None]] = [tally.finish]
    if on_close is not None:
        closers.append(on_close)
    body: Any = ClosingIterator((), closers)
    if status in (412, 416):
        if status == 416:
            headers.append(("Content-Range", f"bytes */{size}"))
        headers.append(("Content-Length", "0"))
    elif status != 304:
        headers += [
            ("Content-Type", "application/zip"),
            ("Content-Disposition", attachment(filename)),
        ]
        start, end = decision.ranges[0] if status == 206 else (0, size - 1)
        if status == 206:
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        headers.append(("Content-Length", str(end - start + 1)))
        if sends_body and size:
            body = ClosingIterator(tally.count(plan.stream(start, end)), closers)
    return FileResponse(status, headers, body, tally)
