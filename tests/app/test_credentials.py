"""Credentials end when they should, and logging in leaks nothing."""

import os
import stat
import time
from datetime import timedelta

import pytest

from linksvc.app import create_app
from linksvc.cli import cli
from linksvc.services import of as services_of

from ..conftest import Auth
from ..conftest import csrf_token


def api_token(app, svc, user="alice"):
    with app.app_context():
        owner = svc.store.users.by_name(user)
        return svc.store.tokens.create(owner.id, "t")[1]


def test_a_password_change_revokes_api_tokens(app, svc, client, runner):
    token = api_token(app, svc)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/links", headers=headers).status_code == 200
    result = runner.invoke(
        cli, ["user", "password", "alice", "--password-stdin"], input="new-pass-123\n"
    )
    assert result.exit_code == 0
    assert client.get("/api/v1/links", headers=headers).status_code == 401


def test_creating_an_api_token_asks_for_the_password_again(client, auth, svc):
    auth.login("alice")
    form = csrf_token(client, "/account/tokens")
    wrong = client.post(
        "/account/tokens",
        data={"csrf_token": form, "label": "laptop", "password": "not-it"},
    )
    assert wrong.status_code == 400
    assert "The password is not right." in wrong.get_data(as_text=True)
    missing = client.post(
        "/account/tokens", data={"csrf_token": form, "label": "laptop"}
    )
    assert missing.status_code == 400
    alice = svc.store.users.by_name("alice")
    assert svc.store.tokens.list(alice.id) == []


def test_sessions_end_after_the_idle_timeout(client, auth, frozen):
    auth.login("alice")
    frozen.tick(timedelta(hours=1, minutes=59))
    assert client.get("/").status_code == 200  # use keeps it alive
    frozen.tick(timedelta(hours=1, minutes=59))
    assert client.get("/").status_code == 200
    frozen.tick(timedelta(hours=2, seconds=1))
    assert client.get("/").status_code in (302, 303)


def test_sessions_end_after_their_lifetime_however_busy(client, auth, frozen):
    auth.login("alice")
    for _ in range(11):
        frozen.tick(timedelta(hours=1))
        assert client.get("/").status_code == 200
    frozen.tick(timedelta(hours=1, seconds=1))
    assert client.get("/").status_code in (302, 303)


def _login_seconds(app, name, password, rounds=3):
    client = app.test_client()
    token = csrf_token(client, "/login")
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        client.post(
            "/login",
            data={"username": name, "password": password, "csrf_token": token},
        )
        best = min(best, time.perf_counter() - start)
    return best


def test_a_wrong_password_takes_as_long_for_any_user_name(make_app, runner):
    runner.invoke(cli, ["user", "disable", "bob"])
    roomy = make_app(
        **{
            "login_limit": "1000/minute",
            "login_limit_per_address": "1000/minute",
            "login_limit_per_name": "1000/minute",
        }
    )
    existing = _login_seconds(roomy, "alice", "wrong-password")
    unknown = _login_seconds(roomy, "nobody-at-all", "wrong-password")
    disabled = _login_seconds(roomy, "bob", "wrong-password")
    # Before: ~170 ms against ~10 ms. Now each checks one hash.
    assert unknown > existing * 0.5 and disabled > existing * 0.5


@pytest.fixture
def guarded(make_app):
    return make_app(
        **{
            "login_limit": "3 per minute",
            "login_limit_per_name": "5 per minute",
            "login_limit_per_address": "100 per minute",
            "api_auth_limit": "3 per minute",
        }
    )


def test_guessing_from_many_addresses_cannot_lock_out_a_known_browser(guarded):
    alices_browser = guarded.test_client()
    alices_browser.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    assert Auth(alices_browser).login("alice").status_code in (302, 303)
    Auth(alices_browser).logout()
    for i in range(5):
        guesser = guarded.test_client()
        guesser.environ_base["REMOTE_ADDR"] = f"203.0.113.{i}"
        assert Auth(guesser).login("alice", "guess").status_code == 200
    # The name is now over its limit across addresses: a stranger's right
    # password waits too...
    stranger = guarded.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "203.0.113.99"
    assert Auth(stranger).login("alice").status_code == 429
    # ...but the browser that logged in as alice before is not locked out.
    assert Auth(alices_browser).login("alice").status_code in (302, 303)


def test_per_name_and_address_limit_holds_even_a_known_browser(guarded):
    browser = guarded.test_client()
    assert Auth(browser).login("alice").status_code in (302, 303)
    for _ in range(3):
        assert Auth(browser).login("alice", "typo").status_code == 200
    assert Auth(browser).login("alice").status_code == 429


def test_failed_api_token_authentication_is_throttled_and_logged(guarded, caplog):
    client = guarded.test_client()
    headers = {"Authorization": "Bearer lsv_deadbeef_guess"}
    for _ in range(3):
        assert client.get("/api/v1/links", headers=headers).status_code == 401
    blocked = client.get("/api/v1/links", headers=headers)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert blocked.get_json()["error"] == "rate_limited"
    assert "failed API token authentication" in caplog.text


def test_instance_files_are_private(tmp_path, settings, template_db):
    instance = tmp_path / "fresh-instance"
    app = create_app({**settings, "instance_dir": str(instance), "database_url": ""})
    svc = services_of(app)
    svc.store.migrate()
    svc.store.users.add("carol", "carol-password")
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    for name in ("linksvc.sqlite3", "linksvc.sqlite3-wal", "linksvc.sqlite3-shm"):
        path = instance / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert (instance / "linksvc.sqlite3").exists()
    svc.store.dispose()


def test_start_up_warns_about_instance_files_others_can_read(settings, app, caplog):
    db = os.path.join(settings["instance_dir"], "linksvc.sqlite3")
    os.chmod(db, 0o644)
    create_app(settings).extensions["linksvc"].close()
    assert "linksvc.sqlite3 is open to others" in caplog.text


def test_init_writes_no_key_file_when_keys_come_from_the_environment(
    tmp_path, monkeypatch
):
    from click.testing import CliRunner

    settings_file = tmp_path / "s.toml"
    settings_file.write_text(
        f'protected_dir = "{tmp_path}"\ninstance_dir = "{tmp_path / "inst"}"\n'
    )
    monkeypatch.setenv("LINKSVC_SECRET_KEYS", "environment-key-0123456789")
    result = CliRunner().invoke(cli, ["--settings", str(settings_file), "init"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "inst" / "secret_keys").exists()
    assert (tmp_path / "inst" / "linksvc.sqlite3").exists()
