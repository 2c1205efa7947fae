"""Who is asking: the one reader of the client's address and User-Agent."""

from __future__ import annotations

from typing import Any

from ..db.audit import MAX_CLIENT_TEXT


def client(environ: dict[str, Any]) -> dict[str, str]:
    """The client's address (after ProxyFix, when trusted_proxies is set) and
    User-Agent, as the audit records them."""
    return {
        "remote_addr": environ.get("REMOTE_ADDR") or "",
        "user_agent": (environ.get("HTTP_USER_AGENT") or "")[:MAX_CLIENT_TEXT],
    }
