"""Where uploads wait: a folder under the instance directory, outside the
protected tree, that nothing serves; and the one way a file leaves it, into
the tree, never over another file. No Flask.

Each upload is one file named by its random id (``<id>.part``), made with
O_EXCL and opened with O_NOFOLLOW, mode 0600. A PATCH writes its bytes at
the offset the database says (the file is cut there first, so bytes of a
PATCH that broke off and was never recorded are not kept), never past the
declared length.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import unicodedata
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

from ..core.errors import PathRefused
from .offload import offload
from .tree import _CONTROL
from .tree import ProtectedTree

#: An upload id as db/uploads.py makes them (token_urlsafe(16)).
_ID = re.compile(r"[A-Za-z0-9_-]{16,43}")
#: Longest file name kept, in UTF-8 bytes (most file systems allow 255).
MAX_NAME = 200
#: Bytes read at a time for hashing and scanning.
CHUNK = 1 << 20


class TooLarge(Exception):
    """The body carries more than the upload's declared length."""


def upload_name(given: str) -> str:
    """A file name for what the uploader called ``given``: the last part of
    any path it carries, NFC, control and bidi characters and separators
    replaced, no leading dot, at most ``MAX_NAME`` bytes (the extension
    kept). Checked by the tree's own path rules at the end."""
    name = given.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = _CONTROL.sub("_", name).strip().lstrip(".").strip()
    name = re.sub(r"[:*?\"<>|]", "_", name)
    if not name:
        name = "upload"
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = name, ""
    while len((stem + (f".{ext}" if ext else "")).encode()) > MAX_NAME:
        stem = stem[:-1]
    name = (stem or "upload") + (f".{ext}" if ext else "")
    try:
        return ProtectedTree.clean(name)
    except PathRefused:
        return "upload" + (f".{ext}" if ext and ext.isalnum() else "")


def numbered(name: str, n: int) -> str:
    """``report.pdf``, ``report (2).pdf``, ``report (3).pdf`` …"""
    if n == 1:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"{name} ({n})"
    return f"{stem} ({n}).{ext}"


class Quarantine:
    """The uploads folder (made 0700 on first use)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, upload_id: str) -> Path:
        if not _ID.fullmatch(upload_id):
            raise PathRefused("Not an upload id.")
        return self.root / f"{upload_id}.part"

    def create(self, upload_id: str) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(
            self._path(upload_id),
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
            0o600,
        )
        os.close(fd)

    def free_bytes(self) -> int:
        """Free space where uploads are written (for the floor)."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def write(
        self,
        upload_id: str,
        offset: int,
        chunks: Iterator[bytes],
        room: int,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Write ``chunks`` from ``offset``, at most ``room`` bytes (TooLarge
        if they carry more: what fitted is written first); returns the new
        offset. ``progress(offset)`` is called after each chunk."""
        fd = os.open(self._path(upload_id), os.O_WRONLY | os.O_NOFOLLOW)
        written = 0
        try:
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
            for chunk in chunks:
                if written + len(chunk) > room:
                    fits = room - written
                    if fits > 0:
                        os.write(fd, chunk[:fits])
                        written += fits
                    raise TooLarge()
                view = memoryview(chunk)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                written += len(chunk)
                if progress is not None:
                    progress(offset + written)
        finally:
            os.close(fd)
            if progress is not None:
                progress(offset + written)
        return offset + written

    def head(self, upload_id: str, size: int = 8192) -> bytes:
        """The first bytes (for the content sniff)."""
        with open(self._path(upload_id), "rb") as f:
            return f.read(size)

    def sha256(self, upload_id: str) -> str:
        """The file's SHA-256, read on a real thread (it may be gigabytes)."""
        return offload(self._sha256, upload_id)

    def _sha256(self, upload_id: str) -> str:
        digest = hashlib.sha256()
        with open(self._path(upload_id), "rb") as f:
            while block := f.read(CHUNK):
                digest.update(block)
        return digest.hexdigest()

    def chunks(self, upload_id: str) -> Iterator[bytes]:
        """The file's bytes, for a scanner."""
        with open(self._path(upload_id), "rb") as f:
            while block := f.read(CHUNK):
                yield block

    def scan(self, upload_id: str, address: str) -> tuple[bool | None, str]:
        """clamd's verdict on the upload (streamed to it: clamd needs no
        access to this folder), on a real thread: (True, "") clean,
        (False, signature) infected, (None, why) when it could not say."""
        return offload(self._scan, upload_id, address)

    def _scan(self, upload_id: str, address: str) -> tuple[bool | None, str]:
        from clamav_client.clamd import ClamdNetworkSocket
        from clamav_client.clamd import ClamdUnixSocket

        host, _, port = address.rpartition(":")
        client: ClamdNetworkSocket = (
            ClamdNetworkSocket(host=host, port=int(port), timeout=120)
            if port.isdigit() and not address.startswith("/")
            else ClamdUnixSocket(path=address, timeout=120)
        )
        try:
            with open(self._path(upload_id), "rb") as f:
                found = client.instream(f)
        except Exception as exc:  # down, too long for it, a broken answer
            return None, f"{type(exc).__name__}: {exc}"[:200]
        status, reason = found.get("stream", (None, None))
        if status == "FOUND":
            return False, str(reason or "found")[:200]
        if status == "OK":
            return True, ""
        return None, str(reason or "no answer")[:200]

    def delete(self, upload_id: str) -> None:
        try:
            self._path(upload_id).unlink()
        except FileNotFoundError:
            pass

    def path_of(self, upload_id: str) -> Path:
        """Where a waiting upload's bytes are (to copy them elsewhere)."""
        return self._path(upload_id)

    def release(self, upload_id: str, folder: Path, name: str) -> str:
        """Move the upload into ``folder`` (a real folder of the tree) as
        ``name``, or ``name (2)`` … if taken: never over a file. Returns the
        name used. On a real thread: across file systems it is a copy."""
        return offload(self._release, upload_id, folder, name)

    def _release(self, upload_id: str, folder: Path, name: str) -> str:
        source = self._path(upload_id)
        for n in range(1, 1000):
            target = folder / numbered(name, n)
            try:
                os.link(source, target)  # fails if the name is taken
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                return self._copy_in(source, folder, name)
            source.unlink()
            os.chmod(target, 0o640)  # readable by the group (nginx offload)
            return target.name
        raise FileExistsError(f"{name!r} and 999 numbered names are taken.")

    def _copy_in(self, source: Path, folder: Path, name: str) -> str:
        """Another file system: a hidden copy in the folder first, then
        linked to a free name (still never over a file)."""
        temp = folder / f".linksvc-upload-{source.stem}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
        try:
            with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
                while block := src.read(CHUNK):
                    dst.write(block)
            for n in range(1, 1000):
                target = folder / numbered(name, n)
                try:
                    os.link(temp, target)
                except FileExistsError:
                    continue
                source.unlink()
                return target.name
            raise FileExistsError(f"{name!r} and 999 numbered names are taken.")
        finally:
            temp.unlink(missing_ok=True)
