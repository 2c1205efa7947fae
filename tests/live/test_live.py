"""A real gunicorn (``linksvc serve``) over real HTTP. One server serves
this module's tests (each works on files and links of its own); the tests
that stop or re-key a server start their own."""

import base64
import csv
import hashlib
import http.client
import io
import shutil
import signal
import time
from urllib.parse import urlsplit

import pytest

from ..conftest import BIG_SIZE
from ..conftest import launch
from ..conftest import make_tree

# Real gunicorn over HTTP, several under load: the slow part (make test).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_tree(tmp_path_factory.mktemp("live-tree"))


@pytest.fixture(scope="module")
def live_server(tree, tmp_path_factory):
    live = launch(tmp_path_factory.mktemp("live"), tree)
    yield live
    live.stop()


def own_copy(tree, name: str, of: str = "big.bin") -> str:
    """A file of this test's own, so counts and audit rows are its alone."""
    shutil.copy(tree / of, tree / name)
    return name


HUGE = 64 * 1024 * 1024


def get(live, path, method="GET", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def post_login(live, username: str, password: str) -> tuple[int, str]:
    """Log in over HTTP: the status and the Cookie header it earned."""
    import re
    from urllib.parse import urlencode

    status, headers, body = get(live, "/login")
    cookie = headers["Set-Cookie"].split(";")[0]
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', body)[1]
    form = urlencode({"username": username, "password": password, "csrf_token": token})
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    try:
        conn.request(
            "POST",
            "/login",
            body=form,
            headers={
                "Cookie": cookie,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        response = conn.getresponse()
        response.read()
        cookies = [c.split(";")[0] for c in response.msg.get_all("Set-Cookie") or []]
        return response.status, "; ".join(cookies)
    finally:
        conn.close()


def login(live, username: str) -> str:
    """Log in over HTTP as a test user; the Cookie header of the session."""
    from ..conftest import PASSWORDS

    status, cookie = post_login(live, username, PASSWORDS[username])
    assert status in (302, 303), status
    return cookie


def create_link(live, path="big.bin", expires="1h") -> str:
    result = live.cli("link", "create", path, "--user", "admin", "--expires", expires)
    assert result.returncode == 0, result.stderr
    url = result.stdout.splitlines()[-1]
    assert url.startswith(live.url + "/d/")
    return urlsplit(url).path


def test_download_over_http_with_and_without_range(live_server, tree):
    data = (tree / "big.bin").read_bytes()
    assert len(data) == BIG_SIZE
    path = create_link(live_server, own_copy(tree, "ranges.bin"))

    status, headers, body = get(live_server, path)
    assert status == 200
    assert body == data
    assert headers["Content-Length"] == str(BIG_SIZE)
    assert headers["Content-Disposition"] == "attachment; filename=ranges.bin"

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

    # The GET and the range from 0 count; HEAD and the later range do not.
    # Unlimited links are counted by the worker's writer within ~50 ms.
    assert wait_for_count(live_server, "ranges.bin", "2")


def repr_digest_of(live, path: str, seconds: float = 20) -> str:
    """The Repr-Digest the server sends once its hasher is done (it computes
    it off the request, so the first answers may go without)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, headers, _ = get(live, path, method="HEAD")
        assert status == 200
        if "Repr-Digest" in headers:
            return headers["Repr-Digest"]
        time.sleep(0.1)
    raise AssertionError("no Repr-Digest within the time given")


def test_repr_digest_over_http_is_the_files_on_whole_and_ranged_answers(
    live_server, tree
):
    """The hasher runs in each gevent worker, its reads on a real thread."""
    name = own_copy(tree, "digested.bin")
    path = create_link(live_server, name)
    want = hashlib.sha256((tree / name).read_bytes()).digest()
    value = repr_digest_of(live_server, path)
    assert value == f"sha-256=:{base64.b64encode(want).decode()}:"
    # Every worker knows it (from the database, or by hashing it once).
    for _ in range(6):
        status, headers, body = get(live_server, path, headers={"Range": "bytes=0-9"})
        assert status == 206 and headers["Repr-Digest"] == value
    status, headers, body = get(live_server, path)
    assert hashlib.sha256(body).digest() == want and headers["Repr-Digest"] == value


def listed(live, name: str) -> list[str]:
    """The `link list` line of the one link to ``name``."""
    for line in live.cli("link", "list").stdout.splitlines():
        if line.split("\t")[1] == name:
            return line.split("\t")
    return []


def wait_for_count(live, name: str, expected: str, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if listed(live, name)[-1:] == [expected]:
            return True
        time.sleep(0.1)
    return False


def test_login_and_refusals_over_http(live_server):
    status, headers, _ = get(live_server, "/protected/readme.txt")
    assert status in (302, 303)
    assert headers["Location"].endswith("/login?next=/protected/readme.txt")
    status, _, body = get(live_server, "/d/not-a-token")
    assert status == 404
    assert b"Link not found" in body
    assert b"Traceback" not in body
    # Logged in, so the traversal reaches the route it attacks.
    cookie = login(live_server, "admin")
    assert get(live_server, "/", headers={"Cookie": cookie})[0] == 200
    for path in ("/protected/../../etc/passwd", "/protected/..%2f..%2fetc/passwd"):
        status, _, body = get(live_server, path, headers={"Cookie": cookie})
        assert status in (400, 404), path
        assert b"root:" not in body


def test_sigterm_stops_the_server_cleanly(start_live):
    own = start_live()
    own.proc.send_signal(signal.SIGTERM)
    assert own.proc.wait(timeout=20) == 0


@pytest.mark.timing
def test_a_stop_waits_for_downloads_in_flight_not_for_idle_connections(
    start_live, tree
):
    """gunicorn waits ``graceful_timeout`` (10 s) for every open connection:
    idle keep-alive ones (nginx keeps some to each upstream) held every stop
    that long, and so did a worker still booting, which lost the SIGTERM."""
    import os

    # Stopped right after its port opens, while its workers boot.
    booting = start_live("booting")
    started = time.monotonic()
    booting.proc.send_signal(signal.SIGTERM)
    assert booting.proc.wait(timeout=20) == 0
    assert time.monotonic() - started < 6

    own = start_live("own")
    data = os.urandom(32 * 1024 * 1024)  # more than the sockets buffer
    (tree / "stopping.bin").write_bytes(data)
    path = create_link(own, "stopping.bin")
    idle = []
    for _ in range(4):
        conn = http.client.HTTPConnection("127.0.0.1", own.port, timeout=10)
        conn.request("GET", "/healthz")
        answer = conn.getresponse()
        assert answer.status == 200 and answer.getheader("Connection") != "close"
        answer.read()
        idle.append(conn)
    reader = http.client.HTTPConnection("127.0.0.1", own.port, timeout=30)
    reader.request("GET", path)
    response = reader.getresponse()
    assert response.status == 200
    first = response.read(64 * 1024)
    started = time.monotonic()
    own.proc.send_signal(signal.SIGTERM)
    time.sleep(1)  # the stop has begun: the download is still going
    rest = response.read()
    assert first + rest == data  # the download in flight finished whole
    assert own.proc.wait(timeout=20) == 0
    assert time.monotonic() - started < 6  # not graceful_timeout
    for conn in idle:  # closed, as a keep-alive timeout would
        with pytest.raises((http.client.HTTPException, OSError)):
            conn.request("GET", "/healthz")
            conn.getresponse()
        conn.close()
    reader.close()


def test_one_time_link_under_20_concurrent_gets_serves_exactly_once(live_server, tree):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    name = own_copy(tree, "once.txt", of="readme.txt")
    result = live_server.cli(
        "link", "create", name, "--user", "admin", "--max-downloads", "1"
    )
    path = urlsplit(result.stdout.splitlines()[-1]).path
    barrier = threading.Barrier(20)

    def fetch(_):
        conn = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=30)
        conn.connect()
        barrier.wait(timeout=30)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(fetch, range(20)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [410] * 19
    body = next(body for status, body in results if status == 200)
    assert body == b"hello from the protected tree\n"
    assert listed(live_server, name)[-1] == "1/1"


def test_rotation_and_retirement_reach_every_worker_without_restart(start_live):
    live_server = start_live()
    import time

    old = create_link(live_server, "readme.txt")
    old_id = live_server.cli("keys", "list").stdout.split("\t")[0]
    assert live_server.cli("keys", "rotate").returncode == 0
    new = create_link(live_server, "readme.txt")
    assert not new.startswith(f"/d/{old_id}.")
    assert live_server.cli("keys", "retire", old_id).returncode == 0
    # Workers look at the keys file at most once a second: poll, bounded.
    deadline = time.monotonic() + 10
    while True:
        statuses = {get(live_server, old)[0] for _ in range(6)}
        if statuses == {404} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert statuses == {404}
    assert {get(live_server, new)[0] for _ in range(6)} == {200}


def _workers(master: int) -> list[int]:
    from pathlib import Path

    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def _open_fds(pids: list[int]) -> int:
    import os

    return sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in pids)


def test_200_clients_leaving_mid_download_leak_nothing(live_server):
    import socket
    import time
    from concurrent.futures import ThreadPoolExecutor

    path = create_link(live_server, "big.bin")
    # Warm up: every worker thread opens its database connection once.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda _: get(live_server, path, headers={"Range": "bytes=0-9"}),
                range(64),
            )
        )
    live_server.cli("link", "list")
    workers = _workers(live_server.proc.pid)
    baseline = _open_fds(workers)
    for i in range(200):
        sock = socket.create_connection(("127.0.0.1", live_server.port), timeout=10)
        headers = "Range: bytes=1000-\r\n" if i % 2 else ""
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        received = 0
        while received < 64 * 1024:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += len(chunk)
        assert received > 0
        sock.close()
    # Workers notice the closed sockets as their writes fail: poll, bounded.
    deadline = time.monotonic() + 20
    while _open_fds(workers) > baseline + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _open_fds(workers) <= baseline + 2
    assert _workers(live_server.proc.pid) == workers  # no worker died
    status, _, body = get(live_server, path, headers={"Range": "bytes=0-9"})
    assert status == 206 and len(body) == 10


def test_preconditions_over_http(live_server):
    path = create_link(live_server, "readme.txt")
    status, headers, body = get(live_server, path)
    etag = headers["ETag"]
    assert get(live_server, path, headers={"If-None-Match": etag})[0] == 304
    status, headers, body = get(live_server, path, headers={"If-Match": '"x"'})
    assert (status, body, headers.get("Content-Length")) == (412, b"", "0")
    status, headers, body = get(live_server, path, headers={"Range": "bytes=999-"})
    assert status == 416 and headers["Content-Range"] == "bytes */30"
    status, _, body = get(live_server, path, headers={"Range": "lines=1-2"})
    assert status == 200 and body == b"hello from the protected tree\n"
    assert get(live_server, path, method="PUT")[0] == 405


def test_refusals_log_their_request_id_and_dropped_downloads_are_recorded(
    live_server, tree
):
    import socket

    status, headers, _ = get(live_server, "/d/not-a-token")
    assert status == 404
    request_id = headers["X-Request-Id"]
    deadline = time.monotonic() + 5
    while request_id not in live_server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert request_id in live_server.log()

    # Larger than any socket send buffer here (net.core.wmem_max, 4 MiB), so
    # the kernel cannot take the whole file before the recipient leaves.
    with open(tree / "huge.bin", "wb") as fh:
        fh.truncate(HUGE)
    path = create_link(live_server, "huge.bin")
    for _ in range(5):
        sock = socket.create_connection(("127.0.0.1", live_server.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        sock.recv(1024)
        sock.close()  # the recipient leaves after a few bytes
    deadline = time.monotonic() + 10
    rows = []
    while time.monotonic() < deadline:
        out = live_server.cli("audit", "export", "--format", "csv").stdout
        rows = [
            r
            for r in csv.DictReader(io.StringIO(out))
            if r["event"] == "download" and r["path"] == "huge.bin"
        ]
        if len(rows) == 5:
            break
        time.sleep(0.2)
    assert len(rows) == 5
    for row in rows:
        assert row["complete"] == "False"
        assert int(row["bytes"]) < HUGE


def test_whole_downloads_are_recorded_with_every_byte(live_server, tree):
    """Real gunicorn sends whole files with sendfile (and, from version 27,
    rewinds the descriptor afterwards): the audit still has every byte."""
    path = create_link(live_server, own_copy(tree, "whole.bin"))
    status, _, body = get(live_server, path)
    assert status == 200 and len(body) == BIG_SIZE
    deadline = time.monotonic() + 10
    rows = []
    while time.monotonic() < deadline and not rows:
        out = live_server.cli("audit", "export", "--format", "csv").stdout
        rows = [
            r
            for r in csv.DictReader(io.StringIO(out))
            if r["event"] == "download" and r["path"] == "whole.bin"
        ]
        time.sleep(0.2)
    assert [(int(r["bytes"]), r["complete"]) for r in rows] == [(BIG_SIZE, "True")]
