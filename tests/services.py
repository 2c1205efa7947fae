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
