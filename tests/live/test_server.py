"""The built-in server (``linksvc serve``) never stalls: slow downloads and
half-sent request heads cost it connections, not answers."""

import importlib.util
import socket
import sys
import time
from pathlib import Path

import pytest

from .test_live import create_link
from .test_live import get

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "slowclients", ROOT / "bench" / "slowclients.py"
)
slowclients = importlib.util.module_from_spec(_spec)
sys.modules["slowclients"] = slowclients  # dataclasses look their module up
_spec.loader.exec_module(slowclients)

# Each test here asserts how long something took: run alone (make test).
pytestmark = [pytest.mark.slow, pytest.mark.timing]


@pytest.fixture
def big_tree(tree):
    # Big enough that no reader finishes in the test's few seconds.
    with open(tree / "huge.bin", "wb") as fh:
        fh.truncate(256 * 1024 * 1024)
    return tree


def test_200_slow_readers_and_200_slowloris_do_not_stall_the_server(
    big_tree, start_live
):
    live = start_live(header_timeout="30s", access_log=False)
    huge = create_link(live, "huge.bin")
    small = create_link(live, "readme.txt")
    probes = ["/login", small, "/healthz", "/login", small, "/login", small]
    held = slowclients.hold(
        live.port, huge, probes, readers=200, loris=200, seconds=7, settle=2.5
    )
    print(held.summary())
    assert held.readers_open == 200 and held.readers_failed == 0
    assert held.loris_open == 200
    assert all(t is not None and t < 1 for t in held.probe_times), held.probes
    # And it still serves the file whole afterwards.
    status, _, body = get(live, small)
    assert status == 200 and body == (big_tree / "readme.txt").read_bytes()


def test_a_request_head_that_does_not_arrive_within_header_timeout_is_closed(
    start_live,
):
    live = start_live(header_timeout="2s", access_log=False)
    sock = socket.create_connection(("127.0.0.1", live.port))
    sock.settimeout(10)
    started = time.monotonic()
    sock.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\n")
    closed_after = None
    for n in range(8):
        try:
            sock.sendall(f"X-Slow-{n}: {n}\r\n".encode())
            sock.settimeout(1)
            if sock.recv(1024) == b"":
                closed_after = time.monotonic() - started
                break
        except TimeoutError:
            continue
        except OSError:
            closed_after = time.monotonic() - started
            break
    sock.close()
    assert closed_after is not None and 1.5 < closed_after < 4.5


def test_serve_says_how_many_connections_it_holds(live_server):
    assert "connections =" in live_server.log()
    assert "open-file limit" in live_server.log()


def test_password_hashing_does_not_stall_the_server(start_live):
    """Logins hash on real threads: /healthz answers while a dozen run."""
    import concurrent.futures

    from .test_live import post_login

    live = start_live(
        workers=1,
        access_log=False,
        login_limit="1000/minute",
        login_limit_per_address="1000/minute",
        login_limit_per_name="1000/minute",
    )
    get(live, "/healthz")
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        started = time.monotonic()
        logins = [
            pool.submit(post_login, live, f"nobody{i % 4}", "wrong-password")
            for i in range(24)
        ]
        slowest = 0.0
        while not all(f.done() for f in logins):
            t = time.monotonic()
            assert get(live, "/healthz")[0] == 200
            slowest = max(slowest, time.monotonic() - t)
        took = time.monotonic() - started
    assert all(f.result()[0] == 200 for f in logins)  # wrong passwords
    # 24 scrypt hashes kept both CPUs busy for seconds; a probe never waited
    # for them (hashed on the event loop instead, the slowest took 1.1 s).
    print(f"24 logins took {took:.2f} s; slowest probe {slowest * 1000:.0f} ms")
    assert took > 0.3 and slowest < 0.5, (took, slowest)  # 1.1 s on the loop


def test_readyz_turns_503_while_the_server_drains_before_it_stops(start_live):
    """SIGTERM with drain_seconds: /readyz says 503 "draining" while the
    server still serves downloads, then it stops gracefully."""
    import signal

    import requests

    live = start_live("drain", access_log=False, drain_seconds="3s")
    ready = requests.get(f"{live.url}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["outbox_sender"] == "ok"
    made = live.cli("link", "create", "readme.txt", "--user", "admin")
    url = made.stdout.strip().splitlines()[-1]
    live.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 2
    said = None
    while time.monotonic() < deadline:
        said = requests.get(f"{live.url}/readyz", timeout=5)
        if said.status_code == 503:
            break
        time.sleep(0.05)
    assert said is not None and said.status_code == 503
    assert said.json()["status"] == "draining"
    assert requests.get(url, timeout=5).status_code == 200  # still serving
    assert requests.get(f"{live.url}/healthz", timeout=5).status_code == 200
    assert live.proc.wait(timeout=20) == 0


def test_a_burst_of_200_downloads_starting_together_stalls_no_one(big_tree, start_live):
    """200 downloads of a big file start in the same moment and read slowly
    (issue 26); from that moment a probe every 100 ms (the login page, a
    small link, /healthz) answers within a second. gevent's sendfile read
    the file 8 KiB at a time in Python until each connection's send buffer
    was full, several MiB on loopback, before another greenlet ran: the
    first probe waited for all of it. The worker's own sendfile copies in
    the kernel, 256 KiB a step, and yields between steps."""
    live = start_live(header_timeout="30s", access_log=False)
    huge = create_link(live, "huge.bin")
    small = create_link(live, "readme.txt")
    seen = slowclients.burst(
        live.port, huge, ["/login", small, "/healthz"], readers=200, seconds=4
    )
    print(seen.summary())
    assert seen.readers_open == 200 and seen.readers_failed == 0
    assert len(seen.probes) >= 20
    slowest = seen.slowest()
    assert slowest is not None and slowest < 1, seen.probes
