"""Helpers for the history tests: drive a real Alertmanager the way Prometheus and operators do
(alerts posted to `/api/v2/alerts`, silences through `/api/v2/silences`), and serve a receiver app
on loopback so Alertmanager's webhooks reach it."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from local_stack.processes import free_port

if TYPE_CHECKING:
    from webhook_receiver.notify.maintenance import MaintenanceSchedule

__all__ = ["AM", "ServedApp", "am_config", "am_fingerprint", "wait_for", "iso", "now"]

BASE_LABELS = {"job": "d75", "instance": "127.0.0.1:9876"}


def now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def am_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (Prometheus' model.LabelSet.Fingerprint: FNV-1a 64
    over the sorted names and values, each followed by the 0xff separator byte)."""
    h = 14695981039346656037
    for name in sorted(labels):
        for part in (name, labels[name]):
            for b in part.encode() + b"\xff":
                h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def am_config(path: Path, webhook_url: str | None) -> Path:
    """Routes every severity to a `d76-*` webhook receiver (no receiver URL: a receiver that drops),
    with the catalog's FROZEN -> DOWN inhibition scoped by exchange."""
    hook = (f"    webhook_configs:\n      - url: {webhook_url}\n        send_resolved: true\n"
            if webhook_url else "")
    path.write_text(f"""route:
  receiver: d76-p1
  group_by: [alertname, exchange]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: d76-p1
{hook}inhibit_rules:
  - source_matchers: [alertname="ExchangeFrozen"]
    target_matchers: [alertname="ExchangeDown"]
    equal: [exchange]
""")
    return path


class AM:
    """A real Alertmanager, driven like Prometheus (alerts) and an operator (silences)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    @staticmethod
    def labels(alertname: str, severity: str = "P1", **extra: str) -> dict[str, str]:
        return {"alertname": alertname, "severity": severity, "source": "exchange_health", **BASE_LABELS, **extra}

    def fire(self, labels: dict[str, str], starts_at: datetime, **annotations: str) -> None:
        """What Prometheus sends while a rule fires: endsAt a few minutes ahead, renewed by resends."""
        self._post(labels, starts_at, now() + timedelta(minutes=4), annotations)

    def end(self, labels: dict[str, str], starts_at: datetime) -> None:
        """What Prometheus sends when the condition ends: endsAt = now."""
        self._post(labels, starts_at, now(), {})

    def _post(self, labels: dict[str, str], starts_at: datetime, ends_at: datetime, annotations: dict) -> None:
        ann = {"summary": f"{labels['alertname']} on {labels.get('exchange', '-')}", **annotations}
        r = requests.post(f"{self.url}/api/v2/alerts", json=[{
            "labels": labels, "annotations": ann, "startsAt": iso(starts_at), "endsAt": iso(ends_at),
            "generatorURL": "http://127.0.0.1:9090/graph"}], timeout=5)
        assert r.status_code == 200, r.text

    def silence(self, created_by: str, comment: str, minutes: float = 60, **match: str) -> str:
        matchers = [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in match.items()]
        r = requests.post(f"{self.url}/api/v2/silences", json={
            "matchers": matchers, "startsAt": iso(now()), "endsAt": iso(now() + timedelta(minutes=minutes)),
            "createdBy": created_by, "comment": comment}, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()["silenceID"]

    def alerts(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/api/v2/alerts", timeout=5).json()

    def wait_listed(self, alertname: str, state: str | None = None, timeout: float = 10) -> dict[str, Any]:
        def find():  # type: ignore[no-untyped-def]
            for a in self.alerts():
                if a["labels"].get("alertname") == alertname and (state is None or a["status"]["state"] == state):
                    return a
            return None
        return wait_for(find, timeout, f"{alertname} ({state or 'any state'}) in Alertmanager")


class _Quiet(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
        pass


class ServedApp:
    """A receiver app on 127.0.0.1 (a werkzeug server in a thread) so Alertmanager can post to it."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self._server = make_server("127.0.0.1", self.port, app, threaded=True, request_handler=_Quiet)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.05)


def upbit_window_from(t0: datetime) -> MaintenanceSchedule:
    """A maintenance window `upbit-weekly` muting exchange=upbit from `t0`'s minute for five minutes (in
    the windows' default time zone; cut at midnight)."""
    from webhook_receiver.notify.maintenance import parse_maintenance

    local = t0.astimezone(parse_maintenance([{"name": "x", "match": {"exchange": "upbit"}}]).windows[0].zone)
    minute = local.hour * 60 + local.minute
    end = min(1440, minute + 5)
    times = f"{minute // 60:02d}:{minute % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    return parse_maintenance([{"name": "upbit-weekly", "match": {"exchange": "upbit"}, "times": [times]}])

