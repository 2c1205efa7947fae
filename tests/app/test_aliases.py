"""Grants follow what a path resolves to; names that fool a reader are refused;
text from users never drives a terminal."""

import pytest

from linksvc.cli import cli

from ..conftest import csrf_token
from ..conftest import link_row

SECRET_TEXT = b"only for people granted secret/"


@pytest.fixture
def aliased(tree, runner):
    (tree / "pub").mkdir()
    (tree / "secret").mkdir()
    (tree / "secret" / "s.txt").write_bytes(SECRET_TEXT)
    (tree / "pub" / "tosecret").symlink_to(tree / "secret")
    (tree / "pub" / "s-link.txt").symlink_to(tree / "secret" / "s.txt")
    (tree / "pub" / "open.txt").write_text("public\n")
    assert runner.invoke(cli, ["user", "grant", "bob", "pub"]).exit_code == 0
    return tree


def test_a_symlink_into_another_folder_is_judged_by_that_folders_grants(
    aliased, client, auth
):
    auth.login_as("bob")
    assert client.get("/protected/pub/open.txt").status_code == 200
    for path in ("pub/tosecret/s.txt", "pub/s-link.txt"):
        response = client.get(f"/protected/{path}")
        assert response.status_code == 403, path
        assert SECRET_TEXT not in response.data
        assert client.get(f"/share/{path}").status_code == 403
    assert client.get("/browse/pub/tosecret").status_code == 403
    listing = client.get("/browse/pub").get_data(as_text=True)
    assert "open.txt" in listing
    assert "tosecret" not in listing and "s-link.txt" not in listing


def test_links_made_through_an_alias_name_the_real_file_and_revoke_by_it(
    aliased, make_link, svc, runner, client
):
    token = make_link("pub/tosecret/s.txt", user="admin")
    assert link_row(svc).path == "secret/s.txt"
    assert client.get(f"/d/{token}").data == SECRET_TEXT
    result = runner.invoke(cli, ["link", "revoke", "--path", "secret"])
    assert result.output.splitlines()[-1] == "1 link revoked"
    assert client.get(f"/d/{token}").status_code == 410
    other = make_link("pub/s-link.txt", user="admin")
    result = runner.invoke(cli, ["link", "revoke", "--path", "pub/tosecret"])
    assert result.output.splitlines()[-1] == "1 link revoked"
    assert client.get(f"/d/{other}").status_code == 410


def test_bidi_control_names_are_refused_everywhere(tree, client, auth):
    name = "invoice\u202egpj.exe"
    (tree / name).write_text("x")
    auth.login_as("admin")
    assert name not in client.get("/").get_data(as_text=True)
    assert client.get(f"/protected/{name}").status_code == 400
    assert client.get(f"/share/{name}").status_code == 400


def test_cli_output_escapes_control_characters(runner, make_link, app, svc):
    label = "evil\x1b]0;pwned\x07\x1b[2J"
    with app.app_context():
        alice = svc.store.users.by_name("alice")
        svc.store.tokens.create(alice.id, label)
    listed = runner.invoke(cli, ["token", "list", "--user", "alice"]).output
    assert "\x1b" not in listed and "\x07" not in listed
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J" in listed
    make_link("readme.txt", note="\x1b[31mred")
    exported = runner.invoke(cli, ["audit", "export", "--format", "csv"]).output
    assert "\x1b" not in exported


def test_pages_escape_bidi_in_user_text(client, auth, make_link, svc):
    make_link("reports/q3/summary.csv", user="alice", note="for \u202eevil")
    auth.login_as("alice")
    form = csrf_token(client, "/links")
    assert form
    page = client.get("/links").get_data(as_text=True)
    assert "\u202e" not in page
