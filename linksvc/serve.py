"""Run linksvc under gunicorn in this process (``linksvc serve``)."""

from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, settings_path: str | None, options: dict) -> None:
        self.settings_path = settings_path
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        # gunicorn 27 opens a control socket under ~/.gunicorn, shared by every
        # instance of the user; we do not use it, and two instances would clash.
        if "control_socket_disable" in self.cfg.settings:
            self.cfg.set("control_socket_disable", True)

    def load(self):
        from . import create_app

        # Every refusal's and failure's request id reaches the server log.
        log = logging.getLogger("linksvc")
        if not log.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(
                logging.Formatter("%(asctime)s [%(process)d] %(levelname)s %(message)s")
            )
            log.addHandler(handler)
            log.setLevel(logging.INFO)
        return create_app(settings_path=self.settings_path)


def _flush_audit(worker) -> None:
    app = getattr(worker, "wsgi", None)
    if app is not None and "linksvc" in getattr(app, "extensions", {}):
        app.extensions["linksvc"].audit.flush(timeout=5)


def serve(settings_path: str | None, host: str, port: int, workers: int) -> None:
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": "-",
        "proc_name": "linksvc",
        "worker_exit": lambda _arbiter, worker: _flush_audit(worker),
    }
    _Gunicorn(settings_path, options).run()
