"""The ``linksvc`` command."""

import stat

import pytest
from click.testing import CliRunner

from linksvc.cli import cli
from linksvc.keys import read_keys

from ..conftest import SECRET


@pytest.fixture
def settings_file(tmp_path, tree, monkeypatch):
    monkeypatch.delenv("LINKSVC_SECRET_KEYS", raising=False)
    monkeypatch.delenv("LINKSVC_SETTINGS", raising=False)
    path = tmp_path / "cli.toml"
    path.write_text(
        f'protected_dir = "{tree}"\ninstance_dir = "cli-instance"\n'
        'public_base_url = "https://files.example.org"\n'
    )
    return path


def test_init_creates_instance_keys_and_database(runner, settings_file, tmp_path):
    result = runner.invoke(cli, ["--settings", str(settings_file), "init"])
    assert result.exit_code == 0, result.output
    instance = tmp_path / "cli-instance"
    keys = instance / "secret_keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    first = read_keys(instance, environ={})
    assert len(first) == 1 and len(first[0]) >= 32
    assert (instance / "linksvc.sqlite3").exists()
    again = runner.invoke(cli, ["init", "--settings", str(settings_file)])
    assert again.exit_code == 0, again.output
    assert read_keys(instance, environ={}) == first


def test_init_demo_admin_once(runner, settings_file):
    args = ["--settings", str(settings_file), "init", "--demo-admin"]
    first = runner.invoke(cli, args)
    assert "user name: admin" in first.output
    assert "password:" in first.output
    second = runner.invoke(cli, args)
    assert second.exit_code == 0
    assert "password:" not in second.output


def test_settings_option_after_the_command(settings_file):
    runner = CliRunner()  # no test app: the command builds its own from --settings
    runner.invoke(cli, ["--settings", str(settings_file), "init"])
    result = runner.invoke(
        cli,
        ["user", "add", "carol", "--password-stdin", "--settings", str(settings_file)],
        input="carol-password\n",
    )
    assert result.exit_code == 0, result.output
    listed = runner.invoke(cli, ["user", "list", "--settings", str(settings_file)])
    assert listed.output == "carol\tuser\t-\n"


def test_a_bad_settings_file_is_a_clear_error(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.toml"
    bad.write_text("max_expiry = 5\nprotected_dirr = 'x'\n")
    result = runner.invoke(cli, ["--settings", str(bad), "link", "list"])
    assert result.exit_code != 0
    assert "protected_dirr" in result.output
    assert "Traceback" not in result.output


def test_user_add_grant_list(runner, svc):
    result = runner.invoke(
        cli,
        ["user", "add", "dave", "--grant", "reports/q3", "--password-stdin"],
        input="dave-password\n",
    )
    assert result.exit_code == 0, result.output
    runner.invoke(cli, ["user", "grant", "dave", "web/"])
    assert svc.store.users.by_name("dave").grants == ("reports/q3", "web")
    listed = runner.invoke(cli, ["user", "list"]).output.splitlines()
    assert "dave\tuser\treports/q3,web" in listed
    assert "admin\tadmin\t-" in listed
    assert svc.store.users.authenticate("dave", "dave-password") is not None


def test_user_add_prompts_for_the_password(runner, svc):
    result = runner.invoke(
        cli, ["user", "add", "erin"], input="erin-pass-1\nerin-pass-1\n"
    )
    assert result.exit_code == 0, result.output
    assert svc.store.users.authenticate("erin", "erin-pass-1") is not None


def test_duplicate_user_and_short_password_are_errors(runner):
    dup = runner.invoke(
        cli, ["user", "add", "alice", "--password-stdin"], input="x" * 9
    )
    assert dup.exit_code == 1 and "already exists" in dup.output
    short = runner.invoke(cli, ["user", "add", "zed", "--password-stdin"], input="x\n")
    assert short.exit_code == 1 and "at least 8" in short.output


@pytest.mark.parametrize("prefix", ["../outside", "/etc", "a\\b", ".git"])
def test_grants_outside_the_tree_are_refused(runner, prefix, svc):
    result = runner.invoke(cli, ["user", "grant", "alice", prefix])
    assert result.exit_code == 1
    assert "Error:" in result.output
    assert svc.store.users.by_name("alice").grants == ("reports/q3",)


def test_link_create_prints_the_url_last(runner, client, tree):
    result = runner.invoke(
        cli,
        [
            "link",
            "create",
            "reports/q3/summary.csv",
            "--user",
            "alice",
            "--expires",
            "2h",
        ],
    )
    assert result.exit_code == 0, result.output
    url = result.output.splitlines()[-1]
    assert url.startswith("https://links.example.org/d/")
    response = client.get(url.removeprefix("https://links.example.org"))
    assert response.data == (tree / "reports/q3/summary.csv").read_bytes()


@pytest.mark.parametrize(
    ("path", "user", "message"),
    [
        ("readme.txt", "alice", "no access"),
        ("../outside/secret.txt", "admin", "relative"),
        ("escape.txt", "admin", "outside"),
        ("/etc/passwd", "admin", "relative"),
        ("reports\\q3\\summary.csv", "alice", "forbidden character"),
        ("nope.txt", "admin", "no file"),
        ("readme.txt", "nobody", "no user"),
    ],
)
def test_link_create_refusals(runner, svc, path, user, message):
    result = runner.invoke(cli, ["link", "create", path, "--user", user])
    assert result.exit_code == 1
    assert message in result.output
    assert SECRET.decode() not in result.output
    assert svc.store.links.list() == []


@pytest.mark.parametrize(
    ("expires", "message"),
    [("soon", "not a duration"), ("31d", "at most 30d"), ("0s", "not a duration")],
)
def test_link_create_bad_expiry(runner, expires, message):
    result = runner.invoke(
        cli, ["link", "create", "readme.txt", "--user", "admin", "--expires", expires]
    )
    assert result.exit_code == 1
    assert message in result.output


def test_link_list(runner, make_link, svc):
    make_link("readme.txt", user="admin")
    link = svc.store.links.list()[0]
    lines = runner.invoke(cli, ["link", "list"]).output.splitlines()
    assert len(lines) == 1
    fields = lines[0].split("\t")
    assert fields[0] == link.id
    assert fields[1:3] == ["readme.txt", "admin"]
    assert fields[4:] == ["active", "0"]


def test_user_ungrant_and_password(runner, svc, client, auth):
    result = runner.invoke(cli, ["user", "ungrant", "alice", "reports/q3/"])
    assert result.exit_code == 0, result.output
    assert svc.store.users.by_name("alice").grants == ()
    auth.login_as("alice")
    assert client.get("/protected/reports/q3/summary.csv").status_code == 403
    changed = runner.invoke(
        cli, ["user", "password", "alice", "--password-stdin"], input="brand-new-pw\n"
    )
    assert changed.exit_code == 0, changed.output
    assert client.get("/").status_code in (302, 303)  # the session ended
    assert b"Wrong user name" in auth.login("alice").data
    assert auth.login("alice", "brand-new-pw").status_code in (302, 303)
    unknown = runner.invoke(
        cli, ["user", "password", "nobody", "--password-stdin"], input="x" * 9
    )
    assert unknown.exit_code == 1 and "no user" in unknown.output


def test_help_needs_no_instance_and_shows_our_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "--settings" in result.output and "--app" not in result.output
    for command in ("init", "serve", "user", "link", "keys", "token", "audit"):
        assert f"  {command} " in result.output
    assert "Traceback" not in result.output


def test_link_create_with_a_recipient_page(runner, client):
    result = runner.invoke(
        cli, ["link", "create", "readme.txt", "--user", "admin", "--page"]
    )
    assert result.exit_code == 0, result.output
    path = result.output.splitlines()[-1].removeprefix("https://links.example.org")
    page = client.get(path)
    assert page.mimetype == "text/html" and "readme.txt" in page.get_data(True)
    assert client.get(path + "?download=1").data == b"hello from the protected tree\n"


def test_link_ids_never_start_like_an_option(monkeypatch, svc, runner, app):
    """An id starting with "-" could not be given to `linksvc link edit`."""
    import secrets

    from linksvc.links import sharing

    drawn = iter(["-dashFirst123456", "plainAfter123456"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: next(drawn))
    with app.app_context():
        admin = svc.store.users.by_name("admin")
        link, _ = sharing.create_link(
            svc, admin, "readme.txt", sharing.options(expires="1h")
        )
    assert link.id == "plainAfter123456"
    monkeypatch.undo()
    result = runner.invoke(cli, ["link", "edit", link.id, "--note", "ok"])
    assert result.exit_code == 0, result.output
