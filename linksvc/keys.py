"""The secret keys file: one key per line, newest first; no Flask.

The newest key signs sessions and links; every key listed still verifies, so
a rotation never breaks a live link. Keys are never in settings.toml.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigError

KEYS_FILE = "secret_keys"
ENV_KEYS = "LINKSVC_SECRET_KEYS"


def keys_path(instance_dir: str | os.PathLike[str]) -> Path:
    return Path(instance_dir, KEYS_FILE)


def new_key() -> str:
    return secrets.token_urlsafe(32)


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
    try:
        text = keys_path(instance_dir).read_text("utf-8")
    except FileNotFoundError:
        return []
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def write_keys(instance_dir: str | os.PathLike[str], keys: list[str]) -> Path:
    """Replace the keys file atomically, readable by its owner only."""
    path = keys_path(instance_dir)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(f"{key}\n" for key in keys))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def ensure_keys(instance_dir: str | os.PathLike[str]) -> list[str]:
    """Create the keys file with one fresh key unless it already has keys."""
    keys = read_keys(instance_dir, environ={})
    if not keys:
        keys = [new_key()]
        write_keys(instance_dir, keys)
    return keys


def require_keys(keys: list[str]) -> list[str]:
    if not keys:
        raise ConfigError(
            "no secret keys: run `linksvc init` to create instance/secret_keys, "
            f"or set {ENV_KEYS}"
        )
    for key in keys:
        if len(key) < 16:
            raise ConfigError("a secret key is shorter than 16 characters")
    return keys
