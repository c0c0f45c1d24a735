"""What one receiver runs, built once and started and stopped together: the store, the outbox and the
alert actions, the notification service and the history jobs.

`create_app` builds one `ReceiverRuntime` and keeps it in `app.extensions` (flaskr style); views and
error handlers reach it through `state.runtime()`. It owns the store it is given: `close()` stops the
background threads first (they use the store), then closes the store.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .history.service import HistoryService
from .history.settings import load_history_settings
from .metrics import ReceiverMetrics
from .notify.actions import AlertActions
from .notify.outbox import Outbox
from .notify.service import NotifyService
from .notify.settings import load_notify_settings
from .payload import WebhookPayload
from .settings import Settings
from .store import AlertStore, IngestHook, IngestResult, no_hook

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
        # the reconciler tells its resolves through whatever ingest hook is current
        self.history = HistoryService(store, load_history_settings(settings), hook=lambda: self.ingest_hook,
                                      registry=self.metrics.registry)

    def ingest(self, payload: WebhookPayload) -> IngestResult:
        """Store a webhook payload with its notifications (one transaction), then wake the dispatcher:
        the new rows are committed, so it looks now rather than at its next poll."""
        result = self.store.ingest(payload, self.ingest_hook)
        if self.notify is not None:
            self.notify.dispatcher.wake()
        return result

    def start(self) -> ReceiverRuntime:
        if self.notify is not None:
            self.notify.start()
        self.history.start()
        return self

    def close(self) -> None:
        """Stop the threads that use the store, then close it."""
        self.history.stop()
        if self.notify is not None:
            self.notify.stop()
        self.store.close()
