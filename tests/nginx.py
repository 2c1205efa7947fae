"""A real nginx on 127.0.0.1 with deploy/nginx.conf, for the offload tests.

Only the machine-specific lines of the example are rewritten: where nginx
listens, which linksvc instances it balances, where protected_dir is, where
its pid and logs go (a test runs as root, with files under /tmp), and the
per-address request rate (every test client is 127.0.0.1).
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from .conftest import free_port
from .services import require_binary

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"


class Nginx:
    def __init__(self, port: int, conf: Path, prefix: Path) -> None:
        self.port, self.conf, self.prefix = port, conf, prefix
        self.url = f"http://127.0.0.1:{port}"

    def access_log(self) -> str:
        return (self.prefix / "access.log").read_text()

    def stop(self) -> None:
        subprocess.run(
            ["nginx", "-p", str(self.prefix), "-c", str(self.conf), "-s", "stop"],
            capture_output=True,
        )


def start_nginx(
    tmp: Path, upstreams: list[int], protected: Path, fail_timeout: int = 10
) -> Nginx:
    require_binary("nginx", "Debian package nginx-light")
    port = free_port()
    prefix = tmp / "nginx"
    prefix.mkdir()
    text = DEPLOY.read_text()
    servers = "".join(
        f"server 127.0.0.1:{p} max_fails=3 fail_timeout={fail_timeout}s;\n        "
        for p in upstreams
    )
    for old, new in [
        ("user www-data;", "user root;"),
        ("pid /run/nginx-linksvc.pid;", f"pid {prefix}/nginx.pid;"),
        ("/var/log/nginx/linksvc.error.log", f"{prefix}/error.log"),
        ("/var/log/nginx/linksvc.access.log", f"{prefix}/access.log"),
        ("listen 8080;", f"listen 127.0.0.1:{port};"),
        ("server 127.0.0.1:8000 max_fails=3 fail_timeout=10s;\n        ", servers),
        ("alias /srv/linksvc/protected/;", f"alias {protected}/;"),
        # Every test client comes from 127.0.0.1: lift the per-address limit.
        ("rate=20r/s", "rate=100000r/s"),
        ("burst=40", "burst=100000"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / name).mkdir()
    text = text.replace(
        "\nhttp {",
        "\nhttp {\n    "
        + "\n    ".join(
            f"{name}_temp_path {prefix / name};"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
        1,
    )
    conf.write_text(text)
    result = subprocess.run(
        ["nginx", "-p", str(prefix), "-c", str(conf)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, (prefix / "error.log").read_text()
            time.sleep(0.05)
    return Nginx(port, conf, prefix)
