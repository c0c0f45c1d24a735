"""D75 exporter, the library the bot imports: the contract metrics, one hook class per D75
component, WSGI serving, and one-off events (`exporter.events`).

    from exporter import D75Metrics, RateLimiterHooks, make_metrics_app

    metrics = D75Metrics()                       # its own fresh CollectorRegistry
    limiter = RateLimiterHooks(metrics)          # RateLimiterHooks(None): every call a no-op
    limiter.on_consume("binance", "order", remaining=180, capacity=1200)

"""
from __future__ import annotations

from .arb_route import ArbRouteHooks, route_name
from .arb_universe import ArbUniverseHooks
from .cross_sync import CrossSyncHooks
from .exchange_health import ExchangeHealthHooks, HealthStatus
from .metrics import CONTRACT_METRICS, D75Metrics
from .rate_limiter import RateLimiterHooks
from .risk_guard import GuardState, RiskGuardHooks
from .serve import RunningServer, make_metrics_app, serve_in_thread
from .service_health import ServiceHooks

__all__ = [
    "D75Metrics", "CONTRACT_METRICS",
    "RateLimiterHooks", "ExchangeHealthHooks", "HealthStatus", "ArbRouteHooks", "route_name",
    "ArbUniverseHooks", "CrossSyncHooks", "RiskGuardHooks", "GuardState", "ServiceHooks",
    "make_metrics_app", "serve_in_thread", "RunningServer",
]
