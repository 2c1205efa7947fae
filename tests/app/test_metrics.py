"""``/metrics``: who may scrape, and what the numbers say after requests a
user would make (the multiprocess sums under gunicorn:
tests/live/test_operations_live.py)."""

import pytest

from linksvc.core import errors
from linksvc.services import of as services_of
from tests.conftest import audit_rows
from tests.metrics import parse
from tests.metrics import value

TOKEN = "scrape-token-8f3a"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def samples(client) -> dict[tuple, float]:
    """(name, labels as sorted tuples) -> value, from one scrape."""
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


@pytest.fixture
def metered(make_app):
    return make_app(metrics_token=TOKEN)


@pytest.fixture
def mclient(metered):
    return metered.test_client()


def test_metrics_answer_no_one_until_a_token_or_network_is_set(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=BEARER).status_code == 404


def test_a_scraper_needs_the_token(mclient):
    missing = mclient.get("/metrics")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "linksvc_" not in missing.text
    wrong = mclient.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    basic = mclient.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    assert mclient.get("/metrics", headers=BEARER).status_code == 200


def test_wrong_tokens_are_held_to_the_api_auth_limit(make_app):
    client = make_app(metrics_token=TOKEN, api_auth_limit="3 per minute").test_client()
    statuses = [
        client.get(
            "/metrics", headers={"Authorization": f"Bearer guess{i}"}
        ).status_code
        for i in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]


def test_a_scraper_from_a_listed_network_needs_no_token(make_app):
    client = make_app(metrics_networks=["10.1.0.0/16"]).test_client()
    inside = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert inside.status_code == 200 and "linksvc_requests_total" in inside.text
    outside = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.2.0.1"})
    assert outside.status_code == 401


def test_a_scrape_writes_no_audit_row_and_sets_no_cookie(metered, mclient):
    response = mclient.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert audit_rows(services_of(metered)) == []


def test_downloads_count_by_outcome_with_their_bytes(metered, mclient):
    svc = services_of(metered)
    from linksvc.links import sharing

    with metered.app_context():
        owner = svc.store.users.by_name("admin")
        _, token = sharing.create_link(svc, owner, "big.bin")
        _, once = sharing.create_link(
            svc, owner, "readme.txt", sharing.options(max_downloads=1)
        )
    size = (svc.tree.root / "big.bin").stat().st_size
    assert mclient.get(f"/d/{token}").status_code == 200
    assert mclient.get(f"/d/{token}", headers={"Range": "bytes=0-9"}).status_code == 206
    assert mclient.head(f"/d/{token}").status_code == 200
    assert mclient.get(f"/d/{once}").status_code == 200
    assert mclient.get(f"/d/{once}").status_code == 410
    assert mclient.get("/d/not-a-token").status_code == 404

    found = samples(mclient)
    assert value(found, "linksvc_downloads_total", event="download", outcome="ok") == 3
    assert value(found, "linksvc_downloads_total", event="check", outcome="ok") == 1
    readme = len((svc.tree.root / "readme.txt").read_bytes())
    assert value(found, "linksvc_download_bytes_total") == size + 10 + readme
    assert value(found, "linksvc_refusals_total", code=errors.LinkUsedUp.code) == 1
    assert value(found, "linksvc_refusals_total", code=errors.LinkInvalid.code) == 1
    route = "/d/<token>"
    assert (
        value(found, "linksvc_requests_total", route=route, method="GET", status="200")
        == 2
    )
    assert (
        value(found, "linksvc_requests_total", route=route, method="GET", status="410")
        == 1
    )
    assert (
        value(found, "linksvc_requests_total", route=route, method="HEAD", status="200")
        == 1
    )
    assert (
        value(found, "linksvc_response_bytes_total", route=route) >= size + 10 + readme
    )
    assert value(found, "linksvc_request_duration_seconds_count", route=route) == 6
    # The scrape itself is in flight while it counts; nothing else is.
    assert value(found, "linksvc_requests_in_flight") == 1


def test_what_a_client_sends_cannot_add_a_series(mclient):
    for i in range(50):
        mclient.get(f"/nothing-{i}/x")
        mclient.open(f"/d/token-{i}", method=f"BREW{i}")
    found = samples(mclient)
    routes = {
        dict(labels).get("route")
        for name, labels in found
        if name == "linksvc_requests_total"
    }
    methods = {
        dict(labels).get("method")
        for name, labels in found
        if name == "linksvc_requests_total"
    }
    assert routes <= {"unmatched", "/d/<token>", "/metrics"}
    assert methods <= {"GET", "other"}
    assert (
        value(
            found,
            "linksvc_requests_total",
            route="unmatched",
            method="GET",
            status="404",
        )
        == 50
    )


def test_limiter_hits_are_counted_by_route(make_app):
    app = make_app(metrics_token=TOKEN, refusal_limit="2 per minute")
    client = app.test_client()
    statuses = [client.get(f"/d/bad{i}").status_code for i in range(4)]
    assert statuses == [404, 404, 429, 429]
    found = samples(client)
    assert value(found, "linksvc_limited_total", route="/d/<token>") == 2


def test_the_outbox_backlog_is_read_at_scrape(metered, mclient):
    svc = services_of(metered)
    svc.store.outbox.add(
        [
            {
                "kind": "email",
                "key": "k1",
                "event": "test",
                "recipient": "a@example.org",
                "body": "x",
            }
        ],
        1,
    )
    found = samples(mclient)
    assert value(found, "linksvc_outbox_waiting") == 1
    assert value(found, "linksvc_outbox_failed") == 0
    assert value(found, "linksvc_database_up") == 1
    assert value(found, "linksvc_free_disk_bytes") > 0


def test_the_audit_queue_and_its_writes_are_measured(metered, mclient):
    svc = services_of(metered)
    assert mclient.get("/d/garbage").status_code == 404  # a refusal, recorded
    svc.audit.flush()
    found = samples(mclient)
    assert value(found, "linksvc_audit_write_seconds_count") >= 1
    assert value(found, "linksvc_audit_lost_records_total") == 0


def test_json_logs_give_each_request_and_event_a_line_without_its_token(
    make_app, caplog
):
    import json
    import logging

    from linksvc.links import sharing

    app = make_app(log_format="json")
    svc = services_of(app)
    with app.app_context():
        owner = svc.store.users.by_name("admin")
        link, token = sharing.create_link(svc, owner, "readme.txt")
    caplog.set_level(logging.INFO, logger="linksvc")
    client = app.test_client()
    assert client.get(f"/d/{token}").status_code == 200
    assert client.get(f"/d/{token}x").status_code == 404
    lines: dict[str, list] = {"request": [], "event": []}
    for r in caplog.records:
        if r.name in ("linksvc.request", "linksvc.event"):
            lines[r.getMessage()].append(r.fields)
    sent, refused = lines["request"]
    assert sent["route"] == "/d/<token>" and sent["status"] == 200
    assert sent["link_id"] == link.id and sent["outcome"] == "ok"
    assert sent["bytes"] == len((svc.tree.root / "readme.txt").read_bytes())
    assert refused["status"] == 404 and refused["outcome"] == errors.LinkInvalid.code
    assert [e["event"] for e in lines["event"]] == ["download", "refused"]
    from linksvc.logs import JsonFormatter

    text = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert token not in text
    assert all(json.loads(line)["ts"].endswith("Z") for line in text.splitlines())
