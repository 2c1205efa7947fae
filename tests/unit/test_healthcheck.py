"""The image's health check command against a real HTTP server."""

from __future__ import annotations

import ast
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from linksvc import healthcheck

from ..conftest import free_port


@pytest.fixture
def server():
    """A server whose /readyz answers what the test sets."""
    answer = {"status": 200, "body": b'{"ok": true}'}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(answer["status"])
            self.send_header("Content-Length", str(len(answer["body"])))
            self.end_headers()
            self.wfile.write(answer["body"])

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/readyz", answer
    httpd.shutdown()
    httpd.server_close()


def _run(url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "linksvc.healthcheck"],
        env={"LINKSVC_HEALTHCHECK_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_ready_is_healthy_and_anything_else_is_not(server):
    url, answer = server
    assert healthcheck.check(url) == (True, '{"ok": true}')
    assert _run(url).returncode == 0
    answer.update(status=503, body=b'{"database": "locked"}')
    ok, said = healthcheck.check(url)
    assert not ok and said == '503: {"database": "locked"}'
    unready = _run(url)
    assert unready.returncode == 1 and '"database": "locked"' in unready.stderr
    # Nothing listening: unhealthy, and it says why.
    gone = _run(f"http://127.0.0.1:{free_port()}/readyz")
    assert gone.returncode == 1 and "refused" in gone.stderr.lower()


def test_it_imports_only_the_standard_library():
    """So a check every few seconds costs a Python start, not the app."""
    tree = ast.parse(Path(healthcheck.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    assert imported
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
