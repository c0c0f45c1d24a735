"""The ingest hook: which notification rows a stored payload queues.

Runs inside the store's ingest transaction (`AlertStore.ingest(payload, hook)`), so an alert is
never stored without its notifications queued, nor queued without being stored. One row per
(channel, destination, event) with `dedupe_key = "<alert_id>:<channel>:<destination>:<kind>"`, so HA
duplicates and Alertmanager's repeats queue nothing twice. Which channels: the channel map for the
severity, limited to channels that are configured; a configured channel that the map never
mentions follows the pager's severities (`channels.base.Pager`: Telegram). Watchdog queues nothing:
it feeds the dead man's switch. A one-off event (`event="true"`) is told once and never as resolved.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from vocabulary import WATCHDOG, AlertStatus, NotificationKind

from .channel_map import ChannelMap
from .channels.base import Channel, Pager
from .followups import nudge_refreshes
from .outbox import Outbox

if TYPE_CHECKING:
    from ..payload import WebhookPayload
    from ..store import AlertChange, Transaction
    from .followups import FollowupPlanner

__all__ = ["NotifyPlanner", "HEARTBEAT_ALERTNAMES", "routed_channels"]

HEARTBEAT_ALERTNAMES = frozenset({WATCHDOG})
EVENT_LABEL = "event"  # `event="true"`: a one-off event posted by the bot, not a rule


def routed_channels(cmap: ChannelMap, channels: Mapping[str, Channel], severity: str) -> list[str]:
    """Configured per-alert channels that get an alert of this severity."""
    mentioned = {c for chans in cmap.channels.values() for c in chans}
    wanted = list(cmap.channels_for(severity))
    if any(isinstance(channels.get(c), Pager) for c in wanted):
        wanted += [name for name in sorted(channels) if name not in mentioned and name not in wanted]
    return [c for c in wanted if c in channels and channels[c].per_alert]


class NotifyPlanner:
    """Callable hook: `store.ingest(payload, NotifyPlanner(outbox, channels, channel_map))`."""

    def __init__(self, outbox: Outbox, channels: Mapping[str, Channel], channel_map: ChannelMap,
                 on_heartbeat: Callable[[], None] | None = None, followups: FollowupPlanner | None = None) -> None:
        self.outbox = outbox
        self.channels = channels
        self.channel_map = channel_map
        self.on_heartbeat = on_heartbeat
        self.followups = followups

    def rows_for(self, change: AlertChange) -> list[dict[str, Any]]:
        if change.alertname in HEARTBEAT_ALERTNAMES:
            return []
        if change.kind == "new":
            kind = NotificationKind.RESOLVED if change.status == AlertStatus.RESOLVED else NotificationKind.FIRING
        elif change.kind == "resolved":
            kind = NotificationKind.RESOLVED
        else:
            return []  # repeats, duplicates, annotation refreshes: nothing new to tell
        if change.labels.get(EVENT_LABEL) == "true":
            # a one-off event (exporter.events) is told once, as what happened: its end is only the
            # end of its time in Alertmanager (history keeps it), never "RESOLVED"
            if change.kind == "resolved":
                return []
            kind = NotificationKind.FIRING
        rows = []
        for name in routed_channels(self.channel_map, self.channels, change.severity):
            for d in self.channels[name].destinations(change.severity, change.labels):
                # the topic and quietness travel with the row, where the dispatcher reads them
                extra = {**({"thread_id": d.thread_id} if d.thread_id is not None else {}),
                         **({"quiet": True} if d.quiet else {})}
                rows.append({"alert_id": change.alert_id, "channel": name, "destination": d.chat, "kind": kind,
                             "severity": change.severity, "dedupe_key": f"{change.alert_id}:{name}:{d.chat}:{kind}",
                             "payload": {"alertname": change.alertname, **extra}})
        return rows

    def __call__(self, tx: Transaction, changes: list[AlertChange], payload: WebhookPayload) -> None:
        rows: list[dict[str, Any]] = []
        heartbeat = False
        for change in changes:
            if change.alertname in HEARTBEAT_ALERTNAMES:
                heartbeat = True
            rows.extend(self.rows_for(change))
        if rows:
            self.outbox.enqueue(tx, rows)
        if self.followups is not None:
            self.followups.arm(tx, [c for c in changes if c.alertname not in HEARTBEAT_ALERTNAMES])
            resolved = [c.alert_id for c in changes if c.kind == "resolved"]
            if resolved:  # the reminder and escalation messages that told them show the resolve too
                self.outbox.enqueue(tx, nudge_refreshes(tx, resolved, self.channels, "resolved"))
        if heartbeat and self.on_heartbeat is not None:
            self.on_heartbeat()
