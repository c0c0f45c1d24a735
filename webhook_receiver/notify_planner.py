"""The real outbox planner: which notification rows a stored payload queues.

Runs inside the store's ingest transaction (see `webhook_receiver.outbox`), so an alert is never
stored without its notifications being queued, nor queued without being stored. One row per
channel per change, with `dedupe_key = "<alert_id>:<channel>:<kind>"`, so HA duplicates and
Alertmanager's repeats queue nothing twice. Watchdog queues nothing: it feeds the dead man's switch.
P3 queues nothing per alert: it goes into the daily email digest.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .notifiers.channel_map import ChannelMap
from .notifiers.settings import NotifySettings

if TYPE_CHECKING:
    from .outbox import AlertChange
    from .payload import WebhookPayload
    from .store.base import AlertStore, Transaction

__all__ = ["NotifyPlanner", "HEARTBEAT_ALERTNAMES", "enabled_channels"]

HEARTBEAT_ALERTNAMES = frozenset({"Watchdog"})
PER_ALERT_CHANNELS = ("telegram", "slack", "discord")  # email is a daily digest, not per alert


def enabled_channels(cmap: ChannelMap, settings: NotifySettings, severity: str) -> list[str]:
    """Channels that get a row for this severity: the channel map, minus channels not configured.

    Telegram is always on (with no token it is the console dry run). Discord, when configured
    but absent from the channel map, mirrors Telegram's severities.
    """
    wanted = [c for c in cmap.channels_for(severity) if c in PER_ALERT_CHANNELS]
    out = []
    for c in wanted:
        if c == "slack" and not settings.slack_url_for(severity):
            continue
        if c == "discord" and not settings.discord_webhook_url:
            continue
        out.append(c)
    map_has_discord = any("discord" in chans for chans in cmap.channels.values())
    if settings.discord_webhook_url and not map_has_discord and "telegram" in wanted and "discord" not in out:
        out.append("discord")
    return out


class NotifyPlanner:
    """Callable planner: `store.ingest(payload, planner=NotifyPlanner(store, cmap, settings))`."""

    def __init__(self, store: "AlertStore", channel_map: ChannelMap, settings: NotifySettings,
                 on_heartbeat: Callable[[], None] | None = None) -> None:
        self.store = store
        self.channel_map = channel_map
        self.settings = settings
        self.on_heartbeat = on_heartbeat

    def rows_for(self, change: "AlertChange") -> list[dict[str, Any]]:
        if change.alertname in HEARTBEAT_ALERTNAMES:
            return []
        if change.kind == "new":
            kind = "resolved" if change.status == "resolved" else "firing"
        elif change.kind == "resolved":
            kind = "resolved"
        else:
            return []  # repeats, duplicates, annotation refreshes: nothing new to tell
        return [{"alert_id": change.alert_id, "channel": channel, "kind": kind, "severity": change.severity,
                 "dedupe_key": f"{change.alert_id}:{channel}:{kind}",
                 "payload": {"alertname": change.alertname}}
                for channel in enabled_channels(self.channel_map, self.settings, change.severity)]

    def __call__(self, tx: "Transaction", changes: "list[AlertChange]", payload: "WebhookPayload") -> None:
        rows: list[dict[str, Any]] = []
        heartbeat = False
        for change in changes:
            if change.alertname in HEARTBEAT_ALERTNAMES:
                heartbeat = True
            rows.extend(self.rows_for(change))
        if rows:
            self.store.enqueue_notifications(tx, rows)
        if heartbeat and self.on_heartbeat is not None:
            self.on_heartbeat()
