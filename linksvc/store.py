"""The database: engine, migrations, and every query, with SQLAlchemy Core; no Flask.

The same code runs on SQLite (the default) and PostgreSQL. Queries live beside
what they are about (users.py, links.py) and are mixed into :class:`Store`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy import Engine
from sqlalchemy import event

from .links import Link
from .links import LinkQueries
from .users import now
from .users import User
from .users import UserQueries

__all__ = ["Link", "Store", "User", "make_engine", "now"]

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers and one writer work at once across gunicorn workers;
    # NORMAL sync is durable across application crashes, which is what we need.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 5})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


class Store(UserQueries, LinkQueries):
    """All reads and writes of users, grants and links."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        self.engine = make_engine(url)

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe to run again."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()
