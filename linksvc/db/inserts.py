"""Inserting rows that may be there already; no Flask."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite


def insert_new(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows``, leaving out any whose unique key is taken (``ON
    CONFLICT DO NOTHING``, in SQLite's and PostgreSQL's own spelling): two
    workers may store the same thing at once, and neither fails."""
    if rows:
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        conn.execute(dialect.insert(table).on_conflict_do_nothing(), rows)
