"""Folder links: the page, each file, the streamed zip (Range, counting)."""

import io
import os
import re
import zipfile

import pytest

from linksvc.cli import cli

from ..conftest import audit_rows
from ..conftest import csrf_token
from ..conftest import link_row
from ..conftest import SECRET


@pytest.fixture
def folder(tree):
    """reports/q3 with a nested folder, a hidden file and a link that leaves."""
    q3 = tree / "reports" / "q3"
    (q3 / "charts").mkdir()
    (q3 / "charts" / "revenue.png").write_bytes(os.urandom(5000))
    (q3 / "notes Zoë.txt").write_text("notes\n")
    (q3 / ".secret").write_text("hidden\n")
    (q3 / "escape.txt").symlink_to(tree.parent / "outside" / "secret.txt")
    (q3 / "old-draft.txt").symlink_to(tree / "reports" / "q3-old" / "draft.txt")
    (tree / "twin.txt").write_text("twin\n")
    os.link(tree / "twin.txt", q3 / "hard.txt")
    return q3


EXPECTED = ["charts/revenue.png", "notes Zoë.txt", "summary.csv"]


def test_a_folder_link_lists_its_files_and_serves_each(client, make_link, folder, svc):
    token = make_link("reports/q3", user="alice")
    page = client.get(f"/d/{token}")
    assert page.status_code == 200 and "q3/" in page.text
    names = re.findall(r'href="/d/[^/"]+/([^"?]+)" download', page.text)
    assert [n.replace("%20", " ").replace("%C3%AB", "ë") for n in names] == EXPECTED
    assert "Download all (.zip)" in page.text and ".secret" not in page.text
    assert "escape" not in page.text and "hard.txt" not in page.text
    # old-draft.txt leads into q3-old, which alice's grant does not cover.
    assert "old-draft" not in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    got = client.get(f"/d/{token}/summary.csv")
    assert got.status_code == 200 and got.data == b"quarter,revenue\nQ3,1\n"
    ranged = client.get(
        f"/d/{token}/charts/revenue.png", headers={"Range": "bytes=10-19"}
    )
    assert ranged.status_code == 206
    assert ranged.data == (folder / "charts" / "revenue.png").read_bytes()[10:20]
    for bad in (
        "escape.txt",
        ".secret",
        "hard.txt",
        "old-draft.txt",
        "../q3-old/draft.txt",
        "nope",
    ):
        answer = client.get(f"/d/{token}/{bad}")
        assert answer.status_code in (400, 403, 404), bad
        assert SECRET not in answer.data and b"GRANT-SECRET" not in answer.data
    svc.audit.flush()
    downloads = [r.path for r in audit_rows(svc) if r.event == "download"]
    assert downloads == ["reports/q3/summary.csv"]


def test_download_all_is_a_zip_with_every_file(client, make_link, folder):
    token = make_link("reports/q3", user="alice")
    head = client.head(f"/d/{token}?zip=1")
    assert head.status_code == 200 and head.data == b""
    got = client.get(f"/d/{token}?zip=1")
    assert got.status_code == 200
    assert got.headers["Content-Type"] == "application/zip"
    assert (
        got.headers["Content-Length"]
        == head.headers["Content-Length"]
        == str(len(got.data))
    )
    assert got.headers["X-Accel-Buffering"] == "no"
    assert got.headers["Content-Disposition"] == "attachment; filename=q3.zip"
    with zipfile.ZipFile(io.BytesIO(got.data)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [f"q3/{n}" for n in EXPECTED]
        assert archive.read("q3/notes Zoë.txt") == b"notes\n"


def test_a_dropped_download_all_resumes_with_range(client, make_link, folder, svc):
    token = make_link("reports/q3", user="alice", max_downloads=1)
    whole = client.get(f"/d/{token}?zip=1", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    etag = whole.headers["ETag"]
    rest = client.get(
        f"/d/{token}?zip=1",
        headers={"Range": "bytes=1000-", "If-Range": etag},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert rest.status_code == 206 and rest.data == whole.data[1000:]
    size = len(whole.data)
    assert rest.headers["Content-Range"] == f"bytes 1000-{size - 1}/{size}"
    assert link_row(svc).download_count == 1  # the resume was free
    # Anyone else's range counts (and the link is used up).
    other = client.get(
        f"/d/{token}?zip=1",
        headers={"Range": "bytes=1000-"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert other.status_code == 410
    # A changed folder changes the ETag: If-Range then gives the whole.
    (folder / "new.txt").write_text("new\n")
    link_row_id = svc.signer.verify(token).link_id
    svc.store.links.edit(svc.store.links.get(link_row_id), {"max_downloads": 5})
    fresh = client.get(
        f"/d/{token}?zip=1",
        headers={"Range": "bytes=1000-", "If-Range": etag},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert fresh.status_code == 200 and b"q3/new.txt" in fresh.data


def test_each_download_all_and_each_file_counts_on_a_limited_link(
    client, make_link, folder, svc
):
    token = make_link("reports/q3", user="alice", max_downloads=2)
    assert client.get(f"/d/{token}").status_code == 200  # the page is free
    assert client.head(f"/d/{token}?zip=1").status_code == 200
    assert client.get(f"/d/{token}?zip=1").status_code == 200
    assert client.get(f"/d/{token}/summary.csv").status_code == 200
    assert client.get(f"/d/{token}/summary.csv").status_code == 410
    assert client.get(f"/d/{token}?zip=1").status_code == 410
    assert link_row(svc).download_count == 2


def test_a_file_token_is_not_a_folder_and_a_folder_needs_a_grant(
    client, make_link, folder, svc, app
):
    from linksvc.core.errors import NotGranted
    from linksvc.links import sharing

    file_token = make_link("readme.txt")
    assert client.get(f"/d/{file_token}/readme.txt").status_code == 404
    with app.app_context(), pytest.raises(NotGranted):
        sharing.create_link(svc, svc.store.users.by_name("alice"), "reports")


def test_sharing_a_folder_from_the_dashboard_and_the_cli(client, auth, folder, runner):
    auth.login_as("alice")
    assert 'href="/share/reports"' not in client.get("/").text  # on the way only
    listing = client.get("/browse/reports").text
    assert 'href="/share/reports/q3"' in listing
    assert 'href="/share/reports/q3-old"' not in listing
    form = client.get("/share/reports/q3").text
    assert "every file in this folder" in form and "replaced or changed" not in form
    made = client.post(
        "/share/reports/q3",
        data={"csrf_token": csrf_token(client, "/share/reports/q3"), "expires": "1d"},
    )
    assert made.status_code == 201
    result = runner.invoke(cli, ["link", "create", "reports/q3", "--user", "alice"])
    assert result.exit_code == 0, result.output
    assert "link" in result.output


def test_the_api_shares_folders(client, runner, folder):
    from .test_api import check

    out = runner.invoke(cli, ["token", "create", "t", "--user", "alice"]).output
    headers = {"Authorization": f"Bearer {out.splitlines()[-1]}"}
    made = client.post("/api/v1/links", json={"path": "reports/q3"}, headers=headers)
    link = check(made, "/links", "post")
    assert link["folder"] is True and link["path"] == "reports/q3"
    token = link["url"].rsplit("/d/", 1)[1]
    assert client.get(f"/d/{token}/summary.csv").data == b"quarter,revenue\nQ3,1\n"


def test_a_worker_makes_a_bounded_number_of_zips_shared_between_addresses(
    make_app, folder
):
    from linksvc.links import sharing
    from linksvc.services import of

    app = make_app(zip_slots=4)  # a quarter each: one per address
    svc = of(app)
    with app.app_context():
        owner = svc.store.users.by_name("alice")
        _, token = sharing.create_link(
            svc, owner, "reports/q3", sharing.options(expires="1h")
        )
    one = app.test_client()
    one.environ_base["REMOTE_ADDR"] = "198.51.100.1"
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.2"
    first = one.get(f"/d/{token}?zip=1", buffered=False)
    assert first.status_code == 200 and svc.zips.used == 1
    busy = one.get(f"/d/{token}?zip=1")
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "5"
    # HEAD walks the folder too: the same bound holds it.
    assert one.head(f"/d/{token}?zip=1").status_code == 429
    assert other.get(f"/d/{token}?zip=1").status_code == 200  # not shut out
    first.close()
    assert svc.zips.used == 0
    assert one.get(f"/d/{token}?zip=1").status_code == 200


def test_the_page_reuses_a_listing_briefly_but_a_zip_walks_afresh(
    client, make_link, folder
):
    token = make_link("reports/q3", user="alice")
    assert "late.txt" not in client.get(f"/d/{token}").text
    (folder / "late.txt").write_text("late\n")
    assert "late.txt" not in client.get(f"/d/{token}").text  # within 5 s
    with zipfile.ZipFile(io.BytesIO(client.get(f"/d/{token}?zip=1").data)) as archive:
        assert archive.read("q3/late.txt") == b"late\n"
