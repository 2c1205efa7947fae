"""Work that must not run on the event loop; no Flask.

``linksvc serve`` runs gunicorn's gevent worker: thousands of connections
share one thread, so anything that blocks that thread (a password hash, a
database write waiting for a lock, a network round trip that is not
cooperative) would stall every connection. :func:`offload` runs such work on
a small pool of real threads and lets the event loop go on meanwhile.
Outside a gevent worker (tests, the CLI, other servers) it simply calls.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any
from typing import TypeVar

T = TypeVar("T")

#: The pool of real threads, and the event loop's own thread, once enabled.
_pool: Any = None
_loop_thread: int | None = None


def _native_ident() -> int:
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        return monkey.get_original("_thread", "get_ident")()
    return threading.get_ident()


def enable(threads: int) -> None:
    """Called once per gevent worker, on its loop thread: from now on,
    offloaded work runs on ``threads`` real threads."""
    global _pool, _loop_thread
    import gevent

    _pool = gevent.get_hub().threadpool
    _pool.maxsize = threads
    _loop_thread = _native_ident()


def enabled() -> bool:
    return _pool is not None


def on_loop() -> bool:
    """Whether this is the event loop's thread (work here must not block)."""
    return _pool is not None and _native_ident() == _loop_thread


def offload(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, on a real thread when called from the loop;
    exceptions come back as they were raised."""
    if not on_loop():
        return fn(*args, **kwargs)
    return _pool.apply(fn, args, kwargs)


def native_local() -> Any:
    """A thread-local that is per real thread even under gevent (whose own
    ``threading.local`` is per greenlet): a connection kept in it serves
    every greenlet of the loop in turn, never thousands at once."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        return monkey.get_original("_thread", "_local")()
    return threading.local()
