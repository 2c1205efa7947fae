"""The Alembic migrations build exactly the tables schema.py describes."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from linksvc.db.schema import metadata
from linksvc.db.store import Store


def test_migrations_match_the_schema_on_postgres():
    from ..services import postgres_database

    with postgres_database() as url:
        store = Store(url)
        store.migrate()
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        store.dispose()
    assert diff == []


def test_migrations_match_the_schema(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    store.migrate()
    store.migrate()  # a second run changes nothing
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.dispose()
    assert diff == []
