"""Audit records written out: CSV (safe to open in a spreadsheet) and JSON
lines, streamed record by record; no Flask."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from ..core.clock import iso
from ..core.text import printable

#: Columns of an exported audit record, in order.
EXPORT_FIELDS = (
    "at",
    "event",
    "outcome",
    "link_id",
    "path",
    "owner",
    "actor",
    "remote_addr",
    "user_agent",
    "status",
    "bytes",
    "complete",
    "count",
    "subject",
    "detail",
)


def to_csv(records) -> Iterator[str]:
    """CSV lines with a header; times as ISO 8601 UTC; cells a spreadsheet
    would run as a formula are neutralised (OWASP CSV injection)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_FIELDS)
    for record in records:
        writer.writerow(
            [_csv_cell(_export_value(record, name)) for name in EXPORT_FIELDS]
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def to_jsonl(records) -> Iterator[str]:
    for record in records:
        yield json.dumps({n: _export_value(record, n) for n in EXPORT_FIELDS}) + "\n"


#: A cell starting with one of these is a formula to a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _export_value(record: dict[str, Any], name: str) -> Any:
    value = record.get(name)
    if name == "at":
        return iso(value)
    if isinstance(value, str):
        return printable(value)
    return "" if value is None else value
