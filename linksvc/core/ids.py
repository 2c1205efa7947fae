"""Random ids people paste into commands and URLs.

URL-safe base64 may begin with ``-``, and a command line reads such an id
as an option (``linksvc upload accept -W1C…`` failed that way in CI), so no
id begins with one.
"""

from __future__ import annotations

import secrets


def random_id(nbytes: int) -> str:
    """``nbytes`` random bytes, URL-safe, never starting with ``-``."""
    while True:
        value = secrets.token_urlsafe(nbytes)
        if not value.startswith("-"):
            return value
