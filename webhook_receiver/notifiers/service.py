"""Assembles notifications for one receiver app: planner, dispatcher, Telegram updates, dead man's
switch, digest scheduler. `create_app` calls `init_notifications(app, store, raw_settings)`.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from flask import request

from .channel_map import ChannelMap, load_channel_map
from .settings import NotifySettings, load_notify_settings

__all__ = ["NotificationService", "init_notifications"]

log = logging.getLogger("d76.notify")


class NotificationService:
    def __init__(self, store: Any, settings: NotifySettings, channel_map: ChannelMap | None = None,
                 **dispatcher_kwargs: Any) -> None:
        from ..deadman import DeadmanSwitch
        from ..digest import DigestScheduler, make_digest_sender
        from ..dispatcher import Dispatcher, make_telegram
        from ..notify_planner import NotifyPlanner
        from ..telegram_bot import AlertmanagerSilencer, CallbackHandler, LongPoller

        self.store = store
        self.settings = settings
        self.channel_map = channel_map or load_channel_map(settings.channel_map_path)
        telegram, chat = make_telegram(settings)
        dispatcher_kwargs.setdefault("telegram", telegram)
        dispatcher_kwargs.setdefault("chat_id", chat)
        self.dispatcher = Dispatcher(store, settings, self.channel_map,
                                     digest_sender=make_digest_sender(store, settings), **dispatcher_kwargs)
        self.planner = NotifyPlanner(store, self.channel_map, settings)
        self.callbacks = CallbackHandler(store, dispatcher_kwargs["telegram"], AlertmanagerSilencer(settings.alertmanager_url),
                                         chat_id=settings.telegram_chat_id,
                                         allowed_user_ids=settings.telegram_allowed_user_ids)
        self.poller = LongPoller(dispatcher_kwargs["telegram"], self.callbacks, poll_timeout=settings.telegram_poll_timeout) \
            if (settings.telegram_polling and not settings.telegram_dry_run) else None
        self.deadman = DeadmanSwitch(store, settings.deadman_timeout_seconds, on_queued=self.dispatcher.wake)
        self.digest = DigestScheduler(store, settings, on_queued=self.dispatcher.wake) if settings.email_enabled else None

    def plan(self, tx: Any, changes: list, payload: Any) -> None:
        """The outbox planner handed to the store; wakes the dispatcher after queuing."""
        self.planner(tx, changes, payload)
        self.dispatcher.wake()

    def queue_ack_edit(self, alert_id: int) -> None:
        """An ack through the HTTP API: have the dispatcher edit the Telegram message too."""
        try:
            with self.store.transaction() as tx:
                self.store.enqueue_notifications(tx, [{
                    "alert_id": alert_id, "channel": "telegram", "kind": "ack",
                    "dedupe_key": f"{alert_id}:telegram:ack"}])
            self.dispatcher.wake()
        except Exception:  # the ack itself is stored; the edit is a courtesy
            log.exception("queuing the ack edit failed", extra={"fields": {"alert_id": alert_id}})

    def blueprint(self) -> Any:
        from ..telegram_bot import telegram_blueprint

        return telegram_blueprint(self.callbacks, self.settings.telegram_webhook_secret)

    def start(self) -> "NotificationService":
        self.dispatcher.start()
        if self.poller is not None:
            self.poller.start()
        if self.settings.deadman_enabled:
            self.deadman.start()
        if self.digest is not None:
            self.digest.start()
        log.info("notifications started", extra={"fields": {
            "channel_map": self.channel_map.source, "telegram": "dry-run" if self.settings.telegram_dry_run else "bot",
            "polling": self.poller is not None, "deadman_timeout_s": self.settings.deadman_timeout_seconds}})
        return self

    def stop(self) -> None:
        if self.poller is not None:
            self.poller.stop()
        self.deadman.stop()
        if self.digest is not None:
            self.digest.stop()
        self.dispatcher.stop()


def init_notifications(app: Any, store: Any, raw: Mapping[str, str] | None, *, start: bool = True) -> NotificationService | None:
    """Wire notifications into a Flask app: planner in `OUTBOX_PLANNER` (unless one was given),
    the /telegram/webhook blueprint, and the background threads. Returns None when disabled."""
    settings = load_notify_settings(raw)
    if not settings.notifications_enabled:
        log.info("notifications disabled (NOTIFICATIONS_ENABLED=false)")
        return None
    from ..notify_metrics import NotifyMetrics, OutboxDepthCollector

    state = app.extensions.get("d76_receiver")
    registry = state.metrics.registry if state is not None else None
    metrics = NotifyMetrics(registry)
    if registry is not None:
        registry.register(OutboxDepthCollector(store))
    service = NotificationService(store, settings, metrics=metrics)
    if app.config.get("OUTBOX_PLANNER") is None:
        app.config["OUTBOX_PLANNER"] = service.plan
    app.register_blueprint(service.blueprint())

    @app.after_request
    def _wake_dispatcher(response: Any) -> Any:
        # The planner runs inside the ingest transaction; waking again once the response is
        # built (after the commit) lets the dispatcher see the new rows at once, not at its next poll.
        if response.status_code == 200 and request.path == "/webhook/alertmanager":
            service.dispatcher.wake()
        elif response.status_code == 200 and request.endpoint and request.endpoint.endswith("ack_alert"):
            body = response.get_json(silent=True) or {}
            alert = body.get("alert") or {}
            if body.get("changed") and alert.get("id") is not None:
                service.queue_ack_edit(int(alert["id"]))
        return response
    app.extensions["d76_notifications"] = service
    # Whoever closes the store must not leave our threads using it: stop them first.
    store_close = store.close

    def close_after_notifications() -> None:
        service.stop()
        store_close()

    store.close = close_after_notifications
    if start:
        service.start()
    return service
