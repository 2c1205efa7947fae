"""The protected tree: the one place a user's path becomes a file; no Flask.

Every path that arrives from a URL, a form, the CLI, the API or a token goes
through :meth:`ProtectedTree.clean` and :meth:`ProtectedTree.file`; nothing
else in linksvc joins paths. Refusals are exceptions, never ``None``.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import FileMissing
from .errors import PathRefused
from .text import BIDI_CONTROLS

#: Longest relative path accepted, in characters; longer is refused, not tried.
MAX_PATH = 1024
#: Longest single name, in bytes, as most file systems allow.
MAX_NAME = 255
#: Control characters, and bidi controls that make a name read as another
#: (``invoice\u202egpj.exe``): such names are refused, never shown.
_CONTROL = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}]")
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Entry:
    """One row of a folder listing."""

    name: str
    path: str
    is_dir: bool
    size: int
    mtime: float


def version(st: os.stat_result) -> str:
    """What a pinned link remembers of its file: size, modification time (ns)
    and inode. Replacing the file (a new inode, as editors and ``mv`` do) or
    writing to it (size or time) changes it; it costs nothing to check,
    where a content hash would mean reading the whole file on each download."""
    return f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}"


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

    def file(self, relpath: str) -> tuple[str, Path, os.stat_result]:
        """A regular file under root, with its stat; FileMissing otherwise.

        The common case costs one ``lstat`` per name below the root: a clean
        path without symlinks cannot leave the tree. Only a path that passes a
        symlink is resolved in full and checked to stay inside the root.
        """
        clean = self.clean(relpath)
        path = self.root
        try:
            for part in clean.split("/"):
                path = path / part
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    clean, path = self.resolve(clean)
                    st = path.stat()
                    break
        except OSError:
            raise FileMissing(f"There is no file at {clean!r}.") from None
        if not clean or not stat.S_ISREG(st.st_mode):
            raise FileMissing(f"There is no file at {clean!r} (it is not a file).")
        if st.st_nlink > 1:
            # Another hard link may sit outside the tree; we cannot tell where.
            raise PathRefused(
                f"The file {clean!r} has other hard links and is not served."
            )
        return clean, path, st

    def files_under(
        self, relpath: str, grants: list[str], limit: int = 100_000
    ) -> list[tuple[str, Path, os.stat_result]]:
        """Every file a folder link shares: (path under the folder, real path,
        stat), sorted, nested folders included. The rules of :meth:`file`
        hold for each: hidden and refused names are left out, symlinks only
        count when their target stays in the tree and ``grants`` cover it,
        files with other hard links are left out. PathRefused past ``limit``."""
        clean, folder = self.folder(relpath)
        found: list[tuple[str, Path, os.stat_result]] = []
        pending = [("", folder)]
        while pending:
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
