"""Editing a live link: the URL stays, the row governs at once, the audit
says what changed and who changed it."""

from datetime import timedelta

import pytest

from linksvc.cli import cli
from linksvc.core.errors import AlreadyRevoked
from linksvc.core.errors import EditConflict
from linksvc.core.errors import ExpiryTooLong
from linksvc.core.errors import InvalidInput
from linksvc.links import editing
from linksvc.links import sharing

from ..conftest import audit_rows
from ..conftest import csrf_token
from ..conftest import link_row

README = b"hello from the protected tree\n"


@pytest.fixture
def admin(svc):
    return svc.store.users.by_name("admin")


def edit(svc, user, token, actor="", remote_addr="", **changes):
    link_id = svc.signer.verify(token).link_id
    asked = sharing.options(**changes)
    return editing.edit_link(
        svc, user, link_id, asked, actor=actor, remote_addr=remote_addr
    )


def url_of(svc, token):
    link = svc.store.links.get(svc.signer.verify(token).link_id)
    return sharing.shareable_url(svc, link)


def test_extending_an_expired_link_revives_it_with_the_same_url(
    client, make_link, svc, admin, frozen
):
    token = make_link("readme.txt", expires="1h")
    before = url_of(svc, token)
    frozen.tick(timedelta(hours=2))
    assert client.get(f"/d/{token}").status_code == 410
    link = edit(svc, admin, token, expires="1d")
    assert link.expires_at == int(frozen().timestamp()) + 86400
    assert client.get(f"/d/{token}").data == README
    assert url_of(svc, token) == before == f"https://links.example.org/d/{token}"
    frozen.tick(timedelta(days=1, seconds=1))
    assert client.get(f"/d/{token}").status_code == 410


def test_shortening_applies_at_once(client, make_link, svc, admin, frozen):
    token = make_link("readme.txt", expires="7d")
    edit(svc, admin, token, expires="+10m")
    frozen.tick(timedelta(minutes=10))
    assert client.get(f"/d/{token}").status_code == 200
    frozen.tick(timedelta(seconds=1))
    gone = client.get(f"/d/{token}")
    assert gone.status_code == 410 and "expired" in gone.text


def test_a_new_expiry_is_bounded_from_now(make_link, svc, admin, frozen):
    token = make_link("readme.txt", expires="1d")
    with pytest.raises(ExpiryTooLong):
        edit(svc, admin, token, expires="31d")
    frozen.tick(timedelta(days=20))
    edit(svc, admin, token, expires="30d")  # max_expiry from now, not creation
    with pytest.raises(InvalidInput, match="in the future"):
        edit(svc, admin, token, expires="2020-01-01T00:00")
    with pytest.raises(InvalidInput):
        edit(svc, admin, token, expires="soon")


def test_limits_can_be_raised_lowered_added_and_removed(client, make_link, svc, admin):
    token = make_link("readme.txt", max_downloads=1)
    assert client.get(f"/d/{token}").status_code == 200
    assert client.get(f"/d/{token}").status_code == 410
    edit(svc, admin, token, max_downloads=2)
    assert client.get(f"/d/{token}").status_code == 200
    assert client.get(f"/d/{token}").status_code == 410
    edit(svc, admin, token, max_downloads=None)
    assert client.get(f"/d/{token}").status_code == 200
    unlimited = make_link("big.bin")
    assert client.get(f"/d/{unlimited}").status_code == 200
    # The token says "no limit"; the row now has one and decides.
    edit(svc, admin, unlimited, max_downloads=2)
    assert client.get(f"/d/{unlimited}").status_code == 200
    assert client.get(f"/d/{unlimited}").status_code == 410
    assert link_row(svc, svc.signer.verify(unlimited).link_id).download_count == 2


def test_the_audit_says_what_changed_and_who_but_never_the_password(
    make_link, svc, admin, frozen
):
    token = make_link("readme.txt", expires="1h", max_downloads=1)
    edit(
        svc,
        admin,
        token,
        expires="2h",
        max_downloads=3,
        note="for Zoë",
        password="hunter22",
        ranges="10.0.0.0/8",
        actor="api:admin",
        remote_addr="198.51.100.7",
    )
    svc.audit.flush()
    (row,) = [r for r in audit_rows(svc) if r.event == "edited"]
    assert row.actor == "api:admin" and row.remote_addr == "198.51.100.7"
    assert "expires_at: 2026-03-01 13:00 → 2026-03-01 14:00 UTC" in row.detail
    assert "max_downloads: 1 → 3" in row.detail and "note changed" in row.detail
    assert "password set" in row.detail and "ranges: any → 10.0.0.0/8" in row.detail
    assert "hunter22" not in str(row)
    # Nothing changed: nothing recorded.
    edit(svc, admin, token, max_downloads=3, ranges="10.0.0.0/8")
    svc.audit.flush()
    assert len([r for r in audit_rows(svc) if r.event == "edited"]) == 1


def test_only_the_owner_or_an_admin_edits_and_never_a_revoked_link(
    make_link, svc, admin
):
    token = make_link("reports/q3/summary.csv", user="alice")
    bob = svc.store.users.by_name("bob")
    from linksvc.core.errors import UnknownLink

    with pytest.raises(UnknownLink):
        edit(svc, bob, token, note="mine now")
    edit(svc, admin, token, note="checked")
    svc.store.links.revoke(svc.signer.verify(token).link_id, None)
    with pytest.raises(AlreadyRevoked):
        edit(svc, admin, token, expires="1d")


def test_two_edits_from_the_same_view_cannot_undo_each_other(make_link, svc):
    token = make_link("readme.txt", max_downloads=1)
    link = svc.store.links.get(svc.signer.verify(token).link_id)
    svc.store.links.edit(link, {"max_downloads": 5})
    with pytest.raises(EditConflict):
        svc.store.links.edit(link, {"max_downloads": 2})  # saw the old value
    assert svc.store.links.get(link.id).max_downloads == 5


def test_dashboard_edits_a_link(client, auth, make_link, svc):
    token = make_link("reports/q3/summary.csv", user="alice", max_downloads=1)
    link_id = svc.signer.verify(token).link_id
    auth.login_as("alice")
    page = client.get(f"/links/{link_id}")
    assert "Change this link" in page.text
    form = {
        "csrf_token": csrf_token(client, f"/links/{link_id}"),
        "expires": "3d",
        "max_downloads": "4",
        "note": "for the auditors",
        "password": "",
        "ranges": "",
    }
    saved = client.post(f"/links/{link_id}", data=form)
    assert saved.status_code == 302
    shown = client.get(f"/links/{link_id}").text
    assert "URL is unchanged" in shown and "for the auditors" in shown
    assert "max_downloads: 1 → 4" in shown  # the history shows the change
    link = svc.store.links.get(link_id)
    assert (link.max_downloads, link.note) == (4, "for the auditors")
    bad = client.post(f"/links/{link_id}", data={**form, "expires": "90d"})
    assert bad.status_code == 400 and "at most 30d" in bad.text
    assert client.post(f"/links/{link_id}", data={"note": "x"}).status_code == 400


def test_cli_edits_a_link(runner, make_link, svc):
    token = make_link("readme.txt", max_downloads=1)
    link_id = svc.signer.verify(token).link_id
    result = runner.invoke(
        cli,
        ["link", "edit", link_id, "--expires", "2d", "--no-limit", "--password-stdin"],
        input="a secret pass\n",
    )
    assert result.exit_code == 0, result.output
    assert "downloads 0/no limit" in result.output
    link = svc.store.links.get(link_id)
    assert link.max_downloads is None and link.has_password
    result = runner.invoke(cli, ["link", "edit", link_id, "--remove-password"])
    assert result.exit_code == 0 and not svc.store.links.get(link_id).has_password
    nothing = runner.invoke(cli, ["link", "edit", link_id])
    assert nothing.exit_code == 2 and "Nothing to change" in nothing.output
    svc.audit.flush()
    actors = {r.actor for r in audit_rows(svc) if r.event == "edited"}
    assert actors == {"cli"}


def test_the_audit_export_has_the_new_events_and_what_changed(
    runner, make_link, svc, admin
):
    import json

    from linksvc.links import policy

    token = make_link("readme.txt", max_downloads=1)
    edit(svc, admin, token, max_downloads=2, password="a secret one")
    policy.add_group(svc, "ops", max_expiry="1d", actor="admin")
    result = runner.invoke(cli, ["audit", "export", "--format", "jsonl"])
    records = [json.loads(line) for line in result.output.splitlines()]
    edited = next(r for r in records if r["event"] == "edited")
    assert edited["detail"] == "max_downloads: 1 → 2; password set"
    group = next(r for r in records if r["event"] == "group")
    assert (group["subject"], group["detail"]) == ("ops", "expiry at most 1d")
    csv_out = runner.invoke(cli, ["audit", "export"]).output
    assert csv_out.splitlines()[0].endswith(",subject,detail")
    assert "a secret one" not in csv_out + result.output
