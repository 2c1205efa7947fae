"""Files in a bucket, served by real gunicorn workers (gevent): two instances
behind nginx on PostgreSQL and Redis, the files on a real S3 API over HTTP
(moto's server)."""

import concurrent.futures
import io
import json
import time
import zipfile

import pytest

from ..conftest import BIG_SIZE
from ..conftest import fill_bucket
from ..nginx import start_nginx
from ..services import postgres_database
from ..services import REDIS_URL
from ..services import require
from ..services import S3_ENV
from .test_instances import create
from .test_instances import link_id
from .test_live import get

pytestmark = pytest.mark.slow


@pytest.fixture
def on_a_bucket(start_live, tree, tmp_path, s3_endpoint, monkeypatch):
    require("Redis", "127.0.0.1", 6379)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)  # the servers inherit them
    bucket = fill_bucket(s3_endpoint, tree)
    with postgres_database() as url:
        shared = {
            "instance_dir": str(tmp_path / "shared-instance"),
            "database_url": url,
            "ratelimit_storage_url": REDIS_URL,
            "access_log": False,
            "storage": "s3",
            "s3_bucket": bucket,
            "s3_endpoint_url": s3_endpoint,
            "s3_region": "us-east-1",
            "s3_addressing_style": "path",
        }
        a = start_live("a", **shared)
        b = start_live("b", init=False, **shared)
        nginx = start_nginx(tmp_path, [a.port, b.port], tree)
        yield a, b, nginx
        nginx.stop()
        a.stop()
        b.stop()


def test_two_instances_serve_count_and_revoke_links_to_objects(on_a_bucket, tree):
    a, b, nginx = on_a_bucket
    big = (tree / "big.bin").read_bytes()
    path = create(a, "big.bin")
    for server in (a, b, nginx):
        status, headers, body = get(server, path)
        assert status == 200 and body == big
        assert headers["Content-Length"] == str(BIG_SIZE)
    status, headers, body = get(b, path, headers={"Range": "bytes=1000-1999"})
    assert status == 206 and body == big[1000:2000]

    # A one-time link hammered through both instances: served once.
    once = create(a, "readme.txt", "--max-downloads", "1")
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda s: get(s, once)[0], [a, b] * 10))
    assert statuses.count(200) == 1, statuses

    revoked = b.cli("link", "revoke", link_id(b, path))
    assert revoked.returncode == 0, revoked.stderr
    for server in (a, b, nginx):
        assert get(server, path)[0] == 410

    # The audit has every byte: 3 whole downloads and the range (ranges of
    # an unlimited link are folded into a row written when its window
    # closes, or when the server stops: stop both).
    nginx.stop()
    a.stop()
    b.stop()
    exported = a.cli("audit", "export", "--format", "jsonl", "--path", "big.bin")
    records = [json.loads(line) for line in exported.stdout.splitlines() if line]
    sent = [
        (r["event"], r["status"], r["bytes"])
        for r in records
        if r["event"] in ("download", "resume")
    ]
    assert sorted(sent) == [("download", 200, BIG_SIZE)] * 3 + [("resume", 206, 1000)]


def test_a_folder_zip_from_a_bucket_resumes_on_the_other_instance(on_a_bucket, tree):
    a, b, _ = on_a_bucket
    path = create(a, "reports")
    whole = get(a, path + "?zip=1")
    assert whole[0] == 200
    archive = whole[2]
    half = len(archive) // 2
    first = get(a, path + "?zip=1", headers={"Range": f"bytes=0-{half - 1}"})
    rest = get(
        b,
        path + "?zip=1",
        headers={"Range": f"bytes={half}-", "If-Range": first[1]["ETag"]},
    )
    assert first[0] == 206 and rest[0] == 206
    joined = first[2] + rest[2]
    assert joined == archive
    with zipfile.ZipFile(io.BytesIO(joined)) as opened:
        assert opened.testzip() is None
        assert (
            opened.read("reports/q3/summary.csv")
            == (tree / "reports/q3/summary.csv").read_bytes()
        )


def test_object_downloads_held_unread_do_not_hold_up_the_workers(on_a_bucket):
    """Four downloads of a big object stopped mid-body (each holds its GET
    from the store open) cost the workers no thread: they still answer at
    once."""
    import http.client

    a, _, _ = on_a_bucket
    path = create(a, "big.bin")
    held = []
    for _ in range(4):  # both workers have one in flight
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200
        response.read(1000)  # then stop reading
        held.append(conn)
    started = time.monotonic()
    for _ in range(10):
        assert get(a, "/healthz")[0] == 200
    assert time.monotonic() - started < 5
    for conn in held:
        conn.close()
