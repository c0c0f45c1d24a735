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

from enum import Enum, IntEnum
from typing import Any

from ._hooks import Hooks, count, finite, key_at, label_value, ratio01, set_gauge
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


_BY_NAME = {s.name: int(s) for s in GuardState}


def guard_state_value(state: object) -> int:
    """0..3 from an int, a name (any case) or an Enum member (matched by name, else value)."""
    if isinstance(state, Enum):
        by_name = _BY_NAME.get(state.name.upper())
        if by_name is not None:
            return by_name
        state = state.value
    if isinstance(state, str):
        try:
            return _BY_NAME[state.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown guard state {state!r}") from None
    if isinstance(state, int) and not isinstance(state, bool) and 0 <= state <= 3:
        return int(state)
    raise ValueError(f"guard state must be 0..3 or one of {list(_BY_NAME)}")


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
        self._state: dict[Any, Any] = {}
        self._pnl: dict[Any, Any] = {}
        self._streak: dict[Any, Any] = {}
        self._drawdown: dict[Any, Any] = {}
        self._volatility: dict[Any, Any] = {}

    def on_decision(self, tier: str, scope: str, state: object) -> None:
        """The guard's current decision for one scope of a tier (ALLOW/DEGRADE/COOLDOWN/BLOCK)."""
        try:
            value = guard_state_value(state)
            key = (tier, scope)
            child = self._state.get(key)
            if child is None:
                child = self._child(self._state, self.metrics.riskguard_state,  # type: ignore[union-attr]
                                    key, (_tier(tier), scope))
            child.set(value)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_decision", exc)

    def on_daily_pnl(self, exchange: str, pnl_usd: float) -> None:
        set_gauge(self, "on_daily_pnl", self._pnl, getattr(self.metrics, "daily_pnl_usd", None),
                  (exchange,), pnl_usd, finite)

    def on_loss_streak(self, route: str, losses_in_a_row: int) -> None:
        set_gauge(self, "on_loss_streak", self._streak, getattr(self.metrics, "route_loss_streak", None),
                  (route,), losses_in_a_row, count)

    def on_drawdown(self, symbol: str, ratio: float) -> None:
        set_gauge(self, "on_drawdown", self._drawdown, getattr(self.metrics, "symbol_drawdown_ratio", None),
                  (symbol,), ratio, ratio01)

    def on_volatility(self, symbol: str, ratio: float) -> None:
        set_gauge(self, "on_volatility", self._volatility,
                  getattr(self.metrics, "symbol_volatility_ratio", None), (symbol,), ratio, ratio01)

    # -- retiring ----------------------------------------------------------------------------
    def _remove(self, hook: str, tier: str, label: str, value: object, metrics: tuple[Any, ...],
                caches: str) -> None:
        """Drop ``label=value`` from ``metrics`` (cached in the attributes named in ``caches``) and
        the guard's decision for ``tier``/``value``."""
        m = self.metrics
        assert m is not None
        v = self._retire(hook, label, value, metrics,
                         lambda h: [(getattr(h, name), key_at(0)) for name in caches.split()])
        if v is not None:
            scope = key_at(1)
            self._retire(hook, "scope", v, (m.riskguard_state,),
                         lambda h: [(h._state, lambda k, x: scope(k, x) and _is_tier(k, tier))], {"tier": tier})

    def remove_exchange(self, exchange: str) -> None:
        """Retire an exchange: its daily PnL and the exchange tier's decision for it disappear."""
        m = self.metrics
        assert m is not None
        self._remove("remove_exchange", "exchange", "exchange", exchange, (m.daily_pnl_usd,), "_pnl")

    def remove_route(self, route: str) -> None:
        """Retire a route: its loss streak and the route tier's decision for it disappear."""
        m = self.metrics
        assert m is not None
        self._remove("remove_route", "route", "route", route, (m.route_loss_streak,), "_streak")

    def remove_symbol(self, symbol: str) -> None:
        """Retire a symbol: its drawdown, volatility and the symbol tier's decision for it disappear."""
        m = self.metrics
        assert m is not None
        self._remove("remove_symbol", "symbol", "symbol", symbol,
                     (m.symbol_drawdown_ratio, m.symbol_volatility_ratio), "_drawdown _volatility")


def _is_tier(key: Any, tier: str) -> bool:
    """Whether a decision cache key ``(tier, scope)`` is of ``tier`` (raw tiers may be any case/enum)."""
    try:
        return isinstance(key, tuple) and _tier(key[0]) == tier
    except Exception:  # noqa: BLE001
        return False
