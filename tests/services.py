"""Outside services some tests use: PostgreSQL and Redis on 127.0.0.1.

A developer's machine may have neither: those tests then skip and say why.
CI sets LINKSVC_REQUIRE_SERVICES=1 (in .ci/run), and a missing service fails
the run instead, so CI always runs them.
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager

import pytest

POSTGRES_URL = os.environ.get(
    "LINKSVC_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
#: Each pytest-xdist worker counts in a Redis database of its own, so two
#: files' login or password limits never share a key.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
REDIS_URL = os.environ.get("LINKSVC_TEST_REDIS") or (
    f"redis://127.0.0.1:6379/{1 + int(_WORKER or 0) % 15}"
)


#: CI: a test whose service or tool is missing fails instead of skipping.
REQUIRED = os.environ.get("LINKSVC_REQUIRE_SERVICES") == "1"


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    """Skip (or, in CI, fail) when the service is not listening."""
    if reachable(host, port):
        return
    message = f"{name} is not listening on {host}:{port}"
    if os.environ.get("LINKSVC_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (LINKSVC_REQUIRE_SERVICES=1)")
    pytest.skip(message + "; .ci/run provides it")


def require_binary(name: str, package: str) -> None:
    """Skip (or, in CI, fail) when a program the test runs is not installed."""
    import shutil

    if shutil.which(name):
        return
    message = f"{name} is not installed ({package})"
    if os.environ.get("LINKSVC_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (LINKSVC_REQUIRE_SERVICES=1)")
    pytest.skip(message + "; .ci/run installs it")


@contextmanager
def postgres_database():
    """A fresh, empty PostgreSQL database; its SQLAlchemy URL. Dropped after."""
    import secrets

    import sqlalchemy as sa

    require("PostgreSQL", "127.0.0.1", 5432)
    name = f"linksvc_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield (
            sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(False)
        )
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def stop_process(proc, log=None) -> None:
    """Terminate a server the tests started (kill it after 10 s), and close
    its log."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    if log is not None:
        log.close()


#: Credentials for the S3 test server (moto accepts any; boto3 wants some).
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "linksvc-test",
    "AWS_SECRET_ACCESS_KEY": "linksvc-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def s3_server(tmp_path):
    """moto's standalone S3 server (``moto[server]``) on a free 127.0.0.1
    port, over real HTTP: its endpoint URL. moto keeps objects in memory
    and implements what these tests use (HEAD, ranged and conditional GET,
    ListObjectsV2, multipart upload, presigned URLs); it does not check
    IAM policies unless told to, nor enforce S3's rate limits."""
    import subprocess
    import sys
    import time

    try:
        import moto.server  # noqa: F401
    except ImportError:
        message = "moto[server] is not installed (pip install -e '.[test]')"
        if os.environ.get("LINKSVC_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(tmp_path / "moto.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not reachable("127.0.0.1", port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto's S3 server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc, log)
