"""Hooks for the D75 token-bucket rate limiter.

    limiter_hooks = RateLimiterHooks(metrics)          # metrics=None: every call is a no-op
    limiter_hooks.on_consume("binance", "order", remaining=180, capacity=1200)
    limiter_hooks.on_reject("binance", "order")
    limiter_hooks.on_http_429("binance", "order")

    bucket = limiter_hooks.bind("binance", "order")    # hottest path: labels resolved once
    bucket.consume(180, 1200)

    limiter_hooks.remove("binance")                    # retire every bucket of an exchange

Counters of a label set are created at 0 the first time it is seen, so the first rejection or
429 is visible to ``increase()``; the remaining-ratio gauge only appears at the first consume
(a gauge born at 0 would look like an empty bucket).
"""
from __future__ import annotations

from typing import Any

from ._hooks import Hooks, clamp_ratio, key_at, label_value
from .metrics import D75Metrics

__all__ = ["RateLimiterHooks", "BoundRateLimiter"]


_EXCHANGE, _CATEGORY = key_at(0), key_at(1)  # cache keys are (exchange, category)


class BoundRateLimiter:
    """One (exchange, category) bucket with its label children resolved; methods never raise."""

    __slots__ = ("_hooks", "_key", "_ratio", "_rejected", "_http_429", "__weakref__")

    def __init__(self, hooks: RateLimiterHooks, key: tuple[Any, Any],
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
            child = self._rejected
            if child is None:  # retired, and reported again
                self._rejected, self._http_429 = self._hooks._counters(self._key)
                child = self._rejected
            child.inc(count)
        except Exception as exc:  # noqa: BLE001
            self._hooks._fail("reject", exc)

    def http_429(self, count: int = 1) -> None:
        try:
            child = self._http_429
            if child is None:
                self._rejected, self._http_429 = self._hooks._counters(self._key)
                child = self._http_429
            child.inc(count)
        except Exception as exc:  # noqa: BLE001
            self._hooks._fail("http_429", exc)

    def _forget(self) -> None:
        """Called by ``remove``: the children are gone; the next call creates fresh ones."""
        self._ratio = self._rejected = self._http_429 = None


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
    hook_methods = ("on_consume", "on_reject", "on_http_429", "remove")

    def __init__(self, metrics: D75Metrics | None) -> None:
        super().__init__(metrics)
        self._ratio: dict[Any, Any] = {}
        self._rejected: dict[Any, Any] = {}
        self._http_429: dict[Any, Any] = {}

    def remove(self, exchange: str, category: str | None = None) -> None:
        """Retire the buckets of an exchange (every category, or only ``category``): their
        remaining ratio and counters disappear from /metrics; reporting them again starts fresh."""
        m = self.metrics
        assert m is not None
        try:
            cat = None if category is None else label_value(category)
        except Exception as exc:  # noqa: BLE001
            self._fail("remove", exc)
            return

        def selects(key: Any, value: str) -> bool:
            return _EXCHANGE(key, value) and (cat is None or _CATEGORY(key, cat))

        self._retire("remove", "exchange", exchange,
                     (m.rate_limit_remaining_ratio, m.rate_limit_rejected, m.rate_limit_http_429),
                     lambda h: [(c, selects) for c in (h._ratio, h._rejected, h._http_429)],
                     {} if cat is None else {"category": cat}, bound=selects)

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
            bound = BoundRateLimiter(self, key, self._ratio.get(key), rejected, http_429)
            self._bound.add(bound)
            return bound
        except Exception as exc:  # noqa: BLE001
            self._fail("bind", exc)
            return _NoopBucket()
