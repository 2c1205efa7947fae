"""Address ranges, pinned versions and opaque links, on the download path."""

import base64
import dataclasses
import os

import pytest

from linksvc.links import sharing

from ..conftest import audit_rows
from ..conftest import link_row

README = b"hello from the protected tree\n"


def get(client, token, addr="127.0.0.1", **kw):
    return client.get(f"/d/{token}", environ_base={"REMOTE_ADDR": addr}, **kw)


def test_a_link_limited_to_ranges_serves_only_them(client, make_link, svc):
    token = make_link("readme.txt", ranges="10.0.0.0/8, 2001:db8::/32")
    assert get(client, token, "10.20.30.40").data == README
    assert get(client, token, "2001:db8:1:2::3").data == README
    refused = get(client, token, "192.0.2.1")
    assert refused.status_code == 403
    assert "Not available from your network" in refused.text
    assert "192.0.2.1" in refused.text
    assert get(client, token, "2001:db9::1").status_code == 403
    head = client.head(f"/d/{token}", environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert head.status_code == 403
    svc.audit.flush()
    refusals = [r for r in audit_rows(svc) if r.outcome == "address_refused"]
    # The audit records the address the decision was made on.
    assert {r.remote_addr for r in refusals} == {"192.0.2.1", "2001:db9::1"}
    assert link_row(svc).download_count == 2


def test_ranges_judge_the_address_the_trusted_proxy_gives(make_app, make_link):
    app = make_app(trusted_proxies=1)
    client = app.test_client()
    from linksvc.services import of

    svc = of(app)
    with app.app_context():
        admin = svc.store.users.by_name("admin")
        _, token = sharing.create_link(
            svc, admin, "readme.txt", sharing.options(ranges="10.0.0.0/8")
        )
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    ok = client.get(
        f"/d/{token}", environ_base=proxy, headers={"X-Forwarded-For": "10.1.1.1"}
    )
    assert ok.status_code == 200
    # A client's own X-Forwarded-For before the proxy's does not count.
    spoofed = client.get(
        f"/d/{token}",
        environ_base=proxy,
        headers={"X-Forwarded-For": "10.1.1.1, 192.0.2.5"},
    )
    assert spoofed.status_code == 403


def test_a_pinned_link_stops_when_the_file_is_replaced(client, make_link, tree, svc):
    pinned = make_link("readme.txt", pin=True)
    loose = make_link("readme.txt")
    assert get(client, pinned).data == README
    replacement = tree / "readme.txt.new"
    replacement.write_bytes(README)  # the same bytes, but another file
    os.replace(replacement, tree / "readme.txt")
    gone = get(client, pinned)
    assert gone.status_code == 410
    assert "The file has changed since this link was made" in gone.text
    assert get(client, loose).data == README  # unpinned: today's behaviour
    svc.audit.flush()
    assert any(r.outcome == "file_changed" for r in audit_rows(svc))


def test_a_pinned_link_stops_when_the_file_is_written(client, make_link, tree):
    pinned = make_link("readme.txt", pin=True)
    with open(tree / "readme.txt", "ab") as fh:
        fh.write(b"more\n")
    assert get(client, pinned).status_code == 410
    st = os.stat(tree / "big.bin")
    pinned_big = make_link("big.bin", pin=True)
    os.utime(tree / "big.bin", ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert get(client, pinned_big).status_code == 410


def test_pinning_follows_the_setting_by_default(make_app, tree):
    from linksvc.services import of

    app = make_app(pin=True)
    svc = of(app)
    with app.app_context():
        admin = svc.store.users.by_name("admin")
        link, _ = sharing.create_link(svc, admin, "readme.txt")
        loose, _ = sharing.create_link(
            svc, admin, "readme.txt", sharing.options(pin=False)
        )
    st = os.stat(tree / "readme.txt")
    assert link.pin == f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}"
    assert loose.pin is None


@pytest.fixture
def opaque_app(make_app):
    return make_app(opaque_links=True)


def test_an_opaque_link_says_nothing_of_the_file(opaque_app):
    from linksvc.services import of

    svc = of(opaque_app)
    client = opaque_app.test_client()
    with opaque_app.app_context():
        admin = svc.store.users.by_name("admin")
        link, token = sharing.create_link(
            svc,
            admin,
            "reports/q3/summary.csv",
            sharing.options(expires="1h", max_downloads=2),
        )
        _, page_token = sharing.create_link(
            svc, admin, "readme.txt", sharing.options(expires="1h", recipient_page=True)
        )
    assert token.split(".")[1] == link.id and len(token.split(".")) == 3
    decoded = b"".join(
        base64.urlsafe_b64decode(part + "==") for part in token.split(".")[1:]
    )
    assert b"summary" not in decoded and b"reports" not in decoded
    assert client.get(f"/d/{token}").data == b"quarter,revenue\nQ3,1\n"
    assert client.head(f"/d/{token}").status_code == 200
    assert client.get(f"/d/{token}").status_code == 200
    assert client.get(f"/d/{token}").status_code == 410  # limit 2, from the row
    assert link_row(svc, link.id).download_count == 2
    # The recipient page comes from the row too.
    landing = client.get(f"/d/{page_token}")
    assert landing.status_code == 200 and "readme.txt" in landing.text
    assert client.get(f"/d/{page_token}?download=1").data == README
    # Copy again gives the same text.
    with opaque_app.test_request_context():
        assert sharing.link_token(svc, svc.store.links.get(link.id)) == token


def test_opaque_and_signed_links_work_side_by_side(opaque_app, make_link, svc):
    from linksvc.services import of

    opaque_svc = of(opaque_app)
    client = opaque_app.test_client()
    with opaque_app.app_context():
        admin = opaque_svc.store.users.by_name("admin")
        _, opaque = sharing.create_link(
            opaque_svc, admin, "readme.txt", sharing.options(expires="1h")
        )
    opaque_svc.settings = dataclasses.replace(opaque_svc.settings, opaque_links=False)
    with opaque_app.app_context():
        _, signed = sharing.create_link(
            opaque_svc, admin, "readme.txt", sharing.options(expires="1h")
        )
    assert len(opaque.split(".")) == 3 and len(signed.split(".")) == 4
    for token in (opaque, signed):
        assert client.get(f"/d/{token}").data == README
    link_id = opaque.split(".")[1]
    opaque_svc.store.links.revoke(link_id, None)
    assert client.get(f"/d/{opaque}").status_code == 410
    unknown = opaque_svc.signer.issue_opaque("NoSuchLinkAtAll0")
    assert client.get(f"/d/{unknown}").status_code == 404


def test_an_opaque_link_is_timed_by_its_row(opaque_app, frozen):
    from linksvc.services import of

    svc = of(opaque_app)
    client = opaque_app.test_client()
    with opaque_app.app_context():
        admin = svc.store.users.by_name("admin")
        _, token = sharing.create_link(
            svc, admin, "readme.txt", sharing.options(expires="1h")
        )
    frozen.tick(3601)
    gone = client.get(f"/d/{token}")
    assert gone.status_code == 410 and "expired" in gone.text


def test_the_form_the_api_and_the_cli_make_the_same_link(client, auth, runner, svc):
    """One name per option, one parser: the three adapters given the same
    options store the same row."""
    from linksvc.cli import cli

    from ..conftest import csrf_token

    auth.login_as("admin")
    form = {
        "csrf_token": csrf_token(client, "/share/readme.txt"),
        "expires": "custom",
        "custom": "2d",
        "max_downloads": "3",
        "note": "for Zoë",
        "password": "six six",
        "ranges": "10.0.0.0/8",
        "pin": "y",
        "recipient_page": "y",
        "notify": "y",
    }
    assert client.post("/share/readme.txt", data=form).status_code == 201
    made = runner.invoke(cli, ["token", "create", "ci", "--user", "admin"])
    token = made.output.splitlines()[-1]
    body = {
        "path": "readme.txt",
        "expires": "2d",
        "max_downloads": 3,
        "note": "for Zoë",
        "password": "six six",
        "ranges": ["10.0.0.0/8"],
        "pin": True,
        "recipient_page": True,
        "notify": True,
    }
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/links", json=body, headers=headers).status_code == 201
    args = ["link", "create", "readme.txt", "--user", "admin", "--expires", "2d"]
    args += ["--max-downloads", "3", "--note", "for Zoë", "--ranges", "10.0.0.0/8"]
    args += ["--pin", "--recipient-page", "--notify", "--password-stdin"]
    result = runner.invoke(cli, args, input="six six\n")
    assert result.exit_code == 0, result.output
    rows = svc.store.links.list()
    assert len(rows) == 3

    def shape(link):
        return (
            link.path,
            link.expires_at - link.created_at,
            link.max_downloads,
            link.note,
            link.ranges,
            link.pin is not None,
            link.recipient_page,
            link.notify,
            link.has_password,
        )

    assert {shape(link) for link in rows} == {
        ("readme.txt", 2 * 86400, 3, "for Zoë", "10.0.0.0/8", True, True, True, True)
    }
