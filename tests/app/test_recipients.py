"""Links per recipient (issue 25 item 1): one share, a link of their own for
each recipient (token, count, limit, audit, revocation), seen as one row."""

import pytest
from sqlalchemy import select

from linksvc.cli import cli
from linksvc.db.schema import links
from linksvc.links import sharing
from linksvc.links.options import recipients as parse_recipients

from ..conftest import audit_rows
from ..conftest import csrf_token
from ..conftest import link_row
from .test_api import check


def create(runner, *extra, path="reports/q3/summary.csv", user="alice"):
    result = runner.invoke(
        cli, ["link", "create", path, "--user", user, "--expires", "1h", *extra]
    )
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def tokens_of(lines):
    """{label: token} from the 'LABEL URL' lines after the first."""
    return {line.rsplit(" ", 1)[0]: line.rsplit("/d/", 1)[1] for line in lines[1:]}


@pytest.fixture
def share(runner):
    lines = create(
        runner,
        "--max-downloads",
        "1",
        "--recipient",
        "ann@example.org",
        "--recipient",
        "Bob at the front desk",
        "--recipient",
        "carol@example.org",
    )
    return lines


def test_each_recipient_gets_a_link_of_their_own(client, share, svc):
    assert share[0].startswith("share ") and "for 3 recipients" in share[0]
    assert [line.rsplit(" ", 1)[0] for line in share[1:]] == [
        "ann@example.org",
        "Bob at the front desk",
        "carol@example.org",
    ]
    assert all(
        line.rsplit(" ", 1)[1].startswith("https://links.example.org/d/")
        for line in share[1:]
    )
    tokens = tokens_of(share)
    assert len(set(tokens.values())) == 3
    # Ann's one download is hers: Bob's still works, Ann's second does not.
    ann, bob = tokens["ann@example.org"], tokens["Bob at the front desk"]
    assert client.get(f"/d/{ann}").data == b"quarter,revenue\nQ3,1\n"
    assert client.get(f"/d/{ann}").status_code == 410
    assert client.get(f"/d/{bob}").status_code == 200
    with svc.store.engine.connect() as conn:
        rows = conn.execute(
            select(links).where(links.c.parent_id.is_not(None))
        ).fetchall()
    counts = {r.recipient_label: r.download_count for r in rows}
    assert counts == {
        "ann@example.org": 1,
        "Bob at the front desk": 1,
        "carol@example.org": 0,
    }
    assert {r.recipient_email for r in rows} == {
        "ann@example.org",
        "",
        "carol@example.org",
    }
    # Each recipient's downloads are in the audit under their own link.
    downloads = [r.link_id for r in audit_rows(svc) if r.event == "download"]
    by_label = {r.recipient_label: r.id for r in rows}
    assert sorted(downloads) == sorted(
        [by_label["ann@example.org"], by_label["Bob at the front desk"]]
    )


def test_the_share_itself_opens_nothing(client, share, svc, app):
    share_id = share[0].split()[1]
    with app.app_context():
        token = sharing.link_token(svc, svc.store.links.get(share_id))
    got = client.get(f"/d/{token}")
    assert got.status_code in (403, 404) and b"Q3" not in got.data
    assert link_row(svc, share_id).download_count == 0


def test_revoking_one_recipient_leaves_the_others(client, share, svc, runner):
    tokens = tokens_of(share)
    ann_id = svc.signer.verify(tokens["ann@example.org"]).link_id
    assert runner.invoke(cli, ["link", "revoke", ann_id]).exit_code == 0
    assert client.get(f"/d/{tokens['ann@example.org']}").status_code == 410
    assert client.get(f"/d/{tokens['carol@example.org']}").status_code == 200


def test_revoking_the_share_revokes_all_and_extending_extends_all(
    frozen, client, share, svc, runner
):
    tokens = tokens_of(share)
    share_id = share[0].split()[1]
    result = runner.invoke(cli, ["link", "edit", share_id, "--expires", "3d"])
    assert result.exit_code == 0, result.output
    frozen.tick(2 * 3600)  # past the first hour: only the extension holds
    assert client.get(f"/d/{tokens['carol@example.org']}").status_code == 200
    assert runner.invoke(cli, ["link", "revoke", share_id]).exit_code == 0
    for token in tokens.values():
        assert client.get(f"/d/{token}").status_code == 410
    revoked = [r.link_id for r in audit_rows(svc) if r.event == "revoked"]
    assert len(revoked) == 4  # the share and its three recipients


def test_the_api_shows_one_share_with_a_line_per_recipient(client, runner, svc):
    made = runner.invoke(cli, ["token", "create", "ci", "--user", "alice"])
    headers = {"Authorization": f"Bearer {made.output.splitlines()[-1]}"}
    created = client.post(
        "/api/v1/links",
        json={
            "path": "reports/q3/summary.csv",
            "recipients": ["ann@example.org", "Front desk"],
            "max_downloads": 2,
        },
        headers=headers,
    )
    assert created.status_code == 201, created.json
    body = check(created, "/links", "post")  # as the OpenAPI document says
    assert body["share"] is True and body["url"] is None
    assert [(r["label"], r["email"]) for r in body["recipients"]] == [
        ("ann@example.org", "ann@example.org"),
        ("Front desk", None),
    ]
    desk = body["recipients"][1]
    assert desk["max_downloads"] == 2 and desk["download_count"] == 0
    assert (
        client.get(desk["url"].replace("https://links.example.org", "")).status_code
        == 200
    )
    got = check(
        client.get(f"/api/v1/links/{body['id']}", headers=headers),
        "/links/{link_id}",
        "get",
    )
    line = got["recipients"][1]
    assert line["download_count"] == 1 and line["revoked"] is False
    assert line["last_download"]["bytes"] == 21
    assert line["last_download"]["complete"] is True
    listed = check(client.get("/api/v1/links", headers=headers), "/links", "get")
    assert [item["id"] for item in listed["items"]] == [body["id"]]  # one row
    assert len(listed["items"][0]["recipients"]) == 2
    gone = client.delete(f"/api/v1/links/{body['id']}", headers=headers)
    assert gone.status_code == 200
    again = client.get(f"/api/v1/links/{body['id']}", headers=headers).json
    assert all(r["revoked"] and r["url"] is None for r in again["recipients"])


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["ann@example.org", "ANN@example.org"], "named twice"),
        (["not an@address"], "not an address"),
        (["x" * 101], "at most 100"),
        (["evil\u202etxt"], "printable"),
        ([f"r{i}" for i in range(51)], "at most 50"),
        (5, "list of labels"),
    ],
)
def test_bad_recipients_are_refused_saying_why(given, message):
    from linksvc.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match=message):
        parse_recipients(given)


def test_recipients_from_the_dashboard(client, auth, svc):
    auth.login_as("alice")
    page = client.get("/share/reports/q3/summary.csv")
    assert "Recipients" in page.text
    made = client.post(
        "/share/reports/q3/summary.csv",
        data={
            "csrf_token": csrf_token(client, "/share/reports/q3/summary.csv"),
            "expires": "1d",
            "recipients": "ann@example.org\nFront desk",
        },
    )
    assert made.status_code == 201
    assert "ann@example.org" in made.text and "Front desk" in made.text
    assert made.text.count("/d/") >= 2
    mine = client.get("/links").text
    assert mine.count("Front desk") == 1 and "ann@example.org" in mine


def test_sending_a_share_emails_each_recipient_their_own_link(make_app, frozen):
    from linksvc.services import of

    app = make_app(smtp_host="127.0.0.1")
    svc = of(app)
    runner = app.test_cli_runner()
    lines = create(
        runner,
        "--max-downloads",
        "1",
        "--recipient",
        "ann@example.org",
        "--recipient",
        "Front desk",
        "--recipient",
        "carol@example.org",
    )
    tokens = tokens_of(lines)
    share_id = lines[0].split()[1]
    carol = svc.signer.verify(tokens["carol@example.org"]).link_id
    assert runner.invoke(cli, ["link", "revoke", carol]).exit_code == 0
    client = app.test_client()
    from ..conftest import Auth

    Auth(client).login_as("alice")
    page = client.get(f"/links/{share_id}")
    assert page.status_code == 200 and "Email each recipient" in page.text
    sent = client.post(
        f"/links/{share_id}/send",
        data={
            "send-csrf_token": csrf_token(client, f"/links/{share_id}"),
            "send-to": "",
            "send-message": "Here you go",
        },
        follow_redirects=True,
    )
    assert "Sent each of 1 recipients" in sent.text
    (message,) = svc.store.outbox.list(kind="email")
    assert message.recipient == "ann@example.org"
    assert f"/d/{tokens['ann@example.org']}" in message.body
    assert tokens["carol@example.org"] not in message.body
    assert "Here you go" in message.body
