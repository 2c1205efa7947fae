"""What one request did, for the request log and the metrics; no Flask.

The outermost WSGI layer (web/observe.py) puts an :class:`Observed` in the
environ; whoever knows more (the route, the link, the outcome) notes it
there, and the layer reads it once the response has gone out. Nothing here
holds a URL: a token is a secret, the route's rule (``/d/<token>``) is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The environ key of a request's Observed.
KEY = "linksvc.observed"


@dataclass(slots=True)
class Observed:
    request_id: str
    started: float
    method: str
    #: The route's rule, "unmatched" when none answered.
    route: str = "unmatched"
    link_id: str | None = None
    #: "ok" or the refusal's code, for requests that opened a link.
    outcome: str | None = None
    status: int = 0
    #: Body bytes that went out (0 when a server in front sent them).
    sent: int = 0
    #: Upload bytes taken in.
    received: int = 0


def note(environ: dict[str, Any], **values: Any) -> None:
    """Say more of this request (a no-op outside the observing layer)."""
    seen = environ.get(KEY)
    if seen is not None:
        for name, value in values.items():
            setattr(seen, name, value)


def request_id(environ: dict[str, Any]) -> str | None:
    seen = environ.get(KEY)
    return seen.request_id if seen is not None else None
