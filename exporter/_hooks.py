"""What every hook class shares: a no-op mode, label-child caching, and failure containment.

The bot calls hooks on its hot path, so the rules are:

* a hook never raises into the caller and never blocks on anything but prometheus-client's own
  per-value lock; any exception (bad input, a broken metric) is counted in
  ``d75_exporter_hook_errors_total{hook}`` and logged at most once per ``LOG_INTERVAL_S`` per hook;
* label children are looked up once (``metric.labels(...)``) and cached in a plain dict keyed by
  the raw arguments, so the steady-state cost is one dict lookup plus the value update;
* ``metrics=None`` turns every hook into a no-op, for bots that run without the exporter;
* ``remove``-style methods retire the series of an exchange, route or symbol the bot stopped
  trading (``prometheus_client``'s ``remove_by_labels``) and forget the cached children, so a later
  report of the same value starts a fresh series instead of updating a child nobody exports.
"""
from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterable
from enum import Enum
from typing import Any

from .metrics import D75Metrics

log = logging.getLogger("exporter.hooks")

LOG_INTERVAL_S = 60.0
# More distinct label sets than this for one metric is a bug in the caller (e.g. an order id used
# as a label); refusing them protects Prometheus from a cardinality explosion.
MAX_LABEL_SETS = 10_000


def _noop(*_args: Any, **_kwargs: Any) -> None:
    return None


def label_value(value: object) -> str:
    """A label value from what the bot passes: a non-empty str, or an Enum (its str value or name)."""
    if type(value) is str and value:
        return value
    if isinstance(value, Enum):
        inner = value.value
        return inner if isinstance(inner, str) and inner else value.name
    if isinstance(value, str) and value:
        return str(value)
    raise TypeError(f"label value must be a non-empty str, got {type(value).__name__}")


def finite(value: float) -> float:
    """``value`` as float; NaN and infinities are refused (they would poison rules)."""
    v = float(value)
    if not math.isfinite(v):
        raise ValueError("value is not finite")
    return v


def clamp_ratio(r: float) -> float:
    """Clamp an out-of-range ratio into 0..1 (e.g. tokens above a shrunk capacity); refuse NaN."""
    if r != r:
        raise ValueError("ratio is NaN")
    return 0.0 if r < 0.0 else 1.0


def non_negative(value: float) -> float:
    v = finite(value)
    if v < 0:
        raise ValueError("value must not be negative")
    return v


class ErrorReporter:
    """Counts hook failures and logs them with per-hook rate limiting; itself never raises."""

    def __init__(self, metrics: D75Metrics | None) -> None:
        self._counter = metrics.hook_errors if metrics is not None else None
        self._children: dict[str, Any] = {}
        self._last_log: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def report(self, hook: str, exc: BaseException) -> None:
        try:
            child = self._children.get(hook)
            if child is None and self._counter is not None:
                child = self._children[hook] = self._counter.labels(hook)
            if child is not None:
                child.inc()
        except Exception:  # noqa: BLE001 - the error counter itself may be what is broken
            pass
        try:
            now = time.monotonic()
            with self._lock:
                last = self._last_log.get(hook)
                if last is not None and now - last < LOG_INTERVAL_S:
                    self._suppressed[hook] = self._suppressed.get(hook, 0) + 1
                    return
                self._last_log[hook] = now
                suppressed = self._suppressed.pop(hook, 0)
            log.warning(
                "metrics hook failed; the caller was not affected",
                extra={"fields": {
                    "hook": hook,
                    "error": type(exc).__name__,
                    "detail": str(exc)[:200],
                    "suppressed_since_last_log": suppressed,
                }},
            )
        except Exception:  # noqa: BLE001
            pass


class Hooks:
    """Base of the per-component hook classes."""

    component = "hooks"
    #: public methods replaced by a no-op when ``metrics`` is None
    hook_methods: tuple[str, ...] = ()

    def __init__(self, metrics: D75Metrics | None) -> None:
        self.metrics = metrics
        self._reporter = ErrorReporter(metrics)
        self._caches_lock = threading.Lock()
        # the objects ``bind`` handed out (they hold children of their own); see ``_retire``
        self._bound: weakref.WeakSet[Any] = weakref.WeakSet()
        if metrics is None:
            for name in self.hook_methods:
                setattr(self, name, _noop)
        else:
            try:
                metrics._hook_instances.add(self)  # so a retired value is forgotten by every instance
            except Exception:  # noqa: BLE001 - a stand-in metrics object without the registry
                pass

    def _fail(self, hook: str, exc: BaseException) -> None:
        self._reporter.report(f"{self.component}.{hook}", exc)

    def _child(self, cache: dict[Hashable, Any], metric: Any, key: Hashable,
               labels: tuple[object, ...]) -> Any:
        """Cache miss path: validate label values, create the child, remember it under ``key``."""
        values = tuple(label_value(v) for v in labels)
        with self._caches_lock:
            child = cache.get(key)
            if child is None:
                if len(cache) >= MAX_LABEL_SETS:
                    raise ValueError(f"more than {MAX_LABEL_SETS} label sets for {metric._name}")
                child = cache[key] = metric.labels(*values)
        return child

    def _peers(self) -> list[Hooks]:
        """This instance and every other live instance of its class on the same ``D75Metrics``:
        a value retired through one must be forgotten by all (they cache the same children)."""
        registry = getattr(self.metrics, "_hook_instances", None)
        peers = [h for h in list(registry) if type(h) is type(self)] if registry is not None else []
        return peers if self in peers else [self, *peers]

    def _retire(self, hook: str, label: str, value: object, metrics: Iterable[Any],
                caches: Callable[[Any], Iterable[tuple[dict[Hashable, Any], Callable[[Hashable, str], bool]]]],
                also: dict[str, str] | None = None,
                bound: Callable[[Hashable, str], bool] | None = None) -> str | None:
        """Drop every child with ``label=value`` (and ``also``) of ``metrics``; then, in this instance
        and its peers, the cache entries ``caches(instance)`` selects (a cache and a predicate on its
        key and the value), and the bound objects whose ``_key`` ``bound`` selects forget their
        children (``_forget``: their next call creates fresh ones).
        Never raises; returns the label value, or None when the call failed (a counted hook error)."""
        try:
            v = label_value(value)
            for metric in metrics:
                metric.remove_by_labels({label: v, **(also or {})})
            for peer in self._peers():
                with peer._caches_lock:
                    for cache, selects in caches(peer):
                        for key in [k for k in cache if selects(k, v)]:
                            del cache[key]
                if bound is not None:
                    for obj in list(peer._bound):
                        if bound(obj._key, v):
                            obj._forget()
            return v
        except Exception as exc:  # noqa: BLE001
            self._fail(hook, exc)
            return None


def key_is(raw: object, value: str) -> bool:
    """Cache keyed by the raw label argument itself: whether it has the label value ``value``."""
    try:
        return label_value(raw) == value
    except Exception:  # noqa: BLE001 - a bad key never had a child
        return False


def key_at(pos: int) -> Callable[[Hashable, str], bool]:
    """Cache keyed by a tuple of raw label arguments; select on position ``pos``."""
    def selects(raw: Hashable, value: str) -> bool:
        return isinstance(raw, tuple) and len(raw) > pos and key_is(raw[pos], value)
    return selects


def ratio01(value: float) -> float:
    """A 0..1 ratio; out-of-range finite values are clamped, NaN/inf refused."""
    v = finite(value)
    return v if 0.0 <= v <= 1.0 else clamp_ratio(v)


def count(value: int) -> int:
    """A non-negative integer count (bools refused: ``True`` is almost certainly a bug)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("count must be a non-negative int")
    return value


def set_gauge(hooks: Hooks, hook: str, cache: dict[Hashable, Any], metric: Any,
              labels: tuple[object, ...], value: object, check: Callable[[Any], float]) -> None:
    """Shared body of the gauge-setting hooks: validate, cached child lookup, set; never raises."""
    try:
        v = check(value)
        child = cache.get(labels)
        if child is None:
            child = hooks._child(cache, metric, labels, labels)
        child.set(v)
    except Exception as exc:  # noqa: BLE001
        hooks._fail(hook, exc)
