"""The Alembic migrations build exactly the tables schema.py describes."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from linksvc.db.schema import metadata
from linksvc.db.store import Store


def test_migrations_match_the_schema_on_postgres():
    import secrets

    import sqlalchemy as sa

    from .services import POSTGRES_URL
    from .services import require

    require("PostgreSQL", "127.0.0.1", 5432)
    name = f"linksvc_migrate_{secrets.token_hex(4)}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = sa.engine.make_url(POSTGRES_URL).set(database=name)
        store = Store(url.render_as_string(False))
        store.migrate()
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        store.dispose()
        assert diff == []
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def test_migrations_match_the_schema(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    store.migrate()
    store.migrate()  # a second run changes nothing
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.dispose()
    assert diff == []
