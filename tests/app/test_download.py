"""``/d/<token>``: what a recipient without an account gets."""

from datetime import timedelta

import pytest

from linksvc.services import of as services_of

from ..conftest import audit_rows
from ..conftest import BIG_SIZE
from ..conftest import csrf_token
from ..conftest import link_row
from ..conftest import SECRET


def test_valid_link_sends_the_exact_bytes_with_safe_headers(client, make_link, tree):
    token = make_link("reports/q3/summary.csv")
    response = client.get(f"/d/{token}")
    assert response.status_code == 200
    assert response.data == (tree / "reports/q3/summary.csv").read_bytes()
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Length"] == str(len(response.data))
    assert response.headers["Content-Disposition"] == "attachment; filename=summary.csv"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"].startswith('"')
    assert "Last-Modified" in response.headers


def test_non_ascii_name_uses_rfc_6266_filename_star(client, make_link):
    response = client.get(f"/d/{make_link('résumé Zoë.txt')}")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20Zo%C3%AB.txt" in disposition
    assert 'filename="resume Zoe.txt"' in disposition


def test_each_get_counts_and_head_does_not(client, make_link, svc):
    token = make_link()
    link_id = link_row(svc).id
    assert client.head(f"/d/{token}").status_code == 200
    assert link_row(svc, link_id).download_count == 0
    client.get(f"/d/{token}")
    client.get(f"/d/{token}")
    row = link_row(svc, link_id)
    assert row.download_count == 2
    assert row.last_downloaded_at is not None


def test_head_has_length_and_no_body(client, make_link, tree):
    response = client.head(f"/d/{make_link('big.bin')}")
    assert response.status_code == 200
    assert response.data == b""
    assert response.headers["Content-Length"] == str((tree / "big.bin").stat().st_size)


def test_range_continuation_does_not_count_but_a_start_from_zero_does(
    client, make_link, svc, tree
):
    token = make_link("big.bin")
    data = (tree / "big.bin").read_bytes()
    first = client.get(f"/d/{token}", headers={"Range": "bytes=0-99"})
    assert first.status_code == 206
    assert first.data == data[:100]
    assert first.headers["Content-Range"] == f"bytes 0-99/{len(data)}"
    rest = client.get(f"/d/{token}", headers={"Range": "bytes=100-"})
    assert rest.status_code == 206
    assert rest.data == data[100:]
    assert link_row(svc).download_count == 1


def test_suffix_range(client, make_link, tree):
    data = (tree / "big.bin").read_bytes()
    response = client.get(f"/d/{make_link('big.bin')}", headers={"Range": "bytes=-10"})
    assert response.status_code == 206
    assert response.data == data[-10:]


def test_multiple_ranges_are_multipart(client, make_link, tree):
    data = (tree / "big.bin").read_bytes()
    response = client.get(
        f"/d/{make_link('big.bin')}", headers={"Range": "bytes=0-4,10-14"}
    )
    assert response.status_code == 206
    ctype = response.headers["Content-Type"]
    assert ctype.startswith("multipart/byteranges; boundary=")
    boundary = ctype.split("boundary=")[1].encode()
    body = response.data
    assert int(response.headers["Content-Length"]) == len(body)
    parts = body.split(b"--" + boundary)
    assert parts[-1] == b"--\r\n"
    assert b"Content-Range: bytes 0-4/" in parts[1] and parts[1].endswith(
        b"\r\n\r\n" + data[0:5] + b"\r\n"
    )
    assert b"Content-Range: bytes 10-14/" in parts[2] and parts[2].endswith(
        b"\r\n\r\n" + data[10:15] + b"\r\n"
    )


def test_unsatisfiable_range_is_416_with_content_range(client, make_link, svc):
    response = client.get(f"/d/{make_link()}", headers={"Range": "bytes=999999-"})
    assert response.status_code == 416
    assert response.headers["Content-Range"].startswith("bytes */")
    assert link_row(svc).download_count == 0


def test_unknown_range_unit_sends_everything(client, make_link, tree):
    response = client.get(f"/d/{make_link()}", headers={"Range": "pages=1-2"})
    assert response.status_code == 200
    assert response.data == (tree / "readme.txt").read_bytes()


def test_conditional_get_304_does_not_count(client, make_link, svc):
    token = make_link()
    first = client.get(f"/d/{token}")
    again = client.get(f"/d/{token}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Cache-Control"] == "private, no-store"
    dated = client.get(
        f"/d/{token}", headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert dated.status_code == 304
    assert link_row(svc).download_count == 1


def test_if_match_mismatch_is_412(client, make_link):
    response = client.get(f"/d/{make_link()}", headers={"If-Match": '"nope"'})
    assert response.status_code == 412


@pytest.mark.parametrize("token", ["garbage", "a.b", "x" * 500, "%00", "%2e%2e"])
def test_garbage_token_is_a_404_page(client, token):
    response = client.get(f"/d/{token}")
    assert response.status_code == 404
    assert b"Link not found" in response.data
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_tampered_token_is_404(client, make_link):
    token = make_link()
    flipped = "A" if token[-5] != "A" else "B"
    response = client.get(f"/d/{token[:-5]}{flipped}{token[-4:]}")
    assert response.status_code == 404


def test_token_from_another_deployment_is_404(app, client, tree, tmp_path):
    from linksvc.app import create_app

    other = create_app(
        {
            "protected_dir": str(tree),
            "instance_dir": str(tmp_path / "other"),
            "secret_keys": ["another-deployment-key-0123456789"],
        }
    )
    token = services_of(other).signer.issue("abc", "readme.txt", 2**40)
    assert client.get(f"/d/{token}").status_code == 404


def test_unknown_link_id_with_a_genuine_signature_is_404(client, svc):
    token = svc.signer.issue("never-stored", "readme.txt", 2**40)
    assert client.get(f"/d/{token}").status_code == 404


def test_expiry_boundary(client, make_link, frozen):
    token = make_link(expires="1h")
    frozen.tick(timedelta(seconds=3599))
    assert client.get(f"/d/{token}").status_code == 200
    frozen.tick(timedelta(seconds=1))  # exactly at the expiry: still valid
    assert client.get(f"/d/{token}").status_code == 200
    frozen.tick(timedelta(seconds=1))
    response = client.get(f"/d/{token}")
    assert response.status_code == 410
    page = response.get_data(as_text=True)
    assert "Link expired" in page
    assert "expired at 2026-03-01 13:00:00 UTC" in page


def test_file_deleted_after_the_link_was_made_is_404(client, make_link, tree):
    token = make_link("meeting notes.txt")
    (tree / "meeting notes.txt").unlink()
    response = client.get(f"/d/{token}")
    assert response.status_code == 404
    assert b"File not found" in response.data


def test_symlink_swapped_to_escape_after_link_creation_is_refused(
    client, make_link, tree
):
    token = make_link("meeting notes.txt")
    (tree / "meeting notes.txt").unlink()
    (tree / "meeting notes.txt").symlink_to(tree.parent / "outside" / "secret.txt")
    response = client.get(f"/d/{token}")
    assert response.status_code == 400
    assert SECRET not in response.data


@pytest.mark.parametrize("name", ["web/page.html", "web/image.svg"])
def test_html_and_svg_are_attachments_that_cannot_run(client, make_link, name):
    response = client.get(f"/d/{make_link(name)}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_downloads_and_refusals_are_audited(client, make_link, svc):
    token = make_link()
    client.get(f"/d/{token}", headers={"User-Agent": "curl/8"})
    client.get("/d/garbage")
    rows = audit_rows(svc)
    events = [(r.event, r.outcome, r.status) for r in rows]
    assert events == [
        ("created", "ok", 0),
        ("download", "ok", 200),
        ("refused", "link_invalid", 404),
    ]
    assert rows[1].user_agent == "curl/8"
    assert rows[1].bytes == len(b"hello from the protected tree\n")
    assert rows[1].link_id == rows[0].link_id


def test_compressed_files_are_not_marked_content_encoding(client, make_link, tree):
    import gzip

    (tree / "archive.tar.gz").write_bytes(gzip.compress(b"tar bytes"))
    response = client.get(f"/d/{make_link('archive.tar.gz')}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/gzip"
    assert "Content-Encoding" not in response.headers
    assert gzip.decompress(response.data) == b"tar bytes"


def test_error_pages_show_the_request_id_the_log_has(client, caplog):
    import logging
    import re

    caplog.set_level(logging.INFO, logger="linksvc")
    response = client.get("/d/garbage")
    request_id = re.search(r"request id <code>([0-9a-f]+)</code>", response.text)[1]
    assert response.headers["X-Request-Id"] == request_id
    # The route's rule, never the URL: a link's token is its secret.
    assert f"request {request_id}: GET /d/<token> -> 404" in caplog.text
    assert "garbage" not in caplog.text
    assert "Traceback" not in response.text


def test_offload_sendfile_hands_the_path_to_the_server_in_front(make_app, svc, tree):
    from linksvc.links import sharing
    from linksvc.services import of as services_of

    front = make_app(offload="sendfile")
    fsvc = services_of(front)
    with front.app_context():
        _, token = sharing.create_link(
            fsvc, fsvc.store.users.by_name("admin"), "big.bin"
        )
    response = front.test_client().get(f"/d/{token}")
    assert response.status_code == 200 and response.data == b""
    assert response.headers["X-Sendfile"] == str(tree / "big.bin")
    assert response.headers["Content-Disposition"] == "attachment; filename=big.bin"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Content-Length"] == "0"
    nginx = make_app(offload="nginx", offload_prefix="/_files")
    nsvc = services_of(nginx)
    with nginx.app_context():
        _, token = sharing.create_link(
            nsvc, nsvc.store.users.by_name("admin"), "résumé Zoë.txt"
        )
    response = nginx.test_client().get(f"/d/{token}")
    assert (
        response.headers["X-Accel-Redirect"]
        == "/_files/r%C3%A9sum%C3%A9%20Zo%C3%AB.txt"
    )
    # What we decide ourselves we still answer: a used-up or refused link.
    assert nginx.test_client().get("/d/garbage").status_code == 404


def test_a_recipient_page_shows_the_file_and_counts_nothing(client, make_link, svc):
    token = make_link("big.bin", max_downloads=2, recipient_page=True)
    page = client.get(f"/d/{token}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "big.bin" in text and "3.0 MiB" in text and "2 downloads left" in text
    # A limited link's Download button is a form: no URL a scanner could GET.
    assert '<form method="post">' in text and "?download=1" not in text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert client.head(f"/d/{token}").status_code == 200
    # The old ?download=1 shows the page too, and counts nothing.
    again = client.get(f"/d/{token}?download=1")
    assert again.status_code == 200 and again.mimetype == "text/html"
    assert link_row(svc).download_count == 0
    form = {"csrf_token": csrf_token(client, f"/d/{token}")}
    download = client.post(f"/d/{token}", data=form)
    assert download.status_code == 200 and len(download.data) == BIG_SIZE
    assert link_row(svc).download_count == 1
    assert "1 download left" in client.get(f"/d/{token}").get_data(as_text=True)
    client.post(f"/d/{token}", data=form)
    used = client.get(f"/d/{token}")
    assert used.status_code == 410 and "Link used up" in used.get_data(as_text=True)
    assert client.post(f"/d/{token}", data=form).status_code == 410
    events = [r.event for r in audit_rows(svc)]
    assert events.count("download") == 2 and "page" in events


def test_an_unlimited_recipient_page_keeps_its_plain_download_link(
    client, make_link, svc
):
    token = make_link("readme.txt", recipient_page=True)
    page = client.get(f"/d/{token}").get_data(as_text=True)
    assert 'href="?download=1"' in page
    got = client.get(f"/d/{token}?download=1")
    assert got.data == b"hello from the protected tree\n"


def test_without_the_choice_a_link_downloads_at_once(client, make_link):
    token = make_link("readme.txt")
    assert client.get(f"/d/{token}").data == b"hello from the protected tree\n"
