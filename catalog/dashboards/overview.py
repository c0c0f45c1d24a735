"""Overview: the bot's health at a glance, with the catalog's thresholds drawn on each panel."""
from __future__ import annotations

import json
from functools import partial
from typing import Any

from grafana_foundation_sdk.builders.statetimeline import Panel as StateTimeline

from ..model import AlertDef, Catalog
from .panels import (
    RED_FROM_ONE,
    AnyPanel,
    dashboard,
    prom,
    query_variable,
    series,
    stat_panel,
    state_timeline,
    value_map,
)
from .thresholds import PanelThresholds, fixed, from_catalog

EX = 'exchange=~"$exchange"'
SYMBOL = 'symbol=~"$symbol"'
ROUTE = 'route=~"$route"'
FOUR_COLORS = ("green", "yellow", "orange", "red")


def _four_states(title: str, expr: str, legend: str, states: tuple[str, str, str, str], *, h: int,
                 w: int) -> StateTimeline:
    """A state timeline of a 0..3 gauge, each state named and coloured from healthy (green) to red."""
    return state_timeline(title, prom(expr, legend), w=w, h=h, min_max=(0, 3),
                          mappings=[value_map(list(zip(states, FOUR_COLORS)))],
                          thresholds=fixed(*zip(FOUR_COLORS, (None, 1, 2, 3))))


def build(catalog: Catalog) -> dict[str, Any]:
    t: partial[PanelThresholds] = partial(from_catalog, catalog)
    panels: list[AnyPanel] = [
        stat_panel("Alerts firing by severity",
                   prom('count by (severity) (ALERTS{alertstate="firing", severity=~"P[0-3]"})', "{{severity}}",
                        instant=True),
                   w=8, h=5, background=True, thresholds=RED_FROM_ONE),
        _four_states("Exchange health", f"d75_exchange_health_status{{{EX}}}", "{{exchange}}",
                     ("HEALTHY", "DEGRADED", "DOWN", "FROZEN"), h=5, w=16),
        series("Rate limit remaining", prom(f"d75_rate_limit_remaining_ratio{{{EX}}}", "{{exchange}} {{category}}"),
               unit="percentunit", min_max=(0, 1), thresholds=t("RateLimitLow", "RateLimitHeadroomShrinking"), w=8),
        series("HTTP 429 and rejections per minute",
               prom(f"sum by (exchange) (increase(d75_rate_limit_http_429_total{{{EX}}}[1m]))", "429 {{exchange}}"),
               prom(f"sum by (exchange) (increase(d75_rate_limit_rejected_total{{{EX}}}[1m]))", "rejected {{exchange}}",
                    "B"),
               w=8),
        series("REST latency", prom(f"d75_exchange_rest_latency_seconds{{{EX}}}", "{{exchange}}"), unit="s",
               thresholds=t("ExchangeLatencyElevated", "ExchangeLatencyHigh", "ExchangeLatencyCritical"), w=8),
        series("REST error ratio (1m)",
               prom(f'sum by (exchange) (rate(d75_exchange_requests_total{{outcome="error", {EX}}}[1m]))'
                    f" / sum by (exchange) (rate(d75_exchange_requests_total{{{EX}}}[1m]))", "{{exchange}}"),
               unit="percentunit", thresholds=t("ExchangeErrorRatioHigh", "ExchangeErrorRatioCritical"), w=8),
        series("Orderbook age",
               prom(f"time() - d75_exchange_orderbook_last_update_timestamp_seconds{{{EX}}}", "{{exchange}}"),
               unit="s", thresholds=t("OrderbookLagging", "OrderbookStale"), w=8),
        series("Route scores", prom(f"d75_route_score{{{ROUTE}}}", "{{route}}"), min_max=(0, 100),
               thresholds=t("RouteScoreLow"), w=8),
        series("Routes active / skipped", prom("d75_universe_routes", "{{state}}"), thresholds=t("NoActiveRoutes"),
               w=8),
        series("Inventory imbalance", prom(f"d75_inventory_imbalance_ratio{{{SYMBOL}}}", "{{symbol}}"),
               unit="percentunit", min_max=(0, 1),
               thresholds=t("InventoryImbalanceRising", "InventoryImbalanceHigh"), w=8),
        series("Rebalance failures in a row", prom(f"d75_rebalance_consecutive_failures{{{SYMBOL}}}", "{{symbol}}"),
               thresholds=t("RebalanceFailing"), w=8),
        series("Total exposure / capital",
               prom("sum by (job, instance) (d75_exposure_usd) / on (job, instance) d75_capital_usd",
                    "exposure / capital"),
               unit="percentunit", thresholds=t("TotalExposureWarning", "TotalExposureHigh"), w=8),
        series("Exposure per symbol / capital",
               prom(f"d75_exposure_usd{{{SYMBOL}}} / on (job, instance) group_left () d75_capital_usd", "{{symbol}}"),
               unit="percentunit", thresholds=t("SymbolExposureHigh"), w=8),
        series("Total exposure (USD)", prom("sum by (job, instance) (d75_exposure_usd)", "total"),
               unit="currencyUSD", thresholds=t("GlobalExposureHigh"), w=8),
        series("Daily loss per exchange (USD)", prom(f"-d75_daily_pnl_usd{{{EX}}}", "{{exchange}}"),
               unit="currencyUSD", thresholds=t("DailyLossWarning", "ExchangeDailyLoss"), w=8,
               description="Realised loss since 00:00 UTC (negative PnL shown as a positive loss)."),
        series("Total daily loss (USD)", prom("-sum by (job, instance) (d75_daily_pnl_usd)", "total"),
               unit="currencyUSD", thresholds=t("GlobalDailyLoss"), w=8),
        series("Drawdown and volatility",
               prom(f"d75_symbol_drawdown_ratio{{{SYMBOL}}}", "drawdown {{symbol}}"),
               prom(f"d75_symbol_volatility_ratio{{{SYMBOL}}}", "volatility {{symbol}}", "B"),
               unit="percentunit", thresholds=t("SymbolVolatilityHigh", "SymbolDrawdown"), w=8),
        series("Route loss streak and spread",
               prom(f"d75_route_loss_streak{{{ROUTE}}}", "streak {{route}}"),
               prom(f"d75_route_spread_bps{{{ROUTE}}}", "spread bps {{route}}", "B"),
               w=8),
        _four_states("Risk guard state", "d75_riskguard_state", "{{tier}} {{scope}}",
                     ("ALLOW", "DEGRADE", "COOLDOWN", "BLOCK"), h=7, w=24),
        series("Bot process memory and data disk",
               prom('process_resident_memory_bytes{job="d75"}', "resident memory"),
               prom("d75_data_disk_free_ratio", "disk free {{path}}", "B"),
               w=12, h=6),
        series("Bot process CPU (cores)", prom('rate(process_cpu_seconds_total{job="d75"}[5m])', "{{instance}}"),
               unit="percentunit", thresholds=t("ExporterCpuHigh"), w=12, h=6),
        # the bot's own services (exporter.ServiceHooks: database, websocket feeds, exchange API checks)
        state_timeline("Bot services", prom("d75_service_up", "{{service}}"), w=12, h=6, min_max=(0, 1),
                       mappings=[value_map([("DOWN", "red"), ("UP", "green")])],
                       thresholds=fixed(("red", None), ("green", 1))),
        series("Service check duration", prom("d75_service_check_duration_seconds", "{{service}}"), unit="s",
               thresholds=t("ServiceSlow"), w=12, h=6),
    ]
    own = [a for a in catalog.enabled_alerts if a.custom is not None]
    rows = [("Your alerts (override file)", [_own_panel(catalog, a) for a in own])] if own else []
    variables = [
        query_variable("exchange", "label_values(d75_exchange_health_status, exchange)", "Exchange"),
        query_variable("route", "label_values(d75_route_score, route)", "Route"),
        query_variable("symbol", "label_values(d75_inventory_imbalance_ratio, symbol)", "Symbol"),
    ]
    return dashboard("d76-overview", "D76 / Overview", panels, variables=variables, tags=["overview"],
                     description="The D75 bot's health; threshold lines come from the alert catalog.", rows=rows)


GRAFANA_UNITS = {"ratio": "percentunit", "seconds": "s", "usd": "currencyUSD", "bytes": "bytes"}


def _own_panel(catalog: Catalog, alert: AlertDef) -> AnyPanel:
    """An operator's own alert: the series its `graph` annotation names, with its threshold line."""
    entries = json.loads(alert.graph) if alert.graph else []
    queries = [prom(e["expr"], "", chr(ord("A") + n)) for n, e in enumerate(entries)]
    thresholds = from_catalog(catalog, alert.name) if alert.threshold is not None and alert.comparison else None
    return series(f"{alert.name} ({alert.severity})", *queries, unit=GRAFANA_UNITS.get(alert.unit, "short"),
                  thresholds=thresholds, w=12, description=f"{alert.summary} (your alert, {alert.source})")
