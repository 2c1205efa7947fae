"""The second attack's live findings, over real HTTP against ``linksvc
serve``: a zip that followed a file swapped for a symlink while a slow client
read it, and "Download all" slots held by clients that never read."""

from __future__ import annotations

import socket
import time

import pytest

from .test_live import create_link
from .test_live import get

pytestmark = pytest.mark.slow


def _start_zip(port: int, path: str, small_buffer: bool = True) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    if small_buffer:
        # The server's writes block soon, as for a slow far-away client.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(f"GET {path}?zip=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def test_a_file_swapped_for_a_symlink_mid_zip_is_never_sent(start_live, tree):
    shared = tree / "shared"
    shared.mkdir()
    with open(shared / "a-first.bin", "wb") as fh:
        fh.truncate(64 * 1024 * 1024)  # still streaming when the swap comes
    (shared / "b-second.txt").write_text("an ordinary file\n")
    live = start_live(access_log=False)
    keys = (tree.parent / "live-instance" / "secret_keys").read_bytes()
    assert keys.strip()
    path = create_link(live, "shared")
    sock = _start_zip(live.port, path, small_buffer=False)
    got = bytearray(sock.recv(4096))
    assert got.startswith(b"HTTP/1.1 200")
    # The plan is made and the first member streams; now swap the second.
    (shared / "b-second.txt").unlink()
    (shared / "b-second.txt").symlink_to(tree.parent / "live-instance" / "secret_keys")
    sock.settimeout(10)
    while True:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        got += chunk
    sock.close()
    head, _, body = bytes(got).partition(b"\r\n\r\n")
    length = int(
        next(h for h in head.split(b"\r\n") if h.startswith(b"Content-Length")).split(
            b":"
        )[1]
    )
    assert keys[:16] not in got  # not even the planned length of it
    assert b"ordinary" not in got  # what was planned is not substituted either
    assert len(body) < length  # the archive stopped short, as the format allows


@pytest.mark.timing
def test_a_zip_nobody_reads_is_dropped_after_send_timeout(start_live, tree):
    folder = tree / "big-folder"
    folder.mkdir()
    with open(folder / "huge.bin", "wb") as fh:
        fh.truncate(256 * 1024 * 1024)
    live = start_live(workers=1, send_timeout="2s", zip_slots=4, access_log=False)
    path = create_link(live, "big-folder")
    stalled = _start_zip(live.port, path)
    assert stalled.recv(256).startswith(b"HTTP/1.1 200")
    # One address holds a quarter of the slots: its next zip waits...
    status, headers, _ = get(live, path + "?zip=1", method="HEAD")
    assert status == 429 and headers["Retry-After"] == "5"
    # ...until the stalled stream makes no progress for send_timeout.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, _, _ = get(live, path + "?zip=1", method="HEAD")
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200
    stalled.close()
