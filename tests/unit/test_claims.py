"""The download claim (db/claims.py), without Flask: count, resume, peek."""

import pytest

from linksvc.core.errors import LinkExpired
from linksvc.core.errors import LinkInvalid
from linksvc.core.errors import LinkNotYetValid
from linksvc.core.errors import LinkRevoked
from linksvc.core.errors import LinkUsedUp
from linksvc.core.signing import Claims
from linksvc.db.claims import add_downloads
from linksvc.db.claims import COUNT
from linksvc.db.claims import COUNTED
from linksvc.db.claims import DEFERRED
from linksvc.db.claims import FREE
from linksvc.db.claims import PEEK
from linksvc.db.claims import RESUME
from linksvc.db.store import Store
from linksvc.links.options import LinkOptions

T = 1_900_000_000
A, B = "198.51.100.1", "198.51.100.2"


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    store.migrate()
    store.users.add("owner", "owner-password")
    yield store
    store.dispose()


def new_link(store, limit=None, path="a.txt", expires=T + 100, not_before=None):
    options = LinkOptions(not_before=not_before, max_downloads=limit)
    link = store.links.add(path, 1, expires, options)
    claims = Claims(link.id, path, expires, not_before, "kid", limit is not None)
    return link, claims


def test_a_limited_count_is_atomic_and_stops_at_the_limit(store):
    link, claims = new_link(store, limit=2)
    assert store.claims.claim(claims, T, COUNT, 0, A) == COUNTED
    assert store.claims.claim(claims, T, COUNT, 0, B) == COUNTED
    with pytest.raises(LinkUsedUp):
        store.claims.claim(claims, T, COUNT, 0, A)
    row = store.links.get(link.id)
    assert (row.download_count, row.last_downloaded_at) == (2, T)


def test_an_unlimited_count_is_left_to_the_writer(store):
    link, claims = new_link(store)
    assert store.claims.claim(claims, T, COUNT, 0, A) == DEFERRED
    assert store.claims.claim(claims, T, RESUME, 0, A) == FREE
    assert store.links.get(link.id).download_count == 0
    with store.engine.begin() as conn:
        add_downloads(conn, {link.id: (3, T + 5)})
        add_downloads(conn, {link.id: (1, T + 1)})  # an older batch, late
    row = store.links.get(link.id)
    assert (row.download_count, row.last_downloaded_at) == (4, T + 5)


def test_a_resume_is_free_only_for_the_last_counted_address_in_the_window(store):
    link, claims = new_link(store, limit=1)
    # Before any count, a resume is the download.
    assert store.claims.claim(claims, T, RESUME, 60, A) == COUNTED
    assert store.claims.claim(claims, T + 60, RESUME, 60, A) == FREE
    with pytest.raises(LinkUsedUp):
        store.claims.claim(claims, T + 1, RESUME, 60, B)
    with pytest.raises(LinkUsedUp):
        store.claims.claim(claims, T + 61, RESUME, 60, A)
    assert store.links.get(link.id).download_count == 1


def test_a_peek_never_counts_but_sees_a_used_up_link(store):
    link, claims = new_link(store, limit=1)
    assert store.claims.claim(claims, T, PEEK, 0, A) == FREE
    assert store.links.get(link.id).download_count == 0
    store.claims.claim(claims, T, COUNT, 0, A)
    with pytest.raises(LinkUsedUp):
        store.claims.claim(claims, T, PEEK, 0, A)


def test_the_row_decides_time_revocation_path_and_limit(store):
    link, claims = new_link(store, limit=5, not_before=T - 10)
    with pytest.raises(LinkNotYetValid):
        store.claims.claim(claims, T - 11, COUNT, 0, A)
    assert store.claims.claim(claims, T + 100, COUNT, 0, A) == COUNTED
    with pytest.raises(LinkExpired):
        store.claims.claim(claims, T + 101, COUNT, 0, A)
    wrong_path = Claims(link.id, "b.txt", T + 100, None, "kid", True)
    with pytest.raises(LinkInvalid):
        store.claims.claim(wrong_path, T, COUNT, 0, A)
    # A token that says "no limit" (made before an edit set one) is counted.
    says_unlimited = Claims(link.id, "a.txt", T + 100, None, "kid", False)
    assert store.claims.claim(says_unlimited, T, COUNT, 0, A) == COUNTED
    assert store.links.get(link.id).download_count == 2
    unknown = Claims("no-such-link", "a.txt", T + 100, None, "kid", True)
    with pytest.raises(LinkInvalid):
        store.claims.claim(unknown, T, PEEK, 0, A)
    store.links.revoke(link.id, None)
    with pytest.raises(LinkRevoked):
        store.claims.claim(claims, T, PEEK, 0, A)


def test_each_thread_keeps_its_own_connection_and_close_gives_it_back(store):
    import threading

    _, claims = new_link(store)
    store.claims.claim(claims, T, PEEK, 0, A)
    mine = store.claims._local.raw
    seen = []

    def other():
        store.claims.claim(claims, T, PEEK, 0, A)
        seen.append(store.claims._local.raw)
        store.claims.close()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen and seen[0] is not mine
    store.claims.close()
    assert store.claims._local.raw is None


def test_on_the_event_loop_a_locked_database_is_waited_for_elsewhere(
    store, monkeypatch
):
    """The loop's connection never waits for SQLite's lock: the claim is
    handed to a real thread (here: the test's own), which waits."""
    import sqlite3

    import linksvc.db.hot as claims_module

    link, claims = new_link(store, limit=1)
    monkeypatch.setattr(claims_module, "on_loop", lambda: True)
    store.claims.claim(claims, T, PEEK, 0, A)  # the loop's connection exists
    blocker = sqlite3.connect(store.engine.url.database)
    blocker.execute("BEGIN IMMEDIATE")  # another process is writing
    handed = []

    def offload(fn, *args):
        handed.append(fn.__name__)
        blocker.rollback()  # the writer finishes while the thread waits
        monkeypatch.setattr(claims_module, "on_loop", lambda: False)
        return fn(*args)

    monkeypatch.setattr(claims_module, "offload", offload)
    assert store.claims.claim(claims, T, COUNT, 0, A) == COUNTED
    assert handed == ["_count"]
    assert store.links.get(link.id).download_count == 1
    blocker.close()
