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

from ._hooks import Hooks, count, key_at, key_is, non_negative, ratio01, set_gauge
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
        self._imbalance: dict[Any, Any] = {}
        self._exposure: dict[Any, Any] = {}
        self._failures_gauge: dict[Any, Any] = {}
        self._sync_failures: dict[Any, Any] = {}
        self._consecutive: dict[Any, int] = {}

    def on_inventory(self, symbol: str, imbalance_ratio: float, exposure_usd: float) -> None:
        """One symbol's inventory: imbalance 0..1 across exchanges and open exposure in USD."""
        m = self.metrics
        set_gauge(self, "on_inventory", self._imbalance, getattr(m, "inventory_imbalance_ratio", None),
                  (symbol,), imbalance_ratio, ratio01)
        set_gauge(self, "on_inventory", self._exposure, getattr(m, "exposure_usd", None),
                  (symbol,), exposure_usd, non_negative)

    def on_snapshot(self, imbalance: Mapping[str, float], exposure_usd: Mapping[str, float],
                    capital_usd: float | None = None) -> None:
        """A whole inventory snapshot; a bad entry is counted and skipped, the rest is recorded."""
        try:
            for symbol, value in imbalance.items():
                set_gauge(self, "on_snapshot", self._imbalance, self.metrics.inventory_imbalance_ratio,  # type: ignore[union-attr]
                          (symbol,), value, ratio01)
            for symbol, value in exposure_usd.items():
                set_gauge(self, "on_snapshot", self._exposure, self.metrics.exposure_usd,  # type: ignore[union-attr]
                          (symbol,), value, non_negative)
            if capital_usd is not None:
                self.on_capital(capital_usd)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_snapshot", exc)

    def on_capital(self, capital_usd: float) -> None:
        try:
            self.metrics.capital_usd.set(non_negative(capital_usd))  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001
            self._fail("on_capital", exc)

    def on_rebalance(self, symbol: str, ok: bool) -> None:
        """A rebalance attempt finished; the hook keeps the consecutive-failure count."""
        try:
            n = 0 if ok else self._consecutive.get(symbol, 0) + 1
            self._set_failures("on_rebalance", symbol, n)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_rebalance", exc)

    def on_rebalance_failures(self, symbol: str, consecutive_failures: int) -> None:
        """The consecutive-failure count, when the bot keeps it itself."""
        try:
            self._set_failures("on_rebalance_failures", symbol, count(consecutive_failures))
        except Exception as exc:  # noqa: BLE001
            self._fail("on_rebalance_failures", exc)

    def _set_failures(self, hook: str, symbol: str, n: int) -> None:
        child = self._failures_gauge.get(symbol)
        if child is None:
            child = self._child(self._failures_gauge, self.metrics.rebalance_consecutive_failures,  # type: ignore[union-attr]
                                symbol, (symbol,))
        child.set(n)
        self._consecutive[symbol] = n

    def on_sync_result(self, exchange: str, ok: bool) -> None:
        """A balance API call finished; failures and timeouts count in the sync failure counter."""
        try:
            child = self._sync_failures.get(exchange)
            if child is None:
                child = self._child(self._sync_failures, self.metrics.inventory_sync_failures,  # type: ignore[union-attr]
                                    exchange, (exchange,))
            if not ok:
                child.inc()
        except Exception as exc:  # noqa: BLE001
            self._fail("on_sync_result", exc)

    def on_sync_failure(self, exchange: str) -> None:
        self.on_sync_result(exchange, False)

    def remove_symbol(self, symbol: str) -> None:
        """Retire a symbol: its imbalance, exposure and rebalance-failure series disappear."""
        m = self.metrics
        assert m is not None
        self._retire("remove_symbol", "symbol", symbol,
                     (m.inventory_imbalance_ratio, m.exposure_usd, m.rebalance_consecutive_failures),
                     lambda h: [(h._imbalance, key_at(0)), (h._exposure, key_at(0)),
                                (h._failures_gauge, key_is), (h._consecutive, key_is)])

    def remove_exchange(self, exchange: str) -> None:
        """Retire an exchange: its balance-sync failure counter disappears."""
        m = self.metrics
        assert m is not None
        self._retire("remove_exchange", "exchange", exchange, (m.inventory_sync_failures,),
                     lambda h: [(h._sync_failures, key_is)])
