"""Hooks for the D75 token-bucket rate limiter.

    limiter_hooks = RateLimiterHooks(metrics)          # metrics=None: every call is a no-op
    limiter_hooks.on_consume("binance", "order", remaining=180, capacity=1200)
    limiter_hooks.on_reject("binance", "order")
    limiter_hooks.on_http_429("binance", "order")

    bucket = limiter_hooks.bind("binance", "order")    # hottest path: labels resolved once
    bucket.consume(180, 1200)

Counters of a label set are created at 0 the first time it is seen, so the first rejection or
429 is visible to ``increase()``; the remaining-ratio gauge only appears at the first consume
(a gauge born at 0 would look like an empty bucket).
"""
from __future__ import annotations

from typing import Any

from ._hooks import Hooks, clamp_ratio
from .metrics import D75Metrics

__all__ = ["RateLimiterHooks", "BoundRateLimiter"]


class BoundRateLimiter:
    """One (exchange, category) bucket with its label children resolved; methods never raise."""

    __slots__ = ("_hooks", "_key", "_ratio", "_rejected", "_http_429")

    def __init__(self, hooks: "RateLimiterHooks", key: tuple[Any, Any],
                 ratio: Any, rejected: Any, http_429: Any) -> None:
        self._hooks = hooks
        self._key = key
        self._ratio = ratio
        self._rejected = rejected
        self._http_429 = http_429

    def consume(self, remaining: float, capacity: float) -> None:
        try:
            r = remaining / capacity
            if not 0.0 <= r <= 1.0:
                r = clamp_ratio(r)
            child = self._ratio
            if child is None:
                child = self._ratio = self._hooks._ratio_child(self._key)
            child.set(r)
        except Exception as exc:  # noqa: BLE001
            self._hooks._fail("consume", exc)

    def reject(self, count: int = 1) -> None:
        try:
            self._rejected.inc(count)
        except Exception as exc:  # noqa: BLE001
            self._hooks._fail("reject", exc)

    def http_429(self, count: int = 1) -> None:
        try:
            self._http_429.inc(count)
        except Exception as exc:  # noqa: BLE001
            self._hooks._fail("http_429", exc)


class _NoopBucket:
    __slots__ = ()

    def consume(self, remaining: float, capacity: float) -> None:
        return None

    def reject(self, count: int = 1) -> None:
        return None

    def http_429(self, count: int = 1) -> None:
        return None


class RateLimiterHooks(Hooks):
    """What the rate limiter reports: consumes, rejections (empty bucket) and HTTP 429s."""

    component = "rate_limiter"
    hook_methods = ("on_consume", "on_reject", "on_http_429")

    def __init__(self, metrics: D75Metrics | None) -> None:
        super().__init__(metrics)
        self._ratio: dict[Any, Any] = {}
        self._rejected: dict[Any, Any] = {}
        self._http_429: dict[Any, Any] = {}

    # -- cache miss paths ------------------------------------------------------------------
    def _ratio_child(self, key: tuple[Any, Any]) -> Any:
        assert self.metrics is not None
        return self._child(self._ratio, self.metrics.rate_limit_remaining_ratio, key, key)

    def _counters(self, key: tuple[Any, Any]) -> tuple[Any, Any]:
        """Both counters of a label set, created together (at 0) on first sight."""
        assert self.metrics is not None
        rejected = self._child(self._rejected, self.metrics.rate_limit_rejected, key, key)
        http_429 = self._child(self._http_429, self.metrics.rate_limit_http_429, key, key)
        return rejected, http_429

    # -- hooks -------------------------------------------------------------------------------
    def on_consume(self, exchange: str, category: str, remaining: float, capacity: float) -> None:
        """Tokens left after a consume; sets ``d75_rate_limit_remaining_ratio`` = remaining/capacity."""
        try:
            r = remaining / capacity
            if not 0.0 <= r <= 1.0:
                r = clamp_ratio(r)
            key = (exchange, category)
            child = self._ratio.get(key)
            if child is None:
                self._counters(key)
                child = self._ratio_child(key)
            child.set(r)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_consume", exc)

    def on_reject(self, exchange: str, category: str, count: int = 1) -> None:
        """A request refused because the bucket was empty."""
        try:
            key = (exchange, category)
            child = self._rejected.get(key)
            if child is None:
                child = self._counters(key)[0]
            child.inc(count)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_reject", exc)

    def on_http_429(self, exchange: str, category: str, count: int = 1) -> None:
        """The exchange answered HTTP 429 (we exceeded its limit despite the bucket)."""
        try:
            key = (exchange, category)
            child = self._http_429.get(key)
            if child is None:
                child = self._counters(key)[1]
            child.inc(count)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_http_429", exc)

    def bind(self, exchange: str, category: str) -> BoundRateLimiter | _NoopBucket:
        """A pre-bound bucket for the hottest calls. Never raises: bad labels give a no-op bucket
        (and count a hook error)."""
        if self.metrics is None:
            return _NoopBucket()
        try:
            key = (exchange, category)
            rejected, http_429 = self._counters(key)
            return BoundRateLimiter(self, key, self._ratio.get(key), rejected, http_429)
        except Exception as exc:  # noqa: BLE001
            self._fail("bind", exc)
            return _NoopBucket()
