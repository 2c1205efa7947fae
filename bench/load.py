"""A bounded mixed load against `linksvc serve` on 127.0.0.1.

64 clients for 60 s (by default): small and 1 MiB downloads, link creation
through the API and refused tokens. Prints requests, errors by status,
p50/p99 latency, downloads served vs. recorded in the audit log (they must be
equal), and worker RSS at start and end. Usage:
    .venv/bin/python bench/load.py [--seconds 60] [--clients 64]
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from download import free_port  # noqa: E402
from download import wait_for  # noqa: E402
from download import worker_rss  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="linksvc-load-"))
    protected = tmp / "protected"
    protected.mkdir()
    (protected / "small.txt").write_bytes(os.urandom(1024))
    (protected / "one-mib.bin").write_bytes(os.urandom(1024 * 1024))
    port = free_port()
    settings = tmp / "settings.toml"
    settings.write_text(
        f'protected_dir = "{protected}"\ninstance_dir = "{tmp / "instance"}"\n'
        f'public_base_url = "http://127.0.0.1:{port}"\n'
    )
    env = {**os.environ, "LINKSVC_SETTINGS": str(settings)}
    env.pop("LINKSVC_SECRET_KEYS", None)
    linksvc = [sys.executable, "-m", "linksvc"]

    def cli(*argv: str, stdin: str | None = None) -> str:
        return subprocess.run(
            [*linksvc, *argv],
            env=env,
            input=stdin,
            text=True,
            check=True,
            capture_output=True,
        ).stdout

    cli("init")
    cli("user", "add", "load", "--admin", "--password-stdin", stdin="load-password\n")
    api_token = cli("token", "create", "load", "--user", "load").splitlines()[-1]
    small = urlsplit(
        cli("link", "create", "small.txt", "--user", "load").splitlines()[-1]
    ).path
    big = urlsplit(
        cli("link", "create", "one-mib.bin", "--user", "load").splitlines()[-1]
    ).path
    log = open(tmp / "server.log", "wb")
    server = subprocess.Popen(
        [*linksvc, "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=log,
        stderr=log,
    )
    statuses: collections.Counter[tuple[str, int]] = collections.Counter()
    latencies: list[float] = []
    served = collections.Counter()
    lock = threading.Lock()
    try:
        wait_for(port, server)
        rss_start = worker_rss(server.pid)
        deadline = time.monotonic() + args.seconds

        def client(seed: int) -> None:
            rng = random.Random(seed)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            while time.monotonic() < deadline:
                roll = rng.random()
                if roll < 0.6:
                    kind, method, url, body, headers = "small", "GET", small, None, {}
                elif roll < 0.7:
                    kind, method, url, body, headers = "big", "GET", big, None, {}
                elif roll < 0.8:
                    kind, method, url = "create", "POST", "/api/v1/links"
                    body = json.dumps({"path": "small.txt", "expires": "1h"})
                    headers = {
                        "Authorization": f"Bearer {api_token}",
                        "Content-Type": "application/json",
                    }
                else:
                    kind, method, body, headers = "refused", "GET", None, {}
                    url = small[:-4] + "AAAA" if rng.random() < 0.5 else "/d/garbage"
                started = time.perf_counter()
                try:
                    conn.request(method, url, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    status = response.status
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    status, data = 599, b""
                elapsed = time.perf_counter() - started
                with lock:
                    statuses[(kind, status)] += 1
                    latencies.append(elapsed)
                    size = {"small": 1024, "big": 1024 * 1024}.get(kind)
                    if status == 200 and len(data) == size:
                        served[kind] += 1
            conn.close()

        threads = [
            threading.Thread(target=client, args=(i,)) for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rss_end = worker_rss(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        log.close()

    export = cli("audit", "export", "--since", "1d", "--format", "jsonl")
    recorded = collections.Counter()
    for line in export.splitlines():
        record = json.loads(line)
        if record["event"] == "download" and record["status"] == 200:
            recorded[record["path"]] += 1
    latencies.sort()
    total = len(latencies)
    errors = {k: v for k, v in statuses.items() if k[1] >= 500}
    print(
        f"date: {time.strftime('%Y-%m-%d')}  cpus: {os.cpu_count()}  "
        f"workers: {args.workers}  clients: {args.clients}  seconds: {args.seconds}"
    )
    print(f"requests: {total}  ({total / args.seconds:.0f}/s)")
    for (kind, status), n in sorted(statuses.items()):
        print(f"  {kind:8} {status}: {n}")
    print(f"5xx and failed connections: {sum(errors.values())}")
    print(
        f"latency p50 {latencies[total // 2] * 1000:.1f} ms, "
        f"p99 {latencies[int(total * 0.99)] * 1000:.1f} ms"
    )
    print(
        f"downloads served: small {served['small']}, 1 MiB {served['big']}; "
        f"recorded in audit: small {recorded['small.txt']}, "
        f"1 MiB {recorded['one-mib.bin']}"
    )
    ok = (
        served["small"] == recorded["small.txt"]
        and served["big"] == recorded["one-mib.bin"]
    )
    print(f"served == recorded: {ok}")
    print(f"worker RSS: {rss_start // 1024} MiB at start, {rss_end // 1024} MiB at end")
    shutil.rmtree(tmp, ignore_errors=True)
    if not ok or errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
