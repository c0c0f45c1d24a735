"""What one receiver runs, built once and started and stopped together: the store, the outbox and the
alert actions, the notification service, the history jobs and the external heartbeat.

`create_app` builds one `ReceiverRuntime` and keeps it in `app.extensions` (flaskr style); views and
error handlers reach it through `state.runtime()`. It owns the store it is given: `close()` stops the
background threads first (they use the store), then closes the store.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import yaml

from .history.service import HistoryService
from .history.settings import load_history_settings
from .metrics import ReceiverMetrics, StorageUpCollector
from .notify.actions import AlertActions
from .notify.channel_map import ChannelMap, load_channel_map
from .notify.heartbeat import Heartbeat, build_heartbeat
from .notify.maintenance import MaintenanceSchedule
from .notify.oncall_board import OncallBoard
from .notify.outbox import Outbox
from .notify.service import NotifyService
from .notify.settings import NotifySettings, SettingsError, load_notify_settings
from .payload import WebhookPayload
from .settings import Settings
from .store import AlertStore, IngestHook, IngestResult, no_hook
from .store.group_commit import GroupCommit

__all__ = ["ReceiverRuntime"]

log = logging.getLogger("webhook_receiver")


class ReceiverRuntime:
    def __init__(self, settings: Settings, store: AlertStore, *, hook: IngestHook | None = None,
                 notify_options: Mapping[str, Any] | None = None) -> None:
        """`hook` replaces the ingest hook (tests); `notify_options` go to the notification service
        (`channels={...}` to replace a channel, `channel_map`, `worker_id`, `oncall`: who is on call)."""
        self.settings = settings
        self.store = store
        self.metrics = ReceiverMetrics()
        self.metrics.registry.register(StorageUpCollector(store))  # d76_receiver_storage_up
        # the webhook's payloads: concurrent requests' payloads committed together (store/group_commit.py)
        self.committer = GroupCommit(store, settings.ingest_batch)
        self.outbox = Outbox(store)
        notify_settings = load_notify_settings(settings.raw)
        self.notify: NotifyService | None = None
        if notify_settings.notifications_enabled:
            self.notify = NotifyService(store, notify_settings, self.outbox, registry=self.metrics.registry,
                                        **dict(notify_options or {}))
        else:
            log.info("notifications disabled (NOTIFICATIONS_ENABLED=false)")
        self.actions = self.notify.actions if self.notify is not None else AlertActions(store, self.outbox)
        self.ingest_hook: IngestHook = hook or (self.notify.planner if self.notify is not None else no_hook)
        # on call and the recurring maintenance windows: the channel map's (read here too when
        # notifications are off: the API and the history still use them)
        channel_map = self.notify.channel_map if self.notify is not None else _channel_map(notify_settings)
        self.oncall = self.notify.oncall if self.notify is not None else OncallBoard(store, channel_map.oncall)
        self.maintenance = channel_map.maintenance
        # the reconciler tells its resolves through whatever ingest hook is current
        self.history = HistoryService(store, load_history_settings(settings), hook=lambda: self.ingest_hook,
                                      registry=self.metrics.registry,
                                      windows=self.maintenance.muted_by if self.maintenance else None,
                                      window_state=_in_force(self.maintenance) if self.maintenance else None)
        # HEARTBEAT_URL: the outside service that pages when the pings stop (notify/heartbeat.py)
        self.heartbeat: Heartbeat | None = build_heartbeat(
            store, settings.raw, deadman_timeout=notify_settings.deadman_timeout_seconds,
            channels=self.notify.channels if self.notify is not None else {}, registry=self.metrics.registry)

    def ingest(self, payload: WebhookPayload) -> IngestResult:
        """Store a webhook payload with its notifications (in its batch's transaction: group commit),
        then wake the dispatcher: the new rows are committed, so it looks now rather than at its next
        poll."""
        result = self.committer.submit(payload, self.ingest_hook)
        if self.notify is not None:
            self.notify.dispatcher.wake()
        return result

    def start(self) -> ReceiverRuntime:
        if self.notify is not None:
            self.notify.start()
        self.history.start()
        if self.heartbeat is not None:
            self.heartbeat.start()
        return self

    def close(self) -> None:
        """Stop the threads that use the store, then close it."""
        self.committer.close()
        if self.heartbeat is not None:
            self.heartbeat.stop()
        self.history.stop()
        if self.notify is not None:
            self.notify.stop()
        self.store.close()


def _in_force(schedule: MaintenanceSchedule) -> Callable[[datetime], tuple[str, ...]]:
    """The names of the maintenance windows in force at a time: what the reconciler compares to tell a
    poll with nothing changed (a window opening or closing changes which alerts are muted)."""
    return lambda at: tuple(w.name for w in schedule.windows if w.active_at(at))


def _channel_map(settings: NotifySettings) -> ChannelMap:
    try:
        return load_channel_map(settings.channel_map_path)
    except (ValueError, OSError, yaml.YAMLError) as exc:  # checked at start-up: say which key is wrong
        raise SettingsError(f"channel map (CHANNEL_MAP_FILE): {exc}") from None
