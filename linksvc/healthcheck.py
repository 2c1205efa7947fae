"""The image's health check: ``python -m linksvc.healthcheck`` exits 0 when
``/readyz`` answers 200, else 1 with the answer on stderr.

Only the standard library, so the container runtime can run it every few
seconds for the cost of a Python start, not of importing the app."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

URL = "http://127.0.0.1:8000/readyz"


def check(url: str, timeout: float = 3.0) -> tuple[bool, str]:
    """Whether ``url`` answered 200, and what it said."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, response.read(4096).decode(errors="replace")
    except urllib.error.HTTPError as error:
        return False, f"{error.code}: {error.read(4096).decode(errors='replace')}"
    except OSError as error:
        return False, str(error)


def main() -> int:
    ok, said = check(os.environ.get("LINKSVC_HEALTHCHECK_URL", URL))
    if not ok:
        print(said, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
