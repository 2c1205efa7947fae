"""core/zipstream.py: a folder as a stored zip, made while it is sent."""

import io
import os
import zipfile
import zlib

import pytest

from linksvc.core.zipstream import CrcCache
from linksvc.core.zipstream import file_crc
from linksvc.core.zipstream import Member
from linksvc.core.zipstream import version_key
from linksvc.core.zipstream import ZipPlan


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
