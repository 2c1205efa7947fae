"""Benchmark /d/<token> against a bare Flask send_from_directory, in one run.

Both run under the same gunicorn settings on 127.0.0.1; wrk (Debian package
`wrk`) drives a bounded load against each in turn. Prints requests/s, the
ratio, downloads served vs. counted vs. audited, and the worker memory while
a large file streams. Usage: .venv/bin/python bench/download.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def wrk(url: str, seconds: int, connections: int) -> tuple[float, int, int]:
    """(requests/s, requests, non-2xx) of one bounded wrk run."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, total, int(bad.group(1)) if bad else 0


def worker_rss(master_pid: int) -> int:
    """Largest RSS of the master's children, in KiB."""
    rss = 0
    for child in (
        Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    ):
        status = Path(f"/proc/{child}/status").read_text()
        rss = max(rss, int(re.search(r"VmRSS:\s+(\d+)", status).group(1)))
    return rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--big-mib", type=int, default=256)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")

    tmp = Path(tempfile.mkdtemp(prefix="linksvc-bench-"))
    protected = tmp / "protected"
    protected.mkdir()
    (protected / "small.bin").write_bytes(os.urandom(1024))
    with open(protected / "big.bin", "wb") as fh:
        for _ in range(args.big_mib):
            fh.write(os.urandom(1024 * 1024))
    settings = tmp / "settings.toml"
    lport, bport = free_port(), free_port()
    settings.write_text(
        f'protected_dir = "{protected}"\ninstance_dir = "{tmp / "instance"}"\n'
        f'public_base_url = "http://127.0.0.1:{lport}"\n'
    )
    env = {
        **os.environ,
        "LINKSVC_SETTINGS": str(settings),
        "BENCH_PROTECTED_DIR": str(protected),
    }
    env.pop("LINKSVC_SECRET_KEYS", None)
    py = sys.executable
    linksvc = [py, "-m", "linksvc"]
    subprocess.run([*linksvc, "init"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*linksvc, "user", "add", "bench", "--admin", "--password-stdin"],
        env=env,
        input="bench-password\n",
        text=True,
        check=True,
        capture_output=True,
    )

    def link(path: str, *extra: str) -> str:
        out = subprocess.run(
            [
                *linksvc,
                "link",
                "create",
                path,
                "--user",
                "bench",
                "--expires",
                "1d",
                *extra,
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return out.splitlines()[-1]

    small_url, big_url = link("small.bin"), link("big.bin")
    (protected / "limited.bin").write_bytes(os.urandom(1024))
    limited_url = link("limited.bin", "--max-downloads", "1000000")
    log = open(tmp / "servers.log", "wb")
    ours = subprocess.Popen(
        [*linksvc, "serve", "--port", str(lport), "--workers", str(args.workers)],
        env=env,
        stdout=log,
        stderr=log,
    )
    bare = subprocess.Popen(
        [
            py,
            "-m",
            "gunicorn",
            "-k",
            "gthread",
            "--threads",
            "4",
            "-w",
            str(args.workers),
            "-b",
            f"127.0.0.1:{bport}",
            "--no-control-socket",
            "bare_app:create()",
        ],
        env=env,
        cwd=HERE,
        stdout=log,
        stderr=log,
    )
    try:
        wait_for(lport, ours)
        wait_for(bport, bare)
        bare_url = f"http://127.0.0.1:{bport}/f/small.bin"
        wrk(bare_url, 2, args.connections)  # warm both up
        wrk(small_url, 2, args.connections)
        results = {"bare": [], "linksvc": [], "limited": []}
        served = 0
        for _ in range(args.rounds):
            results["bare"].append(wrk(bare_url, args.seconds, args.connections)[0])
            rps, total, bad = wrk(small_url, args.seconds, args.connections)
            results["linksvc"].append(rps)
            served += total - bad
            results["limited"].append(
                wrk(limited_url, args.seconds, args.connections)[0]
            )
        bare_rps = max(results["bare"])
        our_rps = max(results["linksvc"])

        rss_before = worker_rss(ours.pid)
        peak = rss_before
        conn = http.client.HTTPConnection("127.0.0.1", lport, timeout=60)
        conn.request("GET", big_url.split(str(lport), 1)[1])
        response = conn.getresponse()
        received = 0
        while chunk := response.read(1024 * 1024):
            received += len(chunk)
            peak = max(peak, worker_rss(ours.pid))
        conn.close()
    finally:
        ours.send_signal(signal.SIGTERM)
        bare.send_signal(signal.SIGTERM)
        ours.wait(30)
        bare.wait(30)
        log.close()

    counted = subprocess.run(
        [*linksvc, "link", "list"], env=env, capture_output=True, text=True, check=True
    ).stdout
    counts = {
        line.split("\t")[1]: int(line.split("\t")[5].split("/")[0])
        for line in counted.splitlines()
    }
    audit = subprocess.run(
        [*linksvc, "audit", "export", "--since", "1d", "--format", "jsonl"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    audited = sum(
        1
        for line in audit.splitlines()
        if '"event": "download"' in line and '"path": "small.bin"' in line
    )
    warm = counts["small.bin"] - served

    print(
        f"date: {time.strftime('%Y-%m-%d')}  cpus: {os.cpu_count()}  "
        f"workers: {args.workers}"
        f"  connections: {args.connections}  {args.rounds}x{args.seconds}s each"
    )
    print(
        f"bare send_from_directory 1 KiB: {bare_rps:8.0f} req/s  (runs: "
        + ", ".join(f"{r:.0f}" for r in results["bare"])
        + ")"
    )
    print(
        f"linksvc /d/<token>       1 KiB: {our_rps:8.0f} req/s  (runs: "
        + ", ".join(f"{r:.0f}" for r in results["linksvc"])
        + ")"
    )
    print(f"ratio linksvc / bare: {our_rps / bare_rps:.2f}  (target >= 0.90)")
    limited = max(results["limited"])
    print(
        f"limited link (atomic count per download): {limited:8.0f} req/s, ratio "
        f"{limited / bare_rps:.2f}"
    )
    print(
        f"downloads served (timed runs): {served}; counted in links: "
        f"{counts['small.bin']} (incl. {warm} warm-up); audit rows: {audited}"
    )
    print(
        f"streaming {args.big_mib} MiB: received {received >> 20} MiB; worker RSS "
        f"{rss_before // 1024} MiB before, {peak // 1024} MiB peak "
        f"(+{(peak - rss_before) // 1024} MiB)"
    )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
