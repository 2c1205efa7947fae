"""files/offload.py: blocking work leaves the event loop, and only there."""

import threading

import pytest

from linksvc.files import offload


def test_outside_a_gevent_worker_it_simply_calls():
    assert not offload.enabled() and not offload.on_loop()
    assert offload.offload(divmod, 7, 2) == (3, 1)
    assert offload.offload(lambda a, b=0: a + b, 1, b=2) == 3
    with pytest.raises(ZeroDivisionError):
        offload.offload(divmod, 1, 0)


def test_native_local_is_per_thread():
    local = offload.native_local()
    local.value = "main"
    seen = []
    thread = threading.Thread(target=lambda: seen.append(getattr(local, "value", None)))
    thread.start()
    thread.join()
    assert seen == [None] and local.value == "main"


def test_on_the_loop_work_runs_on_another_thread_and_errors_come_back(monkeypatch):
    calls = []

    class Pool:
        def apply(self, fn, args, kwargs):
            calls.append(fn)
            result = []
            thread = threading.Thread(
                target=lambda: result.append(_call(fn, args, kwargs))
            )
            thread.start()
            thread.join()
            kind, value = result[0]
            if kind == "error":
                raise value
            return value

    def _call(fn, args, kwargs):
        try:
            return "ok", fn(*args, **kwargs)
        except Exception as exc:
            return "error", exc

    monkeypatch.setattr(offload, "_pool", Pool())
    monkeypatch.setattr(offload, "_loop_thread", offload._native_ident())
    assert offload.enabled() and offload.on_loop()
    here = threading.get_ident()
    assert offload.offload(threading.get_ident) != here
    assert offload.offload(lambda a, b=0: a + b, 1, b=2) == 3
    with pytest.raises(KeyError):
        offload.offload({}.__getitem__, "missing")
    assert len(calls) == 3
    # Off the loop (another thread) it calls in place, never nesting pools.
    result = []
    thread = threading.Thread(target=lambda: result.append(offload.on_loop()))
    thread.start()
    thread.join()
    assert result == [False]


def test_enable_uses_gevents_pool_on_this_thread(monkeypatch):
    import gevent

    monkeypatch.setattr(offload, "_pool", None)
    monkeypatch.setattr(offload, "_loop_thread", None)
    pool = gevent.get_hub().threadpool
    before = pool.maxsize
    try:
        offload.enable(3)
        assert offload._pool is pool and pool.maxsize == 3
        assert offload.on_loop()
    finally:
        pool.maxsize = before


def test_under_gevent_the_real_threads_primitives_are_used(monkeypatch):
    """With threading patched, thread identity and thread-locals must come
    from the unpatched _thread module (per real thread, not per greenlet)."""
    import _thread
    import sys

    asked = []

    class Monkey:
        @staticmethod
        def is_module_patched(name):
            asked.append(("patched?", name))
            return name == "threading"

        @staticmethod
        def get_original(module, name):
            asked.append((module, name))
            return getattr(_thread, name)

    monkeypatch.setitem(sys.modules, "gevent.monkey", Monkey)
    assert offload._native_ident() == _thread.get_ident()
    assert type(offload.native_local()) is _thread._local
    assert asked == [
        ("patched?", "threading"),
        ("_thread", "get_ident"),
        ("patched?", "threading"),
        ("_thread", "_local"),
    ]
    monkeypatch.setattr(Monkey, "is_module_patched", staticmethod(lambda n: False))
    asked.clear()
    offload.native_local()
    offload._native_ident()
    assert asked == []  # not patched: the threading module's own
