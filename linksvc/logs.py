"""Logs for machines (``log_format = "json"``), with the standard library.

One JSON object a line: every log record (linksvc's and gunicorn's), one
line per request when the response has gone out, one per audit event as it
is recorded. Nothing that says a secret is written: a request line names its
route's rule (``/d/<token>``), never its URL, and no line carries a header,
a form or a cookie.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from .core.observed import Observed
from .db import audit as audit_module

#: The logger of request and event lines.
REQUESTS = logging.getLogger("linksvc.request")
EVENTS = logging.getLogger("linksvc.event")
#: The longest User-Agent a line keeps.
MAX_AGENT = 200


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time, level, logger, message, the
    ``fields`` it was given, and its traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def use_json(*loggers: logging.Logger) -> None:
    """Give each handler of ``loggers`` the JSON formatter."""
    formatter = JsonFormatter()
    for logger in loggers:
        for handler in logger.handlers:
            handler.setFormatter(formatter)


def log_request(seen: Observed, environ: dict[str, Any], ended: float) -> None:
    """The request's line, once its response has gone out."""
    fields = {
        "request_id": seen.request_id,
        "method": seen.method[:16],
        "route": seen.route,
        "status": seen.status,
        "bytes": seen.sent,
        "duration_ms": round((ended - seen.started) * 1000, 2),
        "client": environ.get("REMOTE_ADDR", "")[:64],
        "user_agent": environ.get("HTTP_USER_AGENT", "")[:MAX_AGENT],
    }
    if seen.link_id is not None:
        fields["link_id"] = seen.link_id
    if seen.outcome is not None:
        fields["outcome"] = seen.outcome
    if seen.received:
        fields["received"] = seen.received
    REQUESTS.info("request", extra={"fields": fields})


#: The audit row's fields an event line keeps (never a password: the audit
#: holds none).
_EVENT_FIELDS = (
    "event",
    "outcome",
    "link_id",
    "path",
    "status",
    "bytes",
    "complete",
    "count",
    "subject",
    "detail",
    "actor",
    "remote_addr",
)


class EventLines:
    """Writes each audit record of one app's audit as a line (kept by the
    app: blinker holds receivers weakly)."""

    def __init__(self, audit: Any) -> None:
        audit_module.recorded.connect(self.recorded, sender=audit)

    def recorded(self, sender: Any, row: dict[str, Any]) -> None:
        fields = {k: row[k] for k in _EVENT_FIELDS if row.get(k) not in (None, "")}
        EVENTS.info("event", extra={"fields": fields})
