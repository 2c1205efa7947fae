"""Signing keys: list, rotate, retire; running apps follow without restart."""

import dataclasses
import stat

import pytest
from click.testing import CliRunner

from linksvc import keys
from linksvc.app import create_app
from linksvc.cli import cli
from linksvc.services import of as services_of

from ..conftest import Auth
from ..conftest import BufferedClient
from ..conftest import csrf_token


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


def test_keys_file_lives_in_the_instance(tmp_path):
    assert keys.keys_path(tmp_path) == tmp_path / "secret_keys"


def test_new_keys_have_256_bits_and_a_creation_time():
    key = keys.new_key()
    assert len(key.secret) == 43 and key.created.endswith("Z")
    assert keys.new_key().secret != key.secret


def test_ensure_keys_keeps_existing_keys(tmp_path):
    first = keys.ensure_keys(tmp_path / "inst")
    assert keys.ensure_keys(tmp_path / "inst") == first and len(first) == 1


def test_write_entries_makes_private_folders_and_files(tmp_path):
    instance = tmp_path / "a" / "b"
    path = keys.write_entries(
        instance, [keys.Key("k" * 20, ""), keys.Key("j" * 20, "T")]
    )
    assert path.read_text() == f"{'k' * 20}\n{'j' * 20} T\n"
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_read_entries_skips_blank_and_comment_lines(tmp_path):
    keys.keys_path(tmp_path).write_text(
        "# rotated 2026-11-01\n\nnewest-key-0123456789 2026-11-01T00:00:00Z\n"
        "   \nolder-key-0123456789\n"
    )
    entries = keys.read_entries(tmp_path)
    assert [(e.secret, e.created) for e in entries] == [
        ("newest-key-0123456789", "2026-11-01T00:00:00Z"),
        ("older-key-0123456789", ""),
    ]
    assert keys.read_entries(tmp_path / "none") == []


def test_keys_from_the_environment_win_and_are_comma_separated(tmp_path):
    keys.ensure_keys(tmp_path)
    environ = {"LINKSVC_SECRET_KEYS": " first-key-0123456789 , second-key-0123456789,,"}
    assert keys.read_keys(tmp_path, environ=environ) == [
        "first-key-0123456789",
        "second-key-0123456789",
    ]
    assert keys.read_keys(tmp_path, environ={}) == [
        e.secret for e in keys.read_entries(tmp_path)
    ]


def test_require_keys_messages_and_the_16_character_minimum():
    from linksvc.core.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        keys.require_keys([])
    assert str(info.value) == (
        "There are no secret keys: run `linksvc init` to create "
        "instance/secret_keys, or set LINKSVC_SECRET_KEYS."
    )
    assert keys.require_keys(["x" * 16]) == ["x" * 16]
    with pytest.raises(ConfigError) as info:
        keys.require_keys(["x" * 16, "y" * 15])
    assert str(info.value) == "A secret key is shorter than 16 characters."


def test_retiring_the_only_key_says_what_to_do(tmp_path):
    from linksvc.core.errors import InvalidInput

    keys.ensure_keys(tmp_path)
    only = keys.read_entries(tmp_path)[0].id
    with pytest.raises(InvalidInput) as info:
        keys.retire(tmp_path, only)
    assert str(info.value) == (
        "You cannot retire the only key; run `linksvc keys rotate` first."
    )
    with pytest.raises(InvalidInput) as info:
        keys.retire(tmp_path, "deadbeef")
    assert str(info.value) == (
        "There is no key with id 'deadbeef'; see `linksvc keys list`."
    )


def test_keyring_follows_the_file_at_most_once_per_interval(tmp_path, monkeypatch):
    import os

    from freezegun import freeze_time

    secrets_ = keys.ensure_keys(tmp_path)
    with freeze_time("2026-03-01 12:00:00") as frozen:
        ring = keys.KeyRing(str(tmp_path), secrets_, from_file=True)
        monkeypatch.setattr(keys, "RELOAD_INTERVAL", 1.0)
        new = keys.rotate(tmp_path)
        assert ring.refresh() is False  # within the interval: not looked at
        frozen.tick(0.5)
        assert ring.refresh() is False
        frozen.tick(0.6)
        assert ring.refresh() is True and ring.keys[-1] == new.secret
        frozen.tick(1.1)
        assert ring.refresh() is False  # unchanged file
        # Rewritten with the same keys (a new mtime): nothing changed.
        keys.write_entries(tmp_path, keys.read_entries(tmp_path))
        os.utime(keys.keys_path(tmp_path), ns=(1, 1))
        frozen.tick(1.1)
        assert ring.refresh() is False and ring.keys[-1] == new.secret
        # An emptied file never leaves the process without keys.
        keys.keys_path(tmp_path).write_text("")
        frozen.tick(1.1)
        assert ring.refresh() is False and ring.keys[-1] == new.secret
        # With no interval at all, a change is seen at once.
        monkeypatch.setattr(keys, "RELOAD_INTERVAL", 0)
        newest = keys.rotate(tmp_path)
        assert ring.refresh() is True and ring.keys[-1] == newest.secret


def test_keys_from_the_environment_never_change_in_a_process(tmp_path, monkeypatch):
    monkeypatch.setattr(keys, "RELOAD_INTERVAL", 0)
    keys.ensure_keys(tmp_path)
    ring = keys.KeyRing(str(tmp_path), ["environment-key-0123456789"], from_file=False)
    keys.rotate(tmp_path)
    assert ring.refresh() is False
    assert ring.keys == ["environment-key-0123456789"]


def test_every_signed_value_follows_a_rotation_and_ends_with_its_key(
    keyed, monkeypatch
):
    """What README promises for each signed thing: after `keys rotate` all
    that was signed keeps working and everything new is signed with the new
    key; after `keys retire` of the old key, all it signed stops."""
    import re

    from itsdangerous import URLSafeTimedSerializer

    from linksvc.core.unlock import COOKIE
    from linksvc.links import sharing
    from linksvc.web import auth

    app, settings, instance = keyed
    svc = services_of(app)
    with app.app_context():
        admin = svc.store.users.by_name("admin")
        _, signed = sharing.create_link(
            svc, admin, "readme.txt", sharing.options(expires="1h")
        )
        _, locked = sharing.create_link(
            svc,
            admin,
            "readme.txt",
            sharing.options(expires="1h", password="open sesame"),
        )
        monkeypatch.setattr(
            svc, "settings", dataclasses.replace(svc.settings, opaque_links=True)
        )
        _, opaque = sharing.create_link(
            svc, admin, "readme.txt", sharing.options(expires="1h")
        )
        monkeypatch.setattr(
            svc, "settings", dataclasses.replace(svc.settings, opaque_links=False)
        )
    browser = app.test_client()
    form = re.search(r'value="([^"]+)"', browser.get(f"/d/{locked}").text)[1]
    unlocked = browser.post(
        f"/d/{locked}", data={"csrf_token": form, "password": "open sesame"}
    )
    assert unlocked.status_code == 303
    unlock = browser.get_cookie(COOKIE, path=f"/d/{locked}").value
    visitor = app.test_client()
    old_form = re.search(r'value="([^"]+)"', visitor.get("/login").text)[1]
    person = app.test_client()
    Auth(person).login("admin")
    old_device = person.get_cookie(auth.DEVICE_COOKIE).value
    old_id = run(settings, "keys", "list").output.split("\t")[0]

    def known(device: str) -> bool:
        with app.test_request_context(
            "/login", method="POST", data={"username": "admin"}
        ):
            from flask import request

            request.cookies = {auth.DEVICE_COOKIE: device}
            return auth._known_device()

    def works(token: str, cookie: str | None = None) -> int:
        client = app.test_client()
        if cookie:
            client.set_cookie(COOKIE, cookie, path=f"/d/{token}")
        return client.get(f"/d/{token}").status_code

    def login_with(form_token: str) -> int:
        return visitor.post(
            "/login",
            data={
                "csrf_token": form_token,
                "username": "alice",
                "password": "alice-password-1",
            },
        ).status_code

    run(settings, "keys", "rotate")
    new_key = keys.read_entries(instance)[0].secret
    assert (works(signed), works(opaque), works(locked, unlock)) == (200, 200, 200)
    assert known(old_device)
    # What is signed now is signed with the new key (the device cookie was
    # signed with the oldest: itsdangerous signs with the last of its list).
    Auth(person).login("admin")
    new_device = person.get_cookie(auth.DEVICE_COOKIE).value
    URLSafeTimedSerializer(new_key, salt="linksvc.device.v1").loads(new_device)
    with app.app_context():
        _, fresh = sharing.create_link(
            svc, admin, "readme.txt", sharing.options(expires="1h")
        )
    assert fresh.startswith(keys.key_id(new_key) + ".")
    locked_id = svc.signer.verify(locked).link_id
    keys_of_locked = (locked_id, svc.store.links.get(locked_id).password_hash)
    new_unlock = svc.unlocks.value(*keys_of_locked)
    assert login_with(old_form) in (302, 303)  # a form loaded before: accepted

    run(settings, "keys", "retire", old_id)
    assert (works(signed), works(opaque)) == (404, 404)
    assert works(locked) == 404  # its token was signed with the old key too
    assert not known(old_device) and known(new_device)
    fresh_form = re.search(r'value="([^"]+)"', app.test_client().get("/login").text)[1]
    assert login_with(old_form) == 400  # signed with the retired key
    assert works(fresh) == 200 and fresh_form
    assert not svc.unlocks.unlocked(f"{COOKIE}={unlock}", *keys_of_locked)
    assert svc.unlocks.unlocked(f"{COOKIE}={new_unlock}", *keys_of_locked)


def test_a_worker_that_slept_through_a_rotation_signs_forms_with_the_new_key(keyed):
    """Two workers of one instance: the second sees no request between the
    rotation and the retirement, so its key list goes from [old] to [new]
    with the same empty fallbacks. It kept signing form tokens with the
    retired key, and the first worker refused its forms (400): a login
    failed in the two-instance test."""
    app, settings, instance = keyed
    other = create_app(settings_path=settings)  # the sleeping worker
    other.config["TESTING"] = True
    other.test_client_class = BufferedClient
    try:
        old_id = run(settings, "keys", "list").output.split("\t")[0]
        run(settings, "keys", "rotate")
        assert app.test_client().get("/login").status_code == 200
        run(settings, "keys", "retire", old_id)
        # The form comes from the worker that slept, the POST goes to the other.
        client = other.test_client()
        token = csrf_token(client, "/login")
        cookie = client.get_cookie("linksvc_session").value
        poster = app.test_client()
        poster.set_cookie("linksvc_session", cookie)
        answer = poster.post(
            "/login",
            data={"csrf_token": token, "username": "admin", "password": "wrong"},
        )
        assert answer.status_code == 200  # the form was taken (a wrong password)
    finally:
        services_of(other).store.dispose()
