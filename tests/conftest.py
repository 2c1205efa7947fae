from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from linksvc.app import create_app
from linksvc.db.schema import audit
from linksvc.db.schema import links
from linksvc.db.store import Store
from linksvc.links import sharing
from linksvc.services import of as services_of

KEYS = ["test-key-newest-0123456789abcdef", "test-key-older-0123456789abcdef"]
#: A marker that must never appear in any response: it lives outside the tree.
SECRET = b"TOP-SECRET-OUTSIDE-THE-TREE-7f3a"
#: Inside the tree but outside alice's grant (reports/q3).
GRANT_SECRET = b"GRANT-SECRET-IN-Q3-OLD-51c9"
PASSWORDS = {
    "admin": "admin-password-1",
    "alice": "alice-password-1",
    "bob": "bob-pass-1",
}
BIG_SIZE = 3 * 1024 * 1024 + 123


def make_tree(root: Path) -> Path:
    """A protected folder with the cases tests need, and a secret outside it."""
    protected = root / "protected"
    (protected / "reports" / "q3").mkdir(parents=True)
    (protected / "reports" / "q3-old").mkdir()
    (protected / "web").mkdir()
    (protected / "readme.txt").write_text("hello from the protected tree\n")
    (protected / "reports" / "q3" / "summary.csv").write_text("quarter,revenue\nQ3,1\n")
    (protected / "reports" / "q3-old" / "draft.txt").write_bytes(GRANT_SECRET)
    (protected / "meeting notes.txt").write_text("notes\n")
    (protected / "résumé Zoë.txt").write_text("accents\n")
    (protected / "web" / "page.html").write_text("<script>alert(1)</script>")
    (protected / "web" / "image.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    )
    (protected / ".hidden").write_text("hidden\n")
    (protected / "big.bin").write_bytes(os.urandom(BIG_SIZE))
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (protected / "escape.txt").symlink_to(outside / "secret.txt")
    (protected / "escape-dir").symlink_to(outside)
    (protected / "inside-link.txt").symlink_to(protected / "readme.txt")
    os.link(outside / "secret.txt", protected / "hardlink.txt")
    return protected


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path)


@pytest.fixture
def settings(tmp_path: Path, tree: Path) -> dict:
    return {
        "protected_dir": str(tree),
        "instance_dir": str(tmp_path / "instance"),
        "public_base_url": "https://links.example.org",
        "secret_keys": list(KEYS),
        # Suites send many refused requests; test_abuse.py tests the limit.
        "refusal_limit": "100000 per minute",
    }


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    """A migrated database with the test users, made once and copied per test
    (password hashing and migrations are slow by design)."""
    path = tmp_path_factory.mktemp("template") / "linksvc.sqlite3"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    store.users.add("admin", PASSWORDS["admin"], is_admin=True)
    store.users.add("alice", PASSWORDS["alice"], grant_prefixes=["reports/q3"])
    store.users.add("bob", PASSWORDS["bob"])
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.dispose()
    return path


@pytest.fixture
def make_app(settings: dict, template_db: Path):
    """``make_app(**overrides)``: an app on this test's copy of the template
    database, with settings overridden; closed at teardown. Its test clients
    are BufferedClients."""
    made = []

    def make(**overrides):
        conf = {**settings, **overrides}
        instance = Path(conf["instance_dir"])
        instance.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not (instance / "linksvc.sqlite3").exists():
            shutil.copy(template_db, instance / "linksvc.sqlite3")
        app = create_app(conf)
        app.config["TESTING"] = True
        app.test_client_class = BufferedClient
        made.append(app)
        return app

    yield make
    for app in made:
        services_of(app).close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def svc(app):
    return services_of(app)


class BufferedClient(FlaskClient):
    """Reads each body at once so streamed files are closed within the call."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        # public_base_url is https, so cookies are Secure: talk https too.
        kwargs.setdefault("base_url", "https://localhost")
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_token(client, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


class Auth:
    def __init__(self, client) -> None:
        self.client = client

    def login(self, username: str = "alice", password: str | None = None, next=None):
        token = csrf_token(self.client, "/login")
        url = "/login" if next is None else f"/login?next={next}"
        return self.client.post(
            url,
            data={
                "username": username,
                "password": PASSWORDS.get(username, "")
                if password is None
                else password,
                "csrf_token": token,
            },
        )

    def login_as(self, username: str = "alice", next=None):
        """A logged-in session without the login form's password hash (the
        login itself is tested in tests/app/test_auth.py): the session holds
        what start_session puts there."""
        app = self.client.application
        with app.app_context():
            store = services_of(app).store
            user = store.users.by_name(username)
            sid = store.sessions.start(user.id, "password", "127.0.0.1", "", 86400)
        with self.client.session_transaction() as sess:
            sess.clear()
            sess["sid"] = sid
            sess["login_at"] = sess["seen_at"] = int(time.time())
            sess["_user_id"] = f"{user.id}:{user.session_token}"
            sess["_fresh"] = True

    def logout(self):
        token = csrf_token(self.client, "/")
        return self.client.post("/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client) -> Auth:
    return Auth(client)


def link_row(svc, link_id=None):
    """The link's row (the only link's, without an id), after queued counts."""
    svc.audit.flush()  # counts of unlimited links are written in batches
    with svc.store.engine.connect() as conn:
        query = select(links)
        if link_id:
            query = query.where(links.c.id == link_id)
        return conn.execute(query).first()


def audit_rows(svc):
    """Every audit row, oldest first, after the queue is written."""
    svc.audit.flush()
    with svc.store.engine.connect() as conn:
        return conn.execute(select(audit).order_by(audit.c.id)).fetchall()


@pytest.fixture
def make_link(app, svc):
    """Create a link as ``user`` and return its token."""

    def make(path: str = "readme.txt", user: str = "admin", expires="1h", **kw) -> str:
        with app.app_context():
            owner = svc.store.users.by_name(user)
            _, token = sharing.create_link(
                svc, owner, path, sharing.options(expires=expires, **kw)
            )
        return token

    return make


@pytest.fixture
def frozen():
    with freeze_time("2026-03-01 12:00:00") as frozen:
        yield frozen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LINKSVC = [sys.executable, "-m", "linksvc"]


class Live:
    """A running ``linksvc serve``: its URL, port, log and command line."""

    def __init__(self, port: int, env: dict, proc, log_path: Path) -> None:
        self.port, self.env, self.proc, self.log_path = port, env, proc, log_path
        self.url = f"http://127.0.0.1:{port}"

    def cli(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*LINKSVC, *args], env=self.env, capture_output=True, text=True, **kw
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


#: One initialised instance (keys, migrated SQLite, the admin) per test
#: process, copied for each live server: `init` and `user add` are two
#: interpreter starts and a password hash each, ~1.5 s a server.
_TEMPLATE: dict[str, Path] = {}


def _init(env: dict) -> None:
    """``linksvc init`` and the admin, as a newcomer's first commands."""
    subprocess.run([*LINKSVC, "init"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*LINKSVC, "user", "add", "admin", "--admin", "--password-stdin"],
        env=env,
        input=PASSWORDS["admin"] + "\n",
        text=True,
        check=True,
        capture_output=True,
    )


def _initialised(instance: Path, tree: Path) -> None:
    if "instance" not in _TEMPLATE:
        import atexit
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="linksvc-template-"))
        atexit.register(shutil.rmtree, root, True)
        settings_file = root / "settings.toml"
        settings_file.write_text(
            f"protected_dir = {_toml(tree)}\ninstance_dir = {_toml(root / 'i')}\n"
        )
        env = {**os.environ, "LINKSVC_SETTINGS": str(settings_file)}
        env.pop("LINKSVC_SECRET_KEYS", None)
        _init(env)
        _TEMPLATE["instance"] = root / "i"
    shutil.copytree(_TEMPLATE["instance"], instance)


def launch(
    tmp: Path,
    tree: Path,
    name: str = "live",
    workers: int = 2,
    init: bool = True,
    **extra,
) -> Live:
    """A real ``linksvc serve`` (gunicorn) on a free 127.0.0.1 port, with its
    instance and log under ``tmp``; the caller stops it."""
    port = free_port()
    conf = {
        "protected_dir": str(tree),
        "instance_dir": str(tmp / f"{name}-instance"),
        "public_base_url": f"http://127.0.0.1:{port}",
        **extra,
    }
    settings_file = tmp / f"{name}.toml"
    settings_file.write_text(
        "".join(f"{key} = {_toml(value)}\n" for key, value in conf.items())
    )
    env = {**os.environ, "LINKSVC_SETTINGS": str(settings_file)}
    env.pop("LINKSVC_SECRET_KEYS", None)
    if init and "database_url" not in extra:
        _initialised(Path(conf["instance_dir"]), tree)
    elif init:
        _init(env)
    log_path = tmp / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*LINKSVC, "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    live = Live(port, env, proc, log_path)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return live
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                live.stop()
                raise RuntimeError(live.log()) from None
            time.sleep(0.05)


@pytest.fixture
def start_live(tmp_path: Path, tree: Path):
    """``start_live(name, workers=2, init=True, **settings)``: a real
    ``linksvc serve`` (gunicorn) on a free 127.0.0.1 port, stopped at
    teardown. Settings default to this test's tree and its own instance."""
    started: list[Live] = []

    def start(name: str = "live", workers: int = 2, init: bool = True, **extra):
        live = launch(tmp_path, tree, name, workers, init, **extra)
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def live_server(start_live) -> Live:
    """A real ``linksvc serve`` (gunicorn, 2 workers) on a free 127.0.0.1 port."""
    return start_live()


# LINKSVC_TIMES=1: the slowest tests by a clock no frozen time moves
# (pytest's --durations reads a clock freezegun patches).
_times: dict[str, float] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    started = time.clock_gettime(time.CLOCK_MONOTONIC)
    yield
    _times[item.nodeid] = time.clock_gettime(time.CLOCK_MONOTONIC) - started


def pytest_terminal_summary(terminalreporter):
    if os.environ.get("LINKSVC_TIMES") == "1":
        by_file: dict[str, float] = {}
        for nodeid, took in _times.items():
            name = nodeid.split("::")[0]
            by_file[name] = by_file.get(name, 0) + took
        for name, took in sorted(by_file.items(), key=lambda kv: -kv[1])[:40]:
            terminalreporter.write_line(f"{took:7.2f}s {name}")
        for nodeid, took in sorted(_times.items(), key=lambda kv: -kv[1])[:25]:
            terminalreporter.write_line(f"{took:7.2f}s {nodeid}")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """A real S3 API over HTTP (moto's server), one per test process."""
    from .services import s3_server

    with s3_server(tmp_path_factory.mktemp("s3")) as url:
        yield url


@functools.lru_cache(maxsize=8)
def s3_client(endpoint: str):
    """One client per endpoint and test process (making one costs ~0.2 s)."""
    import boto3

    from .services import S3_ENV

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
    )


#: Keys a bucket may hold that the tree's rules refuse: never listed, never
#: opened (a folder marker, hidden names, a bidi control).
REFUSED_KEYS = ["reports/", ".hidden", "web/.env", "invoice\u202egpj.exe"]


def fill_bucket(endpoint: str, tree: Path) -> str:
    """A new bucket holding the tree's regular files (the symlinks and hard
    links of make_tree have no S3 counterpart) and REFUSED_KEYS."""
    import secrets

    client = s3_client(endpoint)
    bucket = f"linksvc-{secrets.token_hex(6)}"
    client.create_bucket(Bucket=bucket)
    for path in sorted(tree.rglob("*")):
        rel = path.relative_to(tree).as_posix()
        if path.is_symlink() or not path.is_file() or path.stat().st_nlink > 1:
            continue
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        client.put_object(Bucket=bucket, Key=rel, Body=path.read_bytes())
    for key in REFUSED_KEYS:
        client.put_object(Bucket=bucket, Key=key, Body=b"REFUSED-KEY")
    return bucket
