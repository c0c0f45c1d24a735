"""What every hook class shares: a no-op mode, shared label-child caches, and failure containment.

The bot calls hooks on its hot path, so the rules are:

* a hook never raises into the caller and never blocks on anything but prometheus-client's own
  per-value lock; any exception (bad input, a broken metric) is counted in
  ``d75_exporter_hook_errors_total{hook}`` and logged at most once per ``LOG_INTERVAL_S`` per hook;
* ``metrics=None`` turns every hook into a no-op, for bots that run without the exporter;
* label children are found through ``Children``, one cache per metric shared by every hook object
  on the same ``D75Metrics`` (see there), so the steady-state cost is one dict lookup plus the value
  update, about half of prometheus-client's own ``metric.labels(...)``;
* ``remove``-style methods retire the series of an exchange, route or symbol the bot stopped
  trading: ``Children.retire`` removes them from the metric (``remove_by_labels``, as
  prometheus-client's ``remove``) and from the one shared cache, so every hook object, and every
  object from ``bind()`` (they read through the same cache), starts a fresh series at the next report.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Hashable
from enum import Enum, IntEnum
from typing import Any

from .metrics import D75Metrics

log = logging.getLogger("exporter.hooks")

LOG_INTERVAL_S = 60.0
# More distinct label sets than this for one metric is a bug in the caller (e.g. an order id used
# as a label); refusing them protects Prometheus from a cardinality explosion.
MAX_LABEL_SETS = 10_000

_SHARING = threading.Lock()  # creates each metric's Children once


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


def ratio01(value: float) -> float:
    """A 0..1 ratio; out-of-range finite values are clamped, NaN/inf refused."""
    v = finite(value)
    return v if 0.0 <= v <= 1.0 else clamp_ratio(v)


def count(value: int) -> int:
    """A non-negative integer count (bools refused: ``True`` is almost certainly a bug)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("count must be a non-negative int")
    return value


def state_parser(states: type[IntEnum], what: str) -> Callable[[object], int]:
    """A parser of ``states`` values for a hook: from an int, a name (any case) or an Enum member of
    the bot's own (matched by name, else by value)."""
    by_name = {s.name: int(s) for s in states}
    values = set(by_name.values())

    def parse(state: object) -> int:
        if type(state) is int and state in values:  # the common case first
            return state
        if isinstance(state, Enum):
            named = by_name.get(state.name.upper())
            if named is not None:
                return named
            state = state.value
        if isinstance(state, str):
            try:
                return by_name[state.strip().upper()]
            except KeyError:
                raise ValueError(f"unknown {what} {state!r}") from None
        if isinstance(state, int) and not isinstance(state, bool) and state in values:
            return int(state)
        raise ValueError(f"{what} must be {min(values)}..{max(values)} or one of {list(by_name)}")

    parse.__doc__ = f"The {what} as an int, from an int, a name (any case) or an Enum member (matched by name, " \
        "else value)."
    return parse


class Children(dict[Hashable, Any]):
    """The label children of one metric, keyed by the raw arguments the bot passes (a str, an enum
    member, or a tuple of them): the hot path is ``children.get(key)``, a plain dict lookup.

    There is one per metric and ``D75Metrics`` (``Hooks._shared``), not one per hook object: every
    hook object and every object from ``bind()`` reads through it, so a value retired through any of
    them is forgotten by all, with nothing to notify. Writes (``child``, ``retire``) take a lock;
    reads do not (a dict lookup is atomic)."""

    __slots__ = ("metric", "names", "_values", "_lock")

    def __init__(self, metric: Any, names: tuple[str, ...]) -> None:
        super().__init__()
        self.metric = metric
        self.names = names                              # the metric's label names, in order
        self._values: dict[Hashable, tuple[str, ...]] = {}  # key -> its label values
        self._lock = threading.Lock()

    def child(self, key: Hashable, labels: tuple[object, ...]) -> Any:
        """Cache miss path: validate the label values, create the child, remember it under ``key``."""
        values = tuple(label_value(v) for v in labels)
        with self._lock:
            child = self.get(key)
            if child is None:
                if len(self) >= MAX_LABEL_SETS:
                    raise ValueError(f"more than {MAX_LABEL_SETS} label sets for {self.metric!r}")
                child = self[key] = self.metric.labels(*values)
                self._values[key] = values
        return child

    def retire(self, **labels: str) -> None:
        """Remove every child whose labels include ``labels`` from the metric and from this cache."""
        where = [(self.names.index(name), value) for name, value in labels.items()]
        with self._lock:
            self.metric.remove_by_labels(labels)
            for key in [k for k, vs in self._values.items() if all(vs[i] == v for i, v in where)]:
                del self[key], self._values[key]


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
        if metrics is None:
            for name in self.hook_methods:
                setattr(self, name, _noop)

    def _shared(self, attr: str, *names: str) -> Children:
        """The ``Children`` of ``metrics.<attr>`` (label names ``names``) shared by every hook object
        on the same ``D75Metrics``; in no-op mode an unused empty one."""
        m = self.metrics
        if m is None:
            return Children(None, names)
        metric = getattr(m, attr)
        with _SHARING:
            children = m._hook_children.get(attr)
            if children is None or children.metric is not metric:
                children = m._hook_children[attr] = Children(metric, names)
        return children

    def _fail(self, hook: str, exc: BaseException) -> None:
        self._reporter.report(f"{self.component}.{hook}", exc)

    def _set(self, hook: str, children: Children, key: Hashable, value: object,
             check: Callable[[Any], float]) -> None:
        """Shared body of the gauge-setting hooks on one label (``key`` is its raw value):
        validate, cached child lookup, set; never raises."""
        try:
            v = check(value)
            child = children.get(key)
            if child is None:
                child = children.child(key, (key,))
            child.set(v)
        except Exception as exc:  # noqa: BLE001
            self._fail(hook, exc)

    def _retire(self, hook: str, label: str, value: object, *children: Children) -> str | None:
        """Drop every child with ``label=value`` of each of ``children``' metrics, for every hook
        object. Never raises; returns the label value, or None when the call failed (a counted
        hook error)."""
        try:
            v = label_value(value)
            for c in children:
                c.retire(**{label: v})
            return v
        except Exception as exc:  # noqa: BLE001
            self._fail(hook, exc)
            return None
