"""The one benchmark: linksvc against a bare Flask app and nginx, in one run.

Starts, on 127.0.0.1 only: nginx serving the files statically, a bare Flask
``send_from_directory`` app under the same gunicorn worker class and count as
linksvc, linksvc direct, and linksvc behind nginx with ``offload = "nginx"``
(deploy/nginx.conf). For 1 KiB, 1 MiB and 100 MiB files it prints requests/s,
MB/s, p50/p99 latency and the ratios (rounds interleaved: the machines are
noisy, so compare only ratios of one run); then the peak worker RSS while 10
clients download a 1 GiB file, and how many slow readers and slowloris
connections each mode holds while the dashboard answers within 1 s.

Usage: .venv/bin/python bench/run.py [--seconds 5] [--rounds 3] [--quick]
Needs nginx (apt-get install nginx-light); uses wrk where present, else a
Python load generator. Every load is bounded in time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402
import slowclients  # noqa: E402

PY = sys.executable
LINKSVC = [PY, "-m", "linksvc"]
SIZES = {"1 KiB": ("small.bin", 1024), "1 MiB": ("mid.bin", 1 << 20)}
BIG = ("big.bin", 100 << 20)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def worker_rss(master_pid: int) -> int:
    """Largest RSS of the master's children, in KiB."""
    rss = 0
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text()
    for child in children.split():
        status = Path(f"/proc/{child}/status").read_text()
        rss = max(rss, int(re.search(r"VmRSS:\s+(\d+)", status).group(1)))
    return rss


def make_tree(tmp: Path) -> Path:
    protected = tmp / "protected"
    protected.mkdir()
    for name, size in [*SIZES.values(), BIG, ("limited.bin", 1024)]:
        with open(protected / name, "wb") as fh:
            left = size
            while left:
                chunk = os.urandom(min(left, 1 << 20))
                fh.write(chunk)
                left -= len(chunk)
    with open(protected / "huge.bin", "wb") as fh:
        fh.truncate(1 << 30)  # 1 GiB, sparse: for RSS and slow readers
    return protected


def nginx_conf(tmp: Path, protected: Path, static: int, proxy: int, up: int) -> Path:
    """deploy/nginx.conf for this machine, plus a static server for the baseline."""
    prefix = tmp / "nginx"
    prefix.mkdir()
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    for old, new in [
        ("user www-data;", "user root;"),
        ("pid /run/nginx-linksvc.pid;", f"pid {prefix}/nginx.pid;"),
        ("/var/log/nginx/linksvc.error.log", f"{prefix}/error.log"),
        ("access_log /var/log/nginx/linksvc.access.log;", "access_log off;"),
        ("listen 8080;", f"listen 127.0.0.1:{proxy};"),
        ("server 127.0.0.1:8000 ", f"server 127.0.0.1:{up} "),
        ("alias /srv/linksvc/protected/;", f"alias {protected}/;"),
        ("rate=20r/s", "rate=1000000r/s"),  # every bench client is 127.0.0.1
        ("burst=40", "burst=1000000"),
        ("worker_processes auto;", "worker_processes 2;"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    temp = "\n    ".join(
        f"{n}_temp_path {prefix / n};"
        for n in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # "nginx offload, no app": the static server hands /xa/NAME to an
    # upstream that only answers X-Accel-Redirect (another nginx server),
    # then serves the file from an internal location, as deploy/nginx.conf
    # does for linksvc: the best any application behind offload can reach.
    xa = free_port()
    static_server = (
        f"upstream xa {{\n        server 127.0.0.1:{xa};\n"
        "        keepalive 32;\n    }\n"
        f"    server {{\n        listen 127.0.0.1:{xa};\n"
        "        location / { add_header X-Accel-Redirect /_xa_files$uri; "
        'return 200 ""; }\n    }\n'
        f"    server {{\n        listen 127.0.0.1:{static};\n"
        f"        location /f/ {{ alias {protected}/; }}\n"
        "        location /xa/ { proxy_pass http://xa/; proxy_http_version 1.1; "
        'proxy_set_header Connection ""; }\n'
        f"        location /_xa_files/ {{ internal; alias {protected}/; }}\n    }}\n"
    )
    text = text.replace("\nhttp {", f"\nhttp {{\n    {temp}\n    {static_server}", 1)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    return conf


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value) + '"'


class Bench:
    def __init__(self, args) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="linksvc-bench-"))
        self.protected = make_tree(self.tmp)
        self.procs: list[subprocess.Popen] = []
        self.log = open(self.tmp / "servers.log", "wb")
        self.ports = {
            n: free_port() for n in ("direct", "offload", "bare", "static", "proxy")
        }

    def settings(self, name: str, **extra) -> dict:
        conf = {
            "protected_dir": str(self.protected),
            "instance_dir": str(self.tmp / "instance"),
            "public_base_url": f"http://127.0.0.1:{self.ports[name]}",
            "access_log": False,
            **extra,
        }
        path = self.tmp / f"{name}.toml"
        path.write_text("".join(f"{k} = {_toml(v)}\n" for k, v in conf.items()))
        env = {**os.environ, "LINKSVC_SETTINGS": str(path)}
        env.pop("LINKSVC_SECRET_KEYS", None)
        return env

    def start(self) -> None:
        a = self.args
        self.env = self.settings("direct")
        subprocess.run(
            [*LINKSVC, "init"], env=self.env, check=True, capture_output=True
        )
        subprocess.run(
            [*LINKSVC, "user", "add", "bench", "--admin", "--password-stdin"],
            env=self.env,
            input="bench-password\n",
            text=True,
            check=True,
            capture_output=True,
        )
        offload_env = self.settings("offload", offload="nginx", trusted_proxies=1)
        for name, env in (("direct", self.env), ("offload", offload_env)):
            self.procs.append(
                self._spawn(
                    [
                        *LINKSVC,
                        "serve",
                        "--port",
                        str(self.ports[name]),
                        "--workers",
                        str(a.workers),
                    ],
                    env,
                )
            )
        self.direct_pid = self.procs[0].pid
        bare_env = {**os.environ, "BENCH_PROTECTED_DIR": str(self.protected)}
        self.procs.append(
            self._spawn(
                [
                    PY,
                    "-m",
                    "gunicorn",
                    "-k",
                    "gevent",
                    "-w",
                    str(a.workers),
                    "--worker-connections",
                    "4000",
                    "-b",
                    f"127.0.0.1:{self.ports['bare']}",
                    "--no-control-socket",
                    "bare_app:create()",
                ],
                bare_env,
                cwd=HERE,
            )
        )
        conf = nginx_conf(
            self.tmp,
            self.protected,
            self.ports["static"],
            self.ports["proxy"],
            self.ports["offload"],
        )
        subprocess.run(["nginx", "-p", str(conf.parent), "-c", str(conf)], check=True)
        self.nginx_conf = conf
        for port in self.ports.values():
            wait_for(port)

    def _spawn(self, cmd, env, cwd=None) -> subprocess.Popen:
        return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=self.log, stderr=self.log)

    def link(self, path: str, *extra: str, opaque: bool = False) -> str:
        env = {**self.env, "LINKSVC_OPAQUE_LINKS": "true"} if opaque else self.env
        out = subprocess.run(
            [
                *LINKSVC,
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
        return "/d/" + out.splitlines()[-1].rsplit("/d/", 1)[1]

    def stop(self) -> None:
        subprocess.run(
            [
                "nginx",
                "-p",
                str(self.nginx_conf.parent),
                "-c",
                str(self.nginx_conf),
                "-s",
                "stop",
            ],
            capture_output=True,
        )
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def url(port: int, path: str) -> str:
    return f"http://127.0.0.1:{port}{path}"


def throughput(b: Bench, rounds: int, seconds: int) -> None:
    p = b.ports
    links = {size: b.link(name) for size, (name, _) in SIZES.items()}
    links["100 MiB"] = b.link(BIG[0])
    limited = b.link("limited.bin", "--max-downloads", "1000000")
    small = SIZES["1 KiB"][0]
    # Issue 14: an opaque token (its row read first), an opaque limited one
    # (read, then count), and a link with address ranges and a pinned version.
    opaque = b.link(small, opaque=True)
    opaque_limited = b.link("limited.bin", "--max-downloads", "1000000", opaque=True)
    guarded = b.link(small, "--ranges", "127.0.0.0/8", "--pin")
    names = {**{s: n for s, (n, _) in SIZES.items()}, "100 MiB": BIG[0]}
    for size in [*SIZES, "100 MiB"]:
        targets = {
            "nginx static": url(p["static"], f"/f/{names[size]}"),
            "bare Flask": url(p["bare"], f"/f/{names[size]}"),
            "linksvc direct": url(p["direct"], links[size]),
            "linksvc offload": url(p["proxy"], links[size]),
            "offload, no app": url(p["static"], f"/xa/{names[size]}"),
        }
        if size == "1 KiB":
            targets["linksvc limited"] = url(p["direct"], limited)
            targets["linksvc opaque"] = url(p["direct"], opaque)
            targets["opaque limited"] = url(p["direct"], opaque_limited)
            targets["linksvc guarded"] = url(p["direct"], guarded)
        big = size == "100 MiB"
        conns, secs, n = (4, seconds, 1) if big else (16, seconds, rounds)
        for target in targets.values():
            loadgen.run(target, 1, conns)  # warm up
        results: dict[str, list[loadgen.Result]] = {k: [] for k in targets}
        for _ in range(n):  # interleaved: every target once per round
            for name, target in targets.items():
                results[name].append(loadgen.run(target, secs, conns))
        print(
            f"\n{size} ({n} round{'s' if n > 1 else ''} of {secs} s, "
            f"{conns} connections)"
        )
        best = {k: max(v, key=lambda r: r.rps) for k, v in results.items()}
        for name, r in best.items():
            runs = ", ".join(f"{x.rps:.0f}" for x in results[name])
            print(
                f"  {name:16} {r.rps:9.0f} req/s {r.mbps:9.1f} MB/s  "
                f"p50 {r.p50:7.2f} ms"
                f"  p99 {r.p99:7.2f} ms  errors {r.errors}  (runs: {runs})"
            )
        bare = best["bare Flask"].rps
        static = best["nginx static"].rps
        print(
            f"  ratio direct / bare Flask:   {best['linksvc direct'].rps / bare:.2f}"
            + ("  (target >= 0.90)" if not big else "")
        )
        per_round = [
            d.rps / f.rps
            for d, f in zip(
                results["linksvc direct"], results["bare Flask"], strict=True
            )
        ]
        print(
            f"  per round:                   {', '.join(f'{x:.2f}' for x in per_round)}"
        )
        print(
            "  ratio offload / nginx static: "
            f"{best['linksvc offload'].rps / static:.2f}"
            + ("  (target >= 0.65 at 1 MiB)" if size == "1 MiB" else "")
            + f"   offload, no app / nginx static: "
            f"{best['offload, no app'].rps / static:.2f}"
        )
        per_round_offload = [
            o.rps / n.rps
            for o, n in zip(
                results["linksvc offload"], results["nginx static"], strict=True
            )
        ]
        print(
            "  offload per round:           "
            + ", ".join(f"{x:.2f}" for x in per_round_offload)
        )
        if "linksvc limited" in best:
            for name, target in (
                ("linksvc limited", "0.80"),
                ("linksvc opaque", "0.90"),
                ("opaque limited", "0.80"),
                ("linksvc guarded", "0.90"),
            ):
                print(
                    f"  ratio {name.removeprefix('linksvc ')} / bare Flask:"
                    f"{' ' * (16 - len(name.removeprefix('linksvc ')))}"
                    f"{best[name].rps / bare:.2f}  (target >= {target})"
                )


PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qAt"]


@contextlib.contextmanager
def on_postgres(b: Bench, label: str, async_commit: bool = False):
    """``linksvc serve`` on a new PostgreSQL database (127.0.0.1:5432, user
    postgres), dropped afterwards: (port, env, database name), or None when
    PostgreSQL is not listening."""
    import secrets

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        print(f"\n{label}: PostgreSQL is not listening on 127.0.0.1:5432, skipped")
        yield None
        return
    name = f"linksvc_{label}_{secrets.token_hex(4)}"
    subprocess.run([*PSQL, "-c", f'CREATE DATABASE "{name}"'], check=True)
    if async_commit:
        subprocess.run(
            [*PSQL, "-c", f'ALTER DATABASE "{name}" SET synchronous_commit = off'],
            check=True,
        )
    port = free_port()
    b.ports[label] = port
    env = b.settings(
        label, database_url=f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    )
    proc = None
    try:
        subprocess.run([*LINKSVC, "init"], env=env, check=True, capture_output=True)
        subprocess.run(
            [*LINKSVC, "user", "add", "bench", "--admin", "--password-stdin"],
            env=env,
            input="bench-password\n",
            text=True,
            check=True,
            capture_output=True,
        )
        proc = b._spawn(
            [*LINKSVC, "serve", "--port", str(port), "--workers", str(b.args.workers)],
            env,
        )
        wait_for(port, proc)
        yield port, env, name
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        subprocess.run(
            [*PSQL, "-c", f'DROP DATABASE "{name}" WITH (FORCE)'], capture_output=True
        )


def postgres(b: Bench, rounds: int, seconds: int) -> None:
    """linksvc on PostgreSQL against the same bare Flask app: unlimited and
    limited links."""
    with on_postgres(b, "pg", bool(os.environ.get("BENCH_PG_ASYNC_COMMIT"))) as pg:
        if pg is None:
            return
        port, env, _ = pg
        saved, b.env = b.env, env
        small, limited = (
            b.link("small.bin"),
            b.link("limited.bin", "--max-downloads", "1000000"),
        )
        b.env = saved
        targets = {
            "bare Flask": url(b.ports["bare"], "/f/small.bin"),
            "linksvc pg": url(port, small),
            "linksvc pg limited": url(port, limited),
        }
        for target in targets.values():
            loadgen.run(target, 1, 16)
        results: dict[str, list[loadgen.Result]] = {k: [] for k in targets}
        for _ in range(rounds):
            for key, target in targets.items():
                results[key].append(loadgen.run(target, seconds, 16))
        print(f"\n1 KiB on PostgreSQL ({rounds} rounds of {seconds} s, 16 connections)")
        best = {k: max(v, key=lambda r: r.rps) for k, v in results.items()}
        for key, r in best.items():
            print(
                f"  {key:20} {r.rps:9.0f} req/s  p50 {r.p50:7.2f} ms  "
                f"p99 {r.p99:7.2f} ms"
                f"  errors {r.errors}"
            )
        bare = best["bare Flask"].rps
        print(
            "  ratio pg direct / bare Flask:  "
            f"{best['linksvc pg'].rps / bare:.2f}  (target >= 0.90)"
        )
        print(
            "  ratio pg limited / bare Flask: "
            f"{best['linksvc pg limited'].rps / bare:.2f}  (target >= 0.80)"
        )


def _peak_rss(
    port: int, path: str, master: int, clients: int, seconds: float
) -> tuple[int, list[int]]:
    """The largest worker RSS (KiB) while ``clients`` download ``path`` for
    ``seconds``, and the bytes each received."""
    import http.client

    peak, stop = worker_rss(master), time.monotonic() + seconds
    got = [0] * clients

    def download(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", path)
        response = conn.getresponse()
        while time.monotonic() < stop and (chunk := response.read(1 << 20)):
            got[i] += len(chunk)
        conn.close()

    threads = [threading.Thread(target=download, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, worker_rss(master))
        time.sleep(0.05)
    return peak, got


def memory(b: Bench, seconds: float = 8) -> None:
    path = b.link("huge.bin")
    before = worker_rss(b.direct_pid)
    peak, got = _peak_rss(b.ports["direct"], path, b.direct_pid, 10, seconds)
    print(
        f"\nmemory: 10 clients downloading a 1 GiB file for {seconds:.0f} s "
        f"({sum(got) >> 20} MiB received): worker RSS {before // 1024} MiB before, "
        f"{peak // 1024} MiB peak (+{(peak - before) / 1024:.1f} MiB; target < 20)"
    )


def upload_memory(b: Bench, clients: int = 4, size: int = 1 << 30) -> None:
    """Issue 22: worker RSS while ``clients`` upload ``size`` bytes each to
    one upload link with tus (one PATCH each, sent in 1 MiB pieces)."""
    import http.client
    from urllib.parse import urlsplit

    (b.protected / "inbox").mkdir(exist_ok=True)
    made = subprocess.run(
        [*LINKSVC, "link", "create", "--upload", "inbox", "--user", "bench"],
        env=b.env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = made.stdout.strip().splitlines()[-1].rsplit("/u/", 1)[1]
    port = b.ports["direct"]
    piece = os.urandom(1 << 20)
    before = peak = worker_rss(b.direct_pid)
    done = threading.Event()
    statuses: list[int] = []

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, worker_rss(b.direct_pid))
            time.sleep(0.05)

    def send() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request(
            "POST",
            f"/u/{token}/files",
            headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(size)},
        )
        created = conn.getresponse()
        created.read()
        path = urlsplit(created.headers["Location"]).path
        conn.putrequest("PATCH", path)
        for name, value in (
            ("Tus-Resumable", "1.0.0"),
            ("Upload-Offset", "0"),
            ("Content-Type", "application/offset+octet-stream"),
            ("Content-Length", str(size)),
        ):
            conn.putheader(name, value)
        conn.endheaders()
        for _ in range(size // len(piece)):
            conn.send(piece)
        answer = conn.getresponse()
        answer.read()
        statuses.append(answer.status)
        conn.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    senders = [threading.Thread(target=send) for _ in range(clients)]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    took = time.monotonic() - started
    done.set()
    watcher.join()
    print(
        f"\nupload: {clients} clients uploading {size >> 20} MiB each with tus "
        f"in {took:.1f} s ({clients * size / took / 1e6:.0f} MB/s; answers "
        f"{sorted(statuses)}): worker RSS {before // 1024} MiB before, "
        f"{peak // 1024} MiB peak (+{(peak - before) / 1024:.1f} MiB; target < 20)"
    )


def zip_memory(b: Bench) -> None:
    """Issue 15: "Download all" of a folder holding a 5 GiB sparse file and
    200 small ones, read whole by one client: worker RSS during it."""
    folder = b.protected / "zipped"
    folder.mkdir(exist_ok=True)
    with open(folder / "disk.img", "wb") as fh:
        fh.truncate(5 * 1024**3)
    for i in range(200):
        (folder / f"note-{i:03}.txt").write_bytes(os.urandom(4096))
    path = b.link("zipped") + "?zip=1"
    before = peak = worker_rss(b.direct_pid)
    got = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, worker_rss(b.direct_pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    import http.client

    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", b.ports["direct"], timeout=120)
    conn.request("GET", path)
    response = conn.getresponse()
    length = int(response.headers["Content-Length"])
    while chunk := response.read(1 << 20):
        got += len(chunk)
    conn.close()
    done.set()
    watcher.join()
    took = time.monotonic() - started
    print(
        f"\nzip: Download all of a folder (a 5 GiB sparse file + 200 small ones), "
        f"{got >> 20} MiB of {length >> 20} MiB in {took:.1f} s "
        f"({got / took / 1e6:.0f} MB/s): worker RSS {before // 1024} MiB before, "
        f"{peak // 1024} MiB peak (+{(peak - before) / 1024:.1f} MiB; target < 20)"
    )


def refused_zip(b: Bench, requests: int = 100) -> None:
    """Issue 20: what a refused "Download all" of a big folder costs. A
    revoked link's zip must be refused by its row, before any walk: its cost
    per request should not grow with the folder (20,000 files vs 6)."""
    import http.client

    def per_request(path: str, method: str) -> tuple[float, int]:
        conn = http.client.HTTPConnection("127.0.0.1", b.ports["direct"], timeout=60)
        started = time.monotonic()
        status = 0
        for _ in range(requests):
            conn.request(method, path)
            response = conn.getresponse()
            response.read()
            status = response.status
        conn.close()
        return (time.monotonic() - started) / requests * 1000, status

    rows = []
    for name, count in (("few", 6), ("many", 20_000)):
        folder = b.protected / f"refused-{name}"
        folder.mkdir(exist_ok=True)
        for i in range(count):
            (folder / f"f{i:05}.txt").write_bytes(b"x")
        path = b.link(f"refused-{name}")
        allowed = per_request(path + "?zip=1", "HEAD")
        subprocess.run(
            [*LINKSVC, "link", "revoke", "--path", f"refused-{name}"],
            env=b.env,
            check=True,
            capture_output=True,
        )
        refused = per_request(path + "?zip=1", "HEAD")
        refused_get = per_request(path + "?zip=1", "GET")
        rows.append((name, count, allowed, refused, refused_get))
    print(f"\nrefused zip: ms per request over {requests} requests, one client")
    for _, count, allowed, refused, refused_get in rows:
        print(
            f"  {count:>6} files: allowed HEAD {allowed[0]:7.2f} ms ({allowed[1]}), "
            f"revoked HEAD {refused[0]:6.2f} ms ({refused[1]}), "
            f"revoked GET {refused_get[0]:6.2f} ms ({refused_get[1]})"
        )
    few, many = rows[0][3][0], rows[1][3][0]
    print(f"  revoked, 20,000 files ÷ 6 files: {many / few:.2f}x (target ~1)")


def slow(b: Bench, direct: int, proxied: int) -> None:
    print()
    small = b.link(SIZES["1 KiB"][0])
    huge = b.link("huge.bin")
    for name, port, count in (
        ("direct", b.ports["direct"], direct),
        ("behind nginx", b.ports["proxy"], proxied),
    ):
        probes = ["/login", small] * 5
        held = slowclients.hold(
            port, huge, probes, readers=count, loris=count, seconds=12, settle=6
        )
        print(
            f"slow clients, {name}: {count} readers + {count} slowloris: "
            + held.summary()
        )


def burst(b: Bench, direct: int, proxied: int) -> None:
    """Issue 26: downloads of a 1 GiB file that all start at once (read at
    10 KB/s), and from that moment a probe every 100 ms (the login page, a
    small link, /healthz): the slowest probe and the first second's p99."""
    print()
    small = b.link(SIZES["1 KiB"][0])
    huge = b.link("huge.bin")
    for name, port, count in (
        ("direct", b.ports["direct"], direct),
        ("behind nginx (offload)", b.ports["proxy"], proxied),
    ):
        seen = slowclients.burst(
            port, huge, ["/login", small, "/healthz"], readers=count, seconds=8
        )
        print(f"burst, {name}: {count} downloads at once: " + seen.summary())


def _api(port: int, token: str):
    """A keep-alive JSON client of one server's API."""
    import http.client
    import json

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(method: str, path: str, body: dict | None = None) -> dict:
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        said = response.read()
        assert response.status < 300, (response.status, said[:300])
        return json.loads(said)

    return call


def _workers_rss(master_pid: int) -> int:
    """Sum of the RSS of the master's children, in KiB."""
    total = 0
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text()
    for child in children.split():
        status = Path(f"/proc/{child}/status").read_text()
        total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    return total


def _sqlite_bytes(path: Path) -> int:
    """The bytes a SQLite database's pages in use take, its WAL folded in."""
    import sqlite3

    db = sqlite3.connect(path, timeout=30)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, free, size = (
            db.execute(f"PRAGMA {p}").fetchone()[0]
            for p in ("page_count", "freelist_count", "page_size")
        )
        return (pages - free) * size
    finally:
        db.close()


def _rows(path: Path, table: str) -> int:
    import sqlite3

    db = sqlite3.connect(path, timeout=30)
    try:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        db.close()


def _growth(name: str, port: int, env: dict, size, rows, count: int) -> None:
    """Database bytes that ``count`` links and ``count`` downloads add."""
    import http.client

    token = subprocess.run(
        [*LINKSVC, "token", "create", "sizing", "--user", "bench"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()[-1]
    call = _api(port, token)
    links_before, audit_before = rows("links"), rows("audit")
    empty = size()
    started = time.monotonic()
    made = [
        call("POST", "/api/v1/links", {"path": "small.bin", "expires": "7d"})
        for _ in range(count)
    ]
    took = time.monotonic() - started
    with_links = size()
    assert rows("links") - links_before == count
    print(
        f"  {name}: {count} links made through the API in {took:.1f} s; "
        f"database +{(with_links - empty) / 1024:.0f} KiB "
        f"({(with_links - empty) / count:.0f} B a link, its audit record included)"
    )
    path = "/d/" + made[0]["url"].rsplit("/d/", 1)[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(count):
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    conn.close()
    deadline = time.monotonic() + 30
    while rows("audit") - audit_before < 2 * count:  # made + downloaded
        assert time.monotonic() < deadline, "the audit did not catch up"
        time.sleep(0.2)
    downloaded = size()
    print(
        f"  {name}: {count} downloads: database "
        f"+{(downloaded - with_links) / 1024:.0f} KiB "
        f"({(downloaded - with_links) / count:.0f} B a download: its audit "
        "record; audit_retention prunes them)"
    )


def _postgres_growth(b: Bench, count: int) -> None:
    with on_postgres(b, "sizing") as pg:
        if pg is None:
            return
        port, env, name = pg

        def query(sql: str) -> int:
            out = subprocess.run(
                [*PSQL, "-d", name, "-c", sql],
                check=True,
                capture_output=True,
                text=True,
            )
            return int(out.stdout.split()[-1])

        def size() -> int:
            # Tables, their indexes and TOAST, after a VACUUM.
            subprocess.run([*PSQL, "-d", name, "-c", "VACUUM"], check=True)
            return query(
                "SELECT sum(pg_total_relation_size(relid)) FROM pg_stat_user_tables"
            )

        _growth(
            "PostgreSQL",
            port,
            env,
            size,
            lambda table: query(f"SELECT count(*) FROM {table}"),
            count,
        )


def sizing(b: Bench, count: int = 1000, held: int = 1000) -> None:
    """The operator guide's sizing figures: database bytes per thousand links
    and per thousand downloads (SQLite; PostgreSQL when it listens), and
    worker memory per held download connection."""
    print(f"\nsizing ({count} links, {count} downloads, {held} held connections)")
    db = b.tmp / "instance" / "linksvc.sqlite3"
    _growth(
        "SQLite",
        b.ports["direct"],
        b.env,
        lambda: _sqlite_bytes(db),
        lambda table: _rows(db, table),
        count,
    )
    _postgres_growth(b, count)
    huge = b.link("huge.bin")
    before = _workers_rss(b.direct_pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _workers_rss(b.direct_pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = slowclients.hold(
            b.ports["direct"],
            huge,
            ["/healthz"],
            readers=held,
            loris=0,
            seconds=10,
            settle=5,
        )
    finally:
        done.set()
        sampler.join()
    print(
        f"  {result.readers_open} slow readers held by {b.args.workers} workers: "
        f"workers' RSS {before // 1024} MiB before, {peak[0] // 1024} MiB peak "
        f"({(peak[0] - before) / max(result.readers_open, 1):.0f} KiB a connection)"
    )


def s3(b: Bench, rounds: int, seconds: int) -> None:
    """Objects streamed through linksvc (storage = "s3") against the same
    objects fetched from the store directly (a presigned URL) and the same
    files from the disk (sendfile), and worker RSS while 4 clients download
    a 100 MiB object. The store is moto's server (Python): the ratio to it
    is linksvc's cost on top of the store, not S3's speed."""
    try:
        import boto3
    except ImportError:
        print("\ns3: boto3 is not installed, skipped")
        return
    port = free_port()
    moto = b._spawn(
        [PY, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], os.environ
    )
    b.procs.append(moto)
    wait_for(port, moto)
    endpoint = f"http://127.0.0.1:{port}"
    creds = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        **{
            "aws_access_key_id": creds["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": creds["AWS_SECRET_ACCESS_KEY"],
            "region_name": "us-east-1",
        },
    )
    client.create_bucket(Bucket="bench")
    for name in ("small.bin", "mid.bin", "big.bin"):
        client.upload_file(str(b.protected / name), "bench", name)
    b.ports["s3"] = free_port()
    env = {
        **b.settings(
            "s3",
            storage="s3",
            s3_bucket="bench",
            s3_endpoint_url=endpoint,
            s3_region="us-east-1",
            s3_addressing_style="path",
        ),
        **creds,
    }
    proc = b._spawn(
        [
            *LINKSVC,
            "serve",
            "--port",
            str(b.ports["s3"]),
            "--workers",
            str(b.args.workers),
        ],
        env,
    )
    b.procs.append(proc)
    wait_for(b.ports["s3"], proc)
    saved, b.env = b.env, env
    links = {name: b.link(name) for name in ("small.bin", "mid.bin", "big.bin")}
    b.env = saved
    local = {name: b.link(name) for name in ("small.bin", "mid.bin", "big.bin")}
    for label, name, conns in (
        ("1 KiB", "small.bin", 16),
        ("1 MiB", "mid.bin", 16),
        ("100 MiB", "big.bin", 4),
    ):
        presigned = client.generate_presigned_url(
            "get_object", Params={"Bucket": "bench", "Key": name}, ExpiresIn=3600
        )
        targets = {
            "store direct": presigned,
            "linksvc s3 stream": url(b.ports["s3"], links[name]),
            "linksvc local": url(b.ports["direct"], local[name]),
        }
        for target in targets.values():
            loadgen.run(target, 1, conns)
        n = 1 if name == "big.bin" else rounds
        results: dict[str, list[loadgen.Result]] = {k: [] for k in targets}
        for _ in range(n):
            for key, target in targets.items():
                results[key].append(loadgen.run(target, seconds, conns))
        best = {k: max(v, key=lambda r: r.rps) for k, v in results.items()}
        print(
            f"\ns3 {label} ({n} round{'s' if n > 1 else ''} of {seconds} s, "
            f"{conns} connections)"
        )
        for key, r in best.items():
            print(
                f"  {key:18} {r.rps:9.0f} req/s {r.mbps:9.1f} MB/s  "
                f"p50 {r.p50:7.2f} ms  errors {r.errors}"
            )
        print(
            "  ratio s3 stream / store direct: "
            f"{best['linksvc s3 stream'].rps / best['store direct'].rps:.2f}"
            "   s3 stream / local sendfile: "
            f"{best['linksvc s3 stream'].rps / best['linksvc local'].rps:.2f}"
        )
    before = worker_rss(proc.pid)
    peak, got = _peak_rss(b.ports["s3"], links["big.bin"], proc.pid, 4, 8)
    print(
        f"  memory: 4 clients downloading a 100 MiB object ({sum(got) >> 20} MiB "
        f"received): worker RSS {before // 1024} MiB before, {peak // 1024} MiB "
        f"peak (+{(peak - before) / 1024:.1f} MiB; target < 20)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--quick", action="store_true", help="1 round, fewer slow clients"
    )
    parser.add_argument(
        "--sections",
        default="throughput,postgres,s3,memory,zip,upload,refused,burst,slow,sizing",
        help="comma-separated",
    )
    args = parser.parse_args()
    if shutil.which("nginx") is None:
        sys.exit("nginx is needed: apt-get install -y nginx-light")
    slowclients.raise_open_files()
    b = Bench(args)
    print(
        f"date: {time.strftime('%Y-%m-%d %H:%M')}  cpus: {os.cpu_count()}  "
        f"workers: {args.workers} (gevent)  load: {loadgen.NAME}"
    )
    try:
        b.start()
        sections = args.sections.split(",")
        if "throughput" in sections:
            throughput(b, 1 if args.quick else args.rounds, args.seconds)
        if "postgres" in sections:
            postgres(b, 1 if args.quick else args.rounds, args.seconds)
        if "s3" in sections:
            s3(b, 1 if args.quick else args.rounds, args.seconds)
        if "zip" in sections:
            zip_memory(b)
        if "upload" in sections:
            upload_memory(b)
        if "refused" in sections:
            refused_zip(b)
        if "memory" in sections:
            memory(b)
        if "burst" in sections:
            burst(b, *((200, 400) if args.quick else (1000, 2000)))
        if "slow" in sections:
            slow(b, *((200, 400) if args.quick else (1000, 2000)))
        if "sizing" in sections:
            sizing(b)
    finally:
        b.stop()


if __name__ == "__main__":
    main()
