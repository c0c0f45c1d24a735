"""One alert's story for the incident review, in order: fired, first stored, each notification (channel,
destination, the service's message id, single or packed), each reminder and escalation step (to whom),
acknowledged / unacknowledged / commented (who, comment), silenced from the receiver (by, until), each
silenced, inhibited or muted (maintenance window) episode (cause, start, end), resolved (and whether
by the reconciler), with the durations that matter (time to notify, to acknowledge, to resolve, time
suppressed).

`build_timeline(store, alert_id)` reads; `render_text(timeline)` is what `d76 history --id N` prints.
"""
from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from ..store.base import AlertStore
from ..store.episodes import HistoryTables
from ..store.ownership import DONE, REMINDER, OwnershipTables
from ..timefmt import fmt_time

__all__ = ["build_timeline", "render_text", "EVENT_ORDER"]

# events at the same instant are listed in this order
EVENT_ORDER = ("fired", "stored", "silenced", "inhibited", "muted", "notified", "reminded", "escalated",
               "acknowledged", "commented", "unacknowledged", "silence_set", "unsilenced", "inhibition_ended",
               "mute_ended", "resolved")
_ACK_EVENTS = {"ack": "acknowledged", "unack": "unacknowledged", "comment": "commented"}


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round(max(0.0, (later - earlier).total_seconds()), 3)


def _labels_text(labels: dict[str, str] | None) -> str:
    if not labels:
        return ""
    skip = {"alertname", "severity", "source", "job", "instance"}
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in skip)


def build_timeline(store: AlertStore, alert_id: int) -> dict[str, Any] | None:
    """The alert, its events oldest first, and durations; None for an unknown id."""
    tables = HistoryTables(store)
    with store.transaction(write=False) as tx:
        alert = store.get_alert(alert_id, tx)
        if alert is None:
            return None
        notes = tables.notifications_of(alert_id, tx)
        episodes = tables.episodes_for([alert_id], tx).get(alert_id, [])
        own = OwnershipTables(store)
        ack_events = own.events(alert_id, tx)
        followups = own.followups(alert_id, tx)
    events: list[dict[str, Any]] = []

    def add(event: str, at: datetime | None, /, **detail: Any) -> None:
        if at is not None:
            events.append({"at": at, "event": event, **{k: v for k, v in detail.items() if v is not None}})

    add("fired", alert["starts_at"], severity=alert["severity"], alertname=alert["alertname"], title=alert["title"])
    if alert.get("origin") == "alertmanager":
        add("stored", alert["timestamp"], via="alertmanager",
            note="first seen in Alertmanager's API while suppressed (no webhook was sent for it then)")
    else:
        add("stored", alert["timestamp"], via="webhook")
    first_notified: datetime | None = None
    for n in notes:
        sent = n["sent_at"] if n["status"] in ("sent", "folded") else None
        shape = n.get("shape") or None
        add("notified", sent or n["updated_at"] or n["created_at"], kind=n["kind"], channel=n["channel"],
            destination=n["destination"], status=n["status"],
            message_id=n["message_id"] or (n["remote_ids"][0] if n["remote_ids"] else None),
            message_ids=n["remote_ids"] or None, message_ref=n["message_ref"], shape=shape,
            alerts_in_message=n["message_alerts"] or None, attempts=n["attempts"],
            error=n["last_error"] if n["status"] == "failed" else None)
        if n["kind"] == "firing" and sent is not None and (first_notified is None or sent < first_notified):
            first_notified = sent
    for ev in ack_events:  # who took it, gave it back, commented (an ack from before these events: the row)
        add(_ACK_EVENTS.get(ev.action, ev.action), ev.at, by=ev.actor, comment=ev.comment)
    if alert["acknowledged"] and not ack_events:
        add("acknowledged", alert["acknowledged_at"], by=alert["acknowledged_by"], comment=alert["ack_comment"])
    for f in followups:
        if f.status != DONE:
            continue
        told = f.detail.get("told") or f.detail.get("lanes") or []
        if f.kind == REMINDER:
            add("reminded", f.updated_at, reminder=f.detail.get("reminder", f.step), to=", ".join(map(str, told)))
        else:
            notes_ = f.detail.get("notes") or []
            add("escalated", f.updated_at, step=f.step + 1, to="; ".join(map(str, told)) or None,
                note="; ".join(map(str, notes_)) or None)
    silence_by = {e["cause"]: e for e in episodes if e["kind"] == "silenced"}
    if alert.get("silence_id"):
        ep = silence_by.get(alert["silence_id"], {})
        add("silence_set", alert.get("silenced_at") or ep.get("silence_starts_at"), silence_id=alert["silence_id"],
            until=alert["silenced_until"], by=ep.get("silence_created_by"))
    suppressed_s = 0.0
    end_of_alert = alert["ends_at"]
    for e in episodes:
        if e["kind"] == "silenced":
            add("silenced", e["started_at"], episode_id=e["id"], silence_id=e["cause"], by=e["silence_created_by"],
                comment=e["silence_comment"], until=e["silence_ends_at"])
            add("unsilenced", e["ended_at"], episode_id=e["id"], silence_id=e["cause"])
        elif e["kind"] == "muted":  # by a recurring maintenance window: the cause is its name
            add("muted", e["started_at"], episode_id=e["id"], window=e["cause"])
            add("mute_ended", e["ended_at"], episode_id=e["id"], window=e["cause"])
        else:
            add("inhibited", e["started_at"], episode_id=e["id"], by_alertname=e["inhibiting_alertname"],
                by_alert_id=e["inhibiting_alert_id"], by_fingerprint=e["cause"],
                by_labels=_labels_text(e.get("inhibiting_labels")) or None)
            add("inhibition_ended", e["ended_at"], episode_id=e["id"], by_alertname=e["inhibiting_alertname"])
        stop = e["ended_at"] or end_of_alert or datetime.now(UTC)
        suppressed_s += max(0.0, (stop - e["started_at"]).total_seconds())
    if alert["status"] == "resolved":
        add("resolved", alert["ends_at"], reconciled=alert.get("reconciled_at") is not None,
            reconciled_at=alert.get("reconciled_at"),
            note="Alertmanager no longer had it (resolved by the reconciler; end = last seen in Alertmanager)"
            if alert.get("reconciled_at") else None)
    rank = {k: i for i, k in enumerate(EVENT_ORDER)}
    events.sort(key=lambda ev: (ev["at"], rank.get(ev["event"], 99)))
    durations = {
        "time_to_notify_seconds": _seconds(first_notified, alert["starts_at"]),
        "time_to_acknowledge_seconds": _seconds(alert["acknowledged_at"], alert["starts_at"]),
        "time_to_resolve_seconds": _seconds(alert["ends_at"], alert["starts_at"])
        if alert["status"] == "resolved"
        else None,
        "suppressed_seconds": round(suppressed_s, 3) if episodes else None,
    }
    return {"alert": alert, "events": events, "durations": durations,
            "episodes": episodes, "notifications": notes}


def _fmt(dt: Any, tz: tzinfo | None = None) -> str:
    """Times as every screen writes them (`timefmt`), to the millisecond: a timeline compares them."""
    if isinstance(dt, datetime):
        return fmt_time(dt, tz, ms=True)
    return str(dt)


def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 60:
        return f"{s:.3f}s" if s < 1 else f"{s:.1f}s"
    m, sec = divmod(int(round(s)), 60)
    h, m = divmod(m, 60)
    return (f"{h}h " if h else "") + f"{m}m {sec}s"


def render_text(t: dict[str, Any], tz: tzinfo | None = None) -> str:
    a = t["alert"]
    lines = [f"alert {a['id']}: [{a['severity'] or '-'}] {a['alertname']} ({_labels_text(a['labels']) or '-'})",
             f"  {a['title']}", f"  status {a['status']}" + (" (reconciled)" if a.get("reconciled_at") else ""), ""]
    for ev in t["events"]:
        detail = {k: v for k, v in ev.items() if k not in ("at", "event")}
        text = ", ".join(f"{k}={_fmt(v, tz)}" for k, v in detail.items() if not isinstance(v, (list, dict)))
        lines.append(f"  {_fmt(ev['at'], tz)}  {ev['event']:<17} {text}")
    d = t["durations"]
    lines += ["", f"  time to notify {_dur(d['time_to_notify_seconds'])} · to acknowledge "
                  f"{_dur(d['time_to_acknowledge_seconds'])} · to resolve {_dur(d['time_to_resolve_seconds'])}"
                  + (f" · suppressed {_dur(d['suppressed_seconds'])}" if d["suppressed_seconds"] is not None else "")]
    return "\n".join(lines) + "\n"
