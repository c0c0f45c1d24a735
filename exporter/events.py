"""One-off events that are not metrics, sent through Alertmanager (the seeds' `send_alert`).

    from exporter.events import AlertSeverity, AlertSource, configure, flush, send_alert
    configure(metrics=metrics)   # counters on the bot's registry, the spool beside its data dir
    send_alert(severity=AlertSeverity.P0, source=AlertSource.HEALTH_MONITOR, title="Exchange FROZEN",
               message="UPBIT API not responding", metadata={"exchange": "upbit", "latency_ms": 2500})
    send_alert("P1", "risk_guard", "Manual kill switch", "Operator stopped trading on upbit",
               {"exchange": "upbit", "operator": "kim"})
    flush(5.0)                   # at shutdown: wait (at most 5 s) until Alertmanager has them all

Nothing is lost: `send_alert` writes the event to a durable local spool (`exporter.spool`: an SQLite
file, `D76_EVENT_SPOOL`, default `d76-events.sqlite3` in the metrics' data directory) and returns;
a background thread delivers the spool to Alertmanager's API v2 (`POST /api/v2/alerts`) in order,
backing off while it is down; what a killed process spooled is delivered by the next process that
uses the same spool. The spool is bounded (`D76_EVENT_SPOOL_MAX_EVENTS`, 10,000): the oldest event
of the least severe level goes first, counted in `d75_events_dropped_total{severity}`.

The event carries the labels the generated rules use, so it goes through the same routing,
grouping, inhibition and receiver:

- `alertname`: the title in CamelCase (`Manual kill switch` -> `ManualKillSwitch`), so events group
  and silence like rule alerts; `event="true"` marks it as an event, not a rule: the receiver
  tells it once and never tells it "resolved" (its end is kept in the history);
- `severity` (P0-P3) and `source` (CONTRACT section 2): the seeds' `AlertSeverity` / `AlertSource`,
  their names in any case, or the log levels `critical`, `error`, `warning`, `info` (P0..P3; the
  table is in `exporter.event_names`);
- identifying labels from metadata: `exchange`, `route`, `symbol`, `tier`, `scope` (strings only);
  the rest of the metadata goes to annotations (JSON-encoded when not a string);
- annotations `summary` (title), `description` (message), `runbook_url` when given;
- `startsAt` when `send_alert` was called (a millisecond apart at least, so events keep their
  order), `endsAt` 15 minutes later by default (`ttl`), or a while after a late delivery.

The bot never crashes or stalls because of alerting: `send_alert` returns False (and counts
`d75_events_rejected_total{reason}`, and logs) for an event it refuses; `configure(strict=True)`
raises `EventError` instead. Metrics on the registry given to `configure` (the bot's): those two,
`d75_events_delivered_total{severity}` and `d75_events_spooled` (events waiting, read at scrape).

`AlertClient` posts directly, without the spool (`d76 send-alert`: an operator at a shell wants to
know at once whether Alertmanager took it).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from vocabulary import DEFAULT_ALERTMANAGER_URL, IDENTIFYING_LABELS, SEVERITIES, SOURCES

from .event_names import AlertSeverity, AlertSource, EventError, parse_severity, parse_source
from .spool import DEFAULT_MAX_EVENTS, DEFAULT_SPOOL_NAME, EventSpool, PostOutcome, SpoolSender, am_time, sender_for

__all__ = ["AlertClient", "send_alert", "build_alert", "EventError", "IDENTIFYING_LABELS", "SEVERITIES",
           "SOURCES", "camel_case", "AlertSeverity", "AlertSource", "EventSender", "EventMetrics", "configure",
           "flush", "default_sender", "parse_severity", "parse_source", "SPOOL_ENV", "SPOOL_MAX_ENV"]

log = logging.getLogger("d76.events")

DEFAULT_TTL = timedelta(minutes=15)
SPOOL_ENV = "D76_EVENT_SPOOL"
SPOOL_MAX_ENV = "D76_EVENT_SPOOL_MAX_EVENTS"
_WORD = re.compile(r"[A-Za-z0-9]+")
REJECT_REASONS = ("severity", "source", "title", "metadata", "ttl", "spool")


def camel_case(title: str) -> str:
    """`Manual kill switch!` -> `ManualKillSwitch`; an alertname must start with a letter."""
    words = _WORD.findall(title)
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name:
        raise EventError(f"title {title!r} has no letters or digits to name the alert")
    return name if name[0].isalpha() else "Event" + name


def build_alert(severity: object, source: object, title: str, message: str,
                metadata: Mapping[str, Any] | None = None, *, ttl: timedelta = DEFAULT_TTL,
                runbook_url: str | None = None, generator_url: str | None = None,
                now: datetime | None = None) -> dict[str, Any]:
    """The Alertmanager API v2 `postableAlert` for one event; `EventError` when invalid.
    `severity` and `source`: any spelling `exporter.event_names` accepts."""
    severity = parse_severity(severity)
    source = parse_source(source)
    if not isinstance(title, str) or not title.strip():
        raise EventError("title must be a non-empty string")
    if ttl <= timedelta(0):
        raise EventError("ttl must be positive")
    labels = {"alertname": camel_case(title), "severity": severity, "source": source, "event": "true"}
    annotations = {"summary": title.strip(), "description": str(message)}
    for key, value in (metadata or {}).items():
        if key in IDENTIFYING_LABELS:
            if not isinstance(value, str) or not value:
                raise EventError(f"metadata {key!r} is an identifying label and must be a non-empty string")
            labels[key] = value
        elif key in ("summary", "description", "runbook_url"):
            raise EventError(f"metadata key {key!r} is reserved")
        else:
            annotations[str(key)] = value if isinstance(value, str) else json.dumps(value, default=str)
    if runbook_url:
        annotations["runbook_url"] = runbook_url
    now = now or datetime.now(UTC)
    alert = {"labels": labels, "annotations": annotations, "startsAt": am_time(now), "endsAt": am_time(now + ttl)}
    if generator_url:
        alert["generatorURL"] = generator_url
    return alert


def _reason(exc: EventError) -> str:
    """Which part of the event was refused (the `reason` label of d75_events_rejected_total)."""
    text = str(exc)
    for reason in ("severity", "source", "ttl", "metadata"):
        if text.startswith(reason):
            return reason
    return "title"


class AlertClient:
    """Posts events to Alertmanager directly, without the spool (`d76 send-alert`, a caller that wants
    Alertmanager's answer now); `background=True`: an in-memory queue, lost with the process. The
    bot's path is `send_alert` / `EventSender`. Never raises into the caller unless `strict=True`."""

    def __init__(self, alertmanager_url: str | None = None, *, timeout: float = 2.0, retries: int = 2,
                 strict: bool = False, background: bool = False, queue_size: int = 1000,
                 ttl: timedelta = DEFAULT_TTL) -> None:
        self.url = (alertmanager_url or os.environ.get("ALERTMANAGER_URL") or DEFAULT_ALERTMANAGER_URL).rstrip("/")
        self.timeout = timeout
        self.strict = strict
        self.ttl = ttl
        self.session = requests.Session()
        retry = Retry(total=retries, connect=retries, read=retries, status=retries, backoff_factor=0.2,
                      status_forcelist=(500, 502, 503, 504), allowed_methods=frozenset({"POST"}))
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self._queue: queue.Queue[dict[str, Any] | None] | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue(maxsize=queue_size)
            self._thread = threading.Thread(target=self._drain, name="d76-events", daemon=True)
            self._thread.start()

    def send(self, severity: object, source: object, title: str, message: str,
             metadata: Mapping[str, Any] | None = None, *, ttl: timedelta | None = None,
             runbook_url: str | None = None) -> bool:
        """Send (or queue, in background mode) one event. True when accepted (or queued)."""
        try:
            alert = build_alert(severity, source, title, message, metadata, ttl=ttl or self.ttl,
                                runbook_url=runbook_url)
        except EventError as exc:
            if self.strict:
                raise
            log.warning("event not sent: invalid", extra={"fields": {"error": str(exc), "title": str(title)[:200]}})
            return False
        if self._queue is not None:
            try:
                self._queue.put_nowait(alert)
                return True
            except queue.Full:
                log.warning("event dropped: sender queue full",
                            extra={"fields": {"alertname": alert["labels"]["alertname"]}})
                return False
        return self._post([alert])

    def _post(self, alerts: list[dict[str, Any]]) -> bool:
        try:
            r = self.session.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=self.timeout)
        except requests.RequestException as exc:
            if self.strict:
                raise
            log.warning("event not delivered to Alertmanager",
                        extra={"fields": {"error": type(exc).__name__, "alerts": len(alerts)}})
            return False
        if r.status_code != 200:
            if self.strict:
                raise EventError(f"Alertmanager refused the event: HTTP {r.status_code} {r.text[:200]}")
            log.warning("event refused by Alertmanager",
                        extra={"fields": {"status": r.status_code, "body": r.text[:200]}})
            return False
        return True

    def _drain(self) -> None:
        assert self._queue is not None
        q = self._queue
        while True:
            item = q.get()
            batch: list[dict[str, Any]] = []
            stop = item is None
            if not stop:
                batch.append(item)  # type: ignore[arg-type]
            while not stop and len(batch) < 100:  # whatever is already waiting goes in the same request
                try:
                    nxt = q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                else:
                    batch.append(nxt)
            if batch:
                self._post(batch)
            for _ in range(len(batch) + (1 if stop else 0)):
                q.task_done()
            if stop:
                return

    def flush(self, timeout: float = 10.0) -> bool:
        """Background mode: wait until every queued event was posted (True) or `timeout` passes."""
        q = self._queue
        if q is None:
            return True
        done = threading.Event()

        def join() -> None:
            q.join()
            done.set()

        threading.Thread(target=join, daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        if self._queue is not None and self._thread is not None:
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:
                pass
            self._thread.join(timeout)
        self.session.close()


class EventMetrics:
    """The events' metrics, on one registry (the bot's, through `configure(metrics=...)`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.dropped = Counter("d75_events_dropped_total", "Events dropped: the spool was full (oldest of the "
                               "least severe first) or it could not be written", ["severity"], registry=registry)
        self.rejected = Counter("d75_events_rejected_total", "Events refused as given (bad severity, source, "
                                "title, metadata, ttl), or refused by Alertmanager", ["reason"], registry=registry)
        self.delivered = Counter("d75_events_delivered_total", "Events Alertmanager accepted", ["severity"],
                                 registry=registry)
        self._spools: list[EventSpool] = []
        registry.register(_SpooledCollector(self._spools))
        for sev in SEVERITIES:
            self.dropped.labels(sev)
            self.delivered.labels(sev)
        for reason in (*REJECT_REASONS, "alertmanager"):
            self.rejected.labels(reason)

    def watch(self, spool: EventSpool) -> None:
        """Report this spool's waiting events in `d75_events_spooled`."""
        if all(s.path != spool.path for s in self._spools):
            self._spools.append(spool)


class _SpooledCollector(Collector):
    """`d75_events_spooled`: events waiting in the spool (every process' events in that file)."""

    def __init__(self, spools: list[EventSpool]) -> None:
        self.spools = spools

    def collect(self) -> Iterator[GaugeMetricFamily]:
        fam = GaugeMetricFamily("d75_events_spooled", "Events written to the spool and not yet accepted by "
                                "Alertmanager")
        try:
            fam.add_metric([], float(sum(s.count() for s in self.spools)))
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because the spool file does
            log.warning("event spool unreadable", extra={"fields": {"error": type(exc).__name__}})
            return
        yield fam


_metrics_by_registry: dict[int, EventMetrics] = {}


def _metrics_for(registry: CollectorRegistry) -> EventMetrics:
    """One `EventMetrics` per registry (a second `configure` with it must not register twice)."""
    m = _metrics_by_registry.get(id(registry))
    if m is None or m.registry is not registry:
        m = _metrics_by_registry[id(registry)] = EventMetrics(registry)
    return m


class _Poster:
    """Posts a batch to each Alertmanager of a comma-separated list (alerts are not gossiped within a
    cluster: Prometheus too sends every alert to each); one acceptance is enough."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.session = requests.Session()

    def __call__(self, target: str, alerts: list[dict[str, Any]]) -> str:
        statuses: list[int] = []
        for url in [u.strip().rstrip("/") for u in target.split(",") if u.strip()]:
            try:
                r = self.session.post(f"{url}/api/v2/alerts", json=alerts, timeout=self.timeout)
            except requests.RequestException as exc:
                log.warning("events not delivered to Alertmanager yet",
                            extra={"fields": {"url": url, "error": type(exc).__name__, "events": len(alerts)}})
                continue
            statuses.append(r.status_code)
            if r.status_code != 200:
                log.warning("Alertmanager did not take the events", extra={"fields": {
                    "url": url, "status": r.status_code, "body": r.text[:200]}})
        if 200 in statuses:
            return PostOutcome.ACCEPTED
        if statuses and all(400 <= c < 500 and c != 429 for c in statuses):
            return PostOutcome.REFUSED
        return PostOutcome.FAILED


def default_spool_path(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """`D76_EVENT_SPOOL`, else `d76-events.sqlite3` in `data_dir` (the metrics' data dir; default the
    working directory, as `D75Metrics`)."""
    env = os.environ.get(SPOOL_ENV)
    if env:
        return Path(env)
    return Path(data_dir if data_dir is not None else os.getcwd()) / DEFAULT_SPOOL_NAME


class EventSender:
    """The bot's path: check, spool, and let the spool's thread deliver (module docstring)."""

    def __init__(self, alertmanager_url: str | None = None, *, spool: str | os.PathLike[str] | None = None,
                 metrics: Any = None, registry: CollectorRegistry | None = None, strict: bool = False,
                 ttl: timedelta = DEFAULT_TTL, max_events: int | None = None, timeout: float = 2.0) -> None:
        self.url = (alertmanager_url or os.environ.get("ALERTMANAGER_URL") or DEFAULT_ALERTMANAGER_URL).rstrip("/")
        self.strict = strict
        self.ttl = ttl
        if registry is None and metrics is not None:
            registry = metrics.registry
        self.metrics = _metrics_for(registry if registry is not None else CollectorRegistry())
        path = Path(spool) if spool is not None else default_spool_path(getattr(metrics, "data_dir", None))
        limit = max_events or int(os.environ.get(SPOOL_MAX_ENV) or DEFAULT_MAX_EVENTS)
        self.spool = EventSpool(path, max_events=limit)
        self.metrics.watch(self.spool)
        poster = _Poster(timeout)
        self.sender = sender_for(path, lambda: SpoolSender(self.spool, poster))
        # whichever EventSender made the process' sender, this one's counters follow its deliveries too
        self.sender.on_delivered = self._delivered
        self.sender.on_refused = self._refused
        self._clock = threading.Lock()
        self._last = datetime.min.replace(tzinfo=UTC)
        self.sender.start()

    def _delivered(self, severities: list[str]) -> None:
        for sev in severities:
            self.metrics.delivered.labels(sev).inc()

    def _refused(self, severities: list[str]) -> None:
        self.metrics.rejected.labels("alertmanager").inc(len(severities))

    def _now(self) -> datetime:
        """Now, at least a millisecond after the previous event (Alertmanager's precision): events
        keep the order they were sent in."""
        with self._clock:
            now = max(datetime.now(UTC), self._last + timedelta(milliseconds=1))
            self._last = now
        return now

    def send(self, severity: object, source: object, title: str, message: str,
             metadata: Mapping[str, Any] | None = None, *, ttl: timedelta | None = None,
             runbook_url: str | None = None, alertmanager_url: str | None = None) -> bool:
        """Spool one event: True once it is durable; False (counted, logged) when refused or the
        spool cannot be written. `strict=True` raises instead."""
        ttl = ttl or self.ttl
        try:
            alert = build_alert(severity, source, title, message, metadata, ttl=ttl, runbook_url=runbook_url,
                                now=self._now())
        except EventError as exc:
            self.metrics.rejected.labels(_reason(exc)).inc()
            if self.strict:
                raise
            log.warning("event not sent: invalid", extra={"fields": {"error": str(exc), "title": str(title)[:200]}})
            return False
        sev = alert["labels"]["severity"]
        try:
            new_id, dropped = self.spool.put(alert, sev, (alertmanager_url or self.url).rstrip("/"),
                                             ttl.total_seconds())
        except Exception as exc:
            self.metrics.dropped.labels(sev).inc()
            if self.strict:
                raise
            log.error("event lost: the spool cannot be written", extra={"fields": {
                "error": f"{type(exc).__name__}: {exc}"[:200], "spool": str(self.spool.path),
                "alertname": alert["labels"]["alertname"]}})
            return False
        for _, d in dropped:
            self.metrics.dropped.labels(d).inc()
        if dropped:
            log.warning("event spool full: dropped the oldest of the least severe",
                        extra={"fields": {"dropped": [d for _, d in dropped], "max_events": self.spool.max_events}})
        self.sender.wake()
        return all(i != new_id for i, _ in dropped)  # False: this one was the least severe of a full spool

    def flush(self, timeout: float = 10.0) -> int:
        """Wait until the spool is empty (at most `timeout` seconds); the events left."""
        return self.sender.wait_empty(timeout)


_default: EventSender | None = None
_default_lock = threading.Lock()


def configure(*, metrics: Any = None, registry: CollectorRegistry | None = None, alertmanager_url: str | None = None,
              spool: str | os.PathLike[str] | None = None, strict: bool = False, ttl: timedelta = DEFAULT_TTL,
              max_events: int | None = None) -> EventSender:
    """Set up `send_alert` for this process and start delivering (also what a crashed process left
    in the spool). `metrics`: the bot's `D75Metrics` (its registry gets the events' metrics, its data
    dir the spool), or `registry`; `strict=True`: refused events raise `EventError`."""
    global _default
    with _default_lock:
        _default = EventSender(alertmanager_url, spool=spool, metrics=metrics, registry=registry, strict=strict,
                               ttl=ttl, max_events=max_events)
        return _default


def default_sender() -> EventSender:
    """The sender `send_alert` uses (made with the defaults on first use when `configure` was not called)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = EventSender()
        return _default


def send_alert(severity: object, source: object, title: str, message: str,
               metadata: Mapping[str, Any] | None = None, *, alertmanager_url: str | None = None,
               ttl: timedelta | None = None, runbook_url: str | None = None) -> bool:
    """The seeds' API: spool one event for Alertmanager. True once it is durable; False (counted and
    logged) when it is refused, unless `configure(strict=True)`."""
    try:
        sender = default_sender()
    except Exception as exc:  # the spool cannot even be opened: never raise into the bot
        log.error("event lost: no event spool", extra={"fields": {"error": f"{type(exc).__name__}: {exc}"[:200]}})
        return False
    return sender.send(severity, source, title, message, metadata, ttl=ttl, runbook_url=runbook_url,
                       alertmanager_url=alertmanager_url)


def flush(timeout: float = 10.0) -> int:
    """Wait until every spooled event was accepted by Alertmanager, at most `timeout` seconds;
    returns how many are left (0: all delivered)."""
    return default_sender().flush(timeout)
