"""Upgrades without a failed download (docs/operating/upgrading.md).

The previous release is the code just before the newest migration was
added, exported from git: it must keep working on the new schema, since
during a rolling upgrade it serves on the migrated database until its
instance restarts. Two such instances behind nginx on one PostgreSQL
database are upgraded one at a time while a client downloads without pause.
"""

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ..conftest import _toml
from ..conftest import free_port
from ..conftest import PASSWORDS
from ..nginx import start_nginx
from ..services import postgres_database
from ..services import REDIS_URL
from ..services import require
from ..services import REQUIRED
from .test_live import get

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "linksvc" / "db" / "migrations" / "versions"
#: nginx's fail_timeout for the upstreams (deploy/nginx.conf has 10 s).
FAIL_TIMEOUT = 2


def previous_release(tmp: Path) -> Path:
    """The package as it was before the newest migration (git archive)."""
    if not (ROOT / ".git").exists():
        if REQUIRED:
            pytest.fail("the upgrade test needs the git history")
        pytest.skip("not a git checkout: no previous release to run")
    newest = sorted(MIGRATIONS.glob("0*.py"))[-1].relative_to(ROOT)
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "-1", "--", str(newest)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Not committed yet: the committed code is the previous release.
    commit = f"{added}^" if added else "HEAD"
    out = tmp / "previous"
    out.mkdir()
    archive = subprocess.run(
        ["git", "archive", commit, "linksvc"], cwd=ROOT, capture_output=True
    )
    if archive.returncode != 0:
        if REQUIRED:
            pytest.fail(f"git archive {commit}: {archive.stderr.decode()}")
        pytest.skip(f"a shallow clone: {commit} is not here")
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out


class CommandFailed(Exception):
    """A ``linksvc`` command exited non-zero (its standard error)."""


class Instance:
    """``linksvc serve`` of the code in ``code`` (None: this checkout)."""

    def __init__(self, tmp: Path, name: str, settings: dict, code: Path | None):
        self.name, self.port = name, free_port()
        settings = {"public_base_url": f"http://127.0.0.1:{self.port}", **settings}
        self.settings_file = tmp / f"{name}.toml"
        self.settings_file.write_text(
            "".join(f"{k} = {_toml(v)}\n" for k, v in settings.items())
        )
        self.log_path = tmp / f"{name}.log"
        self.tmp = tmp
        self.proc: subprocess.Popen | None = None
        self.use(code)

    def use(self, code: Path | None) -> None:
        self.env = {**os.environ, "LINKSVC_SETTINGS": str(self.settings_file)}
        self.env.pop("LINKSVC_SECRET_KEYS", None)
        self.env.pop("PYTHONPATH", None)
        if code is not None:
            self.env["PYTHONPATH"] = str(code)

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "linksvc", *args],
            env=self.env,
            cwd=self.tmp,  # never this checkout's folder: its linksvc/ would win
            input=stdin,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise CommandFailed(done.stderr.strip() or f"exit {done.returncode}")
        return done.stdout

    def start(self) -> None:
        with open(self.log_path, "ab") as log:  # the child keeps its copy
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "linksvc", "serve", "--port", str(self.port)],
                env=self.env,
                cwd=self.tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                if get(self, "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            assert self.proc.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, self.log_path.read_text()
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def old_code_problems(old: Path, tmp: Path, tree: Path, database: Path) -> list[str]:
    """What the previous release cannot do on ``database``: make a link,
    serve it (HTTP), count it, revoke it."""
    settings = {
        "protected_dir": str(tree),
        "instance_dir": str(tmp / "old-instance"),
        "database_url": f"sqlite:///{database}",
        "access_log": False,
    }
    old_instance = Instance(tmp, "old", settings, old)
    problems = []
    try:
        made = old_instance.cli("link", "create", "readme.txt", "--user", "admin")
        path = urlsplit(made.splitlines()[-1]).path
        old_instance.start()
        status, _, body = get(old_instance, path)
        if status != 200 or body != (tree / "readme.txt").read_bytes():
            problems.append(f"download: {status}")
        link_id = old_instance.cli("link", "list").splitlines()[-1].split("\t")[0]
        old_instance.cli("link", "revoke", link_id)
        if get(old_instance, path)[0] != 410:
            problems.append("revoked link still works")
    except (CommandFailed, AssertionError) as exc:
        problems.append(str(exc)[-600:] or type(exc).__name__)
    finally:
        old_instance.stop()
    return problems


def migrated_instance(tmp: Path, tree: Path) -> Path:
    """A SQLite database at this checkout's newest schema, with the admin."""
    new = Instance(
        tmp,
        "new",
        {"protected_dir": str(tree), "instance_dir": str(tmp / "old-instance")},
        None,
    )
    new.cli("init")
    new.cli(
        "user", "add", "admin", "--admin", "--password-stdin", stdin="pw-12345678\n"
    )
    return tmp / "old-instance" / "linksvc.sqlite3"


def test_the_previous_release_works_on_the_new_schema(tmp_path, tree):
    old = previous_release(tmp_path)
    database = migrated_instance(tmp_path, tree)
    assert old_code_problems(old, tmp_path, tree, database) == []


def test_a_migration_the_previous_release_cannot_bear_is_caught(tmp_path, tree):
    """The check above fails for a migration that renames what old code
    reads: here a column of links, renamed after the newest migration."""
    old = previous_release(tmp_path)
    database = migrated_instance(tmp_path, tree)
    with sqlite3.connect(database) as conn:
        conn.execute("ALTER TABLE links RENAME COLUMN max_downloads TO download_limit")
    problems = old_code_problems(old, tmp_path, tree, database)
    assert problems and "max_downloads" in " ".join(problems), problems


def test_a_rolling_upgrade_behind_nginx_fails_no_download(tmp_path, tree):
    """Two instances of the previous release on one PostgreSQL database
    behind nginx; then the documented procedure: ``linksvc migrate`` (new
    code) while they serve, then each instance restarted on the new code,
    one at a time. A client downloads all along: no request fails and each
    link's count is exactly the downloads it got."""
    require("Redis", "127.0.0.1", 6379)
    old = previous_release(tmp_path)
    data = os.urandom(64 * 1024)
    (tree / "rolling.bin").write_bytes(data)
    with postgres_database() as url:
        shared = {
            "protected_dir": str(tree),
            "instance_dir": str(tmp_path / "shared-instance"),
            "database_url": url,
            "ratelimit_storage_url": REDIS_URL,
            "access_log": False,
        }
        a = Instance(tmp_path, "a", shared, old)
        b = Instance(tmp_path, "b", shared, old)
        a.cli("init")
        a.cli(
            "user",
            "add",
            "admin",
            "--admin",
            "--password-stdin",
            stdin=PASSWORDS["admin"] + "\n",
        )
        unlimited = urlsplit(
            a.cli("link", "create", "rolling.bin", "--user", "admin").splitlines()[-1]
        ).path
        limited = urlsplit(
            a.cli(
                "link",
                "create",
                "rolling.bin",
                "--user",
                "admin",
                "--max-downloads",
                "100000",
            ).splitlines()[-1]
        ).path
        a.start()
        b.start()
        nginx = start_nginx(tmp_path, [a.port, b.port], tree, FAIL_TIMEOUT)
        got = {unlimited: 0, limited: 0}
        failures: list[str] = []
        stop = threading.Event()

        def load() -> None:
            n = 0
            while not stop.is_set():
                path = (unlimited, limited)[n % 2]
                n += 1
                try:
                    status, _, body = get(nginx, path)
                except OSError as exc:
                    failures.append(repr(exc))
                    continue
                if status == 200 and body == data:
                    got[path] += 1
                else:
                    failures.append(f"{status} {body[:80]!r}")

        client = threading.Thread(target=load)
        client.start()
        try:
            time.sleep(1)
            new = Instance(tmp_path, "migrate", shared, None)
            said = new.cli("migrate")
            assert "migrated from" in said or "is at revision" in said
            time.sleep(1)  # the old code serving on the new schema
            for instance in (a, b):
                instance.stop()  # graceful: requests in flight finish
                instance.use(None)  # the new release
                instance.start()
                # nginx sends to it again once fail_timeout has passed since
                # it was refused: only then may the other one stop.
                time.sleep(FAIL_TIMEOUT + 1)
        finally:
            stop.set()
            client.join(timeout=30)
            nginx.stop()
        for instance in (a, b):
            instance.stop()
        assert failures == [], failures[:5]
        assert got[unlimited] > 20 and got[limited] > 20, got
        rows = {
            line.split("\t")[0]: line.split("\t")
            for line in Instance(tmp_path, "check", shared, None)
            .cli("link", "list")
            .splitlines()
        }
        counts = sorted(
            int(r[-1].split("/")[0]) for r in rows.values() if r[1] == "rolling.bin"
        )
        assert counts == sorted(got.values()), (counts, got)
