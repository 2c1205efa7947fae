"""SHA-256 digests of file versions: ``Repr-Digest`` (RFC 9530), the
recipient page, the API and a folder's ``SHA256SUMS``; no Flask, no database.

A digest is computed once per file version (where it is, size, mtime,
inode; an object's ETag) by reading that version on a real thread, as the
zips' CRCs are, and kept where the caller says (the database) and in memory.
The download path only asks :meth:`Digests.known`: a dictionary lookup, or
for a version this process has not seen, one read of the store (another
worker may have computed it), at most once per ``MISS_TTL`` while it is
missing. A version nobody has computed yet is queued for the background
hasher and its response goes out without the header (a later one carries
it). A version that changes while it is read is not stored.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import BinaryIO

from .offload import offload
from .tree import version_key

log = logging.getLogger("linksvc.files.digests")
#: Bytes read at a time while hashing.
CHUNK = 1 << 20
#: Versions waiting for the hasher in one process; beyond, a request asks
#: again later (an anonymous flood of links cannot queue unbounded work).
QUEUE_LIMIT = 1000
#: Digests kept in memory (about 200 bytes each).
KEEP = 50_000
#: Seconds before a version whose hashing failed (gone, changed) is tried
#: again.
RETRY_AFTER = 60.0
#: Seconds a version the store did not have is not looked up again.
MISS_TTL = 2.0

#: Opens ``real`` as exactly the version ``st`` (FileChanged otherwise).
Opener = Callable[[Path, os.stat_result], BinaryIO]


def header(digest: bytes) -> str:
    """The ``Repr-Digest`` field value (RFC 9530: a structured dictionary
    with a byte sequence)."""
    return f"sha-256=:{base64.b64encode(digest).decode()}:"


def hash_file(fh: BinaryIO, st: os.stat_result) -> bytes | None:
    """SHA-256 of an open file, or None when it is not the version ``st``
    any more once read (written to meanwhile)."""
    sha = hashlib.sha256()
    left = st.st_size
    while left > 0:
        chunk = fh.read(min(CHUNK, left))
        if not chunk:
            return None  # shorter than it was
        sha.update(chunk)
        left -= len(chunk)
    try:
        after = os.fstat(fh.fileno())
    except (AttributeError, OSError, ValueError):  # an object: its reads
        return sha.digest()  # name the version
    if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
        return None
    return sha.digest()


class Digests:
    """Digests of file versions: in memory, in the store (``load`` and
    ``save``), computed by a background hasher when neither has them."""

    def __init__(
        self,
        opener: Opener,
        load: Callable[[list[str]], dict[str, bytes]] | None = None,
        save: Callable[[dict[str, bytes]], None] | None = None,
    ) -> None:
        self._opener, self._load, self._save = opener, load, save
        self._known: dict[str, bytes] = {}
        self._failed: dict[str, float] = {}
        self._missed: dict[str, float] = {}
        self._pending: set[str] = set()
        self._queue: queue.SimpleQueue[tuple[str, Path, os.stat_result]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def known(self, real: Path, st: os.stat_result) -> bytes | None:
        """The digest of this version if known; if not, it is queued."""
        key = version_key(str(real), st)
        found = self._known.get(key)
        if found is None:
            found = self._stored(key)
        if found is None:
            self._ask(key, real, st)
        return found

    def _stored(self, key: str) -> bytes | None:
        """The store's digest of a version this process does not know, looked
        up at most once per MISS_TTL while missing; a failing store is no
        reason to fail a download (None)."""
        if self._load is None:
            return None
        missed = self._missed.get(key)
        if missed is not None and time.monotonic() - missed < MISS_TTL:
            return None
        try:
            found = offload(self._load, [key]).get(key)
        except Exception:
            log.exception("digests could not be read")
            found = None
        if found is None:
            if len(self._missed) >= KEEP:
                self._missed.clear()
            self._missed[key] = time.monotonic()
            return None
        self._remember(key, found)
        return found

    def compute(self, real: Path, st: os.stat_result) -> bytes | None:
        """The digest of this version, read now if need be (on a real
        thread); None when the file is not that version any more."""
        key = version_key(str(real), st)
        found = self._known.get(key)
        if found is None:
            found = offload(self._find, key, real, st)
        return found

    def wait(self, timeout: float = 10.0) -> None:
        """Until the queue is empty (tests)."""
        deadline = time.monotonic() + timeout
        while (self._pending or not self._queue.empty()) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.01)

    def _ask(self, key: str, real: Path, st: os.stat_result) -> None:
        if key in self._pending or len(self._pending) >= QUEUE_LIMIT:
            return
        failed = self._failed.get(key)
        if failed is not None and time.monotonic() - failed < RETRY_AFTER:
            return
        self._ensure_thread()
        self._pending.add(key)
        self._queue.put((key, real, st))

    def _ensure_thread(self) -> None:
        # After a fork (gunicorn workers) the parent's thread does not exist.
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._pending = set()
                self._thread = threading.Thread(
                    target=self._run, name="linksvc-digests", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        """The hasher: a greenlet under gevent whose reads run on a real
        thread (offload), a real thread elsewhere."""
        while True:
            key, real, st = self._queue.get()
            try:
                offload(self._find, key, real, st)
            except Exception:
                log.exception("the digest of %s could not be computed", real.name)
                self._failed[key] = time.monotonic()
            finally:
                self._pending.discard(key)

    def _find(self, key: str, real: Path, st: os.stat_result) -> bytes | None:
        """From the store, or read and stored; None if the file changed."""
        if self._load is not None:
            stored = self._load([key]).get(key)
            if stored is not None:
                self._remember(key, stored)
                return stored
        try:
            fh = self._opener(real, st)
        except Exception:
            self._failed[key] = time.monotonic()
            return None
        with fh:
            digest = hash_file(fh, st)
        if digest is None:
            self._failed[key] = time.monotonic()
            return None
        if self._save is not None:
            self._save({key: digest})
        self._remember(key, digest)
        return digest

    def _remember(self, key: str, digest: bytes) -> None:
        if len(self._known) >= KEEP:
            self._known.clear()
        if len(self._failed) >= KEEP:
            self._failed.clear()
        self._known[key] = digest


def opener_of(tree: Any) -> Opener:
    """Open a version of a file of ``tree`` (a ProtectedTree or an
    ObjectTree) as a reader: no symlink followed, that version only."""

    def open_version(real: Path, st: os.stat_result) -> BinaryIO:
        return tree.open_real(real, st).reader()

    return open_version
