"""linksvc: signed, expiring download links for a protected directory.

The packages follow the features (``links``, ``files``, ``accounts``,
``notify``) over a pure ``core`` and the store (``db``); ``web`` and ``cli``
are thin adapters, and :mod:`linksvc.app` builds it all. The architecture
page of the docs says what each module holds.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # ``linksvc.create_app`` for "linksvc:create_app" (Flask, gunicorn),
    # without importing Flask for ``import linksvc.core``.
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
