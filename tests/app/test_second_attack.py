"""What the second outside attack found, each pinned by a test that failed on
the code it attacked (issue 20): folder links that checked too late, a
resume that covered another download, passwords a session could guess,
members reached through symlinked folders, a password that did not open a
folder link, files that other sites could embed."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from linksvc.core.unlock import COOKIE
from linksvc.links import sharing

from ..conftest import audit_rows
from ..conftest import csrf_token
from ..conftest import link_row
from ..conftest import SECRET

PASSWORD = "open sesame"


@pytest.fixture
def q3(tree):
    q3 = tree / "reports" / "q3"
    (q3 / "charts").mkdir()
    (q3 / "charts" / "revenue.png").write_bytes(os.urandom(5000))
    return q3


def test_a_resume_continues_only_the_download_that_was_counted(client, make_link, q3):
    """One counted file of a one-time folder link gave the whole zip as a
    "resume" from byte 1: the allowance was the link's, not the download's."""
    token = make_link("reports/q3", user="alice", max_downloads=1)
    assert client.get(f"/d/{token}/summary.csv").status_code == 200
    zipped = client.get(f"/d/{token}?zip=1", headers={"Range": "bytes=1-"})
    assert zipped.status_code == 410 and b"PK" not in zipped.data
    other = client.get(f"/d/{token}/charts/revenue.png", headers={"Range": "bytes=1-"})
    assert other.status_code == 410
    # The counted file itself still resumes.
    rest = client.get(f"/d/{token}/summary.csv", headers={"Range": "bytes=5-"})
    assert rest.status_code == 206 and rest.data == b"quarter,revenue\nQ3,1\n"[5:]


def test_a_counted_zip_resumes_but_no_member_rides_on_it(client, make_link, q3):
    token = make_link("reports/q3", user="alice", max_downloads=1)
    whole = client.get(f"/d/{token}?zip=1")
    assert whole.status_code == 200
    rest = client.get(f"/d/{token}?zip=1", headers={"Range": "bytes=100-"})
    assert rest.status_code == 206 and rest.data == whole.data[100:]
    member = client.get(f"/d/{token}/summary.csv", headers={"Range": "bytes=1-"})
    assert member.status_code == 410


def test_a_member_through_a_symlinked_folder_is_refused(client, make_link, q3, tree):
    """The page and the zip leave symlinked folders out; a member URL did not."""
    (q3 / "linked").symlink_to(tree / "reports" / "q3" / "charts")
    token = make_link("reports/q3", user="alice")
    assert "linked" not in client.get(f"/d/{token}").text
    names = zipfile.ZipFile(io.BytesIO(client.get(f"/d/{token}?zip=1").data)).namelist()
    assert not any("linked" in n for n in names)
    assert client.get(f"/d/{token}/linked/revenue.png").status_code == 404
    assert client.get(f"/d/{token}/charts/revenue.png").status_code == 200


def test_the_right_password_opens_a_folder_link(client, make_link, q3):
    """It answered 404: unlocking looked for a file at the folder's path."""
    token = make_link("reports/q3", user="alice", password=PASSWORD)
    page = client.get(f"/d/{token}")
    assert page.status_code == 403 and "Password required" in page.text
    assert client.get(f"/d/{token}/summary.csv").status_code == 403
    unlocked = client.post(
        f"/d/{token}",
        data={"csrf_token": csrf_token(client, f"/d/{token}"), "password": PASSWORD},
    )
    assert unlocked.status_code == 303 and COOKIE in unlocked.headers["Set-Cookie"]
    assert "summary.csv" in client.get(f"/d/{token}").text
    got = client.get(f"/d/{token}/summary.csv")
    assert got.data == b"quarter,revenue\nQ3,1\n"
    assert client.get(f"/d/{token}?zip=1").status_code == 200


@pytest.mark.parametrize("where", ["tokens", "password"])
def test_a_session_cannot_guess_its_own_password(client, auth, svc, where):
    """/account/tokens and /account/password checked the current password
    with no limit: 50 guesses, then a token."""
    auth.login_as("alice")
    url = "/account/tokens" if where == "tokens" else "/account/password"
    statuses = []
    for i in range(8):
        if where == "tokens":
            form = csrf_token(client, "/account/tokens")
            data = {"csrf_token": form, "label": "t", "password": f"guess-{i}"}
        else:
            form = csrf_token(client, "/account/")
            data = {"csrf_token": form, "pw-current": f"guess-{i}"}
            data["pw-new"] = "n" * 12
        statuses.append(client.post(url, data=data).status_code)
    assert statuses[:5] == [400] * 5  # reauth_limit: 5 per minute
    assert set(statuses[5:]) == {429}
    alice = svc.store.users.by_name("alice")
    assert svc.store.tokens.list(alice.id) == []
    # The right password is refused too while the limit holds.
    form = csrf_token(client, "/account/tokens")
    right = client.post(
        "/account/tokens",
        data={"csrf_token": form, "label": "t", "password": "alice-password-1"},
    )
    assert right.status_code == 429 and svc.store.tokens.list(alice.id) == []


def test_files_and_link_pages_are_not_embeddable_elsewhere(client, make_link, auth, q3):
    file_link = make_link("readme.txt")
    page_link = make_link("readme.txt", recipient_page=True)
    folder_link = make_link("reports/q3", user="alice")
    for url in (
        f"/d/{file_link}",
        f"/d/{page_link}",
        f"/d/{folder_link}",
        f"/d/{folder_link}/summary.csv",
        f"/d/{folder_link}?zip=1",
    ):
        got = client.get(url)
        assert got.status_code == 200, url
        assert got.headers["Cross-Origin-Resource-Policy"] == "same-origin", url
    auth.login_as("alice")
    direct = client.get("/protected/reports/q3/summary.csv")
    assert direct.headers["Cross-Origin-Resource-Policy"] == "same-origin"


def test_the_resource_policy_is_a_setting(make_app, q3):
    from linksvc.links import sharing
    from linksvc.services import of

    app = make_app(cross_origin_resource_policy="")
    svc = of(app)
    with app.app_context():
        _, token = sharing.create_link(
            svc,
            svc.store.users.by_name("admin"),
            "readme.txt",
            sharing.options(expires="1h"),
        )
    got = app.test_client().get(f"/d/{token}")
    assert got.status_code == 200 and "Cross-Origin-Resource-Policy" not in got.headers


def test_a_swapped_member_is_never_sent_in_a_zip(client, make_link, q3, tree):
    """A file of the folder replaced by a symlink after the plan was made
    (here: after the headers went out) stops the archive; no other bytes."""
    token = make_link("reports/q3", user="alice")
    response = client.get(f"/d/{token}?zip=1", buffered=False)
    assert response.status_code == 200
    chunks = response.iter_encoded()
    first = next(chunks)  # the stream has started: the plan is made
    target = q3 / "summary.csv"
    target.unlink()
    target.symlink_to(tree.parent / "outside" / "secret.txt")
    got = bytearray(first)
    with pytest.raises(Exception):  # noqa: B017 (the stream is cut short)
        for chunk in chunks:
            got += chunk
    response.close()
    assert SECRET not in got
    assert len(got) < int(response.headers["Content-Length"])


def test_a_one_time_link_is_counted_once_per_refusal_table_audit(
    client, make_link, svc
):
    token = make_link("readme.txt", max_downloads=1)
    assert client.get(f"/d/{token}").status_code == 200
    assert client.get(f"/d/{token}").status_code == 410
    assert link_row(svc).download_count == 1
    outcomes = [r.outcome for r in audit_rows(svc) if r.event == "refused"]
    assert outcomes == ["link_used_up"]


def _revision(page_text: str) -> str:
    import re

    return re.search(
        r'id="revision" name="revision" type="hidden" value="(\w+)"', page_text
    )[1]


def test_an_edit_from_a_stale_page_cannot_undo_another(client, auth, make_link, svc):
    """The owner's form, loaded before an admin added a limit and ranges,
    silently removed them when saved: it carried no revision."""
    from linksvc.links import editing

    token = make_link("reports/q3/summary.csv", user="alice")
    link_id = svc.signer.verify(token).link_id
    auth.login_as("alice")
    page = client.get(f"/links/{link_id}").text
    stale = {
        "csrf_token": csrf_token(client, f"/links/{link_id}"),
        "revision": _revision(page),
        "expires": "",
        "max_downloads": "",
        "note": "mine",
        "password": "",
        "ranges": "",
    }
    admin = svc.store.users.by_name("admin")
    editing.edit_link(
        svc, admin, link_id, sharing.options(max_downloads=1, ranges="198.51.100.0/24")
    )
    refused = client.post(f"/links/{link_id}", data=stale)
    assert refused.status_code == 409
    assert "changed by someone else" in refused.text
    assert 'value="198.51.100.0/24"' in refused.text  # the current values
    link = svc.store.links.get(link_id)
    assert (link.max_downloads, link.ranges, link.note) == (1, "198.51.100.0/24", "")
    # Saved again from the page as it is now, the edit goes through.
    again = {**stale, "revision": _revision(refused.text), "max_downloads": "1"}
    again["ranges"] = "198.51.100.0/24"
    assert client.post(f"/links/{link_id}", data=again).status_code == 302
    assert svc.store.links.get(link_id).note == "mine"


def test_the_api_refuses_an_edit_of_a_revision_it_did_not_see(client, make_link, svc):
    from linksvc.links import editing

    token = make_link("readme.txt")
    link_id = svc.signer.verify(token).link_id
    with client.application.app_context():
        admin = svc.store.users.by_name("admin")
        _, secret = svc.store.tokens.create(admin.id, "t")
    api = {"Authorization": f"Bearer {secret}"}
    seen = client.get(f"/api/v1/links/{link_id}", headers=api).json["revision"]
    editing.edit_link(svc, admin, link_id, sharing.options(max_downloads=2))
    stale = client.patch(
        f"/api/v1/links/{link_id}",
        json={"max_downloads": None, "revision": seen},
        headers=api,
    )
    assert stale.status_code == 409 and stale.json["error"] == "conflict"
    assert svc.store.links.get(link_id).max_downloads == 2
    now = client.get(f"/api/v1/links/{link_id}", headers=api).json["revision"]
    fresh = client.patch(
        f"/api/v1/links/{link_id}",
        json={"max_downloads": None, "revision": now},
        headers=api,
    )
    assert fresh.status_code == 200 and fresh.json["max_downloads"] is None
