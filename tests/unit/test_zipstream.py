"""files/zipstream.py: a folder as a stored zip, made while it is sent."""

import io
import os
import zipfile
import zlib

import pytest

from linksvc.files.tree import version_key
from linksvc.files.zipstream import CrcCache
from linksvc.files.zipstream import file_crc
from linksvc.files.zipstream import Member
from linksvc.files.zipstream import ZipPlan


def members(tmp_path, files: dict[str, bytes]) -> list[Member]:
    found = []
    for name, data in files.items():
        path = tmp_path / name.replace("/", "_")
        path.write_bytes(data)
        st = path.stat()
        found.append(
            Member(
                f"share/{name}",
                str(path),
                st.st_size,
                st.st_mtime,
                version_key(str(path), st),
            )
        )
    return found


FILES = {
    "a.txt": b"hello\n",
    "photos/Zoë.jpg": os.urandom(300_000),
    "empty": b"",
    "deep/er/b.csv": b"x,y\n" * 1000,
}


def test_the_archive_is_a_valid_zip_with_utf8_names_and_right_crcs(tmp_path):
    cache = CrcCache()
    plan = ZipPlan(members(tmp_path, FILES), cache.crc)
    data = b"".join(plan.stream())
    assert len(data) == plan.size
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        for name, content in FILES.items():
            info = archive.getinfo(f"share/{name}")
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.flag_bits & 0x800  # UTF-8 names
            assert info.CRC == zlib.crc32(content)
            assert archive.read(info) == content


def test_any_range_is_the_same_bytes_as_the_whole(tmp_path):
    plan = ZipPlan(members(tmp_path, FILES), CrcCache().crc)
    whole = b"".join(plan.stream())
    for start, end in [
        (0, 0),
        (0, 29),
        (30, 35),
        (100, 300_100),
        (plan.size - 22, plan.size - 1),
        (5, plan.size - 1),
    ]:
        assert b"".join(plan.stream(start, end)) == whole[start : end + 1]


def test_crcs_are_computed_once_and_stored(tmp_path):
    saved = {}
    cache = CrcCache(
        load=lambda keys: {k: saved[k] for k in keys if k in saved}, save=saved.update
    )
    found = members(tmp_path, FILES)
    b"".join(ZipPlan(found, cache.crc).stream())
    cache.flush()
    assert saved == {m.version: file_crc(m.path, m.size) for m in found}
    fresh = CrcCache(load=lambda keys: {k: saved[k] for k in keys if k in saved})
    fresh.prefetch(found)
    os.truncate(found[1].path, 0)  # were it read again, the CRC would differ
    plan = ZipPlan(found[:1], fresh.crc)
    assert plan.crc_of(found[1]) == saved[found[1].version]


def test_a_member_that_shrank_stops_the_stream(tmp_path):
    found = members(tmp_path, FILES)
    plan = ZipPlan(found, CrcCache().crc)
    os.truncate(found[1].path, 10)
    with pytest.raises(OSError, match="changed while it was zipped"):
        b"".join(plan.stream())


@pytest.mark.slow
def test_more_than_65535_entries_use_zip64(tmp_path):
    path = tmp_path / "one"
    path.write_bytes(b"x")
    st = path.stat()
    many = [
        Member(f"f/{i}", str(path), 1, st.st_mtime, version_key(str(path), st))
        for i in range(70_000)
    ]
    plan = ZipPlan(many, CrcCache().crc)
    data = b"".join(plan.stream())
    assert b"PK\x06\x06" in data[-200:]  # the ZIP64 end of central directory
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert len(names) == 70_000 and names[-1] == "f/69999"
        assert archive.read("f/123") == b"x"


# -- the bytes, field by field (APPNOTE 6.3.9), without reading any file ------

import struct  # noqa: E402
from datetime import datetime  # noqa: E402
from datetime import UTC  # noqa: E402

from linksvc.core.conditional import Decision  # noqa: E402
from linksvc.files.zipstream import CHUNK  # noqa: E402
from linksvc.files.zipstream import zip_response  # noqa: E402

WHEN = datetime(2026, 3, 1, 12, 34, 57, tzinfo=UTC).timestamp()
DOS_TIME = (12 << 11) | (34 << 5) | (57 // 2)
DOS_DATE = ((2026 - 1980) << 9) | (3 << 5) | 1
FOUR_GIB = 0xFFFFFFFF
CRC = 0x1234ABCD


def fake(name: str, size: int, mtime: float = WHEN) -> Member:
    return Member(name, "/nonexistent", size, mtime, f"v:{name}:{size}")


def plan_of(*members: Member) -> ZipPlan:
    return ZipPlan(list(members), lambda m: CRC)


def head(plan: ZipPlan, start: int, length: int) -> bytes:
    return b"".join(plan.stream(start, start + length - 1))


def test_a_local_header_field_by_field():
    plan = plan_of(fake("d/é.txt", 300))
    name = "d/é.txt".encode()
    raw = head(plan, 0, 30 + len(name))
    fields = struct.unpack("<IHHHHHIIIHH", raw[:30])
    assert fields == (
        0x04034B50,
        20,
        0x800,
        0,
        DOS_TIME,
        DOS_DATE,
        CRC,
        300,
        300,
        len(name),
        0,
    )
    assert raw[30:] == name


def test_a_central_entry_and_the_end_record_field_by_field():
    plan = plan_of(fake("a.txt", 5), fake("b.bin", 7))
    tail = head(plan, plan.cd_offset, plan.size - plan.cd_offset)
    first = struct.unpack("<IHHHHHHIIIHHHHHII", tail[:46])
    assert first == (
        0x02014B50,
        0x032D,
        20,
        0x800,
        0,
        DOS_TIME,
        DOS_DATE,
        CRC,
        5,
        5,
        5,
        0,
        0,
        0,
        0,
        0o100644 << 16,
        0,
    )
    second = struct.unpack("<IHHHHHHIIIHHHHHII", tail[51:97])
    assert second[-1] == 30 + 5 + 5  # its local header's offset
    end = struct.unpack("<IHHHHIIH", tail[-22:])
    assert end == (0x06054B50, 0, 0, 2, 2, plan.cd_size, plan.cd_offset, 0)
    assert plan.cd_size == 2 * 46 + 10 and len(tail) == plan.cd_size + 22
    assert (
        plan.size == plan.cd_offset + plan.cd_size + 22 == 30 + 5 + 5 + 30 + 5 + 7 + 124
    )


def test_members_past_4_gib_get_zip64_sizes_and_offsets():
    big, after = fake("big.img", FOUR_GIB + 10), fake("after", 3)
    plan = plan_of(big, after)
    local = head(plan, 0, 30 + 7 + 20)
    fields = struct.unpack("<IHHHHHIIIHH", local[:30])
    assert fields[1] == 45 and fields[7:9] == (FOUR_GIB, FOUR_GIB) and fields[10] == 20
    assert struct.unpack("<HHQQ", local[37:]) == (1, 16, FOUR_GIB + 10, FOUR_GIB + 10)
    after_offset = 30 + 7 + 20 + FOUR_GIB + 10
    assert head(plan, after_offset, 4) == b"PK\x03\x04"
    tail = head(plan, plan.cd_offset, plan.size - plan.cd_offset)
    entry = struct.unpack("<IHHHHHHIIIHHHHHII", tail[:46])
    assert entry[2] == 45 and entry[8:10] == (FOUR_GIB, FOUR_GIB) and entry[11] == 20
    assert entry[-1] == 0
    assert struct.unpack("<HHQQ", tail[53:73]) == (1, 16, FOUR_GIB + 10, FOUR_GIB + 10)
    second = struct.unpack("<IHHHHHHIIIHHHHHII", tail[73:119])
    assert second[2] == 45 and second[8:10] == (3, 3) and second[11] == 12
    assert second[-1] == FOUR_GIB
    assert struct.unpack("<HHQ", tail[124:136]) == (1, 8, after_offset)
    zip64_end = struct.unpack("<IQHHIIQQQQ", tail[-98:-42])
    assert zip64_end == (
        0x06064B50,
        44,
        0x032D,
        45,
        0,
        0,
        2,
        2,
        plan.cd_size,
        plan.cd_offset,
    )
    locator = struct.unpack("<IIQI", tail[-42:-22])
    assert locator == (0x07064B50, 0, plan.cd_offset + plan.cd_size, 1)
    end = struct.unpack("<IHHHHIIH", tail[-22:])
    assert end == (0x06054B50, 0, 0, 2, 2, plan.cd_size, FOUR_GIB, 0)


def test_more_than_65535_entries_are_counted_in_the_zip64_end_record():
    plan = plan_of(*(fake(f"{i}", 0) for i in range(65_535)))
    end = head(plan, plan.size - 22, 22)
    assert struct.unpack("<IHHHHIIH", end)[3:5] == (0xFFFF, 0xFFFF)
    zip64_end = head(plan, plan.size - 98, 56)
    assert struct.unpack("<IQHHIIQQQQ", zip64_end)[6:8] == (65_535, 65_535)
    fewer = plan_of(*(fake(f"{i}", 0) for i in range(65_534)))
    assert head(fewer, fewer.size - 22, 4) == b"PK\x05\x06"
    assert head(fewer, fewer.size - 42, 4) != b"PK\x06\x07"


@pytest.mark.parametrize(
    ("mtime", "time_", "date"),
    [
        (0, 0, (0 << 9) | (1 << 5) | 1),  # before 1980: the DOS epoch
        (315532800, 0, (1 << 5) | 1),
        (
            datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp(),
            (23 << 11) | (59 << 5) | 29,
            (119 << 9) | (12 << 5) | 31,
        ),
    ],
)
def test_dos_times(mtime, time_, date):
    raw = head(plan_of(fake("x", 0, mtime)), 0, 30)
    assert struct.unpack("<HH", raw[10:14]) == (time_, date)


def test_file_crc_reads_only_the_size_asked_and_in_chunks(tmp_path):
    data = os.urandom(CHUNK * 2 + 5)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert file_crc(str(path), len(data)) == zlib.crc32(data)
    assert file_crc(str(path), CHUNK + 1) == zlib.crc32(data[: CHUNK + 1])
    assert file_crc(str(path), 0) == 0
    assert file_crc(str(path), len(data) + 100) == zlib.crc32(data)  # shrank


def test_the_crc_cache_forgets_everything_past_its_limit(tmp_path):
    found = members(tmp_path, {"a": b"a", "b": b"b", "c": b"c"})
    loads = []

    def load(keys):
        loads.append(list(keys))
        return {}

    cache = CrcCache(load=load, limit=2)
    for m in found[:2]:
        cache.crc(m)
    cache.prefetch(found[:2])
    assert loads == []  # both known: nothing to load
    cache.crc(found[2])  # a third: the memory is cleared first
    cache.prefetch(found)
    assert loads == [[found[0].version, found[1].version]]
    cache.flush()  # no saver: nothing happens
    saved = []
    other = CrcCache(save=saved.append)
    other.crc(found[0])
    other.flush()
    other.flush()
    assert saved == [{found[0].version: zlib.crc32(b"a")}]
    assert version_key("/p", os.stat(found[0].path)).startswith("/p:1-")


def run(response, method="GET"):
    seen = {}
    body = response(
        {"REQUEST_METHOD": method}, lambda s, h: seen.update(s=s, h=dict(h))
    )
    data = b"".join(body)
    body.close()
    return seen["s"], seen["h"], data


def test_zip_responses_for_every_decision(tmp_path):
    plan = ZipPlan(members(tmp_path, FILES), CrcCache().crc)
    whole = b"".join(plan.stream())
    closed = []
    response = zip_response(
        {"REQUEST_METHOD": "GET"},
        plan,
        "Zoë.zip",
        Decision(200),
        '"z-1"',
        1_700_000_000,
        lambda: closed.append(1),
    )
    got = []
    response.tally.callback = lambda sent, complete: got.append((sent, complete))
    status, headers, data = run(response)
    assert (status, data) == ("200 OK", whole) and got == [(len(whole), True)]
    assert closed == [1]
    assert headers["Content-Type"] == "application/zip"
    assert headers["Content-Length"] == str(len(whole))
    assert headers["X-Accel-Buffering"] == "no" and headers["ETag"] == '"z-1"'
    assert headers["Last-Modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert headers["Content-Disposition"].startswith('attachment; filename="Zoe.zip"')
    assert headers["X-Content-Type-Options"] == "nosniff"
    part = zip_response(
        {"REQUEST_METHOD": "GET"}, plan, "a.zip", Decision(206, [(10, 99)]), '"z-1"', 0
    )
    status, headers, data = run(part)
    assert status == "206 Partial Content" and data == whole[10:100]
    assert headers["Content-Range"] == f"bytes 10-99/{len(whole)}"
    assert headers["Content-Length"] == "90"
    head_ = zip_response(
        {"REQUEST_METHOD": "HEAD"}, plan, "a.zip", Decision(200), '"z-1"', 0
    )
    status, headers, data = run(head_, "HEAD")
    assert data == b"" and headers["Content-Length"] == str(len(whole))
    for code, line in ((304, "304 Not Modified"), (412, "412 Precondition Failed")):
        status, headers, data = run(
            zip_response(
                {"REQUEST_METHOD": "GET"}, plan, "a.zip", Decision(code), '"z-1"', 0
            )
        )
        assert status == line and data == b"" and "Content-Type" not in headers
        assert ("ETag" in headers) is (code == 304)
        assert headers.get("Content-Length") == (None if code == 304 else "0")
    status, headers, data = run(
        zip_response(
            {"REQUEST_METHOD": "GET"}, plan, "a.zip", Decision(416), '"z-1"', 0
        )
    )
    assert headers["Content-Range"] == f"bytes */{len(whole)}" and data == b""
    empty = ZipPlan([], CrcCache().crc)
    status, headers, data = run(
        zip_response(
            {"REQUEST_METHOD": "GET"}, empty, "e.zip", Decision(200), '"z-0"', 0
        )
    )
    assert data == b"PK\x05\x06" + bytes(18) and headers["Content-Length"] == "22"


def test_exactly_4_gib_minus_one_already_needs_zip64():
    """0xFFFFFFFF is ZIP64's marker, so a size or offset of exactly that
    must go in the ZIP64 extra too (APPNOTE 4.4.8)."""
    exact = plan_of(fake("x", FOUR_GIB))
    local = struct.unpack("<IHHHHHIIIHH", head(exact, 0, 30))
    assert local[1] == 45 and local[7] == FOUR_GIB and local[10] == 20
    assert exact.cd_offset == 30 + 1 + 20 + FOUR_GIB
    entry = head(exact, exact.cd_offset, 46 + 1 + 20)
    assert struct.unpack("<HHQQ", entry[47:]) == (1, 16, FOUR_GIB, FOUR_GIB)
    lead = fake("a", FOUR_GIB - 31)  # the next header starts at 0xFFFFFFFF
    plan = plan_of(lead, fake("b", 1))
    assert head(plan, FOUR_GIB, 4) == b"PK\x03\x04"
    tail = head(plan, plan.cd_offset, plan.size - plan.cd_offset)
    first = struct.unpack("<IHHHHHHIIIHHHHHII", tail[:46])
    assert first[2] == 20 and first[11] == 0  # below the marker: plain
    second = struct.unpack("<IHHHHHHIIIHHHHHII", tail[47:93])
    assert second[2] == 45 and second[11] == 12 and second[-1] == FOUR_GIB
    only = plan_of(lead)  # the directory starts at exactly 0xFFFFFFFF
    assert only.cd_offset == FOUR_GIB
    assert head(only, only.size - 98, 4) == b"PK\x06\x06"
    assert struct.unpack("<I", head(only, only.size - 6, 4))[0] == FOUR_GIB


def test_dos_times_are_utc_whatever_the_local_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        raw = head(plan_of(fake("x", 0)), 0, 30)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert struct.unpack("<HH", raw[10:14]) == (DOS_TIME, DOS_DATE)


def test_a_range_may_start_on_the_last_byte_of_a_part(tmp_path):
    plan = ZipPlan(members(tmp_path, FILES), CrcCache().crc)
    whole = b"".join(plan.stream())
    first_header = 30 + len("share/a.txt")
    for start in (first_header - 1, first_header + 5, plan.cd_offset - 1):
        assert b"".join(plan.stream(start, start + 2)) == whole[start : start + 3]


def test_bodiless_answers_and_early_leavers_are_tallied_and_closed(tmp_path):
    plan = ZipPlan(members(tmp_path, FILES), CrcCache().crc)
    closed, got = [], []
    response = zip_response(
        {"REQUEST_METHOD": "HEAD"},
        plan,
        "a.zip",
        Decision(200),
        '"z"',
        0,
        lambda: closed.append("head"),
    )
    response.tally.callback = lambda sent, complete: got.append((sent, complete))
    run(response, "HEAD")
    assert closed == ["head"] and got == [(0, True)]
    response = zip_response(
        {"REQUEST_METHOD": "GET"},
        plan,
        "a.zip",
        Decision(304),
        '"z"',
        0,
        lambda: closed.append("304"),
    )
    run(response)
    assert closed == ["head", "304"]
    response = zip_response(
        {"REQUEST_METHOD": "GET"},
        plan,
        "a.zip",
        Decision(200),
        '"z"',
        0,
        lambda: closed.append("left"),
    )
    response.tally.callback = lambda sent, complete: got.append((sent, complete))
    body = response({"REQUEST_METHOD": "GET"}, lambda *a: None)
    chunks = iter(body)
    first = next(chunks)
    next(chunks)
    body.close()
    assert closed[-1] == "left" and got[-1] == (len(first), False)
