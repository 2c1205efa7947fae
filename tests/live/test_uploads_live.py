"""Upload links against a real ``linksvc serve`` (gunicorn, gevent) with a
tus client library we did not write (tuspy): a 64 MiB upload broken off
twice mid-body and resumed arrives byte for byte; two PATCHes of one upload
at once, a wrong offset and a body past the length are refused as tus says."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

pytestmark = pytest.mark.slow

tusclient = pytest.importorskip("tusclient.client")

MiB = 1 << 20
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
def upload_site(start_live):
    live = start_live(access_log=False)
    made = live.cli("link", "create", "--upload", "reports", "--user", "admin")
    assert made.returncode == 0, made.stderr
    live.upload_url = made.stdout.strip().splitlines()[-1]
    live.endpoint = live.upload_url + "/files"
    return live


def _offset(url: str) -> int:
    head = requests.head(url, headers=TUS, timeout=10)
    assert head.status_code == 200, head.text
    return int(head.headers["Upload-Offset"])


def _broken_patch(url: str, data: bytes, offset: int, declared: int, send: int) -> None:
    """A PATCH that promises ``declared`` bytes, sends ``send`` of them and
    drops the connection (a closed laptop lid)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    head = (
        f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n"
        "Content-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode() + data[offset : offset + send])
    time.sleep(0.3)
    sock.close()


def _settled(url: str, before: int) -> int:
    """The offset once the server has recorded the broken PATCH."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = _offset(url)
        if now > before:
            return now
        time.sleep(0.1)
    raise AssertionError("the server kept nothing of the broken PATCH")


def test_a_64_mib_upload_broken_off_twice_arrives_whole(upload_site, tmp_path, tree):
    data = os.urandom(64 * MiB)
    source = tmp_path / "dataset.bin"
    source.write_bytes(data)
    client = tusclient.TusClient(upload_site.endpoint)
    stream = open(source, "rb")  # noqa: SIM115  (tuspy reads it; closed below)
    first = client.uploader(
        file_stream=stream, chunk_size=8 * MiB, metadata={"filename": "dataset.bin"}
    )
    first.upload(stop_at=24 * MiB)
    url = first.url
    assert first.offset == 24 * MiB

    _broken_patch(url, data, 24 * MiB, 8 * MiB, 5 * MiB + 123)
    reached = _settled(url, 24 * MiB)
    assert 24 * MiB < reached <= 29 * MiB + 123  # what arrived was kept

    second = client.uploader(file_stream=stream, url=url, chunk_size=8 * MiB)
    assert second.offset == reached  # tuspy asked the server (HEAD)
    second.upload(stop_at=45 * MiB)
    _broken_patch(url, data, second.offset, 8 * MiB, 3 * MiB)
    reached = _settled(url, second.offset)

    third = client.uploader(file_stream=stream, url=url, chunk_size=8 * MiB)
    assert third.offset == reached
    third.upload()
    stream.close()
    assert _offset(url) == len(data)

    upload_id = url.rsplit("/", 1)[-1]
    accepted = upload_site.cli("upload", "accept", upload_id)
    assert accepted.returncode == 0, accepted.stderr
    listed = upload_site.cli("upload", "list").stdout
    assert hashlib.sha256(data).hexdigest() in listed
    arrived = (tree / "reports" / "dataset.bin").read_bytes()
    assert hashlib.sha256(arrived).digest() == hashlib.sha256(data).digest()


def test_one_patch_at_a_time_offsets_and_lengths(upload_site):
    made = requests.post(
        upload_site.endpoint,
        headers={**TUS, "Upload-Length": str(4 * MiB)},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    url = made.headers["Location"]
    data = os.urandom(4 * MiB)
    parts = urlsplit(url)
    slow = socket.create_connection((parts.hostname, parts.port), timeout=10)
    slow.sendall(
        (
            f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            "Content-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode()
        + data[:MiB]
    )
    time.sleep(0.5)
    patch = {**TUS, "Content-Type": "application/offset+octet-stream"}
    # A second PATCH of the same upload while the first still sends: 423.
    second = requests.patch(
        url, data=data, headers={**patch, "Upload-Offset": "0"}, timeout=10
    )
    assert second.status_code == 423, second.text
    # A wrong offset: 409.
    wrong = requests.patch(
        url, data=b"x", headers={**patch, "Upload-Offset": "7"}, timeout=10
    )
    assert wrong.status_code == 409
    slow.sendall(data[MiB:])
    reply = slow.recv(4096).decode()
    slow.close()
    assert reply.startswith("HTTP/1.1 204"), reply
    assert f"Upload-Offset: {len(data)}" in reply
    # A body past the declared length: 413, nothing written.
    more = requests.post(
        upload_site.endpoint, headers={**TUS, "Upload-Length": "10"}, timeout=10
    )
    past = requests.patch(
        more.headers["Location"],
        data=b"y" * 11,
        headers={**patch, "Upload-Offset": "0"},
        timeout=10,
    )
    assert past.status_code == 413
    assert _offset(more.headers["Location"]) == 0


@pytest.mark.timing
def test_a_stalled_sender_is_cut_off_and_keeps_what_arrived(start_live):
    live = start_live("stall", access_log=False, send_timeout="2s")
    made = live.cli("link", "create", "--upload", "reports", "--user", "admin")
    endpoint = made.stdout.strip().splitlines()[-1] + "/files"
    created = requests.post(
        endpoint, headers={**TUS, "Upload-Length": str(2 * MiB)}, timeout=10
    )
    url = created.headers["Location"]
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=20)
    sock.sendall(
        (
            f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            "Content-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {2 * MiB}\r\n\r\n"
        ).encode()
        + b"z" * MiB
    )
    started = time.monotonic()
    reply = sock.recv(4096)  # the server gives up on the rest
    waited = time.monotonic() - started
    sock.close()
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert 1.5 < waited < 10
    assert _offset(url) == MiB  # kept; the sender resumes from here
    rest = requests.patch(
        url,
        data=b"z" * MiB,
        headers={
            **TUS,
            "Upload-Offset": str(MiB),
            "Content-Type": "application/offset+octet-stream",
        },
        timeout=10,
    )
    assert rest.status_code == 204
