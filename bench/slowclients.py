"""Slow clients, bounded: readers that take a big file at ~10 KB/s, and
"slowloris" connections that send a request head one line a second, while
probes time ordinary requests. Used by bench/run.py and by the tests.

Everything goes to 127.0.0.1 only, every loop stops at its deadline, and the
readers use a small receive buffer (SO_RCVBUF) so that thousands of them fit
in the loopback's TCP memory.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import threading
import time
from dataclasses import dataclass
from dataclasses import field

HOST = "127.0.0.1"


@dataclass
class Held:
    """What one run saw."""

    readers_open: int = 0
    readers_failed: int = 0
    loris_open: int = 0
    loris_closed_at: list[float] = field(default_factory=list)
    probes: list[tuple[str, float | None]] = field(default_factory=list)

    @property
    def probe_times(self) -> list[float | None]:
        return [t for _, t in self.probes]

    def summary(self) -> str:
        times = [t for t in self.probe_times if t is not None]
        worst = f"{max(times) * 1000:.0f} ms" if times else "-"
        ok = sum(1 for t in self.probe_times if t is not None and t < 1)
        return (
            f"readers open {self.readers_open} (failed {self.readers_failed}), "
            f"slowloris open {self.loris_open} (closed by server "
            f"{len(self.loris_closed_at)}), probes under 1 s: {ok}/"
            f"{len(self.probes)}, slowest {worst}"
        )


def raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _connect(port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
    return sock


async def slow_reader(
    port: int, path: str, deadline: float, held: Held, rate: int, rcvbuf: int
) -> None:
    loop = asyncio.get_running_loop()
    try:
        sock = await _connect(port, rcvbuf)
    except OSError:
        held.readers_failed += 1
        return
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
        await loop.sock_sendall(sock, request.encode())
        first = await asyncio.wait_for(loop.sock_recv(sock, 1024), 10)
        if not first.startswith(b"HTTP/1.1 200"):
            held.readers_failed += 1
            return
        held.readers_open += 1
        while time.monotonic() < deadline:
            data = await asyncio.wait_for(loop.sock_recv(sock, 1024), 10)
            if not data:
                break
            await asyncio.sleep(len(data) / rate)
    except (TimeoutError, OSError):
        held.readers_failed += 1
    finally:
        sock.close()


async def slowloris(port: int, deadline: float, held: Held) -> None:
    loop = asyncio.get_running_loop()
    try:
        sock = await _connect(port)
    except OSError:
        return
    started = time.monotonic()
    try:
        await loop.sock_sendall(
            sock, f"GET /login HTTP/1.1\r\nHost: {HOST}\r\n".encode()
        )
        held.loris_open += 1
        n = 0
        while time.monotonic() < deadline:
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 1024), 1)
            except TimeoutError:
                n += 1
                await loop.sock_sendall(sock, f"X-Slow-{n}: {n}\r\n".encode())
                continue
            if not data or data.startswith(b"HTTP/"):
                held.loris_closed_at.append(time.monotonic() - started)
                return
    except OSError:
        held.loris_closed_at.append(time.monotonic() - started)
    finally:
        sock.close()


async def probe(port: int, path: str, held: Held, timeout: float = 5) -> None:
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, port), timeout
        )
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
        )
        body = await asyncio.wait_for(reader.read(), timeout)
        writer.close()
        ok = body.startswith((b"HTTP/1.1 200", b"HTTP/1.1 302"))
        held.probes.append((path, time.monotonic() - started if ok else None))
    except (TimeoutError, OSError):
        held.probes.append((path, None))


async def _run(
    port: int,
    reader_path: str,
    probe_paths: list[str],
    readers: int,
    loris: int,
    seconds: float,
    settle: float,
    rate: int,
    rcvbuf: int,
) -> Held:
    held = Held()
    deadline = time.monotonic() + seconds
    tasks = [
        asyncio.create_task(
            slow_reader(port, reader_path, deadline, held, rate, rcvbuf)
        )
        for _ in range(readers)
    ]
    tasks += [
        asyncio.create_task(slowloris(port, deadline, held)) for _ in range(loris)
    ]
    await asyncio.sleep(settle)
    for path in probe_paths:
        await probe(port, path, held)
        await asyncio.sleep(0.05)
    await asyncio.gather(*tasks, return_exceptions=True)
    return held


def hold(
    port: int,
    reader_path: str,
    probe_paths: list[str],
    readers: int = 200,
    loris: int = 200,
    seconds: float = 6,
    settle: float = 2,
    rate: int = 10_000,
    rcvbuf: int = 4096,
) -> Held:
    """Open ``readers`` slow readers of ``reader_path`` and ``loris`` slowloris
    connections, let them settle, time one request to each of
    ``probe_paths`` (in turn), and stop everything after ``seconds``."""
    args = (port, reader_path, probe_paths, readers, loris, seconds, settle, rate)
    return _in_a_thread(_run(*args, rcvbuf))


def _in_a_thread(work):
    """Run the coroutine ``work`` on a thread of its own (the caller may
    already run an event loop: a test session with Playwright's sync API
    does), with the open-file limit raised."""
    raise_open_files()
    result: list = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(work)))
    thread.start()
    thread.join()
    if not result:
        raise RuntimeError("the slow clients did not run; see the thread's error")
    return result[0]


@dataclass
class Burst:
    """What a burst of downloads saw: each probe's path, when it was sent
    (seconds after the burst began) and how long it took (None: failed)."""

    readers_open: int = 0
    readers_failed: int = 0
    probes: list[tuple[str, float, float | None]] = field(default_factory=list)

    def slowest(self) -> float | None:
        """The slowest probe, seconds (None when one failed)."""
        times = [t for _, _, t in self.probes]
        return None if None in times else max(times, default=0.0)

    def p99(self, first: float = 1.0) -> float | None:
        """The 99th percentile of the probes sent in the first ``first`` s."""
        times = [t for _, at, t in self.probes if at < first]
        if None in times or not times:
            return None
        ordered = sorted(t for t in times if t is not None)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    def summary(self) -> str:
        slowest, p99 = self.slowest(), self.p99()
        return (
            f"readers open {self.readers_open} (failed {self.readers_failed}), "
            f"{len(self.probes)} probes, slowest "
            + (f"{slowest * 1000:.0f} ms" if slowest is not None else "failed")
            + ", first-second p99 "
            + (f"{p99 * 1000:.0f} ms" if p99 is not None else "failed")
        )


async def _timed_probe(port, path, burst, started, timeout) -> None:
    sent_at = time.monotonic() - started
    held = Held()
    await probe(port, path, held, timeout)
    burst.probes.append((path, sent_at, held.probes[0][1]))


async def _burst(port, reader_path, probe_paths, readers, seconds, every, rate):
    burst = Burst()
    held = Held()
    started = time.monotonic()
    deadline = started + seconds
    tasks = [
        asyncio.create_task(slow_reader(port, reader_path, deadline, held, rate, 0))
        for _ in range(readers)
    ]
    probes = []
    n = 0
    while time.monotonic() < deadline - 1:
        path = probe_paths[n % len(probe_paths)]
        probes.append(asyncio.create_task(_timed_probe(port, path, burst, started, 5)))
        n += 1
        await asyncio.sleep(every)
    await asyncio.gather(*probes, *tasks, return_exceptions=True)
    burst.readers_open, burst.readers_failed = held.readers_open, held.readers_failed
    return burst


def burst(
    port: int,
    reader_path: str,
    probe_paths: list[str],
    readers: int = 1000,
    seconds: float = 6,
    every: float = 0.1,
    rate: int = 10_000,
) -> Burst:
    """``readers`` downloads of ``reader_path`` started together (each read
    at ``rate`` bytes/s, with the system's receive buffer), and a probe of
    ``probe_paths`` (in turn) every ``every`` seconds from the first moment,
    for ``seconds``."""
    return _in_a_thread(
        _burst(port, reader_path, probe_paths, readers, seconds, every, rate)
    )
