"""Hooks for the D75 exchange health monitor.

    health = ExchangeHealthHooks(metrics)
    health.on_status("upbit", "DEGRADED")         # or 1, or the bot's own enum member
    health.on_rest_latency("upbit", 0.12)         # seconds, the monitor's rolling value
    health.on_orderbook_update("upbit")           # ts=None means now
    health.on_request("upbit", ok=False)

    ex = health.bind("upbit")                     # hottest path
    ex.orderbook_update(); ex.request(True)

    health.remove("upbit")                        # the bot stopped trading there: drop its series
"""
from __future__ import annotations

import time
from enum import IntEnum
from typing import Any

from ._hooks import Hooks, finite, non_negative, state_parser
from .metrics import D75Metrics

__all__ = ["ExchangeHealthHooks", "BoundExchangeHealth", "HealthStatus", "health_status_value"]


class HealthStatus(IntEnum):
    """``d75_exchange_health_status`` values (CONTRACT section 1)."""

    HEALTHY = 0
    DEGRADED = 1   # answers, but slowly or with errors
    DOWN = 2       # no usable API
    FROZEN = 3     # its data is not moving: trading on it halted


health_status_value = state_parser(HealthStatus, "health status")


def _timestamp(ts: float | None) -> float:
    """An orderbook update's unix time; None means now."""
    return time.time() if ts is None else finite(ts)


class BoundExchangeHealth:
    """One exchange; methods never raise. The children are looked up in the hooks' shared caches on
    every call (one dict lookup), so a ``remove`` through any hook object is seen here too.

    Gauge children are created on first use: a status, latency or orderbook timestamp born at 0
    before the bot reported anything would be a lie (timestamp 0 reads as a 56-year-old book)."""

    __slots__ = ("_hooks", "_key", "_ok_key", "_error_key", "_orderbook", "_requests")

    def __init__(self, hooks: ExchangeHealthHooks, exchange: Any) -> None:
        self._hooks = hooks
        self._key = exchange  # the raw argument, as the hooks' caches are keyed
        self._ok_key, self._error_key = (exchange, "ok"), (exchange, "error")
        self._orderbook, self._requests = hooks._orderbook, hooks._requests

    def status(self, status: object) -> None:
        self._hooks._set("status", self._hooks._status, self._key, status, health_status_value)

    def rest_latency(self, seconds: float) -> None:
        self._hooks._set("rest_latency", self._hooks._latency, self._key, seconds, non_negative)

    def orderbook_update(self, ts: float | None = None) -> None:
        try:
            value = time.time() if ts is None else finite(ts)  # _timestamp, inlined: the hottest call
            (self._orderbook.get(self._key) or self._orderbook.child(self._key, (self._key,))).set(value)
        except Exception as exc:  # noqa: BLE001
            self._hooks._fail("orderbook_update", exc)

    def request(self, ok: bool, count: int = 1) -> None:
        try:
            child = self._requests.get(self._ok_key if ok else self._error_key)
            if child is None:
                child = self._hooks._request_counters(self._key)[0 if ok else 1]
            child.inc(count)
        except Exception as exc:  # noqa: BLE001
            self._hooks._fail("request", exc)


class _NoopExchange:
    __slots__ = ()

    def status(self, status: object) -> None:
        return None

    def rest_latency(self, seconds: float) -> None:
        return None

    def orderbook_update(self, ts: float | None = None) -> None:
        return None

    def request(self, ok: bool, count: int = 1) -> None:
        return None


class ExchangeHealthHooks(Hooks):
    """What the health monitor reports: status changes, REST latency, orderbook freshness, requests."""

    component = "exchange_health"
    hook_methods = ("on_status", "on_rest_latency", "on_orderbook_update", "on_request", "remove")

    def __init__(self, metrics: D75Metrics | None) -> None:
        super().__init__(metrics)
        self._status = self._shared("exchange_health_status", "exchange")
        self._latency = self._shared("exchange_rest_latency", "exchange")
        self._orderbook = self._shared("exchange_orderbook_last_update", "exchange")
        self._requests = self._shared("exchange_requests", "exchange", "outcome")  # keyed (exchange, outcome)

    def remove(self, exchange: str) -> None:
        """Retire an exchange the bot no longer trades: its status, latency, orderbook timestamp and
        request counters disappear from /metrics (Prometheus marks them stale, its alerts resolve).
        Reporting it again later starts fresh series, also through objects from ``bind``."""
        self._retire("remove", "exchange", exchange, self._status, self._latency, self._orderbook, self._requests)

    def _request_counters(self, exchange: Any) -> tuple[Any, Any]:
        """ok and error counters of an exchange, both created (at 0) on first sight, so the
        error ratio is defined from the first request on."""
        ok = self._requests.child((exchange, "ok"), (exchange, "ok"))
        error = self._requests.child((exchange, "error"), (exchange, "error"))
        return ok, error

    def on_status(self, exchange: str, status: object) -> None:
        """Health status: ``HealthStatus``, its name (any case), 0..3, or the bot's own enum."""
        self._set("on_status", self._status, exchange, status, health_status_value)

    def on_rest_latency(self, exchange: str, seconds: float) -> None:
        self._set("on_rest_latency", self._latency, exchange, seconds, non_negative)

    def on_orderbook_update(self, exchange: str, ts: float | None = None) -> None:
        """An orderbook update arrived; ``ts`` is its unix time (default: now)."""
        self._set("on_orderbook_update", self._orderbook, exchange, ts, _timestamp)

    def on_request(self, exchange: str, ok: bool, count: int = 1) -> None:
        """A REST request finished (``ok`` False for errors and timeouts)."""
        try:
            child = self._requests.get((exchange, "ok" if ok else "error"))
            if child is None:
                child = self._request_counters(exchange)[0 if ok else 1]
            child.inc(count)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_request", exc)

    def bind(self, exchange: str) -> BoundExchangeHealth | _NoopExchange:
        """A pre-bound exchange for the hottest calls; bad labels give a no-op (counted)."""
        if self.metrics is None:
            return _NoopExchange()
        try:
            self._request_counters(exchange)
            return BoundExchangeHealth(self, exchange)
        except Exception as exc:  # noqa: BLE001
            self._fail("bind", exc)
            return _NoopExchange()
