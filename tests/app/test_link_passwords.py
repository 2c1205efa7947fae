"""Passwords on links: the page, the per-link throttle, the unlock cookie."""

import re
from datetime import timedelta

import pytest

from linksvc.core.unlock import COOKIE
from linksvc.links import sharing

from ..conftest import audit_rows
from ..conftest import link_row

README = b"hello from the protected tree\n"
PASSWORD = "open sesame"


def form_token(response) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', response.text)
    return found[1]


def unlock(client, token: str, password: str, addr: str = "127.0.0.1"):
    page = client.get(f"/d/{token}", environ_base={"REMOTE_ADDR": addr})
    return client.post(
        f"/d/{token}",
        data={"csrf_token": form_token(page), "password": password},
        environ_base={"REMOTE_ADDR": addr},
    )


@pytest.fixture
def locked(make_link):
    return make_link("readme.txt", password=PASSWORD)


def test_a_password_link_asks_for_it_and_shows_nothing_else(client, locked, svc):
    page = client.get(f"/d/{locked}")
    assert page.status_code == 403
    assert "Password required" in page.text and 'type="password"' in page.text
    assert "readme" not in page.text and README not in page.data
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in page.headers["Cache-Control"]
    head = client.head(f"/d/{locked}")
    assert head.status_code == 403 and head.data == b""
    ranged = client.get(f"/d/{locked}?download=1", headers={"Range": "bytes=0-3"})
    assert ranged.status_code == 403 and README[:4] not in ranged.data
    slack = {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}
    preview = client.get(f"/d/{locked}", headers=slack)
    assert preview.status_code == 403 and "readme" not in preview.text
    assert link_row(svc).download_count == 0


def test_the_right_password_unlocks_downloads_and_ranges(client, locked, svc, frozen):
    wrong = unlock(client, locked, "not it at all")
    assert wrong.status_code == 403 and "not the link&#39;s password" in wrong.text
    right = unlock(client, locked, PASSWORD)
    assert right.status_code == 303 and right.headers["Location"] == f"/d/{locked}"
    set_cookie = right.headers["Set-Cookie"]
    assert f"{COOKIE}=" in set_cookie and f"Path=/d/{locked}" in set_cookie
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert "Max-Age=3600" in set_cookie and "Secure" in set_cookie
    assert PASSWORD not in set_cookie
    got = client.get(f"/d/{locked}")
    assert got.status_code == 200 and got.data == README
    ranged = client.get(f"/d/{locked}", headers={"Range": "bytes=6-9"})
    assert ranged.status_code == 206 and ranged.data == README[6:10]
    # The cookie is short-lived: after unlock_lifetime the form is back.
    frozen.tick(timedelta(hours=1, seconds=2))
    assert client.get(f"/d/{locked}").status_code == 403


def test_wrong_passwords_are_limited_per_link_not_per_address(
    client, locked, make_link, svc
):
    other = make_link("readme.txt", password=PASSWORD)
    for i in range(5):  # link_password_limit: 5 per minute
        assert (
            unlock(client, locked, f"guess-{i}", f"198.51.100.{i}").status_code == 403
        )
    limited = unlock(client, locked, PASSWORD, "203.0.113.9")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert "Too many password attempts" in limited.text
    # Another link is not held to this one's limit.
    assert unlock(client, other, PASSWORD).status_code == 303
    svc.audit.flush()
    rows = [r for r in audit_rows(svc) if r.event == "unlock"]
    assert {r.outcome for r in rows} == {"wrong_password", "rate_limited", "ok"}
    assert sum(r.count for r in rows if r.outcome == "wrong_password") == 5
    for row in audit_rows(svc):
        assert PASSWORD not in str(row) and "guess-" not in str(row)


def test_a_new_password_ends_earlier_unlocks(client, locked, svc, auth, app):
    from linksvc.links import editing

    assert unlock(client, locked, PASSWORD).status_code == 303
    assert client.get(f"/d/{locked}").status_code == 200
    link_id = svc.signer.verify(locked).link_id
    with app.app_context():
        admin = svc.store.users.by_name("admin")
        editing.edit_link(svc, admin, link_id, sharing.options(password="a new secret"))
    assert client.get(f"/d/{locked}").status_code == 403
    assert unlock(client, locked, "a new secret").status_code == 303
    with app.app_context():
        editing.edit_link(svc, admin, link_id, sharing.options(password=None))
    fresh = svc.store.links.get(link_id)
    assert fresh.password_hash is None


def test_the_password_is_stored_only_as_a_hash(make_link, svc):
    make_link("readme.txt", password=PASSWORD)
    row = link_row(svc)
    assert row.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert PASSWORD not in row.password_hash


@pytest.mark.parametrize("bad", ["short", "x" * 129])
def test_link_passwords_have_a_sane_length(make_link, bad):
    from linksvc.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="password needs 6 to 128"):
        make_link("readme.txt", password=bad)


def test_unlocking_needs_the_form_token_and_a_working_link(client, locked, svc):
    assert client.post(f"/d/{locked}", data={"password": PASSWORD}).status_code == 400
    csrf = form_token(client.get(f"/d/{locked}"))
    link_id = svc.signer.verify(locked).link_id
    svc.store.links.revoke(link_id, None)
    data = {"csrf_token": csrf, "password": PASSWORD}
    gone = client.post(f"/d/{locked}", data=data)
    assert gone.status_code == 410 and COOKIE not in gone.headers.get("Set-Cookie", "")
    assert client.post("/d/garbage", data=data).status_code == 404
