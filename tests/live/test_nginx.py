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
