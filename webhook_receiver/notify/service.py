"""Wiring: the notification service of one receiver. Builds the configured channels from the registry
(giving the channel map to those that route by it), the planner (the ingest hook), the dispatcher,
the actions, and what the channels' abilities ask for: the dead man's switch for the pager, the
digest scheduler for the channel that takes the digest, the command intake of the channels that take
commands, the graph renderer; starts and stops their threads. Nothing here names a channel."""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import yaml
from prometheus_client import CollectorRegistry

from ..alertmanager_api import AlertmanagerClient
from ..background import Worker, process_owner_id
from ..store.base import AlertStore
from .actions import ActionError, AlertActions
from .channel_map import ChannelMap, load_channel_map
from .channels import Channel, Pager, TakesCommands, TakesDigest, UsesChannelMap, UsesStore, channel_classes
from .channels.base import MentionsOncall
from .deadman import DeadmanSwitch, watchdog_last_seen
from .desk import CommandDesk, ReplyDesk
from .digest import DigestScheduler, digest_builder
from .dispatcher import Dispatcher
from .followups import FollowupPlanner, FollowupWorker, OncallResolver
from .graphs import GraphRenderer
from .metrics import NotifyMetrics, OldestDueCollector, OutboxDepthCollector
from .oncall_board import OncallBoard
from .outbox import Lane, Outbox
from .planner import NotifyPlanner
from .routing_check import routing_warnings
from .settings import NotifySettings, SettingsError
from .silence_watch import SilenceWatch

if TYPE_CHECKING:
    from flask import Blueprint

__all__ = ["NotifyService", "build_channels", "load_service_channel_map"]

log = logging.getLogger("d76.notify")


def build_channels(settings: NotifySettings, overrides: Mapping[str, Channel] | None = None) -> dict[str, Channel]:
    """Every registered channel the settings configure (Telegram always: without a token it is the
    console dry run). `overrides` replaces channels by name (tests, embedding)."""
    out: dict[str, Channel] = {}
    for name, cls in channel_classes().items():
        ch = cls.from_settings(settings.raw, settings)
        if ch is not None:
            out[name] = ch
    out.update(overrides or {})
    return out


def load_service_channel_map(settings: NotifySettings) -> ChannelMap:
    """CHANNEL_MAP_FILE, else the packaged map; a bad one is a `SettingsError` naming its key."""
    try:
        return load_channel_map(settings.channel_map_path)
    except (ValueError, OSError, yaml.YAMLError) as exc:  # checked at start-up: say which key is wrong
        raise SettingsError(f"channel map (CHANNEL_MAP_FILE): {exc}") from None


def _pager(channels: Mapping[str, Channel]) -> Lane | None:
    """The dead man's switch's lane: the home of the first pager (by name)."""
    for name, ch in channels.items():
        if isinstance(ch, Pager):
            return Lane(name, ch.home())
    return None


def _digest_lane(channels: Mapping[str, Channel]) -> Lane | None:
    """Where the daily digest goes: the first channel (by name) that takes it."""
    for name, ch in channels.items():
        if isinstance(ch, TakesDigest):
            return Lane(name, ch.digest_destination())
    return None


class NotifyService:
    def __init__(self, store: AlertStore, settings: NotifySettings, outbox: Outbox | None = None, *,
                 channel_map: ChannelMap | None = None, channels: Mapping[str, Channel] | None = None,
                 registry: CollectorRegistry | None = None, worker_id: str | None = None,
                 alertmanager: AlertmanagerClient | None = None, oncall: OncallResolver | None = None) -> None:
        """`oncall`: who is on call at a time (an escalation step's `oncall` mention, the webhook's
        `oncall`); None: the channel map's rotation and the overrides taken (`OncallBoard`)."""
        self.store = store
        self.settings = settings
        self.channel_map = channel_map or load_service_channel_map(settings)
        self.channels = build_channels(settings, channels)
        # who is on call: the channel map's policy plus the overrides taken (oncall_board)
        self.oncall = OncallBoard(store, self.channel_map.oncall)
        for ch in self.channels.values():
            if isinstance(ch, UsesChannelMap):
                ch.use_channel_map(self.channel_map)
            if isinstance(ch, MentionsOncall) and self.oncall:
                ch.use_oncall(self.oncall.oncall_person)
            if isinstance(ch, UsesStore):
                ch.use_store(store)
        # channels configured and never routed, routes to channels not configured: told at start
        self.routing_warnings = routing_warnings(self.channel_map, self.channels, settings.raw)
        self.started_at = time.monotonic()
        self.outbox = outbox or Outbox(store)
        self.metrics = NotifyMetrics(registry, channels=tuple(self.channels))
        if registry is not None:
            registry.register(OutboxDepthCollector(self.outbox, tuple(self.channels)))
            registry.register(OldestDueCollector(self.outbox, tuple(self.channels)))
        digest_lane = _digest_lane(self.channels)
        self.dispatcher = Dispatcher(store, self.outbox, self.channels, settings, self.channel_map,
                                     metrics=self.metrics, worker_id=worker_id,
                                     digest_builder=digest_builder(store) if digest_lane else None)
        # reminders and escalation steps: armed with the alert (ingest) and on unack, told by a thread
        arming = FollowupPlanner(store, self.channel_map)
        self.planner = NotifyPlanner(self.outbox, self.channels, self.channel_map, followups=arming)
        self.followups = FollowupWorker(store, self.outbox, self.channels, self.channel_map,
                                        oncall=oncall or self.oncall.oncall_person,
                                        on_queued=self.dispatcher.wake)
        self.alertmanager = alertmanager or AlertmanagerClient(settings.alertmanager_urls)
        self.actions = AlertActions(store, self.outbox, self.channels, self.alertmanager,
                                    on_queued=self.dispatcher.wake, followups=arming)
        pager = _pager(self.channels)
        self.deadman = DeadmanSwitch(store, self.outbox, pager, settings.deadman_timeout_seconds,
                                     on_queued=self.dispatcher.wake) if pager is not None else None
        # a silence that runs out while its alerts still fire is told once, to the pager's chat
        self.silence_watch = SilenceWatch(
            store, self.outbox, self.alertmanager, pager, process_owner_id(8),
            interval=settings.mute_expiry_check_seconds, on_queued=self.dispatcher.wake,
        ) if pager is not None and settings.mute_expiry_notice else None
        self.blueprints: list[Blueprint] = []
        self._intake_workers: list[Worker] = []
        self._take_commands()
        self.graphs: GraphRenderer | None = None
        if settings.graphs_enabled and settings.prometheus_url:
            self.graphs = GraphRenderer(store, self.outbox, settings.prometheus_url, metrics=self.metrics,
                                        worker_id=self.dispatcher.worker_id,
                                        window_seconds=settings.graph_window_seconds,
                                        timeout=settings.graph_timeout_seconds, on_ready=self.dispatcher.wake)
            self.dispatcher.on_graph_queued = self.graphs.wake
        self.digest = DigestScheduler(store, self.outbox, settings, lane=digest_lane,
                                      on_queued=self.dispatcher.wake) if digest_lane else None

    def _take_commands(self) -> None:
        """Each channel that takes commands gets the actions, the operator console and a reply desk
        of its own; its threads run with the service, its endpoints join the app."""
        takers = {name: ch for name, ch in self.channels.items() if isinstance(ch, TakesCommands)}
        if not takers:
            return
        from .operator import OperatorConsole

        store = self.store
        console = OperatorConsole(store, self.outbox, self.actions, self.alertmanager,
                                  prometheus_url=self.settings.prometheus_url,
                                  last_watchdog=lambda: watchdog_last_seen(store),
                                  watchdog_timeout=self.settings.deadman_timeout_seconds, started_at=self.started_at,
                                  oncall=self.oncall, maintenance=self.channel_map.maintenance)
        for name, ch in takers.items():
            desk = CommandDesk(self.actions, console, ReplyDesk(self.outbox, name, on_queued=self.dispatcher.wake),
                               action_errors=(ActionError,))
            intake = ch.take_commands(desk)
            self._intake_workers += intake.workers
            if intake.blueprint is not None:
                self.blueprints.append(intake.blueprint)

    def _workers(self) -> list[Worker]:
        """The background threads besides the dispatcher, in the order they start."""
        deadman = self.deadman if self.settings.deadman_enabled else None
        return [w for w in (self.graphs, *self._intake_workers, deadman, self.digest, self.silence_watch,
                            self.followups) if w is not None]

    def start(self) -> NotifyService:
        for w in self.routing_warnings:
            log.warning(f"channel routing: {w.message}", extra={"fields": w.fields()})
        self.dispatcher.start()
        for worker in self._workers():
            worker.start()
        log.info("notifications started", extra={"fields": {
            "channels": sorted(self.channels), "channel_map": self.channel_map.source,
            "deadman": str(self.deadman.lane) if self.deadman is not None else "off (no pager channel)",
            "deadman_timeout_s": self.settings.deadman_timeout_seconds,
            "graphs": self.settings.prometheus_url if self.graphs is not None else "off (PROMETHEUS_URL unset)",
            "external_url": self.settings.external_url or "unset (no history links)"}})
        return self

    def stop(self) -> None:
        for worker in reversed(self._workers()):
            worker.stop()
        self.dispatcher.stop()
