"""History settings (HISTORY_*, PAYLOAD_RETENTION_DAYS), parsed once from the receiver's raw settings.

The Alertmanager URLs come from the receiver's `Settings` (ALERTMANAGER_URL is parsed in one place).
Reconciliation is on by default only when ALERTMANAGER_URL is set explicitly: polling the default
`127.0.0.1:9093` when nobody said an Alertmanager runs there could resolve history against a
stranger's Alertmanager (`HISTORY_RECONCILE=true|false` decides explicitly).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vocabulary import DEFAULT_ALERTMANAGER_URL

from ..setting_parsers import parse_bool, parse_float, parse_int, parse_list
from ..settings import Settings

__all__ = ["HistorySettings", "load_history_settings"]


@dataclass(frozen=True)
class HistorySettings:
    alertmanager_urls: tuple[str, ...] = (DEFAULT_ALERTMANAGER_URL,)
    # reconciliation with Alertmanager (history.reconcile explains the rules)
    reconcile_enabled: bool = False
    reconcile_interval_seconds: float = 5.0
    reconcile_missing_polls: int = 2
    reconcile_startup_grace_seconds: float = 150.0
    reconcile_timeout_seconds: float = 3.0
    receiver_prefixes: tuple[str, ...] = ("d76-",)
    # retention
    retention_days: float = 90.0
    payload_retention_days: float = 14.0
    prune_enabled: bool = True
    prune_interval_seconds: float = 3600.0
    prune_batch: int = 1000
    prune_pause_seconds: float = 0.05
    lease_seconds: float = 20.0


def load_history_settings(settings: Settings, raw: Mapping[str, str] | None = None) -> HistorySettings:
    r = settings.raw if raw is None else raw
    interval = parse_float(r, "HISTORY_RECONCILE_INTERVAL_SECONDS", 5.0, 0.05, 3600.0)
    return HistorySettings(
        alertmanager_urls=settings.alertmanager_urls,
        reconcile_enabled=parse_bool(r, "HISTORY_RECONCILE", settings.alertmanager_url_set),
        reconcile_interval_seconds=interval,
        reconcile_missing_polls=parse_int(r, "HISTORY_RECONCILE_MISSING_POLLS", 2, 1, 1000),
        reconcile_startup_grace_seconds=parse_float(r, "HISTORY_RECONCILE_STARTUP_GRACE_SECONDS", 150.0, 0.0, 86400.0),
        reconcile_timeout_seconds=parse_float(r, "HISTORY_RECONCILE_TIMEOUT_SECONDS", min(3.0, max(0.2, interval)),
                                              0.05, 60.0),
        receiver_prefixes=parse_list(r, "HISTORY_RECEIVER_PREFIXES") or ("d76-",),
        retention_days=parse_float(r, "HISTORY_RETENTION_DAYS", 90.0, 0.001, 36500.0),
        payload_retention_days=parse_float(r, "PAYLOAD_RETENTION_DAYS", 14.0, 0.001, 36500.0),
        prune_enabled=parse_bool(r, "HISTORY_PRUNE", True),
        prune_interval_seconds=parse_float(r, "HISTORY_PRUNE_INTERVAL_SECONDS", 3600.0, 0.05, 7 * 86400.0),
        prune_batch=parse_int(r, "HISTORY_PRUNE_BATCH", 1000, 1, 100_000),
        prune_pause_seconds=parse_float(r, "HISTORY_PRUNE_PAUSE_SECONDS", 0.05, 0.0, 60.0),
        lease_seconds=parse_float(r, "HISTORY_LEASE_SECONDS", max(20.0, 4 * interval), 1.0, 3600.0),
    )
