"""Who is asking: the one reader of a request's client address and
User-Agent, as the audit records them; no Flask."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import TypedDict

#: Longest client text (address, User-Agent) the audit keeps.
MAX_CLIENT_TEXT = 256


class Client(TypedDict):
    remote_addr: str
    user_agent: str


def client(environ: Mapping[str, Any]) -> Client:
    """The client's address (after ProxyFix, when trusted_proxies is set) and
    User-Agent."""
    return {
        "remote_addr": environ.get("REMOTE_ADDR") or "",
        "user_agent": (environ.get("HTTP_USER_AGENT") or "")[:MAX_CLIENT_TEXT],
    }
