"""A real gunicorn (``linksvc serve``) over real HTTP."""

import http.client
import signal
from urllib.parse import urlsplit

from .conftest import BIG_SIZE


def get(live, path, method="GET", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def create_link(live, path="big.bin", expires="1h") -> str:
    result = live.cli("link", "create", path, "--user", "admin", "--expires", expires)
    assert result.returncode == 0, result.stderr
    url = result.stdout.splitlines()[-1]
    assert url.startswith(live.url + "/d/")
    return urlsplit(url).path


def test_download_over_http_with_and_without_range(live_server, tree):
    data = (tree / "big.bin").read_bytes()
    assert len(data) == BIG_SIZE
    path = create_link(live_server)

    status, headers, body = get(live_server, path)
    assert status == 200
    assert body == data
    assert headers["Content-Length"] == str(BIG_SIZE)
    assert headers["Content-Disposition"] == "attachment; filename=big.bin"

    status, headers, body = get(live_server, path, headers={"Range": "bytes=1000-1999"})
    assert status == 206
    assert body == data[1000:2000]
    assert headers["Content-Range"] == f"bytes 1000-1999/{BIG_SIZE}"

    status, headers, body = get(live_server, path, headers={"Range": "bytes=-7,0-2"})
    assert status == 206
    assert headers["Content-Type"].startswith("multipart/byteranges")
    assert data[-7:] in body and data[:3] in body
    assert int(headers["Content-Length"]) == len(body)

    status, headers, body = get(live_server, path, method="HEAD")
    assert status == 200 and body == b""
    assert headers["Content-Length"] == str(BIG_SIZE)

    lines = live_server.cli("link", "list").stdout.splitlines()
    assert lines[0].split("\t")[-1] == "2"  # the GET and the range from 0


def test_login_and_refusals_over_http(live_server):
    status, headers, _ = get(live_server, "/protected/readme.txt")
    assert status in (302, 303)
    assert headers["Location"].endswith("/login?next=/protected/readme.txt")
    status, _, body = get(live_server, "/d/not-a-token")
    assert status == 404
    assert b"Link not found" in body
    assert b"Traceback" not in body
    status, headers, body = get(live_server, "/protected/../../etc/passwd")
    assert status in (302, 303) and "/login?next=" in headers["Location"]
    assert b"root:" not in body


def test_sigterm_stops_the_server_cleanly(live_server):
    live_server.proc.send_signal(signal.SIGTERM)
    assert live_server.proc.wait(timeout=20) == 0
