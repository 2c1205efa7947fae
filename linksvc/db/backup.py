"""A consistent online copy of the database, and putting one back; no Flask.

SQLite: the backup API copies the database page by page while downloads and
writes go on (a copy of the file could be torn mid-write, WAL or not).
PostgreSQL: ``pg_dump`` (one snapshot, so consistent) in its custom format,
and ``pg_restore`` into an empty database. Either way the copy knows its
schema revision, and a restore migrates it to this release's.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy import inspect
from sqlalchemy import text

from ..core.errors import InvalidInput

SQLITE_COPY = "database.sqlite3"
POSTGRES_COPY = "database.pgdump"


def kind(engine: Engine) -> str:
    return "sqlite" if engine.url.get_backend_name() == "sqlite" else "postgresql"


def revision(engine: Engine) -> str | None:
    """The schema's Alembic revision (None: not migrated)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _libpq(engine: Engine) -> str:
    """The database URL as pg_dump reads it (no SQLAlchemy driver part)."""
    url = engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def copy_out(engine: Engine, dest: Path) -> str:
    """Write the database into folder ``dest``; returns the file's name."""
    if kind(engine) == "sqlite":
        path = dest / SQLITE_COPY
        source = sqlite3.connect(engine.url.database or "")
        target = sqlite3.connect(path)
        try:
            with target:
                source.backup(target, pages=256)
        finally:
            target.close()
            source.close()
        path.chmod(0o600)
        return SQLITE_COPY
    path = dest / POSTGRES_COPY
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", f"--file={path}", _libpq(engine)],
        check=True,
        capture_output=True,
        timeout=3600,
    )
    path.chmod(0o600)
    return POSTGRES_COPY


def is_empty(engine: Engine) -> bool:
    """No table of ours yet (a fresh database, or none at all)."""
    with engine.connect() as conn:
        return not inspect(conn).get_table_names()


def copy_in(engine: Engine, source: Path, name: str) -> None:
    """Put the copy ``source/name`` into the (empty) database."""
    if not is_empty(engine):
        raise InvalidInput("The database is not empty: restore only into a new one.")
    if name == SQLITE_COPY:
        if kind(engine) != "sqlite":
            raise InvalidInput("This backup is of SQLite; the instance is not.")
        engine.dispose()
        backup = sqlite3.connect(source / name)
        target = sqlite3.connect(engine.url.database or "")
        try:
            with target:
                backup.backup(target)
        finally:
            target.close()
            backup.close()
        return
    if kind(engine) != "postgresql":
        raise InvalidInput("This backup is of PostgreSQL; the instance is not.")
    subprocess.run(
        [
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            f"--dbname={_libpq(engine)}",
            str(source / name),
        ],
        check=True,
        capture_output=True,
        timeout=3600,
    )
