"""Hooks for the D75 four-tier risk guard (tiers ``exchange``, ``route``, ``symbol``, ``global``).

    guard = RiskGuardHooks(metrics)
    guard.on_decision("exchange", "upbit", "BLOCK")     # or 3, or the bot's enum member
    guard.on_decision("global", "global", GuardState.ALLOW)
    guard.on_daily_pnl("upbit", -1_250.0)               # realised since 00:00 UTC; negative = loss
    guard.on_loss_streak("upbit-binance-BTC", 2)
    guard.on_drawdown("BTC", 0.03); guard.on_volatility("BTC", 0.02)

    guard.remove_exchange("upbit")   # daily PnL and the exchange tier's decision for upbit go
    guard.remove_route("upbit-binance-BTC"); guard.remove_symbol("BTC")
"""
from __future__ import annotations

from enum import IntEnum

from ._hooks import Children, Hooks, count, finite, label_value, ratio01, state_parser
from .metrics import D75Metrics

__all__ = ["RiskGuardHooks", "GuardState", "GUARD_TIERS", "GLOBAL_SCOPE", "guard_state_value"]

GUARD_TIERS = ("exchange", "route", "symbol", "global")
GLOBAL_SCOPE = "global"   # the scope label of the global tier


class GuardState(IntEnum):
    """``d75_riskguard_state`` values (CONTRACT section 1)."""

    ALLOW = 0
    DEGRADE = 1
    COOLDOWN = 2
    BLOCK = 3


guard_state_value = state_parser(GuardState, "guard state")


def _tier(tier: object) -> str:
    t = label_value(tier).lower()
    if t not in GUARD_TIERS:
        raise ValueError(f"unknown risk guard tier {t!r}")
    return t


class RiskGuardHooks(Hooks):
    """What the risk guard reports: its decisions per tier and scope, and the inputs it judges."""

    component = "risk_guard"
    hook_methods = ("on_decision", "on_daily_pnl", "on_loss_streak", "on_drawdown", "on_volatility",
                    "remove_exchange", "remove_route", "remove_symbol")

    def __init__(self, metrics: D75Metrics | None) -> None:
        super().__init__(metrics)
        self._state = self._shared("riskguard_state", "tier", "scope")  # keyed by the raw (tier, scope)
        self._pnl = self._shared("daily_pnl_usd", "exchange")
        self._streak = self._shared("route_loss_streak", "route")
        self._drawdown = self._shared("symbol_drawdown_ratio", "symbol")
        self._volatility = self._shared("symbol_volatility_ratio", "symbol")

    def on_decision(self, tier: str, scope: str, state: object) -> None:
        """The guard's current decision for one scope of a tier (ALLOW/DEGRADE/COOLDOWN/BLOCK)."""
        try:
            value = guard_state_value(state)
            key = (tier, scope)
            child = self._state.get(key)
            if child is None:
                child = self._state.child(key, (_tier(tier), scope))
            child.set(value)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_decision", exc)

    def on_daily_pnl(self, exchange: str, pnl_usd: float) -> None:
        self._set("on_daily_pnl", self._pnl, exchange, pnl_usd, finite)

    def on_loss_streak(self, route: str, losses_in_a_row: int) -> None:
        self._set("on_loss_streak", self._streak, route, losses_in_a_row, count)

    def on_drawdown(self, symbol: str, ratio: float) -> None:
        self._set("on_drawdown", self._drawdown, symbol, ratio, ratio01)

    def on_volatility(self, symbol: str, ratio: float) -> None:
        self._set("on_volatility", self._volatility, symbol, ratio, ratio01)

    # -- retiring ----------------------------------------------------------------------------
    def _remove(self, hook: str, tier: str, value: object, *children: Children) -> None:
        """Drop ``tier=value`` (the tier names its label) from ``children`` and the guard's
        decision for that scope of the tier."""
        v = self._retire(hook, tier, value, *children)
        if v is not None:
            try:
                self._state.retire(tier=tier, scope=v)
            except Exception as exc:  # noqa: BLE001
                self._fail(hook, exc)

    def remove_exchange(self, exchange: str) -> None:
        """Retire an exchange: its daily PnL and the exchange tier's decision for it disappear."""
        self._remove("remove_exchange", "exchange", exchange, self._pnl)

    def remove_route(self, route: str) -> None:
        """Retire a route: its loss streak and the route tier's decision for it disappear."""
        self._remove("remove_route", "route", route, self._streak)

    def remove_symbol(self, symbol: str) -> None:
        """Retire a symbol: its drawdown, volatility and the symbol tier's decision for it disappear."""
        self._remove("remove_symbol", "symbol", symbol, self._drawdown, self._volatility)
