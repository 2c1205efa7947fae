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


def test_two_instances_serve_links_to_objects_end_to_end(on_a_bucket, tree):
    """A link made on one instance downloads (whole, through nginx, a range)
    on the other; a one-time link hammered through both is served once; a
    folder zip begun on one resumes on the other byte for byte; downloads
    held unread cost the workers no thread; a revocation on one holds on
    both; the audit has every byte. One setup: it is the slow part."""
    import http.client

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

    # A folder zip begun on one instance resumes on the other.
    folder = create(a, "reports")
    archive = get(a, folder + "?zip=1")[2]
    half = len(archive) // 2
    first = get(a, folder + "?zip=1", headers={"Range": f"bytes=0-{half - 1}"})
    rest = get(
        b,
        folder + "?zip=1",
        headers={"Range": f"bytes={half}-", "If-Range": first[1]["ETag"]},
    )
    assert first[0] == 206 and rest[0] == 206
    assert first[2] + rest[2] == archive
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        assert opened.testzip() is None
        assert (
            opened.read("reports/q3/summary.csv")
            == (tree / "reports/q3/summary.csv").read_bytes()
        )

    # Four object downloads stopped mid-body (each holds its GET from the
    # store open): the workers still answer at once.
    held = []
    for _ in range(4):
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
        conn.request("GET", create(a, "big.bin"))
        response = conn.getresponse()
        assert response.status == 200
        response.read(1000)
        held.append(conn)
    started = time.monotonic()
    for _ in range(10):
        assert get(a, "/healthz")[0] == 200
    assert time.monotonic() - started < 5
    for conn in held:
        conn.close()

    revoked = b.cli("link", "revoke", link_id(b, path))
    assert revoked.returncode == 0, revoked.stderr
    for server in (a, b, nginx):
        assert get(server, path)[0] == 410

    # The audit has every byte of the first link: 3 whole downloads and the
    # range (ranges of an unlimited link fold into a row written when its
    # window closes, or when the server stops: stop both).
    nginx.stop()
    a.stop()
    b.stop()
    exported = a.cli("audit", "export", "--format", "jsonl")
    records = [json.loads(line) for line in exported.stdout.splitlines() if line]
    sent = [
        (r["event"], r["status"], r["bytes"])
        for r in records
        if r["link_id"] == link_id(a, path) and r["event"] in ("download", "resume")
    ]
    assert sorted(sent) == [("download", 200, BIG_SIZE)] * 3 + [("resume", 206, 1000)]
