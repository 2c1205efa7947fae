"""Running it as a service, over real HTTP against ``linksvc serve``
(gunicorn, two workers): metrics that add up across workers, JSON logs that
carry no secret, and a worker stopped mid-load that loses no record."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

from linksvc.keys import read_keys
from tests.conftest import PASSWORDS
from tests.metrics import parse
from tests.metrics import value

from .test_live import _workers
from .test_live import create_link
from .test_live import get
from .test_live import listed
from .test_live import post_login

pytestmark = pytest.mark.slow

TOKEN = "metrics-bearer-5b1c9e"


def scrape(live) -> dict[tuple, float]:
    response = requests.get(
        f"{live.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    )
    assert response.status_code == 200, response.text
    return parse(response.text)


def _respawned(live, old: list[int], seconds: float = 15) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = _workers(live.proc.pid)
        if len(now) == len(old) and now != old:
            return now
        time.sleep(0.1)
    raise AssertionError(f"no new worker after {old}")


def test_a_worker_stopped_mid_load_loses_nothing_and_metrics_add_up(start_live, tree):
    data = os.urandom(256 * 1024)
    (tree / "ops.bin").write_bytes(data)
    live = start_live(
        "ops", workers=2, metrics_token=TOKEN, log_format="json", access_log=True
    )
    path = create_link(live, "ops.bin")  # unlimited: counted in batches
    secrets_used = {"admin password": PASSWORDS["admin"], "link token": path[3:]}

    # A client downloads without pause, a new connection each time (so both
    # workers answer), while one worker is told to stop (SIGTERM) mid-load.
    results: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set() and len(results) < 400:
            try:
                status, _, body = get(live, path)
                results.append(status if body == data else -status)
            except OSError:
                results.append(0)

    client = threading.Thread(target=load)
    client.start()
    while len(results) < 40:
        time.sleep(0.01)
    workers = _workers(live.proc.pid)
    os.kill(workers[0], signal.SIGTERM)
    _respawned(live, workers)
    while len(results) < 120:
        time.sleep(0.01)
    stop.set()
    client.join(timeout=30)
    sent = len(results)
    assert results.count(200) == sent, {s: results.count(s) for s in set(results)}

    # Every download counted once, by the row and by the audit, across the
    # stopped worker (it flushed on its way out), the new one and the other.
    deadline = time.monotonic() + 10
    while listed(live, "ops.bin")[-1:] != [str(sent)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert listed(live, "ops.bin")[-1] == str(sent)
    exported = live.cli("audit", "export", "--format", "jsonl", "--path", "ops.bin")
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines() if line]
    downloads = [
        r for r in records if r["event"] == "download" and r["path"] == "ops.bin"
    ]
    assert sum(r.get("count", 1) for r in downloads) == sent

    # The metrics add every worker's numbers, the stopped one's included,
    # whichever worker answers the scrape; a dead worker holds no request.
    for _ in range(4):
        found = scrape(live)
        assert (
            value(found, "linksvc_downloads_total", event="download", outcome="ok")
            == sent
        )
        assert value(found, "linksvc_download_bytes_total") == sent * len(data)
        route = dict(route="/d/<token>", method="GET", status="200")
        assert value(found, "linksvc_requests_total", **route) == sent, [
            k for k in found if k[0] == "linksvc_requests_total"
        ]
        # sendfile sent the bytes; the tally still reached the layer.
        assert value(
            found, "linksvc_response_bytes_total", route="/d/<token>"
        ) == sent * len(data)
        assert value(found, "linksvc_requests_in_flight") == 1  # this scrape
        assert value(found, "linksvc_audit_lost_records_total") == 0

    # An API token and a session, used, so the log could hold them.
    status, cookie = post_login(live, "admin", PASSWORDS["admin"])
    assert status == 302
    secrets_used["session cookie"] = cookie.split("=", 1)[1].split(";")[0]
    made = live.cli("token", "create", "ops", "--user", "admin")
    api_token = made.stdout.strip().splitlines()[-1]
    secrets_used["api token"] = api_token
    listing = requests.get(
        f"{live.url}/api/v1/links",
        headers={"Authorization": f"Bearer {api_token}"},
        timeout=5,
    )
    assert listing.status_code == 200
    get(live, path + "x")  # a refused token, logged as a refusal
    secrets_used["metrics token"] = TOKEN
    instance = Path(live.env["LINKSVC_SETTINGS"]).parent / "ops-instance"
    for n, key in enumerate(read_keys(instance, environ={})):
        secrets_used[f"secret key {n}"] = key
    live.stop()

    # One JSON object a line, every line; requests name their route, never
    # their URL; and not one secret the run used appears anywhere.
    log = live.log()
    lines = [line for line in log.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line[:200]!r}") from None
    requests_seen = [p for p in parsed if p.get("logger") == "linksvc.request"]
    downloads_logged = [
        p
        for p in requests_seen
        if p["route"] == "/d/<token>" and p["status"] == 200 and p["method"] == "GET"
    ]
    assert len(downloads_logged) == sent
    first = downloads_logged[0]
    assert first["bytes"] == len(data) and first["outcome"] == "ok"
    assert first["client"] == "127.0.0.1" and len(first["request_id"]) == 12
    assert first["link_id"] and first["duration_ms"] >= 0
    events = [p for p in parsed if p.get("logger") == "linksvc.event"]
    assert sum(1 for e in events if e["event"] == "download") == sent
    assert any(p.get("logger") == "gunicorn.error" for p in parsed)
    for name, secret in secrets_used.items():
        assert secret and secret not in log, f"the log holds the {name}"
