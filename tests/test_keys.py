"""Signing keys: list, rotate, retire; running apps follow without restart."""

import stat

import pytest
from click.testing import CliRunner

from linksvc import create_app
from linksvc.cli import cli
from linksvc.core import keys
from linksvc.services import of as services_of

from .conftest import Auth
from .conftest import BufferedClient


@pytest.fixture
def keyed(tmp_path, tree, template_db, monkeypatch):
    """An app whose keys come from its instance's keys file, as in production."""
    import shutil

    monkeypatch.delenv("LINKSVC_SECRET_KEYS", raising=False)
    monkeypatch.setattr(keys, "RELOAD_INTERVAL", 0)
    instance = tmp_path / "instance"
    instance.mkdir()
    shutil.copy(template_db, instance / "linksvc.sqlite3")
    keys.ensure_keys(instance)
    settings = tmp_path / "settings.toml"
    settings.write_text(
        f'protected_dir = "{tree}"\ninstance_dir = "{instance}"\n'
        'public_base_url = "https://links.example.org"\n'
    )
    app = create_app(settings_path=settings)
    app.config["TESTING"] = True
    app.test_client_class = BufferedClient
    yield app, settings, instance
    services_of(app).store.dispose()


def run(settings, *args):
    result = CliRunner().invoke(cli, ["--settings", str(settings), *args])
    return result


def new_link(settings) -> str:
    result = run(settings, "link", "create", "readme.txt", "--user", "admin")
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[-1].removeprefix("https://links.example.org")


def test_list_rotate_retire(keyed):
    app, settings, instance = keyed
    client = app.test_client()
    listed = run(settings, "keys", "list").output.splitlines()
    assert len(listed) == 1
    first_id, created, role = listed[0].split("\t")
    assert role == "signs" and created.endswith("Z")
    old_link = new_link(settings)
    assert old_link.startswith(f"/d/{first_id}.")

    rotated = run(settings, "keys", "rotate")
    assert rotated.exit_code == 0
    listed = run(settings, "keys", "list").output.splitlines()
    assert [line.split("\t")[2] for line in listed] == ["signs", "verifies"]
    assert listed[1].startswith(first_id)
    new_id = listed[0].split("\t")[0]
    assert stat.S_IMODE(keys.keys_path(instance).stat().st_mode) == 0o600

    new = new_link(settings)
    assert new.startswith(f"/d/{new_id}.")
    # The running app, built before the rotation, verifies both.
    assert client.get(old_link).status_code == 200
    assert client.get(new).status_code == 200

    retired = run(settings, "keys", "retire", first_id)
    assert retired.exit_code == 0
    assert client.get(old_link).status_code == 404  # at once, no restart
    assert client.get(new).status_code == 200


def test_sessions_follow_the_rotation_and_retiring_a_key_ends_them_all(keyed):
    app, settings, _ = keyed
    client = app.test_client()
    Auth(client).login("admin")
    stale = app.test_client()
    stale.set_cookie("linksvc_session", client.get_cookie("linksvc_session").value)
    old_id = run(settings, "keys", "list").output.split("\t")[0]
    run(settings, "keys", "rotate")
    # The live session is re-signed with the new key on its next request.
    assert client.get("/").status_code == 200
    run(settings, "keys", "retire", old_id)
    # A cookie signed only with the retired key is dead, without a restart,
    # and so is one re-signed with the new key since: retiring ends sessions.
    assert stale.get("/").status_code in (302, 303)
    assert client.get("/").status_code in (302, 303)


def test_retire_refusals(keyed):
    _, settings, _ = keyed
    unknown = run(settings, "keys", "retire", "deadbeef")
    assert unknown.exit_code == 1 and "no key with id" in unknown.output
    only = run(settings, "keys", "list").output.split("\t")[0]
    last = run(settings, "keys", "retire", only)
    assert last.exit_code == 1 and "only key" in last.output


def test_keys_from_the_environment_cannot_be_rotated_here(keyed, monkeypatch):
    _, settings, _ = keyed
    monkeypatch.setenv("LINKSVC_SECRET_KEYS", "environment-key-0123456789")
    result = run(settings, "keys", "rotate")
    assert result.exit_code == 1
    assert "LINKSVC_SECRET_KEYS" in result.output


def test_old_style_key_lines_without_a_date_still_work(tmp_path):
    keys.keys_path(tmp_path).write_text("just-a-key-0123456789\n")
    assert keys.read_keys(tmp_path, environ={}) == ["just-a-key-0123456789"]
    assert keys.read_entries(tmp_path)[0].created == ""
