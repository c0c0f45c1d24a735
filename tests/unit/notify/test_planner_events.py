"""A one-off event (`event="true"`, exporter.events) is told once and never as resolved; a rule's
alert is told firing and resolved as before."""
from __future__ import annotations

from datetime import UTC, datetime

from tests.support.notify_doubles import RecordingOutbox
from webhook_receiver.notify.channel_map import parse_channel_map
from webhook_receiver.notify.channels.base import ChannelLimits
from webhook_receiver.notify.channels.telegram import ConsoleTelegram, TelegramChannel
from webhook_receiver.notify.planner import NotifyPlanner
from webhook_receiver.store.changes import AlertChange

CHAT = "-1001"


def _planner() -> tuple[NotifyPlanner, RecordingOutbox]:
    cmap = parse_channel_map({"severities": {s: {"channels": ["telegram"], "share_per_minute": 5}
                                             for s in ("P0", "P1", "P2", "P3")}}, "test")
    tg = TelegramChannel(ConsoleTelegram(), CHAT, ChannelLimits())
    tg.use_channel_map(cmap)
    out = RecordingOutbox()
    return NotifyPlanner(out, {"telegram": tg}, cmap), out


def _change(alert_id: int, kind: str, status: str, event: bool) -> AlertChange:
    labels = {"alertname": "KillSwitch", "severity": "P1", "source": "risk_guard"}
    if event:
        labels["event"] = "true"
    return AlertChange(alert_id=alert_id, kind=kind, fingerprint=f"f{alert_id}", starts_at=datetime.now(UTC),
                       status=status, alertname="KillSwitch", severity="P1", source="risk_guard", labels=labels)


def test_an_event_is_told_once_and_never_resolved():
    planner, out = _planner()
    planner(None, [_change(1, "new", "firing", True), _change(1, "resolved", "resolved", True)], None)
    assert [(r["alert_id"], r["kind"]) for r in out.rows] == [(1, "firing")]
    # an event that reaches the receiver already ended (Alertmanager got it late) is told as what happened
    planner(None, [_change(2, "new", "resolved", True)], None)
    assert [(r["alert_id"], r["kind"]) for r in out.rows][1:] == [(2, "firing")]


def test_a_rules_alert_is_still_told_firing_and_resolved():
    planner, out = _planner()
    planner(None, [_change(3, "new", "firing", False), _change(3, "resolved", "resolved", False)], None)
    assert [(r["alert_id"], r["kind"]) for r in out.rows] == [(3, "firing"), (3, "resolved")]
