"""``linksvc backup`` and ``restore``: an instance's state in one folder; no
Flask.

A backup holds the database (a consistent online copy: db/backup.py), the
signing keys (so every link made before works after a restore), and the
uploads waiting in quarantine, with a manifest. The protected files are the
organisation's own and are not copied: back them up as files. A restore goes
only into an empty instance, then migrates the schema to this release's.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from .config import Settings
from .core.errors import InvalidInput
from .db.store import Store
from .keys import keys_path
from .services import Services

MANIFEST = "manifest.json"
KEYS = "secret_keys"
UPLOADS = "uploads"


def back_up(svc: Services, dest: str | os.PathLike[str]) -> dict[str, Any]:
    """Write a backup into ``dest`` (a new or empty folder, made 0700)."""
    folder = Path(dest)
    if folder.exists() and any(folder.iterdir()):
        raise InvalidInput(f"{folder} is not empty: give a new folder.")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    manifest = {
        "format": 1,
        "created_at": int(time.time()),
        **svc.store.backup_to(folder),
        "keys": False,
        "uploads": 0,
    }
    keys = keys_path(svc.settings.instance_dir)
    if keys.is_file():
        shutil.copyfile(keys, folder / KEYS)
        (folder / KEYS).chmod(0o600)
        manifest["keys"] = True
    waiting = svc.quarantine.root
    if waiting.is_dir():
        shutil.copytree(waiting, folder / UPLOADS)
        manifest["uploads"] = sum(1 for _ in (folder / UPLOADS).glob("*.part"))
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def restore(settings: Settings, source: str | os.PathLike[str]) -> dict:
    """Put a backup into the instance ``settings`` describe, which must be
    empty (no tables, no keys file of its own), then bring its schema up to
    date. Runs without the app: an empty instance has no keys to start one."""
    folder = Path(source)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        raise InvalidInput(f"{folder} holds no linksvc backup.") from None
    keys = keys_path(settings.instance_dir)
    if manifest.get("keys") and keys.exists():
        raise InvalidInput(f"{keys} exists: restore only into a new instance.")
    store = Store(settings.database_url, settings.database_timeout)
    try:
        store.restore_from(folder, str(manifest["database_file"]))
        store.migrate()
    finally:
        store.dispose()
    if manifest.get("keys"):
        keys.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(folder / KEYS, keys)
        keys.chmod(0o600)
    if (folder / UPLOADS).is_dir():
        waiting = Path(settings.instance_dir, UPLOADS)
        shutil.copytree(folder / UPLOADS, waiting, dirs_exist_ok=True)
    return manifest
