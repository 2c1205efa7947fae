"""The database: engine, migrations, and the parts that query it; no Flask.

The same code runs on SQLite (the default) and PostgreSQL. :class:`Store` is
made of one part per table group: ``users``, ``tokens``, ``links`` and
``claims`` (the download path), each its own class beside its tables.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy import Engine
from sqlalchemy import event
from sqlalchemy import text

from .audit import AuditRecords
from .claims import DownloadClaims
from .codes import Codes
from .crcs import Crcs
from .digests import StoredDigests
from .groups import Groups
from .links import Link
from .links import Links
from .notices import Notices
from .outbox import Outbox
from .passkeys import Passkeys
from .provisioning import Provisioning
from .sessions import Sessions
from .time_requests import TimeRequests
from .tokens import Tokens
from .uploads import Uploads
from .users import User
from .users import Users

__all__ = ["Link", "Store", "User", "make_engine"]

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, timeout: float = 5) -> Engine:
    """An engine that waits at most ``timeout`` seconds for a lock or a
    connection, so a stuck database becomes a 503, not a hung worker."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": timeout})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:
            # WAL lets readers and one writer work at once across workers;
            # NORMAL sync survives application crashes, which is what we need.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_timeout=timeout,
        connect_args={"connect_timeout": max(1, int(timeout))},
    )


def _private_file(path: Path) -> None:
    """Create the database file 0600 in a 0700 folder before SQLite does:
    it holds password hashes and session tokens, and SQLite gives its WAL
    and SHM files the database file's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def private_instance_problems(instance_dir: str) -> list[str]:
    """What in the instance folder others may read (or enter)."""
    root = Path(instance_dir)
    problems = []
    for path in [root, *sorted(root.glob("*"))]:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if mode & 0o077:
            kind = "folder" if path.is_dir() else "file"
            problems.append(f"instance {kind} {path} is open to others")
    return problems


class Store:
    """The engine and the parts that read and write through it."""

    def __init__(self, url: str, timeout: float = 5) -> None:
        if url.startswith("sqlite:///"):
            _private_file(Path(url.removeprefix("sqlite:///")))
        self.engine = make_engine(url, timeout)
        self.users = Users(self.engine)
        self.tokens = Tokens(self.engine, self.users)
        self.links = Links(self.engine)
        self.groups = Groups(self.engine)
        self.outbox = Outbox(self.engine)
        self.claims = DownloadClaims(self.engine)
        self.notices = Notices(self.engine)
        self.sessions = Sessions(self.engine)
        self.records = AuditRecords(self.engine)
        self.crcs = Crcs(self.engine)
        self.digests = StoredDigests(self.engine)
        self.codes = Codes(self.engine)
        self.time_requests = TimeRequests(self.engine)
        self.provisioning = Provisioning(self.engine)
        self.passkeys = Passkeys(self.engine)
        self.uploads = Uploads(self.engine)

    @property
    def shown_url(self) -> str:
        """The database URL as it may be printed (no password)."""
        return self.engine.url.render_as_string(hide_password=True)

    def ping(self) -> None:
        """One round trip to the database (readiness); raises if it fails."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def revision(self) -> str | None:
        """The schema's Alembic revision (None: not migrated)."""
        from .backup import revision

        return revision(self.engine)

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe to run again."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def backup_to(self, dest: Path) -> dict[str, object]:
        """A consistent online copy of the database into folder ``dest``:
        what kind, which schema revision, and the file's name."""
        from . import backup

        return {
            "database": backup.kind(self.engine),
            "revision": backup.revision(self.engine),
            "database_file": backup.copy_out(self.engine, dest),
        }

    def restore_from(self, source: Path, name: str) -> None:
        """Put the copy ``source/name`` into this (empty) database."""
        from . import backup

        backup.copy_in(self.engine, source, name)

    def dispose(self) -> None:
        """Close the pool and this thread's download connection."""
        self.claims.close()
        self.engine.dispose()
