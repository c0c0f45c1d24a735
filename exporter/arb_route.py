"""Hooks for D75 arb routes (``route`` = ``"{buy_ex}-{sell_ex}-{symbol}"``, e.g. ``upbit-binance-BTC``).

    routes = ArbRouteHooks(metrics)
    routes.on_score("upbit-binance-BTC", 82.5)     # RouteScore 0..100
    routes.on_spread("upbit-binance-BTC", 35.0)    # current spread, basis points
    routes.remove("upbit-binance-BTC")             # the route left the universe: drop its series

A sudden score drop is not a separate metric: the rules compare the score with its own recent
maximum in PromQL.
"""
from __future__ import annotations

from ._hooks import Hooks, finite
from .metrics import D75Metrics

__all__ = ["ArbRouteHooks", "route_name"]


def route_name(buy_exchange: str, sell_exchange: str, symbol: str) -> str:
    """The ``route`` label value used everywhere: ``"{buy}-{sell}-{symbol}"``."""
    return f"{buy_exchange}-{sell_exchange}-{symbol}"


def _score(value: float) -> float:
    v = finite(value)
    if not 0.0 <= v <= 100.0:
        raise ValueError("route score must be within 0..100")
    return v


class ArbRouteHooks(Hooks):
    """What a route reports: its RouteScore and its current spread."""

    component = "arb_route"
    hook_methods = ("on_score", "on_spread", "remove")

    def __init__(self, metrics: D75Metrics | None) -> None:
        super().__init__(metrics)
        self._score = self._shared("route_score", "route")
        self._spread = self._shared("route_spread_bps", "route")

    def on_score(self, route: str, score: float) -> None:
        self._set("on_score", self._score, route, score, _score)

    def on_spread(self, route: str, spread_bps: float) -> None:
        self._set("on_spread", self._spread, route, spread_bps, finite)

    def remove(self, route: str) -> None:
        """Retire a route: its score and spread disappear from /metrics (its alerts resolve)."""
        self._retire("remove", "route", route, self._score, self._spread)
