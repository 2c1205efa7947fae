"""``linksvc serve`` on PostgreSQL: the worker's statements wait the way
gevent can interleave."""

import http.client
import threading
import time

import pytest
import sqlalchemy as sa

from ..services import postgres_database
from .test_instances import create
from .test_instances import link_id
from .test_live import get

pytestmark = pytest.mark.slow


def _waiting_for_a_lock(engine, query: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND query LIKE :q"
            ),
            {"q": f"%{query}%"},
        ).scalar()
    return bool(found)


def test_a_download_waiting_for_postgresql_does_not_stall_its_worker(start_live):
    """One worker: while its count of a link waits for a row lock held
    elsewhere, the same worker answers /healthz. (psycopg imported by the
    master kept its blocking C wait after gevent's patch: the whole worker
    waited with the statement, and /healthz timed out.)"""
    with postgres_database() as url:
        live = start_live("pg", workers=1, database_url=url, access_log=False)
        path = create(live, "readme.txt", "--max-downloads", "5")
        engine = sa.create_engine(url)
        holder = engine.connect()
        try:
            holder.execute(
                sa.text("SELECT 1 FROM links WHERE id = :id FOR UPDATE"),
                {"id": link_id(live, path)},
            )
            answers: list[int] = []
            download = threading.Thread(
                target=lambda: answers.append(get(live, path)[0]), daemon=True
            )
            download.start()
            deadline = time.monotonic() + 10
            while not _waiting_for_a_lock(engine, "UPDATE links"):
                assert time.monotonic() < deadline, "the count never waited"
                time.sleep(0.05)

            conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=5)
            conn.request("GET", "/healthz")
            assert conn.getresponse().status == 200
            conn.close()
            assert download.is_alive()  # its count still waits
        finally:
            holder.rollback()
            holder.close()
        download.join(10)
        assert answers == [200]
        listed = live.cli("link", "list").stdout
        assert "\t1/5" in listed
        engine.dispose()
