"""HTTP endpoints (CONTRACT section 5). Parsing and storage live elsewhere; errors are raised as
domain errors and turned into answers by `app._register_error_handlers`.

Malformed input is a 4xx on every endpoint: free-text query parameters and ack fields are cleaned
like webhook strings (`storable.clean_text`: NUL and lone surrogates become U+FFFD, so a filter
matches what was stored), numbers are range-checked before they reach SQL, and request bodies go
through the depth-bounded JSON parser (`safejson`)."""
from __future__ import annotations

import base64
import hmac
import logging
import time
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.datastructures import MultiDict

from vocabulary import SEVERITIES

from .errors import AuthError, NotFoundError, PayloadError, QueryError
from .history.export import iso, iter_alerts, to_csv
from .history.timeline import build_timeline
from .payload import parse_alertmanager_payload, parse_time
from .safejson import JSONError, loads
from .state import runtime
from .storable import clean_text
from .store import AlertQuery

__all__ = ["bp", "alert_to_json", "encode_cursor", "decode_cursor"]

log = logging.getLogger("webhook_receiver.api")
bp = Blueprint("receiver", __name__)

_MAX_ID = 2**63 - 1  # BIGINT / SQLite INTEGER
_ALERT_PARAMS = {"since", "until", "active", "severity", "source", "status", "acknowledged", "alertname", "limit",
                 "cursor"}


def require_auth() -> None:
    """Bearer token check (constant time) when RECEIVER_TOKEN is set."""
    token = runtime().settings.receiver_token
    if not token:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise AuthError("missing bearer token")
    if not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        raise AuthError("invalid bearer token")


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (iso(v) if isinstance(v, datetime) else v) for k, v in row.items()}


def alert_to_json(alert: dict[str, Any]) -> dict[str, Any]:
    out = _jsonable({k: v for k, v in alert.items() if k != "deliveries"})
    if "deliveries" in alert:
        out["deliveries"] = [_jsonable(d) for d in alert["deliveries"]]
    return out


def encode_cursor(starts_at: datetime, alert_id: int) -> str:
    return base64.urlsafe_b64encode(f"{iso(starts_at)}|{alert_id}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        ts, _, ident = raw.partition("|")
        if not ident.isdigit() or len(ident) > 19 or not 1 <= int(ident) <= _MAX_ID:
            raise ValueError("bad id")
        return parse_time(ts, "cursor"), int(ident)
    except (ValueError, PayloadError, UnicodeDecodeError):
        raise QueryError("cursor", "not a cursor returned by this API") from None


def _time_param(args: MultiDict[str, str], name: str) -> datetime | None:
    v = args.get(name)
    if v is None or v == "":
        return None
    try:
        return parse_time(v, name)
    except PayloadError:
        raise QueryError(name, "expected an RFC 3339 time like 2026-11-23T01:00:00Z") from None


def _bool_param(args: MultiDict[str, str], name: str) -> bool | None:
    v = args.get(name)
    if v is None or v == "":
        return None
    if v.lower() in ("true", "1", "yes"):
        return True
    if v.lower() in ("false", "0", "no"):
        return False
    raise QueryError(name, "expected true or false")


def _text_param(args: MultiDict[str, str], name: str, max_len: int = 200) -> str | None:
    v = args.get(name)
    if v is None or v == "":
        return None
    if len(v) > max_len:
        raise QueryError(name, f"longer than {max_len} characters")
    return clean_text(v)


def parse_alert_query(args: MultiDict[str, str], *, max_limit: int | None = None,
                      default_limit: int | None = None) -> AlertQuery:
    """Query string -> AlertQuery; every problem is a QueryError naming the parameter."""
    unknown = sorted(set(args.keys()) - _ALERT_PARAMS)
    if unknown:
        raise QueryError(unknown[0], f"unknown parameter; known: {', '.join(sorted(_ALERT_PARAMS))}")
    settings = runtime().settings
    severities: list[str] = []
    for v in args.getlist("severity"):
        for s in v.split(","):
            s = s.strip(" ").upper()  # exactly what /openapi.json describes
            if s not in SEVERITIES:
                raise QueryError("severity", f"expected one of {', '.join(SEVERITIES)}")
            if s not in severities:
                severities.append(s)
    status = _text_param(args, "status")
    if status is not None and status not in ("firing", "resolved"):
        raise QueryError("status", "expected firing or resolved")
    max_limit = max_limit or settings.api_max_limit
    limit = default_limit or settings.api_default_limit
    if args.get("limit"):
        try:
            limit = int(args["limit"])
        except ValueError:
            raise QueryError("limit", "expected an integer") from None
        if not 1 <= limit <= max_limit:
            raise QueryError("limit", f"must be between 1 and {max_limit}")
    since, until = _time_param(args, "since"), _time_param(args, "until")
    if since and until and since >= until:
        raise QueryError("until", "must be later than since")
    cursor = decode_cursor(args["cursor"]) if args.get("cursor") else None
    return AlertQuery(
        since=since, until=until, active=bool(_bool_param(args, "active")), severities=tuple(severities),
        source=_text_param(args, "source"),
        status=status, acknowledged=_bool_param(args, "acknowledged"),
        alertname=_text_param(args, "alertname"), limit=min(limit, max_limit), cursor=cursor,
    )


def _alert_id(text: str) -> int:
    if not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise QueryError("id", "expected a positive integer alert id")
    return int(text)


@bp.post("/webhook/alertmanager")
def webhook_alertmanager() -> Any:
    require_auth()
    t0 = time.perf_counter()
    body = request.get_data(cache=False)  # raises 413 over MAX_CONTENT_LENGTH
    payload = parse_alertmanager_payload(body)
    rt = runtime()
    metrics = rt.metrics
    result = rt.ingest(payload)  # committed (and the dispatcher woken)
    # only now, after the commit, may we say 200
    elapsed = time.perf_counter() - t0
    metrics.ingest_seconds.observe(elapsed)
    for a in payload.alerts:
        metrics.alerts_received.labels(a.status).inc()
    for c in result.changes:
        if c.kind == "new":
            metrics.alerts_stored.labels(c.severity or "none").inc()
    counts = result.counts
    log.info(
        "payload stored",
        extra={"fields": {"payload_id": result.payload_id, "alerts": len(payload.alerts),
                          "status": payload.status, "changes": counts, "ms": round(elapsed * 1000, 2)}},
    )
    return jsonify({"status": "stored", "payload_id": result.payload_id, "alerts": len(payload.alerts),
                    "changes": counts})


@bp.get("/api/alerts")
def list_alerts() -> Any:
    require_auth()
    q = parse_alert_query(request.args)
    rows = runtime().store.list_alerts(q)
    next_cursor = encode_cursor(rows[-1]["starts_at"], rows[-1]["id"]) if len(rows) == q.limit else None
    return jsonify({"alerts": [alert_to_json(r) for r in rows], "count": len(rows), "next_cursor": next_cursor})


@bp.get("/api/alerts/<alert_id>")
def get_alert(alert_id: str) -> Any:
    require_auth()
    ident = _alert_id(alert_id)
    alert = runtime().store.get_alert(ident)
    if alert is None:
        raise NotFoundError(f"alert {alert_id} not found")
    alert["deliveries"] = runtime().outbox.deliveries(ident)
    return jsonify({"alert": alert_to_json(alert)})


@bp.get("/api/alerts/<alert_id>/timeline")
def alert_timeline(alert_id: str) -> Any:
    """Fired, each notification, acknowledged, silenced, suppressed episodes, resolved; durations."""
    require_auth()
    if request.args:
        raise QueryError(sorted(request.args.keys())[0], "unknown parameter; this endpoint takes none")
    ident = _alert_id(alert_id)
    t = build_timeline(runtime().store, ident)
    if t is None:
        raise NotFoundError(f"alert {alert_id} not found")
    return jsonify({"alert": alert_to_json(t["alert"]), "events": [_jsonable(e) for e in t["events"]],
                    "durations": t["durations"], "episodes": [_jsonable(e) for e in t["episodes"]]})


@bp.get("/api/alerts.csv")
def alerts_csv() -> Any:
    """The history as CSV (same filters as /api/alerts; `limit` up to RECEIVER_API_EXPORT_MAX_ROWS)."""
    require_auth()
    settings = runtime().settings
    q = parse_alert_query(request.args, max_limit=settings.api_export_max_rows,
                          default_limit=min(settings.api_export_max_rows, 10_000))
    rows: list[dict[str, Any]] = []
    for page in iter_alerts(runtime().store, q, q.limit):
        rows.extend(page)
    resp = Response(to_csv(rows), mimetype="text/csv")
    resp.headers["Content-Disposition"] = "attachment; filename=d76-alerts.csv"
    resp.headers["X-Row-Count"] = str(len(rows))
    if len(rows) == q.limit and rows:
        last = rows[-1]
        resp.headers["X-Next-Cursor"] = encode_cursor(parse_time(last["starts_at"], "starts_at"), last["id"])
    return resp


@bp.get("/openapi.json")
def openapi() -> Any:
    """This API, described (OpenAPI 3.0); no auth: it holds no data."""
    from .openapi import spec

    return jsonify(spec(runtime().settings))


def _actor_body() -> tuple[str, str | None]:
    """`{"by": ..., "comment": ...}` of an ack or unack (both optional), checked."""
    body: Any = {}
    raw = request.get_data(cache=True)
    if raw:
        try:
            body = loads(raw) if request.is_json else None
        except JSONError:
            body = None
        if not isinstance(body, dict):
            raise QueryError("body", "expected a JSON object like {\"by\": \"name\", \"comment\": \"...\"}")
    by = body.get("by", "api")
    if not isinstance(by, str) or not by.strip() or len(by) > 200:
        raise QueryError("by", "expected a non-empty string of at most 200 characters")
    comment = body.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 2000):
        raise QueryError("comment", "expected a string of at most 2000 characters")
    return clean_text(by.strip()), clean_text(comment) if comment is not None else None


@bp.post("/api/alerts/<alert_id>/ack")
def ack_alert(alert_id: str) -> Any:
    """Acknowledge: the alert is the caller's until it resolves (reminders and escalation stop). On an
    alert already acknowledged, a comment is added (`comment_added`)."""
    require_auth()
    ident = _alert_id(alert_id)
    by, comment = _actor_body()
    # one path for every acknowledgement: recorded, and the messages that told it edited (queued
    # in the same transaction)
    result = runtime().actions.acknowledge(ident, by, comment)
    return jsonify({"changed": result.changed, "comment_added": result.comment_added,
                    "alert": alert_to_json(result.alert)})


@bp.post("/api/alerts/<alert_id>/unack")
def unack_alert(alert_id: str) -> Any:
    """Give an acknowledged alert back: nobody owns it; its reminders and escalation start again."""
    require_auth()
    ident = _alert_id(alert_id)
    by, comment = _actor_body()
    result = runtime().actions.unacknowledge(ident, by, comment)
    return jsonify({"changed": result.changed, "alert": alert_to_json(result.alert)})


@bp.get("/api/stats")
def stats() -> Any:
    require_auth()
    unknown = sorted(set(request.args.keys()) - {"since", "until"})
    if unknown:
        raise QueryError(unknown[0], "unknown parameter; known: since, until")
    # the alerts active in the window (an alert firing for two days counts today); no window: everything stored
    since, until = _time_param(request.args, "since"), _time_param(request.args, "until")
    if since is not None and until is not None and since >= until:
        raise QueryError("until", "must be later than since")
    out = runtime().store.stats(since, until)
    return jsonify({"since": iso(since) if since else None, "until": iso(until) if until else None, **out})


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Any:
    runtime().store.ping()  # StorageUnavailable -> 503
    return jsonify({"status": "ready", "backend": runtime().store.dialect.name})


@bp.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(runtime().metrics.registry), mimetype=CONTENT_TYPE_LATEST)
