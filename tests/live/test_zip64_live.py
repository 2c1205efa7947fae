"""A folder holding a sparse file over 4 GiB, zipped by a real gunicorn and
read back over HTTP by a streaming reader that checks every CRC; nothing is
written to disk but the sparse file itself."""

import http.client
import zlib

import pytest
from stream_unzip import stream_unzip

pytestmark = pytest.mark.slow

BIG = 4 * 1024**3 + 4096 + 7  # past 4 GiB: ZIP64 sizes and offsets


def test_a_zip_over_4_gib_streams_with_right_crcs(start_live, tree):
    folder = tree / "huge"
    folder.mkdir()
    with open(folder / "disk.img", "wb") as fh:
        fh.truncate(BIG)
        fh.seek(BIG - 5)
        fh.write(b"tail!")  # not all zeros: the CRC must see the end
    (folder / "after.txt").write_bytes(b"a member after the big one\n")
    live = start_live(access_log=False)
    made = live.cli("link", "create", "huge", "--user", "admin")
    assert made.returncode == 0, made.stderr
    path = "/d/" + made.stdout.splitlines()[-1].rsplit("/d/", 1)[1] + "?zip=1"

    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=120)
    conn.request("GET", path)
    response = conn.getresponse()
    assert response.status == 200
    length = int(response.headers["Content-Length"])

    received = 0

    def chunks():
        nonlocal received
        while chunk := response.read(1 << 20):
            received += len(chunk)
            yield chunk

    seen = {}
    # stream_unzip raises if a CRC or a size does not match.
    for name, size, data in stream_unzip(chunks()):
        crc, count = 0, 0
        for part in data:
            crc = zlib.crc32(part, crc)
            count += len(part)
        seen[name.decode()] = (size, count, crc)
    conn.close()
    assert received == length
    assert seen["huge/disk.img"][:2] == (BIG, BIG)
    expected, zeros, left = 0, bytes(1 << 20), BIG - 5
    while left:
        expected = zlib.crc32(zeros[: min(left, len(zeros))], expected)
        left -= min(left, len(zeros))
    assert seen["huge/disk.img"][2] == zlib.crc32(b"tail!", expected)
    assert seen["huge/after.txt"][:2] == (27, 27)
    assert seen["huge/after.txt"][2] == zlib.crc32(b"a member after the big one\n")
