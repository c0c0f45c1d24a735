"""The D75 metric set (CONTRACT section 1) on a registry that the caller passes in.

``D75Metrics(registry)`` creates every contract metric with its exact name, type and labels, the
process collector (``process_*``: memory, CPU, open fds of the bot's own process), a free-disk
ratio for the bot's data directory, build info, and the exporter's own hook error counter.

Nothing is registered at import time: the bot (or a test) decides which registry holds the
metrics. ``registry=None`` gives the object its own fresh ``CollectorRegistry`` (reachable as
``metrics.registry``) rather than the process-global ``prometheus_client.REGISTRY``, so two
instances never collide and a test never sees another test's series.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ._hooks import Children

__all__ = ["D75Metrics", "DataDiskCollector", "CONTRACT_METRICS", "EXPORTER_VERSION"]

EXPORTER_VERSION = "0.1.0"

# name -> (type, label names): CONTRACT section 1, verbatim. Tests check the registry against it.
CONTRACT_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "d75_rate_limit_remaining_ratio": ("gauge", ("exchange", "category")),
    "d75_rate_limit_rejected_total": ("counter", ("exchange", "category")),
    "d75_rate_limit_http_429_total": ("counter", ("exchange", "category")),
    "d75_rate_limit_capacity": ("gauge", ("exchange", "category")),
    "d75_exchange_health_status": ("gauge", ("exchange",)),
    "d75_exchange_rest_latency_seconds": ("gauge", ("exchange",)),
    "d75_exchange_orderbook_last_update_timestamp_seconds": ("gauge", ("exchange",)),
    "d75_exchange_requests_total": ("counter", ("exchange", "outcome")),
    "d75_route_score": ("gauge", ("route",)),
    "d75_universe_routes": ("gauge", ("state",)),
    "d75_inventory_imbalance_ratio": ("gauge", ("symbol",)),
    "d75_exposure_usd": ("gauge", ("symbol",)),
    "d75_capital_usd": ("gauge", ()),
    "d75_rebalance_consecutive_failures": ("gauge", ("symbol",)),
    "d75_inventory_sync_failures_total": ("counter", ("exchange",)),
    "d75_daily_pnl_usd": ("gauge", ("exchange",)),
    "d75_route_loss_streak": ("gauge", ("route",)),
    "d75_route_spread_bps": ("gauge", ("route",)),
    "d75_symbol_drawdown_ratio": ("gauge", ("symbol",)),
    "d75_symbol_volatility_ratio": ("gauge", ("symbol",)),
    "d75_riskguard_state": ("gauge", ("tier", "scope")),
    "d75_service_up": ("gauge", ("service",)),
    "d75_service_check_duration_seconds": ("gauge", ("service",)),
}


# D75Metrics attribute -> (contract metric, its help text); type and labels are in CONTRACT_METRICS
_DOCUMENTATION: dict[str, tuple[str, str]] = {
    # rate limiter
    "rate_limit_remaining_ratio": ("d75_rate_limit_remaining_ratio", "Token bucket tokens left / capacity, 0..1"),
    "rate_limit_rejected": ("d75_rate_limit_rejected_total", "Requests refused because the token bucket was empty"),
    "rate_limit_http_429": ("d75_rate_limit_http_429_total", "HTTP 429 answers received from the exchange"),
    "rate_limit_capacity": ("d75_rate_limit_capacity", "Token bucket capacity (tokens left = remaining ratio x this)"),
    # exchange health
    "exchange_health_status": ("d75_exchange_health_status",
                               "Exchange health: 0 HEALTHY, 1 DEGRADED, 2 DOWN, 3 FROZEN"),
    "exchange_rest_latency": ("d75_exchange_rest_latency_seconds", "Current (rolling) REST latency of the exchange"),
    "exchange_orderbook_last_update": ("d75_exchange_orderbook_last_update_timestamp_seconds",
                                       "Unix time of the last orderbook update (age = time() - this)"),
    "exchange_requests": ("d75_exchange_requests_total", "REST requests by outcome (ok/error)"),
    # arb route / universe
    "route_score": ("d75_route_score", "RouteScore 0..100"),
    "universe_routes": ("d75_universe_routes", "Number of routes in each state (active/skip)"),
    # cross-exchange sync
    "inventory_imbalance_ratio": ("d75_inventory_imbalance_ratio", "Cross-exchange inventory imbalance, 0..1"),
    "exposure_usd": ("d75_exposure_usd", "Open exposure in USD"),
    "capital_usd": ("d75_capital_usd", "Trading capital in USD"),
    "rebalance_consecutive_failures": ("d75_rebalance_consecutive_failures", "Rebalance attempts failed in a row"),
    "inventory_sync_failures": ("d75_inventory_sync_failures_total", "Balance API failures / timeouts"),
    # risk guard
    "daily_pnl_usd": ("d75_daily_pnl_usd", "Realised PnL since 00:00 UTC in USD; negative is a loss"),
    "route_loss_streak": ("d75_route_loss_streak", "Losing trades in a row"),
    "route_spread_bps": ("d75_route_spread_bps", "Current spread in basis points"),
    "symbol_drawdown_ratio": ("d75_symbol_drawdown_ratio", "Drawdown from peak, 0..1"),
    "symbol_volatility_ratio": ("d75_symbol_volatility_ratio", "Volatility proxy, 0..1"),
    "riskguard_state": ("d75_riskguard_state", "Risk guard decision: 0 ALLOW, 1 DEGRADE, 2 COOLDOWN, 3 BLOCK"),
    # the bot's own services (ServiceHooks: database, websocket feeds, exchange API health checks)
    "service_up": ("d75_service_up", "1 when the service's last health check passed, 0 when it failed or timed out"),
    "service_check_duration": ("d75_service_check_duration_seconds",
                               "How long the service's last health check took (its timeout when it was cut)"),
}


class DataDiskCollector(Collector):
    """``d75_data_disk_free_ratio{path}``: free / total bytes of the filesystem holding ``path``.

    Computed at scrape time (``os.statvfs``), so it is always current and costs nothing between
    scrapes. "Free" is what an unprivileged process may still use (``f_bavail``), the number that
    matters when the bot's writes start failing. A path that cannot be read yields no sample
    (the rule then sees an absent series) instead of failing the whole scrape.
    """

    def __init__(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        self._paths = [str(Path(p)) for p in paths]

    def describe(self) -> list[GaugeMetricFamily]:
        return [self._family()]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "d75_data_disk_free_ratio",
            "Free / total space of the filesystem holding the bot's data directory, 0..1",
            labels=["path"],
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        for path in self._paths:
            try:
                st = os.statvfs(path)
            except OSError:
                continue
            total = st.f_blocks * st.f_frsize
            if total <= 0:
                continue
            family.add_metric([path], (st.f_bavail * st.f_frsize) / total)
        yield family


class D75Metrics:
    """Every D75 metric, registered on one registry.

    Attributes are the prometheus-client metric objects (e.g. ``rate_limit_remaining_ratio``);
    the bot normally does not touch them directly but goes through the hook classes
    (``exporter.rate_limiter.RateLimiterHooks`` and friends), which never raise.
    """

    # the contract metrics, built from _DOCUMENTATION and CONTRACT_METRICS
    rate_limit_remaining_ratio: Gauge
    rate_limit_rejected: Counter
    rate_limit_http_429: Counter
    rate_limit_capacity: Gauge
    exchange_health_status: Gauge
    exchange_rest_latency: Gauge
    exchange_orderbook_last_update: Gauge
    exchange_requests: Counter
    route_score: Gauge
    universe_routes: Gauge
    inventory_imbalance_ratio: Gauge
    exposure_usd: Gauge
    capital_usd: Gauge
    rebalance_consecutive_failures: Gauge
    inventory_sync_failures: Counter
    daily_pnl_usd: Gauge
    route_loss_streak: Gauge
    route_spread_bps: Gauge
    symbol_drawdown_ratio: Gauge
    symbol_volatility_ratio: Gauge
    riskguard_state: Gauge
    service_up: Gauge
    service_check_duration: Gauge

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        process_collector: bool = True,
    ) -> None:
        self.registry: CollectorRegistry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
        # attribute name -> its label children as every hook object finds them (exporter._hooks)
        self._hook_children: dict[str, Children] = {}
        self.data_dir = str(Path(data_dir if data_dir is not None else os.getcwd()).resolve())

        for attr, (name, documentation) in _DOCUMENTATION.items():
            kind, labels = CONTRACT_METRICS[name]
            setattr(self, attr, (Gauge if kind == "gauge" else Counter)(name, documentation, labels, registry=reg))

        # the exporter about itself
        self.hook_errors = Counter(
            "d75_exporter_hook_errors_total",
            "Metric hook calls that failed (bad input or a metrics fault); the bot was not affected",
            ["hook"], registry=reg)
        self.exporter_info = Info("d75_exporter", "D75 exporter build information", registry=reg)
        self.exporter_info.info({"version": EXPORTER_VERSION})

        # the seeds' SystemMonitor, Prometheus style: process_* and the data disk
        self.data_disk = DataDiskCollector([self.data_dir])
        reg.register(self.data_disk)
        if process_collector:
            ProcessCollector(registry=reg)
