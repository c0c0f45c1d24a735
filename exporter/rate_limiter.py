"""Hooks for the D75 token-bucket rate limiter.

    limiter_hooks = RateLimiterHooks(metrics)          # metrics=None: every call is a no-op
    limiter_hooks.on_consume("binance", "order", remaining=180, capacity=1200)   # ratio 0.15, capacity 1200
    limiter_hooks.on_reject("binance", "order")
    limiter_hooks.on_http_429("binance", "order")

    bucket = limiter_hooks.bind("binance", "order")    # hottest path: labels resolved once
    bucket.consume(180, 1200)

    limiter_hooks.remove("binance")                    # retire every bucket of an exchange

Counters of a label set are created at 0 the first time it is seen, so the first rejection or
429 is visible to ``increase()``; the remaining-ratio gauge only appears at the first consume
(a gauge born at 0 would look like an empty bucket). The bucket's capacity
(``d75_rate_limit_capacity``, so an alert can say "180/1200 tokens left") is set at the first consume
and again only when it changes: the hot path pays one dict lookup and a compare for it.
"""
from __future__ import annotations

from typing import Any

from ._hooks import Children, Hooks, clamp_ratio, finite, label_value
from .metrics import D75Metrics

__all__ = ["RateLimiterHooks", "BoundRateLimiter"]


class BoundRateLimiter:
    """One (exchange, category) bucket; methods never raise. The children are looked up in the
    hooks' shared caches on every call (one dict lookup), so a ``remove`` through any hook object
    is seen here too and a retired bucket reported again starts fresh series."""

    __slots__ = ("_hooks", "_key", "_ratio", "_rejected", "_http_429", "_capacity", "_cap")

    def __init__(self, hooks: RateLimiterHooks, key: tuple[Any, Any]) -> None:
        self._hooks = hooks
        self._key = key
        self._ratio, self._rejected, self._http_429 = hooks._ratio, hooks._rejected, hooks._http_429
        self._capacity = hooks._capacity
        self._cap: float | None = None   # the capacity this object last set

    def consume(self, remaining: float, capacity: float) -> None:
        try:
            r = remaining / capacity
            if not 0.0 <= r <= 1.0:
                r = clamp_ratio(r)
            (self._ratio.get(self._key) or self._hooks._new(self._ratio, self._key)).set(r)
            if capacity != self._cap or self._key not in self._capacity:
                self._hooks._set_capacity(self._key, capacity)
                self._cap = capacity
        except Exception as exc:  # noqa: BLE001
            self._hooks._fail("consume", exc)

    def reject(self, count: int = 1) -> None:
        try:
            (self._rejected.get(self._key) or self._hooks._new(self._rejected, self._key)).inc(count)
        except Exception as exc:  # noqa: BLE001
            self._hooks._fail("reject", exc)

    def http_429(self, count: int = 1) -> None:
        try:
            (self._http_429.get(self._key) or self._hooks._new(self._http_429, self._key)).inc(count)
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
    hook_methods = ("on_consume", "on_reject", "on_http_429", "remove")

    def __init__(self, metrics: D75Metrics | None) -> None:
        super().__init__(metrics)
        # every cache is keyed by the raw (exchange, category)
        self._ratio = self._shared("rate_limit_remaining_ratio", "exchange", "category")
        self._rejected = self._shared("rate_limit_rejected", "exchange", "category")
        self._http_429 = self._shared("rate_limit_http_429", "exchange", "category")
        self._capacity = self._shared("rate_limit_capacity", "exchange", "category")
        self._caps: dict[tuple[Any, Any], float] = {}   # the capacity this object last set, per bucket

    def remove(self, exchange: str, category: str | None = None) -> None:
        """Retire the buckets of an exchange (every category, or only ``category``): their
        remaining ratio and counters disappear from /metrics; reporting them again starts fresh."""
        try:
            also = {} if category is None else {"category": label_value(category)}
            v = label_value(exchange)
            for children in (self._ratio, self._rejected, self._http_429, self._capacity):
                children.retire(exchange=v, **also)
        except Exception as exc:  # noqa: BLE001
            self._fail("remove", exc)

    def _set_capacity(self, key: tuple[Any, Any], capacity: float) -> None:
        """The bucket's capacity gauge (first consume, or the capacity changed)."""
        cap = finite(capacity)
        if cap <= 0:
            raise ValueError("capacity must be positive")
        (self._capacity.get(key) or self._capacity.child(key, key)).set(cap)
        self._caps[key] = cap

    def _new(self, children: Children, key: tuple[Any, Any]) -> Any:
        """Cache miss path: the child of ``key`` in ``children``, with both counters of the label set
        created (at 0) on first sight, so the first rejection or 429 is visible to ``increase()``."""
        self._rejected.child(key, key)
        self._http_429.child(key, key)
        return children.child(key, key)

    # -- hooks -------------------------------------------------------------------------------
    def on_consume(self, exchange: str, category: str, remaining: float, capacity: float) -> None:
        """Tokens left after a consume; sets ``d75_rate_limit_remaining_ratio`` = remaining/capacity and
        ``d75_rate_limit_capacity`` (when it changed)."""
        try:
            r = remaining / capacity
            if not 0.0 <= r <= 1.0:
                r = clamp_ratio(r)
            key = (exchange, category)
            (self._ratio.get(key) or self._new(self._ratio, key)).set(r)
            if self._caps.get(key) != capacity or key not in self._capacity:
                self._set_capacity(key, capacity)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_consume", exc)

    def on_reject(self, exchange: str, category: str, count: int = 1) -> None:
        """A request refused because the bucket was empty."""
        self._inc("on_reject", self._rejected, (exchange, category), count)

    def on_http_429(self, exchange: str, category: str, count: int = 1) -> None:
        """The exchange answered HTTP 429 (we exceeded its limit despite the bucket)."""
        self._inc("on_http_429", self._http_429, (exchange, category), count)

    def _inc(self, hook: str, counters: Children, key: tuple[Any, Any], count: int) -> None:
        try:
            (counters.get(key) or self._new(counters, key)).inc(count)
        except Exception as exc:  # noqa: BLE001
            self._fail(hook, exc)

    def bind(self, exchange: str, category: str) -> BoundRateLimiter | _NoopBucket:
        """A pre-bound bucket for the hottest calls. Never raises: bad labels give a no-op bucket
        (and count a hook error)."""
        if self.metrics is None:
            return _NoopBucket()
        try:
            key = (exchange, category)
            self._new(self._rejected, key)
            return BoundRateLimiter(self, key)
        except Exception as exc:  # noqa: BLE001
            self._fail("bind", exc)
            return _NoopBucket()
