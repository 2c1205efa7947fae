"""files/sending.py without Flask: the one way a file leaves."""

import os

import pytest

from linksvc.core.conditional import Decision
from linksvc.core.conditional import make_etag
from linksvc.core.errors import FileMissing
from linksvc.files.sending import attachment
from linksvc.files.sending import content_type
from linksvc.files.sending import Offload
from linksvc.files.sending import send
from linksvc.files.sending import Tally
from linksvc.files.tree import ProtectedTree

DATA = bytes(range(256)) * 1024  # 256 KiB: several chunks


@pytest.fixture
def file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    return path, path.stat()


def opened(path):
    """The file as the app opens it (the tree's one way: no symlink)."""
    return ProtectedTree(path.parent).open(path.name)


def environ(method="GET"):
    return {"REQUEST_METHOD": method}


def run(response, environ_=None):
    """Call the WSGI response; the status line, headers and body bytes."""
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    body = response(environ_ or environ(), start_response)
    try:
        data = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close:
            close()
    return seen["status"], seen["headers"], data


def reports(response):
    got = []
    response.tally.callback = lambda sent, complete: got.append((sent, complete))
    return got


def test_a_whole_file_with_every_safety_header(file):
    path, st = file
    response = send(environ(), opened(path), Decision(200))
    got = reports(response)
    status, headers, data = run(response)
    assert status == "200 OK" and data == DATA
    assert headers == {
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Referrer-Policy": "no-referrer",
        "Accept-Ranges": "bytes",
        "ETag": make_etag(st.st_size, st.st_mtime_ns),
        "Last-Modified": headers["Last-Modified"],
        "Content-Type": "application/octet-stream",
        "Content-Disposition": "attachment; filename=data.bin",
        "Content-Length": str(len(DATA)),
    }
    assert headers["Last-Modified"].endswith("GMT")
    assert got == [(len(DATA), True)]


def test_one_range(file):
    path, st = file
    response = send(environ(), opened(path), Decision(206, [(10, 70009)]))
    got = reports(response)
    status, headers, data = run(response)
    assert status == "206 Partial Content" and data == DATA[10:70010]
    assert headers["Content-Range"] == f"bytes 10-70009/{len(DATA)}"
    assert headers["Content-Length"] == "70000"
    assert got == [(70000, True)]


def test_several_ranges_are_multipart_with_an_exact_length(file):
    path, st = file
    ranges = [(0, 4), (100, 65636), (len(DATA) - 3, len(DATA) - 1)]
    response = send(environ(), opened(path), Decision(206, ranges))
    got = reports(response)
    status, headers, data = run(response)
    ctype, _, boundary = headers["Content-Type"].partition("; boundary=")
    assert ctype == "multipart/byteranges" and len(boundary) == 24
    assert int(headers["Content-Length"]) == len(data)
    parts = data.split(f"--{boundary}".encode())
    assert parts[0] == b"\r\n" and parts[-1] == b"--\r\n"
    for part, (start, end) in zip(parts[1:-1], ranges, strict=True):
        head, _, body = part.partition(b"\r\n\r\n")
        assert f"Content-Range: bytes {start}-{end}/{len(DATA)}".encode() in head
        assert b"Content-Type: application/octet-stream" in head
        assert body == DATA[start : end + 1] + b"\r\n"
    assert got == [(len(data), True)]


def test_head_has_the_headers_and_no_body_and_closes_the_file_at_once(file):
    path, st = file
    one = opened(path)
    response = send(environ("HEAD"), one, Decision(200))
    with pytest.raises(OSError):
        os.fstat(one.fd)  # closed: nothing is read for a HEAD
    got = reports(response)
    status, headers, data = run(response, environ("HEAD"))
    assert status == "200 OK" and data == b""
    assert headers["Content-Length"] == str(len(DATA))
    assert got == [(0, True)]


@pytest.mark.parametrize(
    ("decision", "status", "length", "content_range"),
    [
        (Decision(304), "304 Not Modified", None, None),
        (Decision(412), "412 Precondition Failed", "0", None),
        (
            Decision(416),
            "416 Requested Range Not Satisfiable",
            "0",
            f"bytes */{len(DATA)}",
        ),
    ],
)
def test_bodiless_answers(file, decision, status, length, content_range):
    path, st = file
    got_status, headers, data = run(send(environ(), opened(path), decision))
    assert got_status == status and data == b""
    assert headers.get("Content-Length") == length
    assert headers.get("Content-Range") == content_range
    assert ("ETag" in headers) is (decision.status != 412)
    assert "Content-Disposition" not in headers


def test_a_missing_file_is_file_missing_before_anything_is_sent(file):
    path, st = file
    path.unlink()
    with pytest.raises(FileMissing, match="data.bin"):
        opened(path)


def test_the_bytes_sent_are_the_opened_files_whatever_its_name_becomes(file, tmp_path):
    path, st = file
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"SECRET")
    for ranges in ([], [(0, len(DATA) - 1)]):
        one = opened(path)
        path.unlink()
        path.symlink_to(secret)  # swapped after the check
        decision = Decision(206, ranges) if ranges else Decision(200)
        _, _, data = run(send(environ(), one, decision))
        assert data == DATA
        path.unlink()
        path.write_bytes(DATA)


def test_a_client_that_leaves_early_is_reported_incomplete(file):
    path, st = file
    response = send(environ(), opened(path), Decision(206, [(0, len(DATA) - 1)]))
    got = reports(response)
    body = response(environ(), lambda *a: None)
    iterator = iter(body)
    first = next(iterator)
    next(iterator)  # the first chunk was written: it counts
    body.close()
    assert got == [(len(first), False)]


def test_a_response_given_up_before_sending_reports_nothing(file):
    path, st = file
    response = send(environ(), opened(path), Decision(200))
    got = reports(response)
    response.close()
    assert got == []


def test_a_file_that_shrank_gives_a_short_body(file):
    path, st = file
    response = send(environ(), opened(path), Decision(206, [(0, len(DATA) - 1)]))
    os.truncate(path, 1000)
    got = reports(response)
    _, _, data = run(response)
    assert data == DATA[:1000] and got == [(1000, False)]


def test_tally_reports_once():
    tally = Tally(10)
    got = []
    tally.callback = lambda sent, complete: got.append((sent, complete))
    assert list(tally.count(iter([b"12345", b"678"]))) == [b"12345", b"678"]
    tally.finish()
    tally.finish(99)
    assert got == [(8, False)]
    tally.handed_over = True  # a second Tally below: handed to a server in front
    front = Tally(0)
    front.handed_over = True
    front.callback = lambda sent, complete: got.append((sent, complete))
    front.finish()
    assert got[-1] == (0, None)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "application/pdf"),
        ("page.html", "text/html"),
        ("archive.tar.gz", "application/gzip"),
        ("data.bz2", "application/x-bzip2"),
        ("data.xz", "application/x-xz"),
        ("data.br", "application/x-brotli"),
        ("data.Z", "application/x-compress"),
        ("no-extension", "application/octet-stream"),
    ],
)
def test_content_type_never_claims_an_encoding(name, expected):
    assert content_type(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("plain.txt", "attachment; filename=plain.txt"),
        ("with space.txt", 'attachment; filename="with space.txt"'),
        ('quote".txt', 'attachment; filename="quote\\".txt"'),
        ("back\\slash;,.txt", 'attachment; filename="back\\\\slash;,.txt"'),
        ("", 'attachment; filename=""'),
        (
            "résumé Zoë.txt",
            'attachment; filename="resume Zoe.txt"; '
            "filename*=UTF-8''r%C3%A9sum%C3%A9%20Zo%C3%AB.txt",
        ),
        (
            'Zoë "x".txt',
            'attachment; filename="Zoe \\"x\\".txt"; '
            "filename*=UTF-8''Zo%C3%AB%20%22x%22.txt",
        ),
        ("a!#$&+-.^_`|~b", "attachment; filename=a!#$&+-.^_`|~b"),
        (
            "é!#$&+-.^_`|~",
            'attachment; filename="e!#$&+-.^_`|~"; '
            "filename*=UTF-8''%C3%A9!#$&+-.^_`|~",
        ),
    ],
)
def test_attachment_names_follow_rfc_6266(name, expected):
    assert attachment(name) == expected


def test_offload_headers(tmp_path):
    path = tmp_path / "dir" / "a b.txt"
    nginx = Offload("nginx", "/_protected", tmp_path)
    assert nginx.headers(path) == [("X-Accel-Redirect", "/_protected/dir/a%20b.txt")]
    assert Offload("sendfile").headers(path) == [("X-Sendfile", str(path))]


def test_an_offloaded_response_carries_our_headers_and_no_body(file, tmp_path):
    path, st = file
    response = send(
        environ(),
        opened(path),
        Decision(206, [(0, 9)]),
        Offload("nginx", "/_p", tmp_path),
    )
    got = reports(response)
    status, headers, data = run(response)
    assert status == "200 OK" and data == b""
    assert headers["X-Accel-Redirect"] == "/_p/data.bin"
    assert headers["Content-Length"] == "0" and "Accept-Ranges" not in headers
    assert headers["Content-Disposition"] == "attachment; filename=data.bin"
    assert headers["Cache-Control"] == "private, no-store"
    assert got == [(0, None)]
    # What we decide ourselves is still ours to answer.
    assert (
        send(environ(), opened(path), Decision(304), Offload("sendfile")).status == 304
    )


def test_a_whole_file_is_sent_in_chunks_never_read_whole(file):
    path, st = file
    body = send(environ(), opened(path), Decision(200))(environ(), lambda *a: None)
    chunks = list(body)
    body.close()
    assert b"".join(chunks) == DATA
    assert max(map(len, chunks)) <= 64 * 1024 < len(DATA)


def test_last_modified_is_the_files_modification_time(file):
    from werkzeug.http import http_date

    path, st = file
    os.utime(path, (1_000_000_000, 1_000_000_000))
    _, headers, _ = run(send(environ("HEAD"), opened(path), Decision(200)))
    assert headers["Last-Modified"] == http_date(1_000_000_000)
    assert headers["Last-Modified"] == "Sun, 09 Sep 2001 01:46:40 GMT"


def test_two_ranges_are_multipart_too(file):
    path, st = file
    response = send(environ(), opened(path), Decision(206, [(0, 1), (10, 11)]))
    _, headers, data = run(response)
    assert headers["Content-Type"].startswith("multipart/byteranges")
    assert DATA[0:2] in data and DATA[10:12] in data


def test_offloading_a_whole_file_hands_it_over_with_its_type(file, tmp_path):
    path, st = file
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF")
    response = send(
        environ(), opened(pdf), Decision(200), Offload("nginx", "/_p", tmp_path)
    )
    _, headers, data = run(response)
    assert data == b"" and headers["X-Accel-Redirect"] == "/_p/report.pdf"
    assert headers["Content-Type"] == "application/pdf"


class KeptFile:
    """What gunicorn's ``wsgi.file_wrapper`` is: it keeps the file for the
    server to send with ``socket.sendfile``."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike

    def close(self):
        self.filelike.close()


@pytest.mark.parametrize("share", [1, 2])
def test_bytes_sent_by_sendfile_count_even_after_the_server_rewinds(file, share):
    """gunicorn 27 sends with ``socket.sendfile`` and then puts the descriptor
    back where it was (``os.lseek``): the tally must not read 0 from there."""
    import socket
    import threading

    path, st = file
    env = {**environ(), "wsgi.file_wrapper": KeptFile}
    response = send(env, opened(path), Decision(200))
    got = reports(response)
    body = response(env, lambda *a: None)
    count = len(DATA) // share
    a, b = socket.socketpair()
    received = bytearray()

    def read() -> None:
        for chunk in iter(lambda: b.recv(65536), b""):
            received.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    fileno = body.filelike.fileno()
    offset = os.lseek(fileno, 0, os.SEEK_CUR)
    a.sendfile(body.filelike, offset=offset, count=count)
    os.lseek(fileno, offset, os.SEEK_SET)  # as gunicorn 27 does
    a.close()
    reader.join()
    b.close()
    body.close()
    assert len(received) == count
    assert got == [(count, share == 1)]


def test_the_tallied_file_seeks_like_any_file(file, tmp_path):
    path, st = file
    env = {**environ(), "wsgi.file_wrapper": KeptFile}
    response = send(env, opened(path), Decision(200))
    got = reports(response)
    body = response(env, lambda *a: None)
    assert body.filelike.seek(0, os.SEEK_END) == len(DATA)
    assert body.filelike.seek(-6, os.SEEK_CUR) == len(DATA) - 6
    body.close()
    assert got == [(len(DATA), True)]  # the furthest position counts
