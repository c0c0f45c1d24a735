"""Wiring: builds the channels from the registry and settings, the outbox, planner, dispatcher,
actions, Telegram updates and commands, the graph renderer, dead man's switch and digest scheduler
for one receiver app."""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import yaml

from ..alertmanager_api import AlertmanagerClient
from ..store.base import AlertStore
from .actions import ActionError, AlertActions
from .channel_map import ChannelMap, load_channel_map
from .channels import channel_classes
from .deadman import DeadmanSwitch
from .digest import DigestScheduler, digest_builder
from .dispatcher import Dispatcher
from .metrics import NotifyMetrics, OldestDueCollector, OutboxDepthCollector
from .outbox import Outbox
from .planner import NotifyPlanner
from .settings import NotifySettings, SettingsError, load_notify_settings

__all__ = ["NotifyService", "init_app", "build_channels", "ReplyDesk"]

log = logging.getLogger("d76.notify")


def build_channels(settings: NotifySettings, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every registered channel that is configured (Telegram always: without a token it is the
    console dry run). `overrides` replaces channels by name (tests, embedding)."""
    out: dict[str, Any] = {}
    for name, cls in channel_classes().items():
        ch = cls.from_settings(settings)
        if ch is not None:
            out[name] = ch
    out.update(overrides or {})
    return out


class ReplyDesk:
    """Answers to commands go through the outbox, to the lane of the chat they came from (so they
    are paced with everything else sent there), and are found again by the message they became."""

    def __init__(self, outbox: Outbox, channel: str = "telegram", on_queued: Any = None) -> None:
        self.outbox = outbox
        self.channel = channel
        self.on_queued = on_queued

    def queue(self, chat_id: str, payload: dict, dedupe_key: str) -> None:
        n = self.outbox.enqueue_now([{"channel": self.channel, "destination": str(chat_id), "kind": "reply",
                                      "dedupe_key": dedupe_key[:500], "payload": payload}])
        if n and self.on_queued is not None:
            self.on_queued()

    def query_of(self, chat_id: str, message_id: int) -> dict | None:
        return self.outbox.reply_payload(str(chat_id), str(message_id))


class NotifyService:
    def __init__(self, store: AlertStore, settings: NotifySettings, channel_map: ChannelMap | None = None, *,
                 channels: Mapping[str, Any] | None = None, registry: Any = None,
                 worker_id: str | None = None) -> None:
        self.store = store
        self.settings = settings
        try:
            self.channel_map = channel_map or load_channel_map(settings.channel_map_path)
        except (ValueError, OSError, yaml.YAMLError) as exc:  # checked at start-up: say which key is wrong
            raise SettingsError(f"channel map (CHANNEL_MAP_FILE): {exc}") from None
        self.channels = build_channels(settings, channels)
        for ch in self.channels.values():
            if hasattr(ch, "use_channel_map"):
                ch.use_channel_map(self.channel_map)
        self.started_at = time.monotonic()
        self.outbox = Outbox(store)
        self.metrics = NotifyMetrics(registry, channels=tuple(self.channels))
        if registry is not None:
            registry.register(OutboxDepthCollector(self.outbox, tuple(self.channels)))
            registry.register(OldestDueCollector(self.outbox, tuple(self.channels)))
        self.dispatcher = Dispatcher(store, self.outbox, self.channels, settings, self.channel_map,
                                     metrics=self.metrics, worker_id=worker_id,
                                     digest_builder=digest_builder(store) if "email" in self.channels else None)
        self.planner = NotifyPlanner(self.outbox, self.channels, self.channel_map)
        self.alertmanager = AlertmanagerClient(settings.alertmanager_urls)
        self.actions = AlertActions(store, self.outbox, self.channels, self.alertmanager,
                                    on_queued=self.dispatcher.wake)
        telegram = self.channels.get("telegram")
        self.telegram = telegram
        self.callbacks = None
        self.poller = None
        self.bot_setup = None
        deadman_lane = ("telegram", telegram.chat_id) if telegram is not None else ("telegram", "console")
        self.deadman = DeadmanSwitch(store, self.outbox, deadman_lane, settings.deadman_timeout_seconds,
                                     on_queued=self.dispatcher.wake)
        from .operator import OperatorConsole

        self.console = OperatorConsole(store, self.outbox, self.actions, self.alertmanager,
                                       prometheus_url=settings.prometheus_url, last_watchdog=self.deadman.last_seen,
                                       watchdog_timeout=settings.deadman_timeout_seconds, started_at=self.started_at)
        self.replies = ReplyDesk(self.outbox, on_queued=self.dispatcher.wake)
        if telegram is not None:
            from .channels.telegram.updates import BotSetup, CallbackHandler, LongPoller

            self.callbacks = CallbackHandler(self.actions, telegram.client, chat_id=telegram.chat_id,
                                             allowed_user_ids=settings.telegram_allowed_user_ids,
                                             action_errors=(ActionError,), chats=telegram.chats(),
                                             console=self.console, replies=self.replies)
            if not getattr(telegram, "dry_run", False):
                self.bot_setup = BotSetup(telegram.client, self.callbacks, settings.telegram_set_commands)
                if settings.telegram_polling:
                    self.poller = LongPoller(telegram.client, self.callbacks,
                                             poll_timeout=settings.telegram_poll_timeout)
        self.graphs = None
        if settings.graphs_enabled and settings.prometheus_url:
            from .graphs import GraphRenderer

            self.graphs = GraphRenderer(store, self.outbox, settings.prometheus_url, metrics=self.metrics,
                                        worker_id=self.dispatcher.worker_id,
                                        window_seconds=settings.graph_window_seconds,
                                        timeout=settings.graph_timeout_seconds, on_ready=self.dispatcher.wake)
            self.dispatcher.on_graph_queued = self.graphs.wake
        self.digest = DigestScheduler(store, self.outbox, settings, on_queued=self.dispatcher.wake) \
            if "email" in self.channels else None

    def plan(self, tx: Any, changes: list, payload: Any) -> None:
        """The ingest hook handed to the store."""
        self.planner(tx, changes, payload)

    def blueprint(self) -> Any:
        from .channels.telegram.updates import telegram_blueprint

        if self.callbacks is None:
            return None
        return telegram_blueprint(self.callbacks, self.settings.telegram_webhook_secret)

    def _workers(self) -> list[Any]:
        """The background threads besides the dispatcher, in the order they start."""
        deadman = self.deadman if self.settings.deadman_enabled else None
        return [w for w in (self.graphs, self.bot_setup, self.poller, deadman, self.digest) if w is not None]

    def start(self) -> NotifyService:
        self.dispatcher.start()
        for worker in self._workers():
            worker.start()
        log.info("notifications started", extra={"fields": {
            "channels": sorted(self.channels), "channel_map": self.channel_map.source,
            "telegram": "dry-run" if getattr(self.telegram, "dry_run", True) else "bot",
            "polling": self.poller is not None, "deadman_timeout_s": self.settings.deadman_timeout_seconds,
            "telegram_chats": list(self.telegram.chats()) if self.telegram is not None else [],
            "telegram_routes": len(self.channel_map.telegram_routes),
            "graphs": self.settings.prometheus_url if self.graphs is not None else "off (PROMETHEUS_URL unset)",
            "commands_from": "TELEGRAM_ALLOWED_USER_IDS" if self.settings.telegram_allowed_user_ids
            else "anyone in the configured chats (set TELEGRAM_ALLOWED_USER_IDS)",
            "external_url": self.settings.external_url or "unset (no history links)"}})
        return self

    def stop(self) -> None:
        for worker in reversed(self._workers()):
            worker.stop()
        self.dispatcher.stop()


def init_app(app: Any, store: AlertStore, raw: Mapping[str, str] | None, *, start: bool = True,
             **service_kwargs: Any) -> NotifyService | None:
    """Wire notifications into a Flask app: the ingest hook, the acknowledge/silence actions, the
    /telegram/webhook blueprint and the background threads. Returns None when disabled."""
    from flask import request

    settings = load_notify_settings(raw)
    if not settings.notifications_enabled:
        log.info("notifications disabled (NOTIFICATIONS_ENABLED=false)")
        return None
    state = app.extensions.get("d76_receiver")
    registry = state.metrics.registry if state is not None else None
    service = NotifyService(store, settings, registry=registry, **service_kwargs)
    if state is not None:
        state.ingest_hook = service.plan
        state.actions = service.actions
    bp = service.blueprint()
    if bp is not None:
        app.register_blueprint(bp)

    @app.after_request
    def _wake_dispatcher(response: Any) -> Any:
        # the hook ran inside the ingest transaction; once the answer is built (after the commit)
        # the dispatcher can see the new rows: look now rather than at the next poll
        if response.status_code == 200 and request.path == "/webhook/alertmanager":
            service.dispatcher.wake()
        return response

    app.extensions["d76_notifications"] = service
    if start:
        service.start()
    return service
