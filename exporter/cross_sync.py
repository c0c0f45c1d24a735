"""Hooks for D75 cross-exchange inventory sync.

    sync = CrossSyncHooks(metrics)
    sync.on_capital(100_000)
    sync.on_inventory("BTC", imbalance_ratio=0.12, exposure_usd=8_500)
    sync.on_snapshot({"BTC": 0.12, "ETH": 0.05}, {"BTC": 8_500, "ETH": 3_100}, capital_usd=100_000)
    sync.on_rebalance("BTC", ok=False)      # consecutive failures counted here, reset on success
    sync.on_sync_result("upbit", ok=True)   # balance API call; False = failure / timeout

Call ``on_sync_result(exchange, ok=True)`` for successful balance calls too: it creates the
exchange's failure counter at 0, so the very first failure is seen by ``increase()``.

    sync.remove_symbol("BTC")               # no longer held: imbalance, exposure, rebalance series go
    sync.remove_exchange("upbit")           # no longer traded: its balance-sync failure counter goes
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._hooks import Hooks, count, non_negative, ratio01
from .metrics import D75Metrics

__all__ = ["CrossSyncHooks"]


class CrossSyncHooks(Hooks):
    """What inventory sync reports: imbalance, exposure, capital, rebalance and balance-call failures."""

    component = "cross_sync"
    hook_methods = ("on_inventory", "on_snapshot", "on_capital", "on_rebalance",
                    "on_rebalance_failures", "on_sync_result", "on_sync_failure", "remove_symbol",
                    "remove_exchange")

    def __init__(self, metrics: D75Metrics | None) -> None:
        super().__init__(metrics)
        self._imbalance = self._shared("inventory_imbalance_ratio", "symbol")
        self._exposure = self._shared("exposure_usd", "symbol")
        self._failures = self._shared("rebalance_consecutive_failures", "symbol")
        self._sync_failures = self._shared("inventory_sync_failures", "exchange")
        self._capital: Any = getattr(metrics, "capital_usd", None)
        # symbol -> (the gauge child this object counted on, the count): a count continues only on
        # the same child, so one retired through any hook object starts again from 0
        self._consecutive: dict[Any, tuple[Any, int]] = {}

    def on_inventory(self, symbol: str, imbalance_ratio: float, exposure_usd: float) -> None:
        """One symbol's inventory: imbalance 0..1 across exchanges and open exposure in USD."""
        self._set("on_inventory", self._imbalance, symbol, imbalance_ratio, ratio01)
        self._set("on_inventory", self._exposure, symbol, exposure_usd, non_negative)

    def on_snapshot(self, imbalance: Mapping[str, float], exposure_usd: Mapping[str, float],
                    capital_usd: float | None = None) -> None:
        """A whole inventory snapshot; a bad entry is counted and skipped, the rest is recorded."""
        try:
            for symbol, value in imbalance.items():
                self._set("on_snapshot", self._imbalance, symbol, value, ratio01)
            for symbol, value in exposure_usd.items():
                self._set("on_snapshot", self._exposure, symbol, value, non_negative)
            if capital_usd is not None:
                self.on_capital(capital_usd)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_snapshot", exc)

    def on_capital(self, capital_usd: float) -> None:
        try:
            self._capital.set(non_negative(capital_usd))
        except Exception as exc:  # noqa: BLE001
            self._fail("on_capital", exc)

    def on_rebalance(self, symbol: str, ok: bool) -> None:
        """A rebalance attempt finished; the hook keeps the consecutive-failure count."""
        self._set_failures("on_rebalance", symbol, 0 if ok else None)

    def on_rebalance_failures(self, symbol: str, consecutive_failures: int) -> None:
        """The consecutive-failure count, when the bot keeps it itself."""
        self._set_failures("on_rebalance_failures", symbol, consecutive_failures)

    def _set_failures(self, hook: str, symbol: str, n: int | None) -> None:
        """Set the rebalance failure gauge to ``n``, or (None: one more failure) to one more than
        this object counted on the same child."""
        try:
            if n is not None:
                n = count(n)
            child = self._failures.get(symbol)
            if child is None:
                child = self._failures.child(symbol, (symbol,))
            if n is None:
                counted_on, so_far = self._consecutive.get(symbol, (None, 0))
                n = (so_far if counted_on is child else 0) + 1
            child.set(n)
            self._consecutive[symbol] = (child, n)
        except Exception as exc:  # noqa: BLE001
            self._fail(hook, exc)

    def on_sync_result(self, exchange: str, ok: bool) -> None:
        """A balance API call finished; failures and timeouts count in the sync failure counter."""
        try:
            child = self._sync_failures.get(exchange)
            if child is None:
                child = self._sync_failures.child(exchange, (exchange,))
            if not ok:
                child.inc()
        except Exception as exc:  # noqa: BLE001
            self._fail("on_sync_result", exc)

    def on_sync_failure(self, exchange: str) -> None:
        self.on_sync_result(exchange, False)

    def remove_symbol(self, symbol: str) -> None:
        """Retire a symbol: its imbalance, exposure and rebalance-failure series disappear."""
        self._retire("remove_symbol", "symbol", symbol, self._imbalance, self._exposure, self._failures)

    def remove_exchange(self, exchange: str) -> None:
        """Retire an exchange: its balance-sync failure counter disappears."""
        self._retire("remove_exchange", "exchange", exchange, self._sync_failures)
