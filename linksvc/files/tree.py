"""The protected tree: the one place a user's path becomes a file; no Flask.

Every path that arrives from a URL, a form, the CLI, the API or a token goes
through :meth:`ProtectedTree.clean` and :meth:`ProtectedTree.file`; nothing
else in linksvc joins paths. Refusals are exceptions, never ``None``.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import BinaryIO

from ..core.conditional import make_etag
from ..core.errors import FileChanged
from ..core.errors import FileMissing
from ..core.errors import PathRefused
from ..core.text import BIDI_CONTROLS
from .offload import offload

#: Longest relative path accepted, in characters; longer is refused, not tried.
MAX_PATH = 1024
#: Longest single name, in bytes, as most file systems allow.
MAX_NAME = 255
#: Control characters, and bidi controls that make a name read as another
#: (``invoice\u202egpj.exe``): such names are refused, never shown.
_CONTROL = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}]")
_DRIVE = re.compile(r"^[A-Za-z]:")
#: Opening a file follows no symlink, on any folder of the way or the file;
#: O_NONBLOCK so a FIFO put in a file's place cannot hang the open.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
#: Seconds between two looks at whether the protected folder was replaced.
ROOT_CHECK = 1.0


@dataclass
class OpenFile:
    """A file of the tree, open: what is sent is what was checked, whatever
    happens to its name afterwards. ``path`` is the clean path asked for,
    ``real`` where it is."""

    path: str
    real: Path
    fd: int
    st: os.stat_result
    _closed: bool = field(default=False, repr=False)

    @property
    def name(self) -> str:
        return self.real.name

    def take(self) -> int:
        """Hand the descriptor over (to whoever closes it from now on)."""
        self._closed = True
        return self.fd

    def reader(self) -> BinaryIO:
        """A file object reading this file (it owns the descriptor)."""
        return open(self.take(), "rb")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self.fd)


def same_file(a: os.stat_result, b: os.stat_result) -> bool:
    """The same version of the same file: device, inode, size, mtime."""
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns) == (
        b.st_dev,
        b.st_ino,
        b.st_size,
        b.st_mtime_ns,
    )


@dataclass(frozen=True)
class Entry:
    """One row of a folder listing."""

    name: str
    path: str
    is_dir: bool
    size: int
    mtime: float


#: The device number of an object's stat (files/objects.py): its inode
#: number is then the object's ETag.
OBJECT_DEV = 0x5333


def version(st: os.stat_result) -> str:
    """What a pinned link remembers of its file: size, modification time (ns)
    and inode. Replacing the file (a new inode, as editors and ``mv`` do) or
    writing to it (size or time) changes it; it costs nothing to check,
    where a content hash would mean reading the whole file on each download.
    An object's version is its ETag."""
    if st.st_dev == OBJECT_DEV:
        return f"etag-{st.st_ino:032x}"
    return f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}"


def version_key(path: str, st: os.stat_result) -> str:
    """A version's cache key (CRCs, digests): where it is and which version."""
    return f"{path}:{st.st_size}-{st.st_mtime_ns}-{st.st_ino}"


def etag_of(st: os.stat_result) -> str:
    """The HTTP validator of a file: as nginx makes it (time and size), or,
    for an object, from its ETag (two versions written in the same second
    with the same size still differ)."""
    if st.st_dev == OBJECT_DEV:
        return f'"{st.st_ino:032x}"'
    return make_etag(st.st_size, st.st_mtime_ns)


def covers(grants: Iterable[str], path: str) -> bool:
    """Whether a grant covers ``path``: ``a/b`` covers ``a/b/c``, not ``a/b-c``.

    The empty grant is the whole tree (admins).
    """
    return any(g == "" or path == g or path.startswith(g + "/") for g in grants)


def leads_to_grant(grants: Iterable[str], path: str) -> bool:
    """Whether ``path`` is a folder on the way to a grant, so it may be browsed."""
    return path == "" or any(g.startswith(path + "/") for g in grants)


class ProtectedTree:
    """Safe resolution, grant checks and listing under one root folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.realpath(root))
        #: The root, open once: every file is opened below it by descriptor.
        #: Looked at again at most every ROOT_CHECK seconds, and when a walk
        #: fails: a folder put in its place (or remounted) is followed.
        self._root_fd: int | None = None
        self._root_checked = 0.0

    @staticmethod
    def clean(relpath: str) -> str:
        """The canonical form of a relative path, or PathRefused.

        Refuses rather than repairs: ``..``, ``.``, empty segments, hidden
        names, backslashes, control characters and NUL, absolute and drive
        paths, names that turn into any of those under Unicode NFKC, and
        over-long paths. A single trailing slash is dropped (folders).
        """
        if not isinstance(relpath, str):
            raise PathRefused("The path must be text.")
        if relpath.endswith("/"):
            relpath = relpath[:-1]
        if relpath == "":
            return ""
        if len(relpath) > MAX_PATH:
            raise PathRefused("The path is too long.")
        if _CONTROL.search(relpath) or "\\" in relpath:
            raise PathRefused("The path contains a forbidden character.")
        if relpath.startswith("/") or _DRIVE.match(relpath):
            raise PathRefused("The path must be relative to the protected folder.")
        ascii_only = relpath.isascii()  # NFKC cannot change ASCII
        for part in relpath.split("/"):
            folded = part if ascii_only else unicodedata.normalize("NFKC", part)
            if (
                part == ""
                or part.startswith(".")
                or folded.startswith(".")
                or "/" in folded
                or "\\" in folded
            ):
                raise PathRefused("The path has an empty, relative or hidden segment.")
            try:
                encoded = part.encode("utf-8")
            except UnicodeEncodeError:
                raise PathRefused("The path is not valid text.") from None
            if len(encoded) > MAX_NAME:
                raise PathRefused("A name in the path is too long.")
        return relpath

    def resolve(self, relpath: str) -> tuple[str, Path]:
        """Clean ``relpath`` and follow symlinks; refuse anything that leaves root."""
        clean = self.clean(relpath)
        real = Path(os.path.realpath(self.root / clean))
        if real != self.root and self.root not in real.parents:
            raise PathRefused("The path leads outside the protected folder.")
        return clean, real

    def open(self, relpath: str) -> OpenFile:
        """A regular file under root, open, with its stat; FileMissing else.

        The file is opened walking from the root one name at a time with
        ``O_NOFOLLOW``, so no name swapped for a symlink after a check can
        lead elsewhere: what is checked (``fstat`` of the descriptor) is what
        is sent. A path that passes a symlink is resolved first, checked to
        stay inside the root, and its real path opened the same way.
        """
        clean = self.clean(relpath)
        if not clean:
            raise FileMissing("There is no file at '' (it is not a file).")
        try:
            fd = self._open_walk(clean)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise FileMissing(f"There is no file at {clean!r}.") from None
            clean, real = self.resolve(clean)  # a symlink on the way
            try:
                fd = self._open_walk(self.relative(real))
            except OSError:
                raise FileMissing(f"There is no file at {clean!r}.") from None
        else:
            real = self.root / clean
        return self._checked(clean, real, fd)

    def open_real(self, real: Path, expect: os.stat_result | None = None) -> OpenFile:
        """Open ``real`` (a resolved path under root, as a plan recorded it)
        following no symlink; with ``expect``, refuse any other version of
        it (FileChanged): a zip never sends bytes other than those planned."""
        try:
            fd = self._open_walk(self.relative(real))
        except (OSError, ValueError):
            raise FileMissing(f"There is no file at {real.name!r}.") from None
        opened = self._checked(self.relative(real), real, fd)
        if expect is not None and not same_file(opened.st, expect):
            opened.close()
            raise FileChanged(f"{real.name!r} changed after it was listed.")
        return opened

    def open_member(self, folder: str, rel: str) -> OpenFile:
        """A folder link's file ``rel`` under ``folder``, as its listing has
        it: no symlinked folder is entered; a symlinked file counts when it
        leads to a file inside the tree (the caller checks the grants of
        where it leads, :attr:`OpenFile.real`)."""
        full = f"{folder}/{rel}" if folder else rel
        try:
            return self._checked(full, self.root / full, self._open_walk(full))
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise FileMissing(f"There is no file at {full!r}.") from None
        parent = full.rsplit("/", 1)[0] if "/" in full else ""
        try:
            if parent:
                os.close(self._open_walk(parent, directory=True))
        except OSError:
            raise FileMissing(f"There is no file at {full!r}.") from None
        _, real = self.resolve(full)  # the file itself is a symlink
        return self.open_real(real)

    def _open_walk(self, clean: str, directory: bool = False) -> int:
        root_fd = self._root()
        try:
            return self._walk(root_fd, clean, directory)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR) or not self._moved(root_fd):
                raise
            # The folder was replaced or remounted: follow it. The old
            # descriptor stays open (another thread may be walking from it;
            # closing it could hand its number to some other file).
            self._root_fd = None
            return self._walk(self._root(), clean, directory)

    def _moved(self, root_fd: int) -> bool:
        try:
            now, held = os.stat(self.root), os.fstat(root_fd)
        except OSError:
            return True
        return (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino)

    def _root(self) -> int:
        fd = self._root_fd
        moment = time.monotonic()
        if fd is not None and moment - self._root_checked > ROOT_CHECK:
            self._root_checked = moment
            if self._moved(fd):
                fd = None  # left open: see _open_walk
        if fd is None:
            fd = self._root_fd = os.open(self.root, _DIR_FLAGS)
            self._root_checked = moment
        return fd

    @staticmethod
    def _walk(root_fd: int, clean: str, directory: bool) -> int:
        parts = clean.split("/")
        flags = _DIR_FLAGS if directory else _FILE_FLAGS
        if len(parts) == 1:
            return os.open(parts[0], flags, dir_fd=root_fd)
        dirfd = os.open(parts[0], _DIR_FLAGS, dir_fd=root_fd)
        try:
            for part in parts[1:-1]:
                below = os.open(part, _DIR_FLAGS, dir_fd=dirfd)
                os.close(dirfd)
                dirfd = below
            return os.open(parts[-1], flags, dir_fd=dirfd)
        finally:
            os.close(dirfd)

    @staticmethod
    def _checked(clean: str, real: Path, fd: int) -> OpenFile:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise FileMissing(f"There is no file at {clean!r} (it is not a file).")
        if st.st_nlink > 1:
            os.close(fd)
            # Another hard link may sit outside the tree; we cannot tell where.
            raise PathRefused(
                f"The file {clean!r} has other hard links and is not served."
            )
        return OpenFile(clean, real, fd, st)

    def receive(
        self, quarantine: Any, upload_id: str, folder: str, real: Path, name: str
    ) -> str:
        """Put an accepted upload into ``folder`` as ``name`` (or ``name (2)``
        …, never over a file); the name used."""
        return quarantine.release(upload_id, real, name)

    def ready(self) -> bool | str:
        """Whether the files can be read (for /readyz)."""
        root = self.root
        if root.is_dir() and os.access(root, os.R_OK | os.X_OK):
            return True
        return "not a readable folder"

    def file(self, relpath: str) -> tuple[str, Path, os.stat_result]:
        """The file's real path under root, its real path and its stat (for
        checks and listings; what is sent is opened with :meth:`open`)."""
        opened = self.open(relpath)
        opened.close()
        return opened.path, opened.real, opened.st

    def files_under(
        self,
        relpath: str,
        grants: list[str],
        limit: int = 100_000,
        seconds: float | None = None,
    ) -> list[tuple[str, Path, os.stat_result]]:
        """Every file a folder link shares: (path under the folder, real path,
        stat), sorted, nested folders included. The rules of :meth:`file`
        hold for each: hidden and refused names are left out, symlinks only
        count when their target stays in the tree and ``grants`` cover it,
        files with other hard links are left out. PathRefused past ``limit``
        files, or when the walk takes longer than ``seconds``."""
        # A big folder must not stall the event loop: on a real thread.
        return offload(self._walk_files, relpath, grants, limit, seconds)

    def _walk_files(
        self,
        relpath: str,
        grants: list[str],
        limit: int,
        seconds: float | None,
    ) -> list[tuple[str, Path, os.stat_result]]:
        clean, folder = self.folder(relpath)
        deadline = None if seconds is None else time.monotonic() + seconds
        found: list[tuple[str, Path, os.stat_result]] = []
        pending = [("", folder)]
        while pending:
            if deadline is not None and time.monotonic() > deadline:
                raise PathRefused(f"The folder {clean!r} is too big to list in time.")
            prefix, here = pending.pop()
            try:
                entries = list(os.scandir(here))
            except OSError:
                continue
            for entry in entries:
                name = f"{prefix}{entry.name}"
                try:
                    self.clean(f"{clean}/{name}" if clean else name)
                    if entry.is_symlink():
                        real = Path(os.path.realpath(entry.path))
                        if self.root not in real.parents:
                            continue
                        if not covers(grants, self.relative(real)):
                            continue
                        st = real.stat()
                    else:
                        real, st = Path(entry.path), entry.stat(follow_symlinks=False)
                except (PathRefused, OSError):
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if not entry.is_symlink():  # no loops through linked folders
                        pending.append((name + "/", real))
                elif stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                    found.append((name, real, st))
                    if len(found) > limit:
                        raise PathRefused(
                            f"The folder {clean!r} holds more than {limit} files."
                        )
        return sorted(found, key=lambda item: item[0])

    def relative(self, real: Path) -> str:
        """The path under root of a resolved ``real`` path: what a symlink
        really leads to, which is what grants are checked against."""
        return "" if real == self.root else str(real.relative_to(self.root))

    def folder(self, relpath: str) -> tuple[str, Path]:
        clean, real = self.resolve(relpath)
        if not real.is_dir():
            raise FileMissing(f"There is no folder at {clean!r}.")
        return clean, real

    def listing(self, relpath: str, grants: list[str]) -> list[Entry]:
        """What a user with ``grants`` sees in a folder: folders first, by name.

        Hidden names and links that leave the tree are left out silently, as
        they could never be opened anyway.
        """
        clean, real = self.folder(relpath)
        entries = []
        for child in real.iterdir():
            child_rel = f"{clean}/{child.name}" if clean else child.name
            if not (covers(grants, child_rel) or leads_to_grant(grants, child_rel)):
                continue
            try:
                _, child_real = self.resolve(child_rel)
                st = child_real.stat()
            except (PathRefused, OSError):
                continue
            target = self.relative(child_real)
            if target != child_rel and not (
                covers(grants, target) or leads_to_grant(grants, target)
            ):
                continue  # a symlink to somewhere the grants do not reach
            is_dir = stat.S_ISDIR(st.st_mode)
            if not is_dir and (not stat.S_ISREG(st.st_mode) or st.st_nlink > 1):
                continue
            if not is_dir and not (
                covers(grants, child_rel) and covers(grants, target)
            ):
                continue
            entries.append(
                Entry(child.name, child_rel, is_dir, st.st_size, st.st_mtime)
            )
        entries.sort(key=lambda e: (not e.is_dir, e.name.casefold()))
        return entries
