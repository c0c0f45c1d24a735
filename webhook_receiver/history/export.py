"""Export of the alert history as CSV or JSON (`d76 history --format`, `GET /api/alerts.csv`, the
digest's attachment), one row per alert occurrence, and reading the CSV back.

The two formats carry the same rows: `read_csv(to_csv(rows)) == rows` for rows built by `export_rows`
(times as RFC 3339 UTC with microseconds, labels and annotations as JSON objects, empty optional
values as null). Text cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
`@`, a tab or a carriage return) are written with a leading `'`, as is a cell that starts with `'`
itself; `read_csv` takes exactly one leading `'` off again, so the round trip is exact.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..store.base import AlertQuery, AlertStore
from ..store.episodes import HistoryTables

__all__ = ["EXPORT_COLUMNS", "export_rows", "iter_alerts", "to_csv", "read_csv", "to_json", "iso"]

EXPORT_COLUMNS = (
    "id", "fingerprint", "alertname", "severity", "source", "status", "starts_at", "ends_at",
    "time_to_acknowledge_s", "time_to_resolve_s", "acknowledged", "acknowledged_by", "acknowledged_at",
    "ack_comment", "silence_id", "silenced_until", "reconciled", "reconciled_at", "origin", "receive_count",
    "suppressed_episodes", "suppressed_by", "title", "message", "labels", "annotations",
)
_INT = {"id", "receive_count", "suppressed_episodes"}
_FLOAT = {"time_to_acknowledge_s", "time_to_resolve_s"}
_BOOL = {"acknowledged", "reconciled"}
_JSON = {"labels", "annotations"}
_NULLABLE = {"ends_at", "time_to_acknowledge_s", "time_to_resolve_s", "acknowledged_by", "acknowledged_at",
             "ack_comment", "silence_id", "silenced_until", "reconciled_at", "suppressed_by"}
_TEXT = set(EXPORT_COLUMNS) - _INT - _FLOAT - _BOOL - _JSON
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "'")


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _secs(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier).total_seconds(), 3)


def _suppressed_by(episodes: Sequence[Mapping[str, Any]]) -> str | None:
    parts: list[str] = []
    for e in episodes:
        if e["kind"] == "silenced":
            who = e.get("silence_created_by") or "?"
            why = f" ({e['silence_comment']})" if e.get("silence_comment") else ""
            parts.append(f"silenced by {who}{why}")
        else:
            name = e.get("inhibiting_alertname") or e["cause"]
            ref = f" #{e['inhibiting_alert_id']}" if e.get("inhibiting_alert_id") else ""
            parts.append(f"inhibited by {name}{ref}")
    return "; ".join(dict.fromkeys(parts)) or None


def export_rows(alerts: Iterable[Mapping[str, Any]], episodes: Mapping[int, Sequence[Mapping[str, Any]]] | None = None
                ) -> list[dict[str, Any]]:
    """Store rows (`list_alerts`) -> export rows (plain JSON values, the columns above)."""
    episodes = episodes or {}
    out = []
    for a in alerts:
        eps = episodes.get(int(a["id"]), ())
        resolved = a["status"] == "resolved"
        out.append({
            "id": int(a["id"]), "fingerprint": a["fingerprint"], "alertname": a["alertname"],
            "severity": a["severity"] or "", "source": a["source"] or "", "status": a["status"],
            "starts_at": iso(a["starts_at"]), "ends_at": iso(a["ends_at"]),
            "time_to_acknowledge_s": _secs(a.get("acknowledged_at"), a["starts_at"]),
            "time_to_resolve_s": _secs(a["ends_at"], a["starts_at"]) if resolved else None,
            "acknowledged": bool(a["acknowledged"]), "acknowledged_by": a.get("acknowledged_by") or None,
            "acknowledged_at": iso(a.get("acknowledged_at")), "ack_comment": a.get("ack_comment") or None,
            "silence_id": a.get("silence_id") or None, "silenced_until": iso(a.get("silenced_until")),
            "reconciled": a.get("reconciled_at") is not None, "reconciled_at": iso(a.get("reconciled_at")),
            "origin": a.get("origin") or "webhook", "receive_count": int(a.get("receive_count") or 0),
            "suppressed_episodes": len(eps), "suppressed_by": _suppressed_by(eps),
            "title": a["title"] or "", "message": a["message"] or "",
            "labels": dict(a.get("labels") or {}), "annotations": dict(a.get("annotations") or {}),
        })
    return out


def iter_alerts(
    store: AlertStore, query: AlertQuery, max_rows: int, page: int = 1000
) -> Iterator[list[dict[str, Any]]]:
    """Pages of export rows matching `query` (newest first), at most `max_rows` in all."""
    tables = HistoryTables(store)
    for rows in store.iter_alert_pages(query, max_rows, page):
        yield export_rows(rows, tables.episodes_for(r["id"] for r in rows))


def _cell(col: str, v: Any) -> str:
    if v is None:
        return ""
    if col in _BOOL:
        return "true" if v else "false"
    if col in _JSON:
        return json.dumps(v, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if col in _TEXT:
        s = str(v)
        return "'" + s if s.startswith(_FORMULA) else s
    return str(v)


def to_csv(rows: Iterable[Mapping[str, Any]], header: bool = True) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    if header:
        w.writerow(EXPORT_COLUMNS)
    for r in rows:
        w.writerow([_cell(c, r.get(c)) for c in EXPORT_COLUMNS])
    return buf.getvalue()


def _value(col: str, s: str) -> Any:
    if s == "" and (col in _NULLABLE or col in _FLOAT):
        return None
    if col in _INT:
        return int(s)
    if col in _FLOAT:
        return float(s)
    if col in _BOOL:
        return s == "true"
    if col in _JSON:
        return json.loads(s) if s else {}
    return s[1:] if s.startswith("'") else s


def read_csv(text: str) -> list[dict[str, Any]]:
    """The rows of `to_csv` back (for the round trip, and for notebooks)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    head = next(reader, None)
    if head is None:
        return []
    return [{c: _value(c, v) for c, v in zip(head, rec)} for rec in reader]


def to_json(rows: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps(list(rows), ensure_ascii=False, indent=1) + "\n"
