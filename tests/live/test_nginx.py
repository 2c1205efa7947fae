"""Offload to a real nginx (deploy/nginx.conf): linksvc checks, counts and
records; nginx sends the bytes, answers Range and If-*, and holds slow clients."""

import csv
import io
import time

import pytest

from ..nginx import start_nginx
from .test_live import get
from .test_server import slowclients

pytestmark = pytest.mark.slow


@pytest.fixture
def offloaded(start_live, tree, tmp_path):
    with open(tree / "huge.bin", "wb") as fh:
        fh.truncate(256 * 1024 * 1024)
    live = start_live(offload="nginx", trusted_proxies=1, access_log=False)
    nginx = start_nginx(tmp_path, [live.port], tree)
    yield live, nginx
    nginx.stop()


def link(live, nginx, path, *extra) -> str:
    result = live.cli("link", "create", path, "--user", "admin", *extra)
    assert result.returncode == 0, result.stderr
    return "/d/" + result.stdout.splitlines()[-1].rsplit("/d/", 1)[1]


def test_downloads_through_nginx_keep_our_headers_and_its_ranges(offloaded, tree):
    live, nginx = offloaded
    data = (tree / "big.bin").read_bytes()
    path = link(live, nginx, "big.bin")
    status, headers, body = get(nginx, path)
    assert status == 200 and body == data
    assert headers["Content-Disposition"] == "attachment; filename=big.bin"
    assert headers["Cache-Control"] == "private, no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "X-Accel-Redirect" not in headers
    status, headers, body = get(nginx, path, headers={"Range": "bytes=10-19"})
    assert status == 206 and body == data[10:20]
    assert headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    status, headers, body = get(nginx, path, method="HEAD")
    assert status == 200 and body == b"" and headers["Content-Length"] == str(len(data))
    etag = headers["ETag"]
    assert get(nginx, path, headers={"If-None-Match": etag})[0] == 304
    # Repr-Digest (once computed) passes through nginx, on ranges too.
    from .test_live import repr_digest_of

    digest = repr_digest_of(nginx, path)
    status, headers, body = get(nginx, path, headers={"Range": "bytes=0-0"})
    assert status == 206 and headers["Repr-Digest"] == digest
    page = (tree / "web" / "page.html").read_bytes()
    status, headers, body = get(nginx, link(live, nginx, "web/page.html"))
    assert status == 200 and body == page
    assert headers["Content-Disposition"].startswith("attachment")


def test_the_internal_location_cannot_be_reached_from_outside(offloaded):
    _, nginx = offloaded
    for path in ("/_protected/readme.txt", "/_protected/../readme.txt"):
        status, _, body = get(nginx, path)
        assert status in (400, 404), path
        assert b"hello from the protected tree" not in body


def test_counting_refusals_and_audit_stay_right_behind_nginx(offloaded):
    live, nginx = offloaded
    path = link(live, nginx, "readme.txt", "--max-downloads", "1")
    assert get(nginx, path, method="HEAD")[0] == 200
    assert get(nginx, path, headers={"X-Forwarded-For": "6.6.6.6"})[0] == 200
    status, _, body = get(nginx, path)
    assert status == 410 and b"used up" in body
    assert get(nginx, "/d/garbage")[0] == 404
    deadline = time.monotonic() + 10
    rows = []
    while time.monotonic() < deadline:
        out = live.cli("audit", "export", "--format", "csv").stdout
        rows = list(csv.DictReader(io.StringIO(out)))
        if len(rows) >= 5:
            break
        time.sleep(0.2)
    downloads = [r for r in rows if r["event"] == "download"]
    assert len(downloads) == 1
    # Handed to nginx: the bytes are in nginx's log, not ours.
    assert downloads[0]["bytes"] == "0" and downloads[0]["complete"] == ""
    # The client address is nginx's view of it, not the spoofed header.
    requests = [r for r in rows if r["event"] in ("download", "check", "refused")]
    assert {r["remote_addr"] for r in requests} == {"127.0.0.1"}
    assert path in nginx.access_log()


@pytest.mark.timing
def test_nginx_holds_200_slow_readers_while_the_dashboard_answers(offloaded):
    live, nginx = offloaded
    huge = link(live, nginx, "huge.bin")
    small = link(live, nginx, "readme.txt")
    held = slowclients.hold(
        nginx.port,
        huge,
        ["/login", small, "/login", small, "/healthz"],
        readers=200,
        loris=200,
        seconds=6,
        settle=2.5,
    )
    print(held.summary())
    assert held.readers_open == 200 and held.readers_failed == 0
    assert all(t is not None and t < 1 for t in held.probe_times), held.probes


def test_folder_links_through_nginx_hand_files_over_and_stream_zips(offloaded, tree):
    import zipfile

    live, nginx = offloaded
    (tree / "reports" / "q3" / "more.txt").write_text("more\n")
    path = link(live, nginx, "reports/q3")
    status, headers, body = get(nginx, f"{path}/summary.csv")
    assert (status, body) == (200, b"quarter,revenue\nQ3,1\n")
    status, headers, body = get(nginx, path + "?zip=1")
    assert status == 200 and headers["Content-Length"] == str(len(body))
    assert "X-Accel-Buffering" not in headers  # nginx obeyed it and dropped it
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.read("q3/more.txt") == b"more\n"
    status, headers, part = get(nginx, path + "?zip=1", headers={"Range": "bytes=5-"})
    assert status == 206 and part == body[5:]


def test_uploads_stream_through_nginx(offloaded, tree, tmp_path):
    """A tus upload bigger than any other request body passes nginx as it
    arrives (nothing spooled to nginx's disk) and lands whole."""
    import hashlib
    import os
    from urllib.parse import urlsplit

    import requests

    tusclient = pytest.importorskip("tusclient.client")
    live, nginx = offloaded
    made = live.cli("link", "create", "--upload", "reports", "--user", "admin")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1].rsplit("/u/", 1)[1]
    data = os.urandom(12 * 1024 * 1024)
    created = requests.post(
        f"{nginx.url}/u/{token}/files",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(data)),
            "Upload-Metadata": "filename YmlnLmJpbg==",
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    url = nginx.url + urlsplit(created.headers["Location"]).path
    # The first 4 MiB by hand, slowly: linksvc has bytes before the body ends
    # (nginx does not spool it first).
    import socket

    upload_id = url.rsplit("/", 1)[-1]
    part = tmp_path / "live-instance" / "uploads" / f"{upload_id}.part"
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    first = 4 * 1024 * 1024
    sock.sendall(
        (
            f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            "Content-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {first}\r\nConnection: close\r\n\r\n"
        ).encode()
        + data[: first // 2]
    )
    deadline = time.monotonic() + 5
    while part.stat().st_size == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert part.stat().st_size > 0  # arriving while the body is still sent
    sock.sendall(data[first // 2 : first])
    assert sock.recv(4096).startswith(b"HTTP/1.1 204")
    sock.close()
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    with open(source, "rb") as stream:
        uploader = tusclient.TusClient(f"{nginx.url}/u/{token}/files").uploader(
            file_stream=stream, url=url, chunk_size=6 * 1024 * 1024
        )
        assert uploader.offset == first
        uploader.upload()
    assert live.cli("upload", "accept", upload_id).returncode == 0
    arrived = (tree / "reports" / "big.bin").read_bytes()
    assert hashlib.sha256(arrived).digest() == hashlib.sha256(data).digest()
    assert "PATCH /u/" in nginx.access_log()
