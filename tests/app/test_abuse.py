"""What an outside attack found: leaks through ranges, amplification, floods.

Each test here failed on the code before the fix it names.
"""

from datetime import timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy import update

from linksvc.db.schema import audit
from linksvc.db.schema import links
from linksvc.links import sharing
from linksvc.services import of as services_of

from ..conftest import audit_rows
from ..conftest import BIG_SIZE
from ..conftest import KEYS
from ..conftest import link_row

A = {"REMOTE_ADDR": "198.51.100.1"}
B = {"REMOTE_ADDR": "198.51.100.2"}


def test_a_one_time_link_is_one_download_whatever_the_ranges(
    client, make_link, svc, tree, frozen
):
    data = (tree / "big.bin").read_bytes()
    token = make_link("big.bin", max_downloads=1)
    url = f"/d/{token}"
    # HEAD and 304 never count, before or after.
    assert client.head(url, environ_base=A).status_code == 200
    etag = client.head(url).headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert link_row(svc).download_count == 0
    # Before the first counted download, a range from byte 1 *is* the download.
    first = client.get(url, headers={"Range": "bytes=1-"}, environ_base=A)
    assert first.status_code == 206 and first.data == data[1:]
    assert link_row(svc).download_count == 1
    # The downloader who was counted may resume, again and again in the window.
    for _ in range(2):
        again = client.get(url, headers={"Range": "bytes=100-"}, environ_base=A)
        assert again.status_code == 206 and again.data == data[100:]
    assert link_row(svc).download_count == 1
    # Anyone else holding the link gets no byte: single range, multi-range, whole.
    for headers in ({"Range": "bytes=1-"}, {"Range": "bytes=1-5,10-20"}, {}):
        other = client.get(url, headers=headers, environ_base=B)
        assert other.status_code == 410, headers
        assert data[1:50] not in other.data
    assert client.head(url, environ_base=B).status_code == 410
    # After the resume window, not even the counted downloader.
    frozen.tick(timedelta(hours=1, seconds=1))
    late = client.get(url, headers={"Range": "bytes=100-"}, environ_base=A)
    assert late.status_code == 410
    assert link_row(svc).download_count == 1


def test_a_resume_is_free_only_for_whoever_was_counted_last(client, make_link, svc):
    token = make_link("big.bin", max_downloads=2)
    url = f"/d/{token}"
    assert client.get(url, environ_base=A).status_code == 200
    # Another address's range is a download of its own, and then A's resume
    # allowance belongs to B, the last one counted.
    assert (
        client.get(url, headers={"Range": "bytes=5-"}, environ_base=B).status_code
        == 206
    )
    assert link_row(svc).download_count == 2
    assert (
        client.get(url, headers={"Range": "bytes=5-"}, environ_base=B).status_code
        == 206
    )
    assert (
        client.get(url, headers={"Range": "bytes=5-"}, environ_base=A).status_code
        == 410
    )
    assert link_row(svc).download_count == 2


def test_overlapping_ranges_cannot_amplify_a_response(client, make_link):
    token = make_link("big.bin")
    ranges = ",".join(["0-"] * 32)
    response = client.get(f"/d/{token}", headers={"Range": f"bytes={ranges}"})
    assert response.status_code == 206
    assert len(response.data) == BIG_SIZE
    assert response.headers["Content-Range"] == f"bytes 0-{BIG_SIZE - 1}/{BIG_SIZE}"
    spread = ",".join(f"{i}-{i + 100}" for i in range(0, 3000, 99))
    response = client.get(f"/d/{token}", headers={"Range": f"bytes={spread}"})
    assert response.status_code == 206 and len(response.data) < 3200


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("bytes=" + "9" * 5000 + "-", 416),
        ("bytes=0-" + "9" * 5000, 206),
        ("bytes=-" + "9" * 5000, 206),
    ],
)
def test_range_numbers_of_thousands_of_digits_are_no_500(
    client, make_link, header, status
):
    token = make_link("readme.txt")
    assert client.get(f"/d/{token}", headers={"Range": header}).status_code == status


def test_refusals_are_rate_limited_per_client_address(make_app):
    strict = make_app(refusal_limit="3 per minute")
    client = strict.test_client()
    for _ in range(3):
        assert client.get("/d/nonsense", environ_base=A).status_code == 404
    blocked = client.get("/d/nonsense", environ_base=A)
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 60
    assert client.get("/d/nonsense", environ_base=B).status_code == 404
    svc = services_of(strict)
    rows = audit_rows(svc)
    assert [(r.outcome, r.remote_addr, r.count) for r in rows] == [
        ("link_invalid", "198.51.100.1", 3),
        ("rate_limited", "198.51.100.1", 1),
        ("link_invalid", "198.51.100.2", 1),
    ]


def test_identical_refusals_fold_into_one_row_and_client_text_is_capped(client, svc):
    agent = "x" * 10_000
    for _ in range(50):
        assert (
            client.get("/d/nonsense", headers={"User-Agent": agent}).status_code == 404
        )
    rows = audit_rows(svc)
    assert len(rows) == 1
    assert rows[0].count == 50 and len(rows[0].user_agent) <= 256


def test_client_address_comes_only_from_trusted_proxies(app, make_app):
    spoof = {"X-Forwarded-For": "203.0.113.9"}
    plain = app.test_client()
    plain.get("/d/nonsense", headers=spoof)
    svc = services_of(app)
    assert audit_rows(svc)[-1].remote_addr == "127.0.0.1"
    proxied = make_app(trusted_proxies=1)
    headers = {"X-Forwarded-For": "203.0.113.7, 192.0.2.50"}
    proxied.test_client().get("/d/other-nonsense", headers=headers)
    psvc = services_of(proxied)
    # One proxy of ours: the address it saw, not what the client claimed.
    assert audit_rows(psvc)[-1].remote_addr == "192.0.2.50"


@pytest.mark.slow
def test_audit_export_streams_in_constant_memory(svc, runner):
    import tracemalloc

    from linksvc.cli import cli
    from linksvc.db import audit as audit_module

    row = {
        "at": 1_900_000_000,
        "event": "refused",
        "outcome": "link_invalid",
        "actor": "",
        "remote_addr": "198.51.100.1",
        "user_agent": "u" * 200,
        "status": 404,
        "bytes": 0,
        "count": 1,
    }
    with svc.store.engine.begin() as conn:
        conn.execute(insert(audit), [row] * 40_000)
    tracemalloc.start()
    lines = sum(
        chunk.count("\n")
        for chunk in audit_module.to_csv(audit_module.stream(svc.store.engine))
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert lines == 40_001
    # 40,000 rows of ~300 bytes are 12 MB; pages of 1,000 stay far below.
    assert peak < 4 * 1024 * 1024
    assert runner.invoke(cli, ["audit", "export", "--since", "10000d"]).exit_code == 0


def test_audit_rows_and_client_addresses_are_pruned_after_the_retention(
    client, make_link, svc, runner, frozen
):
    from linksvc.cli import cli

    token = make_link("readme.txt", max_downloads=3)
    client.get(f"/d/{token}", environ_base=A)
    assert link_row(svc).last_download_addr == "198.51.100.1"
    frozen.tick(timedelta(days=91))
    # The next record a server writes sets off its prune (at most hourly).
    client.get("/d/nonsense")
    assert [r.outcome for r in audit_rows(svc)] == ["link_invalid"]
    assert link_row(svc).last_download_addr is None
    # And the operator's command, for instances that see no traffic.
    with svc.store.engine.begin() as conn:
        conn.execute(insert(audit), [{"at": 5, "event": "x", "outcome": "x"}])
    result = runner.invoke(cli, ["audit", "prune"])
    assert result.exit_code == 0 and "deleted 1 audit record\n" in result.output
    assert len(audit_rows(svc)) == 1


def test_the_server_prunes_by_itself(app, make_app, frozen):
    svc = services_of(app)
    with svc.store.engine.begin() as conn:
        conn.execute(
            insert(audit),
            [{"at": 1, "event": "refused", "outcome": "x", "status": 404}],
        )
    fresh = make_app()
    fsvc = services_of(fresh)
    fsvc.audit.record("refused", "y", status=404)
    fsvc.audit.flush()
    assert [r.outcome for r in audit_rows(fsvc)] == ["y"]


def test_csv_export_neutralises_formulas(client, auth, make_link, svc):
    make_link("readme.txt", note='=HYPERLINK("http://evil")')
    client.get("/d/nonsense", headers={"User-Agent": "@SUM(1+1)"})
    client.get("/d/nonsense2", headers={"User-Agent": "-2+3"})
    auth.login_as("admin")
    text = client.get("/admin/audit.csv").get_data(as_text=True)
    assert "'@SUM(1+1)" in text and "'-2+3" in text
    for line in text.splitlines()[1:]:
        for cell in line.split(","):
            assert not cell.startswith(("=", "+", "-", "@")), line


def test_admin_audit_page_passes_only_its_own_filters(client, auth):
    auth.login_as("admin")
    response = client.get("/admin/audit?_method=POST&user=alice&_external=1")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "/admin/audit.csv?user=alice" in page and "_method" not in page


def test_api_nesting_bomb_is_a_400_with_the_json_shape(client, svc, app):
    with app.app_context():
        alice = svc.store.users.by_name("alice")
        _, token = svc.store.tokens.create(alice.id, "t")
    bomb = "[" * 100_000 + "]" * 100_000
    response = client.post(
        "/api/v1/links",
        data=bomb,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/api/v1/links", "/api/v1/nope", "/api/v1/openapi.json"):
        answer = client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
    assert client.get("/api/v1/links").headers["X-Content-Type-Options"] == "nosniff"


def test_the_row_decides_a_token_re_signed_with_a_leaked_key_widens_nothing(
    client, make_link, svc, frozen
):
    from linksvc.core.signing import LinkSigner

    token = make_link("readme.txt", expires="1h", max_downloads=5)
    claims = svc.signer.verify(token)
    leaked = LinkSigner(KEYS)
    ten_years = claims.expires_at + 10 * 365 * 86400
    other_path = leaked.issue(claims.link_id, "big.bin", ten_years)
    assert client.get(f"/d/{other_path}").status_code == 404
    unlimited = leaked.issue(claims.link_id, "readme.txt", ten_years, limited=False)
    # A token that says "no limit" is counted all the same: the row's limit.
    assert client.get(f"/d/{unlimited}").status_code == 200
    assert link_row(svc).download_count == 1
    earlier = leaked.issue(claims.link_id, "readme.txt", ten_years, not_before=1)
    longer = leaked.issue(claims.link_id, "readme.txt", ten_years)
    assert client.get(f"/d/{longer}").status_code == 200
    frozen.tick(timedelta(hours=1, seconds=1))
    # The row's expiry governs whatever the token claims.
    for forged in (longer, earlier):
        assert client.get(f"/d/{forged}").status_code == 410
    # A later edit of the row governs the genuine token too, with no new token.
    with svc.store.engine.begin() as conn:
        conn.execute(update(links).values(expires_at=claims.expires_at + 2 * 3600))
    assert client.get(f"/d/{token}").status_code == 200
    assert client.get(f"/d/{longer}").status_code == 200
    assert client.get(f"/d/{unlimited}").status_code == 200  # the 5th
    assert client.get(f"/d/{unlimited}").status_code == 410
    assert link_row(svc).download_count == 5


@pytest.mark.parametrize(
    ("state", "status"),
    [("revoked", 410), ("expired", 410), ("used_up", 410), ("scheduled", 403)],
)
def test_chat_previews_obey_the_link_state_and_are_recorded(
    client, make_link, svc, frozen, state, status
):
    slack = {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}
    kw = {"max_downloads": 1} if state == "used_up" else {}
    if state == "scheduled":
        kw["not_before"] = "+2h"
    token = make_link("readme.txt", **kw)
    ok_state = client.get(f"/d/{token}", headers=slack)
    if state == "scheduled":
        assert ok_state.status_code == 403
    else:
        assert ok_state.status_code == 200
    if state == "revoked":
        sharing.revoke_link(svc, None, svc.signer.verify(token).link_id)
    elif state == "expired":
        frozen.tick(timedelta(hours=2))
    elif state == "used_up":
        assert client.get(f"/d/{token}").status_code == 200
    preview = client.get(f"/d/{token}", headers=slack)
    assert preview.status_code == status
    assert b"hello from the protected tree" not in preview.data
    events = [(r.event, r.outcome) for r in audit_rows(svc)]
    assert (
        "refused",
        f"link_{'not_yet_valid' if state == 'scheduled' else state}",
    ) in events
    if state != "scheduled":
        assert ("preview", "ok") in events


def test_history_page_keeps_real_downloads_above_a_flood(client, auth, make_link, svc):
    token = make_link("reports/q3/summary.csv", user="alice")
    real = client.get(f"/d/{token}", headers={"User-Agent": "RealBrowser/1"})
    assert real.status_code == 200
    for i in range(600):
        client.head(f"/d/{token}", headers={"User-Agent": f"flood-{i}"})
    auth.login_as("alice")
    link_id = svc.signer.verify(token).link_id
    page = client.get(f"/links/{link_id}").get_data(as_text=True)
    downloads = page.split("<h2>Other requests</h2>")[0]
    assert "RealBrowser/1" in downloads


def test_direct_protected_downloads_are_audited(client, auth, svc):
    auth.login_as("alice")
    assert client.get("/protected/reports/q3/summary.csv").status_code == 200
    rows = [r for r in audit_rows(svc) if r.event == "download"]
    assert [(r.actor, r.path, r.bytes, r.complete) for r in rows] == [
        ("alice", "reports/q3/summary.csv", 21, True)
    ]


def test_audit_records_the_bytes_that_went_out_not_the_file_size(make_link, svc, app):
    token = make_link("big.bin")
    client = app.test_client()
    response = client.get(f"/d/{token}", buffered=False)
    chunks = iter(response.response)
    received = len(next(chunks))
    response.close()  # the recipient leaves
    row = audit_rows(svc)[-1]
    assert row.event == "download" and row.complete is False
    assert 0 < row.bytes <= received < BIG_SIZE
    whole = client.get(f"/d/{token}")
    assert len(whole.data) == BIG_SIZE
    whole.close()
    row = audit_rows(svc)[-1]
    assert (row.bytes, row.complete) == (BIG_SIZE, True)


def test_link_list_is_not_cut_at_ten_thousand(svc, runner):
    from linksvc.cli import cli

    rows = [
        {
            "id": f"bulk{i:07d}",
            "path": "readme.txt",
            "created_by": 1,
            "created_at": 1,
            "expires_at": 2,
            "download_count": 0,
            "note": "",
            "key_id": "x",
        }
        for i in range(10_050)
    ]
    with svc.store.engine.begin() as conn:
        conn.execute(insert(links), rows)
    result = runner.invoke(cli, ["link", "list"])
    assert result.exit_code == 0
    assert len(result.output.splitlines()) == 10_050
    ids = {line.split("\t")[0] for line in result.output.splitlines()}
    assert len(ids) == 10_050


def test_prune_deletes_in_short_transactions(svc, monkeypatch):
    from linksvc.db import audit as audit_module

    monkeypatch.setattr(audit_module, "PRUNE_BATCH", 7)
    row = {"at": 5, "event": "x", "outcome": "x"}
    with svc.store.engine.begin() as conn:
        conn.execute(insert(audit), [row] * 30 + [{**row, "at": 10**10}])
    assert audit_module.prune(svc.store.engine, 100) == 30
    assert [r.at for r in audit_rows(svc)] == [10**10]
