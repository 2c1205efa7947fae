"""Revocation, download limits, start times and link-preview robots."""

from datetime import timedelta

import pytest

from linksvc.cli import cli

from ..conftest import audit_rows
from ..conftest import csrf_token
from ..conftest import link_row


def link_id_of(svc, path):
    return next(link.id for link in svc.store.links.list() if link.path == path)


def test_owner_revokes_from_the_dashboard_and_the_link_answers_410(
    client, auth, make_link, svc, app
):
    token = make_link("reports/q3/summary.csv", user="alice")
    link_id = link_id_of(svc, "reports/q3/summary.csv")
    auth.login_as("alice")
    page = client.get("/links").get_data(as_text=True)
    assert f"/links/{link_id}/revoke" in page
    form = csrf_token(client, "/links")
    response = client.post(f"/links/{link_id}/revoke", data={"csrf_token": form})
    assert response.headers["Location"] == "/links"
    assert link_row(svc, link_id).revoked_at is not None
    gone = app.test_client().get(f"/d/{token}")
    assert gone.status_code == 410
    assert "Link revoked" in gone.get_data(as_text=True)
    assert "was revoked" in gone.get_data(as_text=True)
    assert 'class="status revoked">revoked<' in client.get("/links").get_data(True)


def test_revoke_needs_csrf(client, auth, make_link, svc):
    make_link("reports/q3/summary.csv", user="alice")
    link_id = link_id_of(svc, "reports/q3/summary.csv")
    auth.login_as("alice")
    assert client.post(f"/links/{link_id}/revoke").status_code == 400
    assert link_row(svc, link_id).revoked_at is None


def test_others_cannot_revoke_or_see_a_link_but_admins_can(
    client, auth, make_link, svc
):
    make_link("readme.txt", user="admin")
    link_id = link_id_of(svc, "readme.txt")
    auth.login_as("bob")
    form = csrf_token(client, "/links")
    assert client.get(f"/links/{link_id}").status_code == 404
    response = client.post(f"/links/{link_id}/revoke", data={"csrf_token": form})
    assert response.status_code == 404
    assert link_row(svc, link_id).revoked_at is None
    auth.logout()
    make_link("reports/q3/summary.csv", user="alice")
    alice_link = link_id_of(svc, "reports/q3/summary.csv")
    auth.login_as("admin")
    form = csrf_token(client, "/links")
    client.post(f"/links/{alice_link}/revoke", data={"csrf_token": form})
    assert link_row(svc, alice_link).revoked_at is not None


def test_cli_revoke_by_id_user_and_path(runner, make_link, svc, client):
    a = make_link("reports/q3/summary.csv", user="alice")
    b = make_link("readme.txt", user="admin")
    c = make_link("web/page.html", user="admin")
    d = make_link("web/image.svg", user="admin")
    ids = {link.path: link.id for link in svc.store.links.list()}
    result = runner.invoke(cli, ["link", "revoke", ids["readme.txt"]])
    assert result.exit_code == 0 and "revoked" in result.output
    again = runner.invoke(cli, ["link", "revoke", ids["readme.txt"]])
    assert again.exit_code == 1 and "already revoked" in again.output
    result = runner.invoke(cli, ["link", "revoke", "--user", "alice"])
    assert result.output.splitlines()[-1] == "1 link revoked"
    result = runner.invoke(cli, ["link", "revoke", "--path", "web"])
    assert result.output.splitlines()[-1] == "2 links revoked"
    for token in (a, b, c, d):
        assert client.get(f"/d/{token}").status_code == 410
    assert runner.invoke(cli, ["link", "revoke"]).exit_code == 2


def test_revoke_by_path_follows_grant_rules(runner, make_link, svc, client, tree):
    (tree / "reports" / "q3x.txt").write_text("beside")
    inside = make_link("reports/q3/summary.csv")
    beside = make_link("reports/q3x.txt")
    runner.invoke(cli, ["link", "revoke", "--path", "reports/q3"])
    assert client.get(f"/d/{inside}").status_code == 410
    assert client.get(f"/d/{beside}").status_code == 200


def test_disabling_a_user_revokes_their_links_and_ends_sessions(
    runner, make_link, client, auth
):
    token = make_link("reports/q3/summary.csv", user="alice")
    auth.login_as("alice")
    assert client.get("/").status_code == 200
    result = runner.invoke(cli, ["user", "disable", "alice"])
    assert result.exit_code == 0
    assert "1 link revoked" in result.output
    assert client.get(f"/d/{token}").status_code == 410
    assert client.get("/").status_code in (302, 303)
    assert b"Wrong user name" in auth.login("alice").data
    runner.invoke(cli, ["user", "enable", "alice"])
    assert auth.login("alice").status_code in (302, 303)


def test_one_time_link(client, make_link, svc):
    token = make_link(max_downloads=1)
    assert client.head(f"/d/{token}").status_code == 200  # HEAD is free
    first = client.get(f"/d/{token}")
    assert first.status_code == 200
    second = client.get(f"/d/{token}")
    assert second.status_code == 410
    assert "Link used up" in second.get_data(as_text=True)
    assert client.head(f"/d/{token}").status_code == 410
    assert link_row(svc).download_count == 1


def test_a_dropped_one_time_download_can_resume_within_the_window(
    client, make_link, tree, frozen
):
    data = (tree / "big.bin").read_bytes()
    token = make_link("big.bin", max_downloads=1)
    first = client.get(f"/d/{token}", headers={"Range": "bytes=0-999"})
    assert first.status_code == 206  # counted: it starts the file
    rest = client.get(f"/d/{token}", headers={"Range": "bytes=1000-"})
    assert rest.status_code == 206
    assert first.data + rest.data == data
    # A new download from byte 0 is a second download: refused.
    assert client.get(f"/d/{token}", headers={"Range": "bytes=0-"}).status_code == 410
    # After the resume window even a continuation is refused.
    frozen.tick(timedelta(hours=1, seconds=1))
    late = client.get(f"/d/{token}", headers={"Range": "bytes=1000-"})
    assert late.status_code == 410


def test_a_range_cannot_open_an_unused_limited_link_for_free_forever(
    client, make_link, svc
):
    token = make_link("big.bin", max_downloads=2)
    # Before the first counted download, any range counts as the download.
    assert (
        client.get(f"/d/{token}", headers={"Range": "bytes=10-19"}).status_code == 206
    )
    assert link_row(svc).download_count == 1


@pytest.mark.parametrize(
    "agent",
    [
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "facebookexternalhit/1.1 Facebot Twitterbot/1.0",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "TelegramBot (like TwitterBot)",
        "WhatsApp/2.23.20.0",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    ],
)
def test_chat_previews_do_not_use_up_a_one_time_link(client, make_link, svc, agent):
    token = make_link("readme.txt", max_downloads=1)
    preview = client.get(f"/d/{token}", headers={"User-Agent": agent})
    assert preview.status_code == 200
    assert preview.mimetype == "text/html"
    assert b"hello from the protected tree" not in preview.data
    assert b"readme.txt" in preview.data
    assert link_row(svc).download_count == 0
    browser = client.get(f"/d/{token}", headers={"User-Agent": "Mozilla/5.0 Firefox"})
    assert browser.data == b"hello from the protected tree\n"


def test_not_before(client, make_link, frozen):
    token = make_link("readme.txt", expires="1h", not_before="+2h")
    early = client.get(f"/d/{token}")
    assert early.status_code == 403
    assert "becomes valid at 2026-03-01 14:00:00 UTC" in early.get_data(as_text=True)
    frozen.tick(timedelta(hours=2) - timedelta(seconds=1))
    assert client.get(f"/d/{token}").status_code == 403
    frozen.tick(timedelta(seconds=1))
    assert client.get(f"/d/{token}").status_code == 200
    # The lifetime counts from the start: valid for 1 h after it.
    frozen.tick(timedelta(hours=1))
    assert client.get(f"/d/{token}").status_code == 200
    frozen.tick(timedelta(seconds=1))
    assert client.get(f"/d/{token}").status_code == 410


def test_dashboard_creates_limited_scheduled_links_with_a_note(
    client, auth, svc, frozen
):
    auth.login_as("alice")
    token = csrf_token(client, "/share/reports/q3/summary.csv")
    response = client.post(
        "/share/reports/q3/summary.csv",
        data={
            "csrf_token": token,
            "expires": "1d",
            "max_downloads": "1",
            "not_before": "2026-03-02T09:00",
            "note": "for the auditors",
        },
    )
    assert response.status_code == 201
    link = svc.store.links.list()[0]
    assert link.max_downloads == 1
    assert link.not_before == 1772442000  # 2026-03-02 09:00 UTC
    assert link.note == "for the auditors"
    page = client.get("/links").get_data(as_text=True)
    assert 'class="status scheduled">scheduled<' in page
    assert "0 / 1" in page and "for the auditors" in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_downloads", "0", "Number must be"),
        ("max_downloads", "many", "Not a valid integer"),
        ("not_before", "tomorrow-ish", "is not a time"),
        ("not_before", "+90d", "may not start later"),
    ],
)
def test_dashboard_refuses_bad_limits_and_starts(
    client, auth, svc, field, value, message
):
    auth.login_as("alice")
    token = csrf_token(client, "/share/reports/q3/summary.csv")
    response = client.post(
        "/share/reports/q3/summary.csv",
        data={"csrf_token": token, "expires": "1d", field: value},
    )
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert svc.store.links.list() == []


def test_cli_creates_limited_scheduled_links(runner, svc, frozen):
    result = runner.invoke(
        cli,
        [
            "link",
            "create",
            "readme.txt",
            "--user",
            "admin",
            "--max-downloads",
            "3",
            "--not-before",
            "2026-03-01T15:00:00Z",
            "--note",
            "for Zoë",
        ],
    )
    assert result.exit_code == 0, result.output
    link = svc.store.links.list()[0]
    assert (link.max_downloads, link.not_before, link.note) == (
        3,
        1772377200,
        "for Zoë",
    )
    listed = runner.invoke(cli, ["link", "list"]).output.split("\t")
    assert listed[4:] == ["scheduled", "0/3\n"]
    bad = runner.invoke(
        cli, ["link", "create", "readme.txt", "--user", "admin", "--max-downloads", "0"]
    )
    assert bad.exit_code == 1 and "between 1 and" in bad.output


def test_every_outcome_is_audited(client, make_link, svc, frozen):
    one_time = make_link("readme.txt", max_downloads=1)
    expiring = make_link("readme.txt", expires="1h")
    later = make_link("readme.txt", not_before="+1h")
    client.get(f"/d/{one_time}")
    client.get(f"/d/{one_time}")
    client.get(f"/d/{later}")
    frozen.tick(timedelta(hours=2))
    client.get(f"/d/{expiring}")
    outcomes = [(r.event, r.outcome, r.status) for r in audit_rows(svc)]
    assert outcomes[3:] == [
        ("download", "ok", 200),
        ("refused", "link_used_up", 410),
        ("refused", "link_not_yet_valid", 403),
        ("refused", "link_expired", 410),
    ]


def test_a_revocation_from_elsewhere_is_seen_by_a_busy_worker(client, make_link, svc):
    """The download path keeps one database connection per thread; it must
    see a revocation made by another process at once, every time."""
    import sqlite3
    from pathlib import Path

    tokens = [make_link("readme.txt") for _ in range(20)]
    db = Path(svc.settings.instance_dir) / "linksvc.sqlite3"
    other = sqlite3.connect(db, isolation_level=None)
    try:
        for token in tokens:
            assert client.get(f"/d/{token}").status_code == 200
            link_id = svc.signer.verify(token).link_id
            other.execute("UPDATE links SET revoked_at = 1 WHERE id = ?", (link_id,))
            assert client.get(f"/d/{token}").status_code == 410
    finally:
        other.close()
