"""Two ``linksvc serve`` instances on one PostgreSQL database and one key file,
behind one nginx: they act as one service."""

import concurrent.futures
import json
import secrets
import threading
import time

import pytest

from ..conftest import launch
from ..conftest import make_tree
from ..conftest import PASSWORDS
from ..nginx import start_nginx
from ..services import postgres_database
from ..services import REDIS_URL
from ..services import require
from .test_live import get
from .test_live import post_login

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shared_pair(tmp_path_factory):
    """Two instances and nginx, started once for this module's tests (each
    test makes links and users of its own): (a, b, nginx, tree)."""
    require("Redis", "127.0.0.1", 6379)
    tmp = tmp_path_factory.mktemp("pair")
    tree = make_tree(tmp)
    with postgres_database() as url:
        shared = {
            "instance_dir": str(tmp / "shared-instance"),
            "database_url": url,
            "ratelimit_storage_url": REDIS_URL,
            "login_limit": "3 per minute",
            "access_log": False,
        }
        a = launch(tmp, tree, "a", **shared)
        b = launch(tmp, tree, "b", init=False, **shared)
        nginx = start_nginx(tmp, [a.port, b.port], tree)
        try:
            yield a, b, nginx, tree
        finally:
            nginx.stop()
            a.stop()
            b.stop()


@pytest.fixture
def pair(shared_pair):
    import redis

    # Each test counts from zero: the limits one test used up (200 refusals
    # from 127.0.0.1) must not refuse the next test's requests.
    redis.Redis.from_url(REDIS_URL).flushdb()
    return shared_pair[:3]


def create(live, path="readme.txt", *extra) -> str:
    result = live.cli("link", "create", path, "--user", "admin", *extra)
    assert result.returncode == 0, result.stderr
    return "/d/" + result.stdout.splitlines()[-1].rsplit("/d/", 1)[1]


def link_id(live, path: str) -> str:
    """The id of the link behind ``path``, as the signed token names it."""
    import base64
    import json

    payload = path.removeprefix("/d/").split(".")[1]
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return json.loads(data)["i"]


def test_a_link_made_on_one_downloads_on_the_other_and_revocation_is_shared(pair):
    a, b, nginx = pair
    path = create(a)
    for server in (a, b, nginx):
        status, _, body = get(server, path)
        assert status == 200 and body == b"hello from the protected tree\n"
    revoked = b.cli("link", "revoke", link_id(b, path))
    assert revoked.returncode == 0, revoked.stderr
    for server in (a, b, nginx):
        assert get(server, path)[0] == 410


def test_a_one_time_link_hammered_through_both_is_served_once(pair):
    a, b, nginx = pair
    path = create(a, "big.bin", "--max-downloads", "1")
    servers = [a, b, nginx] * 10
    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(lambda s: get(s, path)[0], servers))
    assert sorted(statuses) == [200] + [410] * 29


def test_200_at_once_on_a_100_download_link_through_both_get_exactly_100(pair):
    """Counts of one worker that wait together are granted in one statement
    (db/coalesce.py): across two instances and their workers, 200 requests
    at once still give exactly 100 downloads, and the row and the audit say
    100."""
    a, b, _ = pair
    path = create(a, "readme.txt", "--max-downloads", "100")
    start = threading.Barrier(200)

    def one(server):
        start.wait(30)
        return get(server, path)

    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        answers = list(pool.map(one, [a, b] * 100))
    statuses = [status for status, _, _ in answers]
    assert statuses.count(200) == 100, sorted(statuses)
    # The rest are told it is used up, or (all 200 share one address) that
    # this address has been refused too often: refusal_limit.
    assert set(statuses) - {200} <= {410, 429}, set(statuses)
    assert all(
        body == b"hello from the protected tree\n"
        for status, _, body in answers
        if status == 200
    )
    listed = b.cli("link", "list")
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in listed.stdout.splitlines() if r.startswith(link_id(b, path)))
    assert row.split("\t")[-1] == "100/100"
    # Each instance's audit writer adds its records within a second or so.
    deadline = time.monotonic() + 15
    while True:
        exported = a.cli("audit", "export", "--format", "jsonl")
        assert exported.returncode == 0, exported.stderr
        records = [json.loads(line) for line in exported.stdout.splitlines() if line]
        mine = [r for r in records if r["link_id"] == link_id(a, path)]
        ok = sum(
            r.get("count") or 1
            for r in mine
            if r["event"] == "download" and r["outcome"] == "ok"
        )
        if ok == 100 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert ok == 100


def test_a_key_rotated_on_one_is_seen_by_the_other(pair):
    a, b, _ = pair
    old = create(a)
    old_kid = a.cli("keys", "list").stdout.split("\t")[0]
    assert a.cli("keys", "rotate").returncode == 0
    time.sleep(1.2)  # each process re-reads the key file at most once a second
    new = create(a)
    assert new.split(".")[0] != old.split(".")[0]
    assert get(b, new)[0] == 200 and get(b, old)[0] == 200
    assert b.cli("keys", "retire", old_kid).returncode == 0
    time.sleep(1.2)
    assert get(a, old)[0] == 404 and get(b, old)[0] == 404
    assert get(a, new)[0] == 200


def _login(server, username: str, password: str) -> int:
    return post_login(server, username, password)[0]


def test_login_throttling_counts_across_both_with_redis(pair):
    a, b, _ = pair
    add = a.cli(
        "user",
        "add",
        name := f"u{secrets.token_hex(4)}",
        "--password-stdin",
        input=PASSWORDS["alice"] + "\n",
    )
    assert add.returncode == 0, add.stderr
    assert _login(a, name, "wrong") == 200
    assert _login(b, name, "wrong") == 200
    assert _login(a, name, "wrong") == 200
    # The fourth failure from this address, on either instance, is over.
    assert _login(b, name, PASSWORDS["alice"]) == 429
    assert _login(a, name, PASSWORDS["alice"]) == 429


def test_healthz_answers_on_both_and_through_nginx(pair):
    for server in pair:
        status, _, body = get(server, "/healthz")
        assert status == 200 and b'"ok"' in body


def test_an_upload_begun_on_one_instance_resumes_on_the_other(pair, shared_pair):
    """PostgreSQL holds each upload's offset and lease; the shared instance
    folder holds its bytes: either instance continues it."""
    import hashlib
    import os
    from urllib.parse import urlsplit

    import requests

    a, b, _ = pair
    made = a.cli("link", "create", "--upload", "reports", "--user", "admin")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1].rsplit("/u/", 1)[1]
    data = os.urandom(3 * 1024 * 1024)
    tus = {"Tus-Resumable": "1.0.0"}
    created = requests.post(
        f"{a.url}/u/{token}/files",
        headers={
            **tus,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": "filename c2hhcmVkLmJpbg==",
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    path = urlsplit(created.headers["Location"]).path
    patch = {**tus, "Content-Type": "application/offset+octet-stream"}
    half = len(data) // 2
    first = requests.patch(
        a.url + path,
        data=data[:half],
        headers={**patch, "Upload-Offset": "0"},
        timeout=10,
    )
    assert first.status_code == 204
    # The other instance knows where it stopped, and takes the rest.
    head = requests.head(b.url + path, headers=tus, timeout=10)
    assert head.headers["Upload-Offset"] == str(half)
    rest = requests.patch(
        b.url + path,
        data=data[half:],
        headers={**patch, "Upload-Offset": str(half)},
        timeout=10,
    )
    assert rest.status_code == 204 and rest.headers["Upload-Offset"] == str(len(data))
    upload_id = path.rsplit("/", 1)[-1]
    assert b.cli("upload", "accept", upload_id).returncode == 0
    arrived = (shared_pair[3] / "reports" / "shared.bin").read_bytes()
    assert hashlib.sha256(arrived).digest() == hashlib.sha256(data).digest()
