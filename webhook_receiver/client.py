"""A small Python client of the receiver's HTTP API, for the bot's code and notebooks.

The names follow the seed design (`get_recent_alerts(minutes=60, severity=P0)`, `get_alert_stats()`),
over the history the receiver keeps. Only `requests`: no Flask, no database driver.

    from webhook_receiver.client import HistoryClient

    h = HistoryClient("http://127.0.0.1:9099", token=os.environ["RECEIVER_TOKEN"])
    for a in h.get_recent_alerts(minutes=60, severity="P0"):
        print(a["id"], a["alertname"], a["status"])
    h.ack(a["id"], by="kim", comment="failing over to binance")
    print(h.timeline(a["id"])["durations"])
    print(h.get_alert_stats()["mean_time_to_acknowledge_seconds"])

Times in answers are RFC 3339 strings (as the API sends them); `parse_times=True` turns the usual
time fields into aware `datetime` objects.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from vocabulary import SEVERITIES

__all__ = ["HistoryClient", "HistoryClientError"]

_TIME_FIELDS = ("starts_at", "ends_at", "timestamp", "last_received_at", "acknowledged_at", "silenced_until",
                "silenced_at", "reconciled_at", "am_last_seen_at", "at")


class HistoryClientError(Exception):
    """The receiver refused (4xx: `status`, `message`, `param`) or could not be reached (status None)."""

    def __init__(self, message: str, status: int | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param


def _sev(value: Any) -> str:
    """`"P0"`, or an enum member whose value or name is P0 (the seed's `AlertSeverity.P0`)."""
    for v in (getattr(value, "value", None), getattr(value, "name", None), value):
        if isinstance(v, str) and v.upper() in SEVERITIES:
            return v.upper()
    raise ValueError(f"severity must be one of P0, P1, P2, P3, got {value!r}")


def _rfc3339(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _alert_params(since: datetime | None = None, until: datetime | None = None, severity: Any = None,
                  source: str | None = None, status: str | None = None, acknowledged: bool | None = None,
                  alertname: str | None = None, active: bool = False) -> dict[str, Any]:
    """The filters of `GET /api/alerts` and `/api/alerts.csv` as query parameters (unset ones left out)."""
    params: dict[str, Any] = {}
    if since is not None:
        params["since"] = _rfc3339(since)
    if until is not None:
        params["until"] = _rfc3339(until)
    if active:
        params["active"] = "true"
    if severity is not None:
        sevs: Iterable[Any] = severity if isinstance(severity, (list, tuple, set, frozenset)) else [severity]
        params["severity"] = [_sev(s) for s in sevs]
    for k, v in (("source", source), ("status", status), ("alertname", alertname)):
        if v is not None:
            params[k] = v
    if acknowledged is not None:
        params["acknowledged"] = "true" if acknowledged else "false"
    return params


def _parse(v: Any) -> Any:
    if isinstance(v, str) and v:
        try:
            return datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return v
    return v


class HistoryClient:
    def __init__(self, url: str, token: str | None = None, *, timeout: float = 10.0,
                 session: requests.Session | None = None, parse_times: bool = False) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("url must be the receiver's http(s) base URL, e.g. http://127.0.0.1:9099")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.parse_times = parse_times
        self._session = session or requests.Session()
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def __repr__(self) -> str:  # never the token
        return f"HistoryClient({self.url!r}, token={'set' if self._headers else 'unset'})"

    # ---- transport ------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kw: Any) -> requests.Response:
        try:
            resp = self._session.request(method, self.url + path, headers=self._headers, timeout=self.timeout, **kw)
        except requests.RequestException as exc:
            raise HistoryClientError(f"receiver not reachable: {type(exc).__name__}") from None
        if resp.status_code >= 400:
            try:
                body = resp.json()
            except ValueError:
                body = {}
            msg = body.get("error") if isinstance(body, dict) else None
            raise HistoryClientError(f"{resp.status_code}: {msg or resp.reason}", resp.status_code,
                                     body.get("param") if isinstance(body, dict) else None)
        return resp

    def _get(self, path: str, params: Any = None) -> Any:
        return self._times(self._request("GET", path, params=params).json())

    def _times(self, obj: Any) -> Any:
        if not self.parse_times:
            return obj
        if isinstance(obj, list):
            return [self._times(x) for x in obj]
        if isinstance(obj, dict):
            return {k: (_parse(v) if k in _TIME_FIELDS else self._times(v)) for k, v in obj.items()}
        return obj

    # ---- the seed's names ---------------------------------------------------------------------------------
    def get_recent_alerts(self, minutes: float = 60, severity: Any = None, *, source: str | None = None,
                          status: str | None = None, acknowledged: bool | None = None,
                          alertname: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Alerts active in the last `minutes` (started before now and not ended before then: an alert
        that started two hours ago and still fires is one), newest first (every page, up to `limit`).
        `severity`: "P0", a list of them, or an enum member."""
        since = datetime.now(UTC) - timedelta(minutes=minutes)
        return list(self.iter_alerts(since=since, severity=severity, source=source, status=status,
                                     acknowledged=acknowledged, alertname=alertname, limit=limit, active=True))

    def iter_alerts(self, *, since: datetime | None = None, until: datetime | None = None, severity: Any = None,
                    source: str | None = None, status: str | None = None, acknowledged: bool | None = None,
                    alertname: str | None = None, limit: int = 1000, page_size: int = 500,
                    active: bool = False) -> Iterator[dict[str, Any]]:
        """Alerts that started in [since, until) (`active`: that were active in it), newest first."""
        params = _alert_params(since, until, severity, source, status, acknowledged, alertname, active)
        left = limit
        while left > 0:
            body = self._get("/api/alerts", {**params, "limit": min(page_size, left)})
            yield from body["alerts"]
            left -= len(body["alerts"])
            if not body.get("next_cursor") or not body["alerts"]:
                return
            params["cursor"] = body["next_cursor"]

    def get_alert_stats(self, hours: float | None = None, *, since: datetime | None = None,
                        until: datetime | None = None) -> dict[str, Any]:
        """Counts by severity, source and status and mean times to acknowledge and resolve of the
        alerts active in the window: everything stored (the seed's `get_alert_stats()`), the last
        `hours`, or [since, until). `by_status["firing"]` is what fires now (when the window ends now)."""
        if hours is not None and since is None:
            since = (until or datetime.now(UTC)) - timedelta(hours=hours)
        params = {k: _rfc3339(v) for k, v in (("since", since), ("until", until)) if v is not None}
        return self._get("/api/stats", params)

    def get_alert(self, alert_id: int) -> dict[str, Any]:
        return self._get(f"/api/alerts/{int(alert_id)}")["alert"]

    def ack(self, alert_id: int, by: str, comment: str | None = None) -> dict[str, Any]:
        """Acknowledge (the first acknowledgement wins); returns {"changed": bool, "alert": {...}}."""
        body: dict[str, Any] = {"by": by}
        if comment is not None:
            body["comment"] = comment
        return self._times(self._request("POST", f"/api/alerts/{int(alert_id)}/ack", json=body).json())

    def timeline(self, alert_id: int) -> dict[str, Any]:
        """{"alert", "events" (oldest first), "durations", "episodes"}."""
        return self._get(f"/api/alerts/{int(alert_id)}/timeline")

    def export_csv(self, *, since: datetime | None = None, until: datetime | None = None, severity: Any = None,
                   source: str | None = None, status: str | None = None, acknowledged: bool | None = None,
                   alertname: str | None = None, limit: int | None = None, cursor: str | None = None) -> str:
        """The history as CSV (`GET /api/alerts.csv`); filters as for `iter_alerts`, `limit` (the
        server's default when None) and the `X-Next-Cursor` of a previous export."""
        params = _alert_params(since, until, severity, source, status, acknowledged, alertname)
        for k, v in (("limit", limit), ("cursor", cursor)):
            if v is not None:
                params[k] = v
        return self._request("GET", "/api/alerts.csv", params=params).text
