"""The same downloads from both storages: the protected folder, and a bucket
on a real S3 API over HTTP (moto's server). Every test here runs twice,
``[local]`` and ``[s3]``, and asserts the same answers."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile

import pytest

from linksvc.core.errors import FileMissing
from linksvc.core.errors import PathRefused
from linksvc.links import sharing

from ..conftest import audit_rows
from ..conftest import BIG_SIZE
from ..conftest import fill_bucket
from ..conftest import link_row
from ..conftest import REFUSED_KEYS
from ..conftest import s3_client
from ..services import S3_ENV

README = b"hello from the protected tree\n"


@pytest.fixture(params=["local", "s3"])
def storage(request) -> str:
    return request.param


@pytest.fixture
def app(storage, make_app, tree, monkeypatch, request):
    if storage == "local":
        return make_app()
    endpoint = request.getfixturevalue("s3_endpoint")
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    bucket = fill_bucket(endpoint, tree)
    made = make_app(
        storage="s3",
        s3_bucket=bucket,
        s3_endpoint_url=endpoint,
        s3_region="us-east-1",
        s3_addressing_style="path",
    )
    made.config["TEST_BUCKET"] = bucket
    made.config["TEST_ENDPOINT"] = endpoint
    return made


def replace_file(app, tree, path: str, data: bytes) -> None:
    """Write a new version of ``path`` where the app reads it."""
    if app.config.get("TEST_BUCKET"):
        client = s3_client(app.config["TEST_ENDPOINT"])
        client.put_object(Bucket=app.config["TEST_BUCKET"], Key=path, Body=data)
    else:
        (tree / path).write_bytes(data)


def test_a_one_time_link_downloads_once_and_counts_once(client, make_link, svc):
    token = make_link("readme.txt", max_downloads=1)
    got = client.get(f"/d/{token}")
    assert got.status_code == 200 and got.data == README
    assert got.headers["Content-Length"] == str(len(README))
    assert got.headers["Cache-Control"] == "private, no-store"
    assert client.get(f"/d/{token}").status_code == 410
    assert link_row(svc).download_count == 1


def test_a_big_file_arrives_whole(client, make_link, tree):
    got = client.get(f"/d/{make_link('big.bin')}")
    assert got.status_code == 200
    assert len(got.data) == BIG_SIZE
    assert got.data == (tree / "big.bin").read_bytes()


@pytest.mark.parametrize(
    ("header", "status", "body"),
    [
        ("bytes=0-4", 206, b"hello"),
        ("bytes=-5", 206, b"tree\n"),
        ("bytes=6-", 206, README[6:]),
        ("bytes=100-200", 416, b""),
        ("lines=0-1", 200, README),  # an unknown unit is ignored
    ],
)
def test_ranges(client, make_link, header, status, body):
    got = client.get(f"/d/{make_link()}", headers={"Range": header})
    assert got.status_code == status
    assert got.data == body
    if status == 416:
        assert got.headers["Content-Range"] == f"bytes */{len(README)}"
    if status == 206:
        assert got.headers["Content-Length"] == str(len(body))


def test_several_ranges_are_one_multipart_answer(client, make_link):
    got = client.get(f"/d/{make_link()}", headers={"Range": "bytes=0-4,11-13"})
    assert got.status_code == 206
    assert got.mimetype == "multipart/byteranges"
    assert got.headers["Content-Length"] == str(len(got.data))
    parts = re.findall(
        rb"Content-Range: bytes (\d+)-(\d+)/30\r\n\r\n(.*?)\r\n--", got.data, re.S
    )
    assert parts == [(b"0", b"4", b"hello"), (b"11", b"13", b"the")]


def test_conditional_requests_follow_the_files_validator(client, make_link, app, tree):
    token = make_link()
    first = client.get(f"/d/{token}")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert client.get(f"/d/{token}", headers={"If-None-Match": etag}).status_code == 304
    assert (
        client.get(f"/d/{token}", headers={"If-Modified-Since": modified}).status_code
        == 304
    )
    assert client.get(f"/d/{token}", headers={"If-Match": '"other"'}).status_code == 412
    ranged = {"Range": "bytes=0-4", "If-Range": etag}
    assert client.get(f"/d/{token}", headers=ranged).status_code == 206
    # A new version (same size): the validator changes, If-Range sends it whole.
    replace_file(app, tree, "readme.txt", README.upper())
    again = client.get(f"/d/{token}", headers=ranged)
    assert again.status_code == 200 and again.data == README.upper()
    assert again.headers["ETag"] != etag


def test_head_says_what_get_would_and_counts_nothing(client, make_link, svc):
    token = make_link("big.bin", max_downloads=1)
    head = client.head(f"/d/{token}")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == str(BIG_SIZE)
    assert link_row(svc).download_count == 0
    assert client.get(f"/d/{token}").status_code == 200


def test_a_pinned_link_refuses_a_new_version_of_its_file(client, make_link, app, tree):
    token = make_link("readme.txt", pin=True)
    assert client.get(f"/d/{token}").data == README
    replace_file(app, tree, "readme.txt", README.upper())
    changed = client.get(f"/d/{token}")
    assert changed.status_code == 410
    assert "changed" in changed.text
    assert README.upper() not in changed.data


def test_a_folder_zip_holds_every_file_and_any_range_of_it_matches(
    client, make_link, tree
):
    token = make_link("reports")
    got = client.get(f"/d/{token}?zip=1")
    assert got.status_code == 200 and got.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(got.data)) as archive:
        assert sorted(archive.namelist()) == [
            "reports/q3-old/draft.txt",
            "reports/q3/summary.csv",
        ]
        assert (
            archive.read("reports/q3/summary.csv")
            == (tree / "reports/q3/summary.csv").read_bytes()
        )
        assert archive.testzip() is None  # every CRC matches
    part = client.get(f"/d/{token}?zip=1", headers={"Range": "bytes=40-99"})
    assert part.status_code == 206 and part.data == got.data[40:100]


def test_file_responses_carry_repr_digest_and_a_folder_its_sha256sums(
    client, make_link, app, tree, svc
):
    token = make_link("big.bin")
    svc.digests.wait()
    want = hashlib.sha256((tree / "big.bin").read_bytes()).digest()
    expected = f"sha-256=:{base64.b64encode(want).decode()}:"
    assert client.get(f"/d/{token}").headers["Repr-Digest"] == expected
    part = client.get(f"/d/{token}", headers={"Range": "bytes=5-9"})
    assert part.status_code == 206 and part.headers["Repr-Digest"] == expected
    replace_file(app, tree, "big.bin", b"new")
    assert "Repr-Digest" not in client.get(f"/d/{token}").headers  # not the old one
    folder = make_link("reports")
    sums = client.get(f"/d/{folder}?sums=1")
    assert sums.status_code == 200
    assert sorted(sums.text.splitlines(), key=lambda line: line[66:]) == [
        f"{hashlib.sha256((tree / name).read_bytes()).hexdigest()}  {name}"
        for name in ("reports/q3-old/draft.txt", "reports/q3/summary.csv")
    ]


def test_a_folder_page_and_its_member(client, make_link):
    token = make_link("reports")
    page = client.get(f"/d/{token}")
    assert page.status_code == 200
    assert "summary.csv" in page.text and "draft.txt" in page.text
    member = client.get(f"/d/{token}/q3/summary.csv")
    assert member.status_code == 200 and member.data == b"quarter,revenue\nQ3,1\n"


def test_listings_follow_grants_and_leave_refused_names_out(svc):
    names = [e.name for e in svc.tree.listing("", ["reports/q3"])]
    assert names == ["reports"]
    assert [e.path for e in svc.tree.listing("reports", ["reports/q3"])] == [
        "reports/q3"
    ]
    everything = [e.name for e in svc.tree.listing("", [""])]
    assert "readme.txt" in everything and "big.bin" in everything
    assert not {".hidden", "invoice\u202egpj.exe"} & set(everything)
    files = [name for name, _, _ in svc.tree.files_under("web", [""])]
    assert files == ["image.svg", "page.html"]  # web/.env is not one


@pytest.mark.parametrize("key", REFUSED_KEYS)
def test_refused_names_are_never_opened(svc, key):
    with pytest.raises((PathRefused, FileMissing)):
        svc.tree.open(key)


def test_html_is_never_rendered_from_our_origin(client, make_link):
    got = client.get(f"/d/{make_link('web/page.html')}")
    assert got.status_code == 200
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert got.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


@pytest.fixture
def redirecting(make_app, tree, monkeypatch, s3_endpoint):
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    return make_app(
        storage="s3",
        s3_bucket=fill_bucket(s3_endpoint, tree),
        s3_endpoint_url=s3_endpoint,
        s3_region="us-east-1",
        s3_addressing_style="path",
        s3_offload="redirect",
        presign_ttl="30s",
    )


def test_redirect_offload_sends_a_presigned_url_after_the_count(redirecting):
    """After every check and the count, a 302 to a URL that lives presign_ttl
    and names the version, the file's type and its attachment name; the audit
    says the bytes went through someone else. A used-up link never
    redirects."""
    import urllib.request

    from linksvc.services import of as services_of

    svc = services_of(redirecting)
    client = redirecting.test_client()
    with redirecting.app_context():
        admin = svc.store.users.by_name("admin")
        _, token = sharing.create_link(
            svc, admin, "résumé Zoë.txt", sharing.options(expires="1h", max_downloads=1)
        )
    got = client.get(f"/d/{token}")
    assert got.status_code == 302
    location = got.headers["Location"]
    assert "X-Amz-Expires=30" in location
    assert got.headers["Referrer-Policy"] == "no-referrer"
    assert link_row(svc).download_count == 1
    with urllib.request.urlopen(location, timeout=10) as answer:
        assert answer.read() == b"accents\n"
        assert answer.headers["Content-Type"].startswith("text/plain")
        assert "attachment" in answer.headers["Content-Disposition"]
    assert client.get(f"/d/{token}").status_code == 410
    rows = audit_rows(svc)
    download = [r for r in rows if r.event == "download"][0]
    assert download.outcome == "ok" and download.complete is None
    # HEAD is answered here (a presigned GET cannot answer it).
    with redirecting.app_context():
        _, other = sharing.create_link(svc, admin, "readme.txt", sharing.options())
    head = client.head(f"/d/{other}")
    assert head.status_code == 200 and head.headers["Content-Length"] == "30"


def test_s3_credentials_are_refused_in_the_settings_file(tmp_path):
    from linksvc.config import ConfigError
    from linksvc.config import read_file

    path = tmp_path / "settings.toml"
    path.write_text('storage = "s3"\ns3_secret_access_key = "x"\n')
    with pytest.raises(ConfigError, match="AWS_SECRET_ACCESS_KEY"):
        read_file(path)


def _read(svc, path: str) -> bytes:
    opened = svc.tree.open(path)
    with opened.reader() as fh:
        return fh.read()


@pytest.mark.parametrize("size", [3, 9 * 1024 * 1024 + 7])
def test_an_accepted_upload_lands_under_a_free_name_never_over_a_file(app, svc, size):
    """In a bucket the file goes up in one PUT or, past 8 MiB, in parts;
    every write is conditional, so a taken name is never overwritten."""
    import os

    from linksvc.links import uploads

    from .test_uploads import create
    from .test_uploads import patch
    from .test_uploads import rel

    with app.app_context():
        alice = svc.store.users.by_name("alice")
        _, token = uploads.create_upload_link(
            svc, alice, "reports/q3", sharing.options(), uploads.limits()
        )
    client = app.test_client()
    data = os.urandom(size)
    accepted = []
    for _ in range(2):
        made = create(client, token, size, name="summary.csv")
        assert made.status_code == 201, made.text
        path = rel(made.headers["Location"])
        assert patch(client, path, 0, data).status_code == 204
        upload_id = path.rsplit("/", 1)[-1]
        with app.app_context():
            accepted.append(uploads.accept(svc, alice, upload_id))
    assert [u.accepted_path for u in accepted] == [
        "reports/q3/summary (2).csv",
        "reports/q3/summary (3).csv",
    ]
    assert _read(svc, "reports/q3/summary.csv") == b"quarter,revenue\nQ3,1\n"
    assert _read(svc, "reports/q3/summary (2).csv") == data


def test_a_folder_that_is_not_there_is_missing_to_listings_and_walks(svc):
    with pytest.raises(FileMissing):
        svc.tree.listing("no-such-folder", [""])
    with pytest.raises(FileMissing):
        svc.tree.files_under("no-such-folder", [""])
    assert [e.name for e in svc.tree.listing("reports/q3", [""])] == ["summary.csv"]
