"""One-off events that are not metrics, sent through Alertmanager (the seeds' `send_alert`).

    from exporter.events import send_alert
    send_alert("P1", "risk_guard", "Manual kill switch", "Operator stopped trading on upbit",
               {"exchange": "upbit", "operator": "kim"})

The event is posted to Alertmanager's API v2 (`POST /api/v2/alerts`) with the same labels the
generated rules use, so it goes through the same routing, grouping, inhibition and receiver:

- `alertname`: the title in CamelCase (`Manual kill switch` -> `ManualKillSwitch`), so events group
  and silence like rule alerts; `event="true"` marks it as an event, not a rule;
- `severity` (P0-P3) and `source` (CONTRACT section 2), validated;
- identifying labels from metadata: `exchange`, `route`, `symbol`, `tier`, `scope` (strings only);
  the rest of the metadata goes to annotations (JSON-encoded when not a string);
- annotations `summary` (title), `description` (message), `runbook_url` when given;
- `startsAt` now, `endsAt` now + TTL (15 minutes by default), so an event resolves by itself.

The bot must never crash or stall because of alerting: by default `AlertClient.send` returns False
and logs instead of raising, and `background=True` hands events to a sender thread with a bounded
queue (a full queue drops the event and says so in the log). `strict=True` raises instead.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from vocabulary import DEFAULT_ALERTMANAGER_URL, IDENTIFYING_LABELS, SEVERITIES, SOURCES

__all__ = ["AlertClient", "send_alert", "build_alert", "EventError", "IDENTIFYING_LABELS", "SEVERITIES",
           "SOURCES", "camel_case"]

log = logging.getLogger("d76.events")

DEFAULT_TTL = timedelta(minutes=15)
_WORD = re.compile(r"[A-Za-z0-9]+")


class EventError(ValueError):
    """An event that cannot be sent as given (bad severity, source, title or metadata)."""


def camel_case(title: str) -> str:
    """`Manual kill switch!` -> `ManualKillSwitch`; an alertname must start with a letter."""
    words = _WORD.findall(title)
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name:
        raise EventError(f"title {title!r} has no letters or digits to name the alert")
    return name if name[0].isalpha() else "Event" + name


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_alert(severity: str, source: str, title: str, message: str,
                metadata: Mapping[str, Any] | None = None, *, ttl: timedelta = DEFAULT_TTL,
                runbook_url: str | None = None, generator_url: str | None = None,
                now: datetime | None = None) -> dict[str, Any]:
    """The Alertmanager API v2 `postableAlert` for one event; `EventError` when invalid."""
    if severity not in SEVERITIES:
        raise EventError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    if source not in SOURCES:
        raise EventError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
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
    alert = {"labels": labels, "annotations": annotations, "startsAt": _iso(now), "endsAt": _iso(now + ttl)}
    if generator_url:
        alert["generatorURL"] = generator_url
    return alert


class AlertClient:
    """Posts events to Alertmanager. Never raises into the caller unless `strict=True`."""

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

    def send(self, severity: str, source: str, title: str, message: str,
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


_default: AlertClient | None = None
_default_lock = threading.Lock()


def send_alert(severity: str, source: str, title: str, message: str, metadata: Mapping[str, Any] | None = None,
               *, alertmanager_url: str | None = None, ttl: timedelta | None = None,
               runbook_url: str | None = None) -> bool:
    """The seeds' API: send one event through Alertmanager. Returns False (and logs) on any problem."""
    global _default
    if alertmanager_url is not None:
        client = AlertClient(alertmanager_url)
        try:
            return client.send(severity, source, title, message, metadata, ttl=ttl, runbook_url=runbook_url)
        finally:
            client.close()
    with _default_lock:
        if _default is None:
            _default = AlertClient()
    return _default.send(severity, source, title, message, metadata, ttl=ttl, runbook_url=runbook_url)
