"""Prometheus metrics with the official prometheus_client; no Flask.

Under ``linksvc serve`` every worker writes its numbers to files in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode: serve.py
sets it before the workers start, empties it, and marks each dead worker),
and a scrape of any worker adds all of them up. Elsewhere (tests, the CLI)
each app keeps a registry of its own.

Counted where each thing is known: every request as the outermost WSGI layer
saw it (route, status, bytes, time); every audit record as it is queued
(db/audit.py's ``recorded`` signal: downloads by outcome, refusals by code),
so a link's outcome is counted where it is decided; what the database holds
(the outbox) when a scrape asks. Labels come from closed sets (route rules,
status codes, error codes): a client cannot make us keep a new series.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import disable_created_metrics
from prometheus_client import Gauge
from prometheus_client import generate_latest
from prometheus_client import Histogram
from prometheus_client import multiprocess
from prometheus_client import values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .core.observed import Observed
from .db import audit as audit_module

#: The variable prometheus_client's multiprocess mode reads.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: What a scrape answers with.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Methods counted by name; any other is "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Audit events that say a link's bytes were asked for.
DOWNLOAD_EVENTS = frozenset({"download", "resume", "check"})
#: Request times, seconds: a page takes milliseconds, a large file minutes.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
#: Audit batch writes, seconds.
WRITE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess(path: str | os.PathLike[str]) -> str:
    """Before the workers start: an empty folder for their numbers, named in
    the environment they inherit (left-overs of an earlier run would add
    themselves to this one's)."""
    folder = Path(path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for old in folder.glob("*.db"):
        old.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    return str(folder)


def worker_exited(pid: int) -> None:
    """gunicorn's ``child_exit``: a dead worker's live gauges stop counting."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)


class Metrics:
    """The numbers of one app (or, under serve, of one worker's share)."""

    def __init__(self, audit: Any) -> None:
        self.shared = multiprocess_dir()
        if self.shared and not getattr(values.ValueClass, "_multiprocess", False):
            # prometheus_client chose its value class when first imported,
            # which may have been before serve named the folder (the CLI
            # builds an app first): choose again, before any metric exists.
            values.ValueClass = values.get_value_class()
        # The "_created" series (one gauge per counter) that a single
        # process would add say nothing an alert uses; multiprocess has none.
        disable_created_metrics()
        # Shared: nothing registered here (the scrape reads the files).
        self.registry = None if self.shared else CollectorRegistry()
        reg = self.registry
        self.requests = Counter(
            "linksvc_requests",
            "Requests answered, by route rule, method and status.",
            ["route", "method", "status"],
            registry=reg,
        )
        self.duration = Histogram(
            "linksvc_request_duration_seconds",
            "Time from the request's arrival to its last byte, by route rule.",
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=reg,
        )
        self.response_bytes = Counter(
            "linksvc_response_bytes",
            "Body bytes sent by linksvc (not by a server in front), by route rule.",
            ["route"],
            registry=reg,
        )
        self.in_flight = Gauge(
            "linksvc_requests_in_flight",
            "Requests being answered now (each an open connection).",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.limited = Counter(
            "linksvc_limited",
            "Requests refused by a limit (429), by route rule.",
            ["route"],
            registry=reg,
        )
        self.downloads = Counter(
            "linksvc_downloads",
            "Requests for a link's bytes: event download (counted), resume "
            "(a later range) or check (HEAD, 304, 412, 416), by outcome.",
            ["event", "outcome"],
            registry=reg,
        )
        self.download_bytes = Counter(
            "linksvc_download_bytes",
            "Bytes of links' files sent by linksvc.",
            registry=reg,
        )
        self.cut_short = Counter(
            "linksvc_downloads_cut_short",
            "Downloads that ended before their last byte (client gone, or "
            "too slow for send_timeout).",
            registry=reg,
        )
        self.refusals = Counter(
            "linksvc_refusals",
            "Links refused, by error code.",
            ["code"],
            registry=reg,
        )
        self.upload_bytes = Counter(
            "linksvc_upload_bytes",
            "Bytes received by upload links.",
            registry=reg,
        )
        self.uploads = Counter(
            "linksvc_uploads",
            "Uploads by outcome (started, waiting, infected, refused, ...).",
            ["outcome"],
            registry=reg,
        )
        self.audit_depth = Gauge(
            "linksvc_audit_queue_depth",
            "Audit records queued and not yet written.",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.audit_lost = Counter(
            "linksvc_audit_lost_records",
            "Audit records that could not be written (the database refused "
            "three times).",
            registry=reg,
        )
        self.audit_writes = Histogram(
            "linksvc_audit_write_seconds",
            "Time of each batch the audit writer commits (database latency).",
            buckets=WRITE_BUCKETS,
            registry=reg,
        )
        # Only this app's audit: tests build many apps in one process.
        audit_module.recorded.connect(self._recorded, sender=audit)
        audit_module.batch_written.connect(self._written, sender=audit)
        audit_module.lost.connect(self._lost, sender=audit)

    # -- requests (web/observe.py) ------------------------------------------

    def started(self) -> None:
        self.in_flight.inc()

    def finished(self, seen: Observed, ended: float) -> None:
        self.in_flight.dec()
        method = seen.method if seen.method in METHODS else "other"
        self.requests.labels(seen.route, method, str(seen.status)).inc()
        self.duration.labels(seen.route).observe(ended - seen.started)
        if seen.sent:
            self.response_bytes.labels(seen.route).inc(seen.sent)
        if seen.status == 429:
            self.limited.labels(seen.route).inc()
        if seen.received:
            self.upload_bytes.inc(seen.received)

    # -- the audit (signals from db/audit.py) --------------------------------

    def _recorded(self, sender: Any, row: dict[str, Any]) -> None:
        event = row["event"]
        if event in DOWNLOAD_EVENTS:
            self.downloads.labels(event, row["outcome"]).inc()
            if row["bytes"]:
                self.download_bytes.inc(row["bytes"])
            if row["complete"] is False:
                self.cut_short.inc()
        elif event == "refused":
            self.refusals.labels(row["outcome"]).inc()
        elif event == "upload":
            self.uploads.labels(row["outcome"]).inc()
        self.audit_depth.set(sender.depth())

    def _written(self, sender: Any, seconds: float) -> None:
        self.audit_writes.observe(seconds)
        self.audit_depth.set(sender.depth())

    def _lost(self, sender: Any, records: int) -> None:
        self.audit_lost.inc(records)

    # -- a scrape -------------------------------------------------------------

    def render(self, state: Collector | None = None) -> bytes:
        """The text a scrape gets: every worker's numbers (or this app's),
        and ``state``'s (what the database says now)."""
        registry = CollectorRegistry()
        if self.shared:
            multiprocess.MultiProcessCollector(registry, path=self.shared)
        else:
            assert self.registry is not None
            registry = self.registry
        if state is None:
            return generate_latest(registry)
        extra = CollectorRegistry()
        extra.register(state)
        return generate_latest(registry) + generate_latest(extra)


class StateCollector(Collector):
    """What a scrape reads from the database and the disk: the outbox's
    backlog and failures, a round trip's time, free disk."""

    def __init__(self, outbox_counts: Any, ping: Any, free_disk: Any) -> None:
        self.outbox_counts, self.ping, self.free_disk = outbox_counts, ping, free_disk

    def collect(self) -> Iterator[GaugeMetricFamily]:
        started = time.perf_counter()
        try:
            self.ping()
            up = 1.0
        except Exception:
            up = 0.0
        seconds = time.perf_counter() - started
        yield _gauge("linksvc_database_up", "1 if the database answered.", up)
        yield _gauge(
            "linksvc_database_ping_seconds",
            "Time of one round trip to the database, as this scrape saw it.",
            seconds,
        )
        if up:
            waiting, failed = self.outbox_counts()
            yield _gauge(
                "linksvc_outbox_waiting",
                "Messages (email, webhooks) not yet sent.",
                waiting,
            )
            yield _gauge(
                "linksvc_outbox_failed",
                "Messages given up on after their retries.",
                failed,
            )
        yield _gauge(
            "linksvc_free_disk_bytes",
            "Free bytes where uploads wait (the instance folder).",
            self.free_disk(),
        )


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=value)


def names(text: bytes | str) -> set[str]:
    """The metric family names in a scrape's text (for tests and the
    dashboard check)."""
    if isinstance(text, bytes):
        text = text.decode()
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def exposed(families: Iterable[str]) -> set[str]:
    """Every series name a family may be queried by (counters' ``_total``,
    histograms' ``_bucket``/``_sum``/``_count``)."""
    out: set[str] = set()
    for name in families:
        out |= {name, f"{name}_total", f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return out
