"""Every file leaves through :func:`send`: headers, ranges, streaming; no Flask.

Werkzeug's ``send_file`` is close but not right for downloads: it adds
``Content-Encoding: gzip`` to ``.gz`` files (browsers then unpack them), stats
the file again, makes its own ETag, and cannot send several ranges. So the
response is built here from the decision conditional.py made. Whole files go
out through the server's ``wsgi.file_wrapper`` (gunicorn uses sendfile), ranges
through a bounded reader; nothing is read into memory whole.
"""

from __future__ import annotations

import io
import mimetypes
import secrets
import unicodedata
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from typing import BinaryIO
from urllib.parse import quote

from werkzeug.http import http_date
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import ClosingIterator
from werkzeug.wsgi import wrap_file

from ..core.conditional import Decision
from .digests import header as repr_digest
from .tree import etag_of
from .tree import OpenFile

#: Bytes read at a time for ranges.
CHUNK = 64 * 1024
#: Headers on every file response: never cached by shared caches, never
#: rendered as a page of ours, never leaking the token through Referer.
FILE_HEADERS = [
    ("Cache-Control", "private, no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'none'; sandbox"),
    ("Referrer-Policy", "no-referrer"),
    ("Accept-Ranges", "bytes"),
]
#: Compressed files are sent as what they are, never as Content-Encoding.
ENCODED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}


class Tally:
    """Counts the body bytes that went out; when the server closes the body,
    ``callback(sent, complete)`` runs once, if one was set by then (a
    response given up before it was handed to the server reports nothing).
    ``complete`` is None when the bytes were handed to a server in front."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.sent = 0
        self.callback: Callable[[int, bool | None], None] | None = None
        #: The bytes went to the server in front (offload): not counted here.
        self.handed_over = False
        self._done = False

    def finish(self, sent: int | None = None) -> None:
        if self._done:
            return
        self._done = True
        if sent is not None:
            self.sent = sent
        if self.callback is not None:
            complete = None if self.handed_over else self.sent >= self.expected
            self.callback(self.sent, complete)

    def count(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """Pass ``chunks`` on; a chunk counts once the server asks for the
        next one (it was written) or the body ends."""
        pending = 0
        for chunk in chunks:
            self.sent += pending
            pending = len(chunk)
            yield chunk
        self.sent += pending


class _TalliedFile(io.FileIO):
    """A file that remembers how far it was read, to say how many bytes went
    out when the server closes it. werkzeug's FileWrapper reads it;
    ``socket.sendfile`` (gunicorn's path) seeks it to where sending stopped,
    even after an error, and gunicorn 27 then rewinds the descriptor with
    ``os.lseek``: so the furthest position seen counts, not the last one."""

    tally: Tally
    _reached = 0

    def seek(self, pos: int, whence: int = 0) -> int:
        at = super().seek(pos, whence)
        self._reached = max(self._reached, at)
        return at

    def close(self) -> None:
        if not self.closed:
            try:
                self.tally.finish(max(self.tell(), self._reached))
            finally:
                super().close()


class FileResponse:
    """A plain WSGI response: status, headers, body. Flask accepts it from a
    view like any WSGI app; the download fast path returns it as it is.
    ``tally`` reports the bytes sent once the server closes the body."""

    def __init__(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: Any,
        tally: Tally,
    ) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.tally = tally

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        start_response(f"{self.status} {HTTP_STATUS_CODES[self.status]}", self.headers)
        return self.body

    def close(self) -> None:
        """Give the response up unsent (nothing is reported)."""
        self.tally.callback = None
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


@lru_cache(maxsize=1024)
def content_type(name: str) -> str:
    mimetype, encoding = mimetypes.guess_type(name, strict=False)
    if encoding:
        return ENCODED_TYPES.get(encoding, "application/octet-stream")
    return mimetype or "application/octet-stream"


@lru_cache(maxsize=1024)
def attachment(name: str) -> str:
    """``Content-Disposition: attachment`` with the file's own name (RFC 6266:
    an ASCII ``filename`` and, for other names, ``filename*`` in UTF-8)."""
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        simple = simple.replace("\\", "\\\\").replace('"', '\\"')
        return (
            f'attachment; filename="{simple}"; '
            f"filename*=UTF-8''{quote(name, safe='!#$&+-.^_`|~')}"
        )
    if any(c in name for c in ' ;,"\\') or not name:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'attachment; filename="{escaped}"'
    return f"attachment; filename={name}"


@dataclass(frozen=True)
class Offload:
    """Hand the bytes to the server in front: ``nginx`` answers with
    ``X-Accel-Redirect: <prefix>/<path under the tree>`` (an internal
    location serves the file, with ranges and preconditions, and holds the
    slow clients); ``sendfile`` with ``X-Sendfile: <absolute path>``
    (Apache mod_xsendfile, lighttpd)."""

    mode: str
    prefix: str = ""
    root: Path | None = None
    #: ``redirect`` (objects): seconds a presigned GET URL lives.
    presign_ttl: int = 60

    def headers(self, path: Path) -> list[tuple[str, str]]:
        if self.mode == "nginx":
            assert self.root is not None, "nginx offload needs the tree's root"
            relative = path.relative_to(self.root).as_posix()
            return [("X-Accel-Redirect", f"{self.prefix}/{quote(relative)}")]
        return [("X-Sendfile", str(path))]


def send(
    environ: dict[str, Any],
    opened: OpenFile,
    decision: Decision,
    offload: Offload | None = None,
    digest: bytes | None = None,
) -> FileResponse:
    """The response for ``decision`` about the open file; GET and HEAD alike.
    ``digest``, the file's SHA-256 when known, goes out as ``Repr-Digest``
    (the whole file's: the same on a 200 and a 206).

    The response owns the descriptor from here: it sends from it (never
    opening the name again) and closes it, or closes it at once when no body
    goes out. With ``offload``, a response that would carry the file hands
    it to the server in front instead; what we decided (refusals, 304, 412,
    416) we still answer.
    """
    status, st, path = decision.status, opened.st, opened.real
    size = st.st_size
    if offload is not None and status in (200, 206):
        if offload.mode != "redirect":
            opened.close()
            return _handed_over(path, offload, digest)
        presigned = getattr(opened, "presigned", None)
        if presigned is not None and environ.get("REQUEST_METHOD") != "HEAD":
            return _redirected(path, presigned, offload.presign_ttl)
    headers = list(FILE_HEADERS)
    if status != 412:
        headers.append(("ETag", etag_of(st)))
        headers.append(("Last-Modified", http_date(int(st.st_mtime))))
    if digest is not None and status in (200, 206):
        headers.append(("Repr-Digest", repr_digest(digest)))
    head = environ.get("REQUEST_METHOD") == "HEAD"
    sends_body = not head and status in (200, 206)
    tally = Tally(decision.body_length(size) if sends_body else 0)
    fh: Any = None
    local = opened.fd >= 0
    if sends_body and local:
        fh = _TalliedFile(opened.take(), "rb")
        fh.tally = tally
    elif sends_body:
        fh = opened.reader()  # an object: read as it is sent, that version only
    else:
        opened.close()
    body: Any = ClosingIterator((), tally.finish)
    if status == 304:
        pass
    elif status == 412:
        headers.append(("Content-Length", "0"))
    elif status == 416:
        headers.append(("Content-Range", f"bytes */{size}"))
        headers.append(("Content-Length", "0"))
    elif status == 206 and len(decision.ranges) > 1:
        boundary = secrets.token_hex(12)
        parts, length = _multipart(fh, path.name, size, decision.ranges, boundary)
        headers.append(("Content-Type", f"multipart/byteranges; boundary={boundary}"))
        headers.append(("Content-Length", str(length)))
        if fh is not None:
            body = ClosingIterator(tally.count(parts), [tally.finish, fh.close])
    else:
        headers.append(("Content-Type", content_type(path.name)))
        headers.append(("Content-Disposition", attachment(path.name)))
        if status == 206:
            (start, end) = decision.ranges[0]
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
            headers.append(("Content-Length", str(end - start + 1)))
            if fh is not None:
                chunks = tally.count(_read(fh, decision.ranges))
                body = ClosingIterator(chunks, [tally.finish, fh.close])
        else:
            headers.append(("Content-Length", str(size)))
            if fh is not None and local:
                body = wrap_file(environ, fh, CHUNK)
            elif fh is not None:
                chunks = tally.count(_read(fh, [(0, size - 1)]))
                body = ClosingIterator(chunks, [tally.finish, fh.close])
    return FileResponse(status, headers, body, tally)


def _redirected(
    path: Path, presigned: Callable[[int, str, str], str], ttl: int
) -> FileResponse:
    """302 to a presigned GET URL of the object (it lives ``ttl`` seconds
    and names that version): the store sends the bytes, and applies the
    Range the client sends again. The URL goes in Location only: it is in no
    log line and no page."""
    headers = [h for h in FILE_HEADERS if h[0] != "Accept-Ranges"]
    url = presigned(ttl, content_type(path.name), attachment(path.name))
    headers += [("Location", url), ("Content-Length", "0")]
    tally = Tally(0)
    tally.handed_over = True
    return FileResponse(302, headers, ClosingIterator((), tally.finish), tally)


def _handed_over(
    path: Path, offload: Offload, digest: bytes | None = None
) -> FileResponse:
    """200 with our headers and the offload header; the server in front
    sends the file (and applies Range and the preconditions itself)."""
    headers = [h for h in FILE_HEADERS if h[0] != "Accept-Ranges"]
    if digest is not None:
        headers.append(("Repr-Digest", repr_digest(digest)))
    headers += [
        ("Content-Type", content_type(path.name)),
        ("Content-Disposition", attachment(path.name)),
        ("Content-Length", "0"),
        *offload.headers(path),
    ]
    tally = Tally(0)
    tally.handed_over = True
    return FileResponse(200, headers, ClosingIterator((), tally.finish), tally)


def _read(fh: BinaryIO, ranges: list[tuple[int, int]]) -> Iterator[bytes]:
    """The bytes of ``ranges``. The caller closes ``fh`` (ClosingIterator): a
    generator that never started would not run its own cleanup."""
    for start, end in ranges:
        fh.seek(start)
        left = end - start + 1
        while left > 0:
            chunk = fh.read(min(CHUNK, left))
            if not chunk:
                return  # the file shrank: the client sees a short body
            left -= len(chunk)
            yield chunk


def _multipart(
    fh: BinaryIO | None,
    name: str,
    size: int,
    ranges: list[tuple[int, int]],
    boundary: str,
) -> tuple[Iterator[bytes], int]:
    """multipart/byteranges (RFC 9110 14.6) and its exact length."""
    ctype = content_type(name)
    heads = [
        (
            f"\r\n--{boundary}\r\nContent-Type: {ctype}\r\n"
            f"Content-Range: bytes {start}-{end}/{size}\r\n\r\n"
        ).encode()
        for start, end in ranges
    ]
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = sum(map(len, heads)) + len(tail)
    length += sum(end - start + 1 for start, end in ranges)

    def parts() -> Iterator[bytes]:
        assert fh is not None  # only a response with a body iterates
        for head, one in zip(heads, ranges, strict=True):
            yield head
            yield from _read(fh, [one])
        yield tail

    return parts(), length


def stall_limit(environ: dict[str, Any], seconds: float) -> Callable[[], None]:
    """Under gunicorn, make a read or write on the client's socket that makes
    no progress for ``seconds`` fail (a stalled client is dropped and what it
    held freed); returns what puts the socket back for the next request on it.
    Elsewhere (tests, other servers) nothing changes."""
    sock = environ.get("gunicorn.socket")
    if sock is None or not seconds:
        return lambda: None
    before = sock.gettimeout()
    sock.settimeout(seconds)

    def restore() -> None:
        try:
            sock.settimeout(before)
        except OSError:
            pass

    return restore
