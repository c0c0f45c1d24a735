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
from enum import Enum, IntEnum
from typing import Any

from ._hooks import Hooks, finite, key_is, non_negative
from .metrics import D75Metrics

__all__ = ["ExchangeHealthHooks", "BoundExchangeHealth", "HealthStatus", "health_status_value"]


class HealthStatus(IntEnum):
    """``d75_exchange_health_status`` values (CONTRACT section 1)."""

    HEALTHY = 0
    DEGRADED = 1
    DOWN = 2
    FROZEN = 3


_BY_NAME = {s.name: int(s) for s in HealthStatus}


def health_status_value(status: object) -> int:
    """0..3 from an int, a name (any case) or an Enum member (matched by name, else value)."""
    if isinstance(status, Enum):
        by_name = _BY_NAME.get(status.name.upper())
        if by_name is not None:
            return by_name
        status = status.value
    if isinstance(status, str):
        try:
            return _BY_NAME[status.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown health status {status!r}") from None
    if isinstance(status, int) and not isinstance(status, bool) and 0 <= status <= 3:
        return int(status)
    raise ValueError(f"health status must be 0..3 or one of {list(_BY_NAME)}")


class BoundExchangeHealth:
    """One exchange with its label children resolved; methods never raise.

    Gauge children are created on first use: a status, latency or orderbook timestamp born at 0
    before the bot reported anything would be a lie (timestamp 0 reads as a 56-year-old book)."""

    __slots__ = ("_hooks", "_key", "_status", "_latency", "_orderbook", "_ok", "_error", "__weakref__")

    def __init__(self, hooks: ExchangeHealthHooks, exchange: Any, ok: Any, error: Any) -> None:
        self._hooks = hooks
        self._key = exchange  # the raw argument, as the hooks' caches are keyed
        self._status = hooks._status.get(exchange)
        self._latency = hooks._latency.get(exchange)
        self._orderbook = hooks._orderbook.get(exchange)
        self._ok = ok
        self._error = error

    def status(self, status: object) -> None:
        try:
            value = health_status_value(status)
            child = self._status
            if child is None:
                child = self._status = self._hooks._gauge("exchange_health_status", self._key)
            child.set(value)
        except Exception as exc:  # noqa: BLE001
            self._hooks._fail("status", exc)

    def rest_latency(self, seconds: float) -> None:
        try:
            value = non_negative(seconds)
            child = self._latency
            if child is None:
                child = self._latency = self._hooks._gauge("exchange_rest_latency", self._key)
            child.set(value)
        except Exception as exc:  # noqa: BLE001
            self._hooks._fail("rest_latency", exc)

    def orderbook_update(self, ts: float | None = None) -> None:
        try:
            value = time.time() if ts is None else finite(ts)
            child = self._orderbook
            if child is None:
                child = self._orderbook = self._hooks._gauge("exchange_orderbook_last_update",
                                                             self._key)
            child.set(value)
        except Exception as exc:  # noqa: BLE001
            self._hooks._fail("orderbook_update", exc)

    def request(self, ok: bool, count: int = 1) -> None:
        try:
            child = self._ok if ok else self._error
            if child is None:  # the exchange was retired and is reported again
                self._ok, self._error = self._hooks._requests(self._key)
                child = self._ok if ok else self._error
            child.inc(count)
        except Exception as exc:  # noqa: BLE001
            self._hooks._fail("request", exc)

    def _forget(self) -> None:
        """Called by ``remove``: the children are gone; the next call creates fresh ones."""
        self._status = self._latency = self._orderbook = self._ok = self._error = None


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
        self._status: dict[Any, Any] = {}
        self._latency: dict[Any, Any] = {}
        self._orderbook: dict[Any, Any] = {}
        self._ok: dict[Any, Any] = {}
        self._error: dict[Any, Any] = {}

    def remove(self, exchange: str) -> None:
        """Retire an exchange the bot no longer trades: its status, latency, orderbook timestamp and
        request counters disappear from /metrics (Prometheus marks them stale, its alerts resolve).
        Reporting it again later starts fresh series, also through objects from ``bind``."""
        m = self.metrics
        assert m is not None
        self._retire("remove", "exchange", exchange,
                     (m.exchange_health_status, m.exchange_rest_latency, m.exchange_orderbook_last_update,
                      m.exchange_requests),
                     lambda h: [(c, key_is) for c in (h._status, h._latency, h._orderbook, h._ok, h._error)],
                     bound=key_is)

    def _requests(self, exchange: Any) -> tuple[Any, Any]:
        """ok and error counters of an exchange, both created (at 0) on first sight, so the
        error ratio is defined from the first request on."""
        m = self.metrics
        assert m is not None
        ok = self._child(self._ok, m.exchange_requests, exchange, (exchange, "ok"))
        error = self._child(self._error, m.exchange_requests, exchange, (exchange, "error"))
        return ok, error

    def _gauge(self, attr: str, exchange: Any) -> Any:
        """Cache miss path for the per-exchange gauges (``attr`` names the D75Metrics attribute)."""
        cache = {"exchange_health_status": self._status, "exchange_rest_latency": self._latency,
                 "exchange_orderbook_last_update": self._orderbook}[attr]
        return self._child(cache, getattr(self.metrics, attr), exchange, (exchange,))

    def on_status(self, exchange: str, status: object) -> None:
        """Health status: ``HealthStatus``, its name (any case), 0..3, or the bot's own enum."""
        try:
            value = health_status_value(status)
            child = self._status.get(exchange)
            if child is None:
                child = self._gauge("exchange_health_status", exchange)
            child.set(value)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_status", exc)

    def on_rest_latency(self, exchange: str, seconds: float) -> None:
        try:
            value = non_negative(seconds)
            child = self._latency.get(exchange)
            if child is None:
                child = self._gauge("exchange_rest_latency", exchange)
            child.set(value)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_rest_latency", exc)

    def on_orderbook_update(self, exchange: str, ts: float | None = None) -> None:
        """An orderbook update arrived; ``ts`` is its unix time (default: now)."""
        try:
            value = time.time() if ts is None else finite(ts)
            child = self._orderbook.get(exchange)
            if child is None:
                child = self._gauge("exchange_orderbook_last_update", exchange)
            child.set(value)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_orderbook_update", exc)

    def on_request(self, exchange: str, ok: bool, count: int = 1) -> None:
        """A REST request finished (``ok`` False for errors and timeouts)."""
        try:
            child = (self._ok if ok else self._error).get(exchange)
            if child is None:
                child = self._requests(exchange)[0 if ok else 1]
            child.inc(count)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_request", exc)

    def bind(self, exchange: str) -> BoundExchangeHealth | _NoopExchange:
        """A pre-bound exchange for the hottest calls; bad labels give a no-op (counted)."""
        if self.metrics is None:
            return _NoopExchange()
        try:
            ok, error = self._requests(exchange)
            bound = BoundExchangeHealth(self, exchange, ok, error)
            self._bound.add(bound)
            return bound
        except Exception as exc:  # noqa: BLE001
            self._fail("bind", exc)
            return _NoopExchange()
