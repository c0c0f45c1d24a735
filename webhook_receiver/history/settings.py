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

from ..setting_parsers import flag, integer, items, load, number, parse_float, parse_list, setting
from ..settings import Settings

__all__ = ["HistorySettings", "load_history_settings"]


def _interval(raw: Mapping[str, str]) -> float:
    return parse_float(raw, "HISTORY_RECONCILE_INTERVAL_SECONDS", 5.0, 0.05, 3600.0)


@dataclass(frozen=True)
class HistorySettings:
    alertmanager_urls: tuple[str, ...] = (DEFAULT_ALERTMANAGER_URL,)
    # reconciliation with Alertmanager (history.reconcile explains the rules)
    reconcile_enabled: bool = setting(
        "HISTORY_RECONCILE", False, "poll Alertmanager and reconcile the history with what it lists", flag,
        derive=lambda raw: bool(parse_list(raw, "ALERTMANAGER_URL")), show="true when ALERTMANAGER_URL is set")
    reconcile_interval_seconds: float = setting("HISTORY_RECONCILE_INTERVAL_SECONDS", 5.0, "seconds between two "
                                                "polls of Alertmanager", number(0.05, 3600.0))
    reconcile_missing_polls: int = setting("HISTORY_RECONCILE_MISSING_POLLS", 2, "polls an alert must be missing "
                                           "from every replica before it is resolved", integer(1, 1000))
    reconcile_startup_grace_seconds: float = setting(
        "HISTORY_RECONCILE_STARTUP_GRACE_SECONDS", 150.0, "an Alertmanager replica up for less than this "
        "resolves only alerts it has listed since it started", number(0.0, 86400.0))
    reconcile_timeout_seconds: float = setting(
        "HISTORY_RECONCILE_TIMEOUT_SECONDS", 3.0, "timeout of one call to Alertmanager", number(0.05, 60.0),
        derive=lambda raw: min(3.0, max(0.2, _interval(raw))), show="the interval, between 0.2 and 3")
    receiver_prefixes: tuple[str, ...] = setting("HISTORY_RECEIVER_PREFIXES", ("d76-",), "reconcile alerts routed "
                                                 "to Alertmanager receivers with these name prefixes (* any)", items)
    # retention
    retention_days: float = setting("HISTORY_RETENTION_DAYS", 90.0, "resolved alerts older than this are "
                                    "deleted", number(0.001, 36500.0))
    payload_retention_days: float = setting("PAYLOAD_RETENTION_DAYS", 14.0, "stored webhook bodies older than "
                                            "this are deleted", number(0.001, 36500.0))
    prune_enabled: bool = setting("HISTORY_PRUNE", True, "delete what is past its retention", flag)
    prune_interval_seconds: float = setting("HISTORY_PRUNE_INTERVAL_SECONDS", 3600.0, "seconds between two "
                                            "prunes (the first 5 minutes after start)", number(0.05, 7 * 86400.0))
    prune_batch: int = setting("HISTORY_PRUNE_BATCH", 1000, "rows deleted per transaction", integer(1, 100_000))
    prune_pause_seconds: float = setting("HISTORY_PRUNE_PAUSE_SECONDS", 0.05, "pause between two batches",
                                         number(0.0, 60.0))
    lease_seconds: float = setting(
        "HISTORY_LEASE_SECONDS", 20.0, "lease of the reconcile and prune jobs (one receiver runs each)",
        number(1.0, 3600.0), derive=lambda raw: max(20.0, 4 * _interval(raw)), show="4 intervals, at least 20")


def load_history_settings(settings: Settings, raw: Mapping[str, str] | None = None) -> HistorySettings:
    return load(HistorySettings, settings.raw if raw is None else raw, alertmanager_urls=settings.alertmanager_urls)
