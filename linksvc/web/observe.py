"""The outermost WSGI layer: what each request did, for the metrics and the
request log (core/observed.py holds the record).

It gives the request its id, sees the status, counts the body bytes as the
server takes them and, once the server closes the body, hands the record
on. A file the server sends with ``sendfile`` never passes through here: the
server's own ``wsgi.file_wrapper`` is swapped for a subclass that reports
the file's tally when the server closes it, so the zero-copy path stays.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from ..core.observed import KEY
from ..core.observed import note
from ..core.observed import Observed

Finish = Callable[[Observed, dict[str, Any]], None]


class Observe:
    """``wsgi`` observed; ``started`` runs as a request arrives, ``finish``
    once its response has gone out (or failed)."""

    def __init__(
        self, wsgi: Callable, started: Callable[[], None], finish: Finish
    ) -> None:
        self.wsgi, self.started, self.finish = wsgi, started, finish

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable:
        seen = Observed(
            secrets.token_hex(6), time.perf_counter(), environ.get("REQUEST_METHOD", "")
        )
        environ[KEY] = seen
        server_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(server_wrapper, type):
            environ["wsgi.file_wrapper"] = _reporting(server_wrapper)
        self.started()

        def observed_start(status: str, headers: list, exc_info: Any = None) -> Any:
            seen.status = int(status[:3])
            return start_response(status, headers, exc_info)

        try:
            body = self.wsgi(environ, observed_start)
        except BaseException:
            seen.status = seen.status or 500
            self.finish(seen, environ)
            raise
        if isinstance(body, _Reporting):
            body.seen = seen
            body.report = lambda: self.finish(seen, environ)
            return body  # type: ignore[return-value]
        return _Body(body, seen, lambda: self.finish(seen, environ))


class _Body:
    """A body passed on as it is, its bytes counted; closing it reports."""

    __slots__ = ("body", "seen", "report")

    def __init__(self, body: Iterable[bytes], seen: Observed, report: Callable) -> None:
        self.body, self.seen, self.report = body, seen, report

    def __iter__(self) -> Iterator[bytes]:
        seen = self.seen
        for chunk in self.body:
            seen.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.report()


class _Reporting:
    """Marks the file wrappers made by :func:`_reporting`."""

    seen: Observed | None = None
    report: Callable[[], None] | None = None


@lru_cache(maxsize=8)
def _reporting(base: type) -> type:
    """The server's file wrapper, reporting when the server closes it: the
    bytes are the file's tally (files/sending.py), read as it closes."""

    class ReportingFileWrapper(base, _Reporting):
        def __init__(self, filelike: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(filelike, *args, **kwargs)
            # gunicorn's wrapper makes the file's close its own attribute,
            # which would hide this class's.
            self.__dict__.pop("close", None)

        def close(self) -> None:
            try:
                close = getattr(self.filelike, "close", None)
                if close is not None:
                    close()
            finally:
                report = self.report
                if report is not None:
                    self.report = None
                    tally = getattr(getattr(self, "filelike", None), "tally", None)
                    if tally is not None and self.seen is not None:
                        self.seen.sent = 0 if tally.handed_over else tally.sent
                    report()

    return ReportingFileWrapper


def route_of() -> None:
    """Flask's ``before_request``: the rule that matched (or "unmatched")."""
    from flask import request

    if request.url_rule is not None:
        note(request.environ, route=request.url_rule.rule)
