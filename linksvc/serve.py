"""Run linksvc under gunicorn in this process (``linksvc serve``).

The worker is gevent's: every connection is a greenlet, so a thousand slow
downloads or half-sent request heads cost memory, not threads, and the
dashboard keeps answering. A request head must arrive whole within
``header_timeout`` (gunicorn's gevent worker applies its keep-alive timeout to
every request head), and work that would block the loop runs on ``threads``
real threads per worker (files/offload.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import gevent
import gevent.socket
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.ggevent import GeventWorker as _GeventWorker

from . import logs
from . import metrics
from . import services as services_module
from .config import drain_marker
from .config import Settings
from .files import offload

log = logging.getLogger("linksvc")
#: File descriptors a worker keeps for itself (database, logs, keys, pipes).
RESERVED_FILES = 64


class _DrainingArbiter(Arbiter):
    """SIGTERM: first ``drain_seconds`` of serving as usual with /readyz
    answering 503 (a load balancer stops sending), then gunicorn's graceful
    stop (listeners closed, requests in flight finish)."""

    drain = 0
    instance_dir = ""

    def handle_term(self) -> None:
        if self.drain:
            marker = drain_marker(self.instance_dir, os.getpid())
            marker.touch()
            log.info("draining for %ds before stopping", self.drain)
            try:
                time.sleep(self.drain)
            finally:
                marker.unlink(missing_ok=True)
        raise StopIteration

    def stop(self, graceful: bool = True) -> None:
        """gunicorn's stop, with its SIGTERM repeated until the workers are
        gone: a worker still booting has the master's signal handlers until
        it installs its own, so the one SIGTERM gunicorn sends is lost and
        the stop waited the whole ``graceful_timeout`` before a SIGKILL."""
        if graceful:
            stopped = threading.Event()
            threading.Thread(
                target=self._repeat_term, args=(stopped,), daemon=True
            ).start()
            try:
                super().stop(graceful)
            finally:
                stopped.set()
        else:
            super().stop(graceful)

    def _repeat_term(self, stopped: threading.Event) -> None:
        while not stopped.wait(0.5):
            for pid in list(self.WORKERS.copy()):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)


class GeventWorker(_GeventWorker):
    """gunicorn's gevent worker, whose graceful stop does not wait for
    connections that wait for their next request.

    gunicorn waits up to ``graceful_timeout`` for every open connection,
    idle keep-alive ones too, so each stop behind nginx (which keeps
    connections to its upstreams open) took the whole 10 s, and then cut
    the downloads still in flight with the idle ones. Here, once the
    worker stops, a connection between requests is closed (as a keep-alive
    timeout would), and one in the middle of a request finishes it and is
    closed after its response (gunicorn says ``Connection: close`` then)."""

    def patch(self) -> None:
        super().patch()
        cooperative_clients()

    def init_process(self) -> None:
        #: Each connection's greenlet: its socket; and those that have had a
        #: request and now wait for the next one.
        self._clients: dict[object, socket.socket] = {}
        self._kept: set[object] = set()
        self._idle: set[object] = set()
        super().init_process()

    def run(self) -> None:
        gevent.spawn(self._close_idle_once_stopping)
        super().run()

    def handle(self, listener, client, addr) -> None:
        me = gevent.getcurrent()
        if type(client) is gevent.socket.socket:
            client.__class__ = _Client  # its sendfile: see _Client
        self._clients[me] = client
        try:
            super().handle(listener, client, addr)
        finally:
            self._clients.pop(me, None)
            self._kept.discard(me)
            self._idle.discard(me)

    @contextlib.contextmanager
    def timeout_ctx(self) -> Iterator[None]:
        """Around the wait for a request head (gunicorn's one use of it). A
        new connection's first request is always awaited and served: only
        a kept-alive connection between requests counts as idle."""
        me = gevent.getcurrent()
        if me not in self._kept:
            self._kept.add(me)
            with super().timeout_ctx():
                yield
            return
        if not self.alive:
            _close(self._clients.get(me))
        self._idle.add(me)
        try:
            with super().timeout_ctx():
                yield
        finally:
            self._idle.discard(me)

    def _close_idle_once_stopping(self) -> None:
        while self.alive:
            gevent.sleep(0.1)
        while True:  # until the process ends
            for greenlet in list(self._idle):
                _close(self._clients.get(greenlet))
            gevent.sleep(0.1)


#: Bytes one connection sends before the others get a turn (nginx's
#: sendfile_max_chunk does the same).
SEND_STEP = 256 * 1024


class _Client(gevent.socket.socket):
    """A client connection whose ``sendfile`` is the kernel's, in bounded
    steps.

    gevent's socket.sendfile reads the file 8 KiB at a time in Python and
    sends each piece, and a greenlet only yields when the socket's buffer is
    full: on loopback or a fast network that buffer grows to several MiB,
    so when a thousand downloads start together each one copies MiBs in
    Python before the next greenlet runs, and a new request waited seconds
    (issue 26). Here ``os.sendfile`` copies in the kernel, at most SEND_STEP
    per call, and the greenlet yields between steps."""

    __slots__ = ()

    def sendfile(self, file, offset: int = 0, count: int | None = None) -> int:
        out, source = self.fileno(), file.fileno()
        if count is None:
            count = os.fstat(source).st_size - offset
        timeout = self.gettimeout()
        sent = 0
        try:
            while sent < count:
                try:
                    n = os.sendfile(
                        out, source, offset + sent, min(SEND_STEP, count - sent)
                    )
                except BlockingIOError:
                    gevent.socket.wait_write(
                        out, timeout=timeout, timeout_exc=TimeoutError("timed out")
                    )
                    continue
                if n == 0:
                    break  # the file ended early
                sent += n
                if sent < count:
                    gevent.sleep(0)  # more to send: let the others run first
            return sent
        finally:
            file.seek(offset + sent)


def cooperative_clients() -> None:
    """Make the clients the master imported before the worker's patch wait
    through gevent, not by blocking the worker's one thread.

    ``linksvc serve`` builds the app in the master (to fail early, with a
    clear message), which imports psycopg and urllib3 before gevent patches
    ``select`` and ``ssl`` in the worker. psycopg then keeps its C wait,
    which blocked the whole worker for every round trip to PostgreSQL (no
    two statements ever overlapped); urllib3 (boto3's HTTP, for S3) keeps
    the unpatched ``SSLContext``, whose sockets would block the same way
    over HTTPS. A module imported after the patch chooses right by itself.
    """
    waiting: Any = sys.modules.get("psycopg.waiting")
    if waiting is not None and waiting.wait is getattr(waiting, "wait_c", None):
        waiting.wait = waiting.wait_poll
    import ssl

    for name in ("urllib3.util.ssl_", "botocore.httpsession"):
        module: Any = sys.modules.get(name)
        if module is not None and getattr(module, "SSLContext", None) is not None:
            module.SSLContext = ssl.SSLContext


def _close(client: socket.socket | None) -> None:
    """End a connection's reads and writes: its greenlet sees the end of
    the stream and closes it."""
    if client is not None:
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)


class _Gunicorn(BaseApplication):
    def __init__(
        self, settings_path: str | None, options: dict, settings: Settings | None = None
    ) -> None:
        self.settings_path = settings_path
        self.options = options
        self.settings = settings
        super().__init__()

    def run(self) -> None:
        arbiter = _DrainingArbiter(self)
        if self.settings is not None:
            arbiter.drain = self.settings.drain_seconds
            arbiter.instance_dir = self.settings.instance_dir
            if self.settings.log_format == "json":
                # gunicorn's handlers exist now (the arbiter made them); the
                # workers inherit them.
                logs.use_json(log, logging.getLogger("gunicorn.error"))
        arbiter.run()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        # gunicorn 27 opens a control socket under ~/.gunicorn, shared by every
        # instance of the user; we do not use it, and two instances would clash.
        if "control_socket_disable" in self.cfg.settings:
            self.cfg.set("control_socket_disable", True)

    def load(self):
        from .app import create_app

        _log_to_stderr()
        return create_app(settings_path=self.settings_path)


def _log_to_stderr() -> None:
    """Every refusal's and failure's request id reaches the server log."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s [%(process)d] %(levelname)s %(message)s")
        )
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def raise_open_files() -> int:
    """Raise this process's open-file limit as far as the system allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
        return hard
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def connections_per_worker(open_files: int, wanted: int = 0) -> int:
    """How many connections a worker can hold: each download needs its socket
    and its file, so half of what the open-file limit leaves."""
    fits = max(16, (open_files - RESERVED_FILES) // 2)
    return min(wanted, fits) if wanted else fits


def _worker_started(worker) -> None:
    offload.enable(worker.cfg.settings["threads"].value)
    app = getattr(worker, "wsgi", None)
    if app is not None and services_module.EXTENSION in getattr(app, "extensions", {}):
        from .notify import delivery

        delivery.start(services_module.of(app))  # the outbox sender


def _child_exit(_arbiter, worker) -> None:
    metrics.worker_exited(worker.pid)


def _worker_exit(worker) -> None:
    app = getattr(worker, "wsgi", None)
    if app is not None and services_module.EXTENSION in getattr(app, "extensions", {}):
        services_module.of(app).audit.flush(timeout=5)


def serve(
    settings_path: str | None, host: str, port: int, workers: int, settings: Settings
) -> None:
    # Before any worker exists: each writes its numbers under the instance.
    metrics.prepare_multiprocess(os.path.join(settings.instance_dir, "metrics"))
    open_files = raise_open_files()
    per_worker = connections_per_worker(open_files, settings.connections)
    _log_to_stderr()
    json_logs = settings.log_format == "json"
    if json_logs:
        logs.use_json(log)
        # Python's warnings too (gevent's, in each worker) become lines.
        logging.captureWarnings(True)
        logging.getLogger("py.warnings").handlers = list(log.handlers)
    log.info(
        "linksvc on %s:%d: %d workers x %d connections = %d at once "
        "(open-file limit %d; %d threads per worker for blocking work; "
        "request heads must arrive within %ds)",
        host,
        port,
        workers,
        per_worker,
        workers * per_worker,
        open_files,
        settings.threads,
        settings.header_timeout,
    )
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "linksvc.serve.GeventWorker",
        "worker_connections": per_worker,
        # The gevent worker bounds the wait for every request head by this.
        "keepalive": settings.header_timeout,
        "threads": settings.threads,
        "backlog": 2048,
        "timeout": 60,
        "graceful_timeout": 10,
        # The JSON request lines replace the access log (and name no token).
        "accesslog": "-" if settings.access_log and not json_logs else None,
        "proc_name": "linksvc",
        "post_worker_init": _worker_started,
        "worker_exit": lambda _arbiter, worker: _worker_exit(worker),
        "child_exit": _child_exit,
    }
    _Gunicorn(settings_path, options, settings).run()
