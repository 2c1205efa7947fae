"""The secret keys file: one key per line, newest first; no Flask.

A line is ``<key> [<created, ISO 8601>]``. The newest key signs sessions and
links; every key listed still verifies, so a rotation never breaks a live
link, and retiring a key (deleting its line) kills every link it signed.
Keys are never in settings.toml. :class:`KeyRing` notices a changed file, so
running workers follow ``linksvc keys rotate|retire`` without a restart.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .core.clock import iso
from .core.clock import now
from .core.errors import ConfigError
from .core.errors import InvalidInput
from .core.signing import key_id

KEYS_FILE = "secret_keys"
ENV_KEYS = "LINKSVC_SECRET_KEYS"
#: A running process looks at the keys file at most this often, in seconds.
RELOAD_INTERVAL = 1.0


@dataclass(frozen=True)
class Key:
    secret: str
    created: str = ""

    @property
    def id(self) -> str:
        return key_id(self.secret)


def keys_path(instance_dir: str | os.PathLike[str]) -> Path:
    return Path(instance_dir, KEYS_FILE)


def new_key() -> Key:
    return Key(secrets.token_urlsafe(32), iso(now()) or "")


def read_entries(instance_dir: str | os.PathLike[str]) -> list[Key]:
    try:
        text = keys_path(instance_dir).read_text("utf-8")
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            entries.append(Key(fields[0], fields[1] if len(fields) > 1 else ""))
    return entries


def read_keys(
    instance_dir: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> list[str]:
    """Keys from ``LINKSVC_SECRET_KEYS`` (comma separated) or the keys file.

    Returns an empty list when neither exists; the caller decides whether that
    is fatal (serving) or not (``linksvc init`` is about to write them).
    """
    environ = os.environ if environ is None else environ
    if environ.get(ENV_KEYS):
        return [k.strip() for k in environ[ENV_KEYS].split(",") if k.strip()]
    return [entry.secret for entry in read_entries(instance_dir)]


def write_entries(instance_dir: str | os.PathLike[str], entries: list[Key]) -> Path:
    """Replace the keys file atomically, readable by its owner only."""
    path = keys_path(instance_dir)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(f"{k.secret} {k.created}".rstrip() + "\n" for k in entries))
    os.replace(tmp, path)
    return path


def ensure_keys(instance_dir: str | os.PathLike[str]) -> list[str]:
    """Create the keys file with one fresh key unless it already has keys."""
    entries = read_entries(instance_dir)
    if not entries:
        entries = [new_key()]
        write_entries(instance_dir, entries)
    return [entry.secret for entry in entries]


def rotate(instance_dir: str | os.PathLike[str]) -> Key:
    """Put a new key first: it signs from now on; the others still verify."""
    entries = read_entries(instance_dir)
    key = new_key()
    write_entries(instance_dir, [key, *entries])
    return key


def retire(instance_dir: str | os.PathLike[str], kid: str) -> Key:
    """Remove the key with id ``kid``; links it signed stop working."""
    entries = read_entries(instance_dir)
    matching = [entry for entry in entries if entry.id == kid]
    if not matching:
        raise InvalidInput(f"There is no key with id {kid!r}; see `linksvc keys list`.")
    if len(entries) == 1:
        raise InvalidInput(
            "You cannot retire the only key; run `linksvc keys rotate` first."
        )
    write_entries(instance_dir, [entry for entry in entries if entry.id != kid])
    return matching[0]


def require_keys(keys: list[str]) -> list[str]:
    if not keys:
        raise ConfigError(
            "There are no secret keys: run `linksvc init` to create "
            f"instance/secret_keys, or set {ENV_KEYS}."
        )
    for key in keys:
        if len(key) < 16:
            raise ConfigError("A secret key is shorter than 16 characters.")
    return keys


class KeyRing:
    """The current keys of a process, re-read when the keys file changes.

    :attr:`keys` is the one list everything is signed with, in itsdangerous'
    and Flask's order: oldest to newest, the last one signs (the file and
    ``LINKSVC_SECRET_KEYS`` list them newest first, as people read them).
    Keys from the environment never change while the process runs.
    """

    def __init__(
        self, instance_dir: str, newest_first: list[str], from_file: bool
    ) -> None:
        self.path = keys_path(instance_dir)
        #: Oldest to newest: the last one signs.
        self.keys = list(reversed(newest_first))
        self.from_file = from_file
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_ino

    def refresh(self) -> bool:
        """Re-read the file if it changed; True when the keys changed."""
        if not self.from_file or time.monotonic() - self._checked < RELOAD_INTERVAL:
            return False
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return False
            keys = [entry.secret for entry in reversed(read_entries(self.path.parent))]
            if not keys or keys == self.keys:
                self._stamp = stamp
                return False
            self.keys, self._stamp = keys, stamp
            return True
