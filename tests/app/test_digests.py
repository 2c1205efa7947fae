"""Integrity people can check (issue 25 item 3): Repr-Digest (RFC 9530) on
file responses, the SHA-256 on the recipient page and in the API, and a
folder's SHA256SUMS that ``sha256sum -c`` accepts."""

import base64
import hashlib
import io
import os
import shutil
import subprocess
import zipfile

import http_sf
import pytest
from sqlalchemy import select

from linksvc.cli import cli
from linksvc.db.schema import digests
from linksvc.links.folders import sums_line
from linksvc.services import of

from ..conftest import audit_rows
from ..conftest import BIG_SIZE
from ..conftest import link_row


def repr_digest(response) -> bytes | None:
    """The sha-256 of a Repr-Digest field, parsed as the structured field
    (RFC 9651 dictionary of byte sequences) it is."""
    value = response.headers.get("Repr-Digest")
    if value is None:
        return None
    parsed = http_sf.parse(value.encode(), tltype="dictionary")
    return parsed["sha-256"][0]


def test_file_responses_carry_the_files_digest_once_known(client, make_link, svc, tree):
    token = make_link("big.bin")
    svc.digests.wait()  # hashing started when the link was made
    want = hashlib.sha256((tree / "big.bin").read_bytes()).digest()
    whole = client.get(f"/d/{token}")
    assert whole.status_code == 200 and len(whole.data) == BIG_SIZE
    assert repr_digest(whole) == want == hashlib.sha256(whole.data).digest()
    # The same value on a range, on several ranges, on HEAD: the whole file's.
    part = client.get(f"/d/{token}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and repr_digest(part) == want
    parts = client.get(f"/d/{token}", headers={"Range": "bytes=0-0,-1"})
    assert parts.status_code == 206 and repr_digest(parts) == want
    head = client.head(f"/d/{token}")
    assert head.status_code == 200 and repr_digest(head) == want
    # No digest where no representation is sent.
    etag = whole.headers["ETag"]
    assert client.get(f"/d/{token}", headers={"If-None-Match": etag}).status_code == 304
    unsat = client.get(f"/d/{token}", headers={"Range": f"bytes={BIG_SIZE}-"})
    assert unsat.status_code == 416 and "Repr-Digest" not in unsat.headers
    # Kept in the database for every worker, hex.
    with svc.store.engine.connect() as conn:
        stored = conn.execute(select(digests.c.sha256)).scalars().all()
    assert want.hex() in stored


def test_a_new_version_gets_its_own_digest_never_the_old_one(
    client, make_link, svc, tree
):
    token = make_link("readme.txt")
    svc.digests.wait()
    old = client.get(f"/d/{token}")
    assert repr_digest(old) == hashlib.sha256(old.data).digest()
    (tree / "readme.txt").write_text("a new version, longer than before\n")
    changed = client.get(f"/d/{token}")
    assert changed.data == b"a new version, longer than before\n"
    assert repr_digest(changed) is None  # not known yet: never the old one
    svc.digests.wait()
    again = client.get(f"/d/{token}")
    assert repr_digest(again) == hashlib.sha256(again.data).digest()


def test_another_worker_reads_the_stored_digest_without_reading_the_file(
    make_app, make_link, svc, tree, settings
):
    token = make_link("reports/q3/summary.csv")
    svc.digests.wait()
    other = make_app()  # a second app on the same database: another worker
    theirs = of(other).digests

    def never(real, st):
        raise AssertionError("the file was read again")

    theirs._opener = never
    client = other.test_client()
    client.get(f"/d/{token}")
    theirs.wait()
    got = client.get(f"/d/{token}")
    assert repr_digest(got) == hashlib.sha256(b"quarter,revenue\nQ3,1\n").digest()


def test_the_recipient_page_and_the_api_show_the_sha256(client, make_link, svc, runner):
    token = make_link("readme.txt", recipient_page=True, max_downloads=2)
    want = hashlib.sha256(b"hello from the protected tree\n").hexdigest()
    svc.digests.wait()
    page = client.get(f"/d/{token}")
    assert page.status_code == 200 and f"SHA-256: <code>{want}</code>" in page.text
    made = runner.invoke(cli, ["token", "create", "ci", "--user", "admin"])
    api_token = made.output.splitlines()[-1]
    headers = {"Authorization": f"Bearer {api_token}"}
    created = client.post(
        "/api/v1/links", json={"path": "meeting notes.txt"}, headers=headers
    )
    assert created.status_code == 201
    svc.digests.wait()
    got = client.get(f"/api/v1/links/{created.json['id']}", headers=headers)
    assert got.json["sha256"] == hashlib.sha256(b"notes\n").hexdigest()
    assert link_row(svc, created.json["id"]).download_count == 0


def test_a_page_before_the_digest_is_known_says_so(client, svc, make_link):
    svc.digests._ensure_thread = lambda: None  # the hasher never runs
    token = make_link("readme.txt", recipient_page=True)
    page = client.get(f"/d/{token}")
    assert "being computed" in page.text and "SHA-256:" not in page.text


@pytest.fixture
def folder(tree):
    q3 = tree / "reports" / "q3"
    (q3 / "charts").mkdir()
    (q3 / "charts" / "revenue.png").write_bytes(os.urandom(200_000))
    (q3 / "notes Zoë.txt").write_text("notes\n")
    (q3 / "with space.txt").write_text("space\n")
    return q3


def test_sha256sum_checks_a_downloaded_folder(client, make_link, folder, svc, tmp_path):
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum (GNU coreutils) is not installed")
    token = make_link("reports/q3", user="alice", max_downloads=1)
    page = client.get(f"/d/{token}")
    assert f'href="/d/{token}?sums=1"' in page.text and "SHA256SUMS" in page.text
    sums = client.get(f"/d/{token}?sums=1")
    assert sums.status_code == 200
    assert sums.headers["Content-Disposition"] == 'attachment; filename="SHA256SUMS"'
    assert sums.headers["Cache-Control"] == "private, no-store"
    # The manifest counts nothing: the one download is still there.
    assert link_row(svc, svc.signer.verify(token).link_id).download_count == 0
    archive = client.post(
        f"/d/{token}", data={"action": "zip", "csrf_token": _csrf(page.text)}
    )
    assert archive.status_code == 200
    where = tmp_path / "received"
    with zipfile.ZipFile(io.BytesIO(archive.data)) as z:
        z.extractall(where)
    (where / "SHA256SUMS").write_bytes(sums.data)
    checked = subprocess.run(
        ["sha256sum", "-c", "--strict", "SHA256SUMS"],
        cwd=where,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert sorted(checked.stdout.splitlines()) == [
        "q3/charts/revenue.png: OK",
        "q3/notes Zoë.txt: OK",
        "q3/summary.csv: OK",
        "q3/with space.txt: OK",
    ]
    # A damaged file is caught.
    (where / "q3" / "with space.txt").write_text("spacE\n")
    damaged = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=where, capture_output=True, text=True
    )
    assert damaged.returncode == 1 and "q3/with space.txt: FAILED" in damaged.stdout
    svc.audit.flush()
    events = [(r.event, r.path) for r in audit_rows(svc)]
    assert ("page", "reports/q3") in events


def _csrf(html: str) -> str:
    import re

    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)[1]


def test_the_manifest_is_refused_like_the_link_and_takes_a_zip_slot(
    client, make_link, folder, svc
):
    token = make_link("reports/q3", user="alice")
    svc.zips.total = 0  # every slot taken
    busy = client.get(f"/d/{token}?sums=1")
    assert busy.status_code == 429 and "Retry-After" in busy.headers
    svc.zips.total = 4
    assert client.get(f"/d/{token[:-2]}xx?sums=1").status_code in (403, 404)
    file_link = make_link("readme.txt")
    assert client.get(f"/d/{file_link}?sums=1").status_code in (403, 404)
    assert svc.zips.used == 0


def test_names_sha256sum_must_unescape():
    digest = bytes(32)
    assert sums_line(digest, "a/b c.txt") == f"{'0' * 64}  a/b c.txt\n"
    assert sums_line(digest, "a\\b") == f"\\{'0' * 64}  a\\\\b\n"
    assert sums_line(digest, "a\nb") == f"\\{'0' * 64}  a\\nb\n"


def test_the_header_value_is_base64_of_the_bytes():
    from linksvc.files.digests import header

    digest = hashlib.sha256(b"x").digest()
    assert header(digest) == f"sha-256=:{base64.b64encode(digest).decode()}:"
