"""The grant rule for a path prefix, in SQL: ``a/b`` is ``a/b`` and below."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlalchemy import func
from sqlalchemy import or_


def under(column, prefix: str) -> ColumnElement[bool]:
    """``column`` is ``prefix`` or a path below it (not ``a/bc`` for ``a/b``);
    no LIKE, so ``%`` and ``_`` in names mean themselves."""
    return or_(
        column == prefix,
        func.substr(column, 1, len(prefix) + 1) == prefix + "/",
    )
