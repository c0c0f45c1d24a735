"""Overview: the bot's health at a glance, with the catalog's thresholds drawn on each panel."""
from __future__ import annotations

from typing import Any

from ..model import Catalog
from .builder import Panel, dashboard, prom, query_variable, thresholds_from

EX = 'exchange=~"$exchange"'
HEALTH_MAP = [{"type": "value", "options": {
    "0": {"text": "HEALTHY", "color": "green"}, "1": {"text": "DEGRADED", "color": "yellow"},
    "2": {"text": "DOWN", "color": "orange"}, "3": {"text": "FROZEN", "color": "red"}}}]
GUARD_MAP = [{"type": "value", "options": {
    "0": {"text": "ALLOW", "color": "green"}, "1": {"text": "DEGRADE", "color": "yellow"},
    "2": {"text": "COOLDOWN", "color": "orange"}, "3": {"text": "BLOCK", "color": "red"}}}]


def build(catalog: Catalog) -> dict[str, Any]:
    t = lambda *names, scale=1.0: thresholds_from(catalog, *names, scale=scale)  # noqa: E731
    panels = [
        Panel(
            "Alerts firing by severity",
            [
                prom(
                    'count by (severity) (ALERTS{alertstate="firing", severity=~"P[0-3]"})',
                    "{{severity}}",
                    instant=True,
                )
            ],
            kind="stat",
            width=8,
            height=5,
            options={"colorMode": "background", "graphMode": "none"},
            thresholds={"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]},
        ),
        Panel(
            "Exchange health",
            [prom(f"d75_exchange_health_status{{{EX}}}", "{{exchange}}")],
            kind="state-timeline",
            width=16,
            height=5,
            mappings=HEALTH_MAP,
            min=0,
            max=3,
            thresholds={
                "mode": "absolute",
                "steps": [
                    {"color": "green", "value": None},
                    {"color": "yellow", "value": 1},
                    {"color": "orange", "value": 2},
                    {"color": "red", "value": 3},
                ],
            },
        ),
        Panel(
            "Rate limit remaining",
            [prom(f"d75_rate_limit_remaining_ratio{{{EX}}}", "{{exchange}} {{category}}")],
            unit="percentunit",
            min=0,
            max=1,
            thresholds=t("RateLimitLow", "RateLimitHeadroomShrinking"),
            width=8,
        ),
        Panel(
            "HTTP 429 and rejections per minute",
            [
                prom(f"sum by (exchange) (increase(d75_rate_limit_http_429_total{{{EX}}}[1m]))", "429 {{exchange}}"),
                prom(
                    f"sum by (exchange) (increase(d75_rate_limit_rejected_total{{{EX}}}[1m]))",
                    "rejected {{exchange}}",
                    "B",
                ),
            ],
            width=8,
        ),
        Panel(
            "REST latency",
            [prom(f"d75_exchange_rest_latency_seconds{{{EX}}}", "{{exchange}}")],
            unit="s",
            thresholds=t("ExchangeLatencyElevated", "ExchangeLatencyHigh", "ExchangeLatencyCritical"),
            width=8,
        ),
        Panel(
            "REST error ratio (1m)",
            [
                prom(
                    f'sum by (exchange) (rate(d75_exchange_requests_total{{outcome="error", {EX}}}[1m]))'
                    f" / sum by (exchange) (rate(d75_exchange_requests_total{{{EX}}}[1m]))",
                    "{{exchange}}",
                )
            ],
            unit="percentunit",
            thresholds=t("ExchangeErrorRatioHigh", "ExchangeErrorRatioCritical"),
            width=8,
        ),
        Panel(
            "Orderbook age",
            [prom(f"time() - d75_exchange_orderbook_last_update_timestamp_seconds{{{EX}}}", "{{exchange}}")],
            unit="s",
            thresholds=t("OrderbookLagging", "OrderbookStale"),
            width=8,
        ),
        Panel(
            "Route scores",
            [prom('d75_route_score{route=~"$route"}', "{{route}}")],
            min=0,
            max=100,
            thresholds=t("RouteScoreLow"),
            width=8,
        ),
        Panel(
            "Routes active / skipped",
            [prom("d75_universe_routes", "{{state}}")],
            thresholds=t("NoActiveRoutes"),
            width=8,
        ),
        Panel(
            "Inventory imbalance",
            [prom('d75_inventory_imbalance_ratio{symbol=~"$symbol"}', "{{symbol}}")],
            unit="percentunit",
            min=0,
            max=1,
            thresholds=t("InventoryImbalanceRising", "InventoryImbalanceHigh"),
            width=8,
        ),
        Panel(
            "Rebalance failures in a row",
            [prom('d75_rebalance_consecutive_failures{symbol=~"$symbol"}', "{{symbol}}")],
            thresholds=t("RebalanceFailing"),
            width=8,
        ),
        Panel(
            "Total exposure / capital",
            [
                prom(
                    "sum by (job, instance) (d75_exposure_usd) / on (job, instance) d75_capital_usd",
                    "exposure / capital",
                )
            ],
            unit="percentunit",
            thresholds=t("TotalExposureWarning", "TotalExposureHigh"),
            width=8,
        ),
        Panel(
            "Exposure per symbol / capital",
            [
                prom(
                    'd75_exposure_usd{symbol=~"$symbol"} / on (job, instance) group_left () d75_capital_usd',
                    "{{symbol}}",
                )
            ],
            unit="percentunit",
            thresholds=t("SymbolExposureHigh"),
            width=8,
        ),
        Panel(
            "Total exposure (USD)",
            [prom("sum by (job, instance) (d75_exposure_usd)", "total")],
            unit="currencyUSD",
            thresholds=t("GlobalExposureHigh"),
            width=8,
        ),
        Panel(
            "Daily loss per exchange (USD)",
            [prom(f"-d75_daily_pnl_usd{{{EX}}}", "{{exchange}}")],
            unit="currencyUSD",
            thresholds=t("DailyLossWarning", "ExchangeDailyLoss"),
            width=8,
            description="Realised loss since 00:00 UTC (negative PnL shown as a positive loss).",
        ),
        Panel(
            "Total daily loss (USD)",
            [prom("-sum by (job, instance) (d75_daily_pnl_usd)", "total")],
            unit="currencyUSD",
            thresholds=t("GlobalDailyLoss"),
            width=8,
        ),
        Panel(
            "Drawdown and volatility",
            [
                prom('d75_symbol_drawdown_ratio{symbol=~"$symbol"}', "drawdown {{symbol}}"),
                prom('d75_symbol_volatility_ratio{symbol=~"$symbol"}', "volatility {{symbol}}", "B"),
            ],
            unit="percentunit",
            thresholds=t("SymbolVolatilityHigh", "SymbolDrawdown"),
            width=8,
        ),
        Panel(
            "Route loss streak and spread",
            [
                prom('d75_route_loss_streak{route=~"$route"}', "streak {{route}}"),
                prom('d75_route_spread_bps{route=~"$route"}', "spread bps {{route}}", "B"),
            ],
            width=8,
        ),
        Panel(
            "Risk guard state",
            [prom("d75_riskguard_state", "{{tier}} {{scope}}")],
            kind="state-timeline",
            width=24,
            height=7,
            mappings=GUARD_MAP,
            min=0,
            max=3,
            thresholds={
                "mode": "absolute",
                "steps": [
                    {"color": "green", "value": None},
                    {"color": "yellow", "value": 1},
                    {"color": "orange", "value": 2},
                    {"color": "red", "value": 3},
                ],
            },
        ),
        Panel(
            "Bot process memory and data disk",
            [
                prom('process_resident_memory_bytes{job="d75"}', "resident memory"),
                prom("d75_data_disk_free_ratio", "disk free {{path}}", "B"),
            ],
            width=24,
            height=6,
        ),
    ]
    variables = [
        query_variable("exchange", "label_values(d75_exchange_health_status, exchange)", "Exchange"),
        query_variable("route", "label_values(d75_route_score, route)", "Route"),
        query_variable("symbol", "label_values(d75_inventory_imbalance_ratio, symbol)", "Symbol"),
    ]
    return dashboard("d76-overview", "D76 / Overview", panels, variables=variables, tags=["overview"],
                     description="The D75 bot's health; threshold lines come from the alert catalog.")
