"""Signing in against a real OpenLDAP server (Debian's slapd, started by the
tests on 127.0.0.1 with StartTLS), groups mapped from it, and the sync that
disables people who left."""

from __future__ import annotations

import pytest

from linksvc.cli import cli
from linksvc.config import ConfigError
from linksvc.links import policy
from linksvc.links import sharing
from linksvc.services import of

from ..conftest import audit_rows
from ..conftest import csrf_token
from ..ldap import Slapd


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    server = Slapd(tmp_path_factory.mktemp("slapd"))
    lena = server.add_person("lena", "lena-pass-1", "lena@example.org")
    server.add_person("omar", "omar-pass-1")
    server.add_person("admin", "directory-admin-pass")  # a local name too
    server.staff = server.add_group("staff", lena)
    server.lena = lena
    yield server
    server.stop()


@pytest.fixture
def ldap_app(make_app, slapd, monkeypatch):
    from ..ldap import READER_PASSWORD

    monkeypatch.setenv("LINKSVC_LDAP_BIND_PASSWORD", READER_PASSWORD)
    app = make_app(**slapd.settings(oidc_group_map={"staff": "staff"}))
    with app.app_context():
        svc = of(app)
        policy.add_group(svc, "staff")
        policy.grant_group(svc, "staff", "reports")
    return app


def login(client, username, password):
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": password},
    )


def test_the_directory_judges_the_password_and_makes_the_account(ldap_app, slapd):
    svc = of(ldap_app)
    client = ldap_app.test_client()
    done = login(client, "lena", "lena-pass-1")
    assert done.status_code == 302, done.text
    lena = svc.store.users.by_name("lena")
    assert lena.oidc_subject.startswith("ldap:") and lena.email == "lena@example.org"
    # Mapped from her directory group: the group's grant reaches her at once.
    assert [g.name for g in svc.store.groups.of_user(lena.id)] == ["staff"]
    assert client.get("/protected/reports/q3/summary.csv").status_code == 200
    assert "directory (LDAP)" in client.get("/account/sessions").text
    # Her second sign-in finds the same account.
    assert login(ldap_app.test_client(), "lena", "lena-pass-1").status_code == 302
    assert [u.username for u in svc.store.users.list()].count("lena") == 1
    svc.audit.flush()
    logins = [(r.outcome, r.detail) for r in audit_rows(svc) if r.event == "login"]
    assert logins == [("ok", "ldap"), ("ok", "ldap")]


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("lena", "wrong-password"),
        ("nobody", "lena-pass-1"),
        ("*", "lena-pass-1"),  # a filter, escaped: no entry is named *
        ("lena)(uid=*", "lena-pass-1"),
    ],
)
def test_wrong_passwords_unknown_names_and_filters_are_refused(
    ldap_app, username, password
):
    svc = of(ldap_app)
    answer = login(ldap_app.test_client(), username, password)
    assert answer.status_code == 200 and "Wrong user name or password" in answer.text
    assert svc.store.users.by_name_or_none("lena") is None
    svc.audit.flush()
    refused = [r for r in audit_rows(svc) if r.event == "login"]
    assert [(r.outcome, r.detail) for r in refused] == [("refused", "ldap")]


def test_an_empty_password_is_never_an_anonymous_yes(ldap_app):
    assert of(ldap_app).directory.authenticate("lena", "") is None


def test_a_local_account_keeps_its_own_password(ldap_app):
    from ..conftest import PASSWORDS

    # "admin" is also in the directory; the local account is never looked up there.
    assert (
        login(ldap_app.test_client(), "admin", "directory-admin-pass").status_code
        == 200
    )
    assert login(ldap_app.test_client(), "admin", PASSWORDS["admin"]).status_code == 302


def test_sync_disables_leavers_and_follows_groups(ldap_app, slapd):
    svc = of(ldap_app)
    client = ldap_app.test_client()
    assert login(client, "lena", "lena-pass-1").status_code == 302
    assert login(ldap_app.test_client(), "omar", "omar-pass-1").status_code == 302
    with ldap_app.app_context():
        lena = svc.store.users.by_name("lena")
        link, token = sharing.create_link(svc, lena, "reports/q3/summary.csv")
    runner = ldap_app.test_cli_runner()

    slapd.set_members(slapd.staff)  # lena taken out of staff
    try:
        result = runner.invoke(cli, ["directory", "sync"])
        assert result.exit_code == 0, result.output
        assert "checked 2, disabled 0, updated 2" in result.output
        assert svc.store.groups.of_user(lena.id) == []
        assert client.get("/protected/reports/q3/summary.csv").status_code == 403
        assert ldap_app.test_client().get(f"/d/{token}").status_code == 403

        slapd.delete("uid=omar,ou=people,dc=example,dc=org")
        result = runner.invoke(cli, ["directory", "sync"])
        assert "disabled omar (gone from the directory)" in result.output
        assert svc.store.users.by_name("omar").disabled
        assert login(ldap_app.test_client(), "omar", "omar-pass-1").status_code == 200
    finally:
        slapd.set_members(slapd.staff, slapd.lena)
        slapd.add_person("omar", "omar-pass-1")
    svc.audit.flush()
    said = [(r.event, r.outcome, r.actor) for r in audit_rows(svc)]
    assert ("user", "disabled", "directory sync") in said


def test_an_unreachable_or_untrusted_directory_is_a_clear_503(
    make_app, slapd, monkeypatch
):
    from ..conftest import free_port

    monkeypatch.setenv("LINKSVC_LDAP_BIND_PASSWORD", "x")
    closed = make_app(**slapd.settings(ldap_url=f"ldap://127.0.0.1:{free_port()}"))
    answer = login(closed.test_client(), "lena", "lena-pass-1")
    assert answer.status_code == 503 and "Directory unavailable" in answer.text
    # StartTLS with a certificate nobody told us to trust: refused, not sent.
    untrusted = make_app(**slapd.settings(ldap_ca_file=""))
    answer = login(untrusted.test_client(), "lena", "lena-pass-1")
    assert answer.status_code == 503 and "StartTLS failed" in answer.text


def test_plain_ldap_needs_an_explicit_setting(make_app, slapd, monkeypatch):
    from ..ldap import READER_PASSWORD

    monkeypatch.setenv("LINKSVC_LDAP_BIND_PASSWORD", READER_PASSWORD)
    with pytest.raises(ConfigError, match="ldap_allow_plain"):
        make_app(**slapd.settings(ldap_starttls=False))
    plain = make_app(**slapd.settings(ldap_starttls=False, ldap_allow_plain=True))
    assert login(plain.test_client(), "lena", "lena-pass-1").status_code == 302
