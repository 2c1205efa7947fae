"""Blueprint: the administrators' audit view, with filters and CSV export."""

from __future__ import annotations

import calendar
import time

from flask import Blueprint
from flask import render_template
from flask import request
from flask import Response
from flask import stream_with_context

from ..core.errors import InvalidInput
from ..core.errors import LinksvcError
from ..db import audit
from .auth import admin_required
from .ext import services

bp = Blueprint("admin", __name__, url_prefix="/admin")

#: Most rows the page shows; the CSV export has no limit.
PAGE_ROWS = 500
#: Outcomes to filter by: "ok" and every error code (from the error table).
OUTCOMES = ("ok", *LinksvcError.codes())
#: The query parameters the audit page reads; nothing else reaches url_for.
FILTER_NAMES = ("user", "path", "outcome", "since", "until")


def _day(value: str, end: bool = False) -> int | None:
    """A YYYY-MM-DD date as epoch seconds (its start, or its last second)."""
    if not value:
        return None
    try:
        day = time.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date like 2026-11-25.") from None
    return calendar.timegm(day) + (86399 if end else 0)


def _filters() -> dict:
    args = request.args
    return {
        "user": args.get("user", "").strip() or None,
        "path": args.get("path", "").strip().strip("/") or None,
        "outcome": args.get("outcome", "").strip() or None,
        "since": _day(args.get("since", "").strip()),
        "until": _day(args.get("until", "").strip(), end=True),
    }


@bp.route("/audit")
@admin_required
def audit_log() -> str:
    svc = services()
    svc.audit.flush(timeout=1)
    rows = svc.store.records.query(**_filters(), limit=PAGE_ROWS)
    filters = {
        name: request.args[name] for name in FILTER_NAMES if request.args.get(name)
    }
    return render_template(
        "audit.html", history=rows, args=filters, filters=filters, outcomes=OUTCOMES
    )


@bp.route("/audit.csv")
@admin_required
def audit_csv() -> Response:
    """Every matching record, streamed from the database in pages."""
    svc = services()
    svc.audit.flush(timeout=1)
    rows = svc.store.records.stream(**_filters())
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Response(
        stream_with_context(audit.to_csv(rows)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f"attachment; filename=linksvc-audit-{stamp}.csv",
            "Cache-Control": "private, no-store",
        },
    )


@bp.route("/outbox")
@admin_required
def outbox() -> str:
    """Messages not sent yet: waiting for a retry, or given up (with why)."""
    messages = services().store.outbox.list(unsent=True, limit=500)
    return render_template("outbox.html", messages=messages)
