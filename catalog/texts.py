"""How alert texts print values, and the context and graphs an alert carries (written once here).

Values are printed in words and units, with Prometheus' own template functions, so Prometheus renders
them at fire time and the generated promtool tests can check the result (`catalog.gotemplate`):

  ratio    `humanizePercentage`                       12%
  seconds  `humanizeDuration`                         3m 20s, 2.5s, 120ms
  usd      `printf "%.0f"` + thousands separators     55,000 USD
  status   the state's name (`if eq ...` chain)        FROZEN, BLOCK
  bytes    `humanize` + B                              2.1GB

**Context** (`Ctx`): what else an operator wants to see at fire time, asked from Prometheus with the
`query` template function (as the Prometheus mixins do): an exchange's status, latency, error ratio
and orderbook age together; a rate-limit bucket's tokens of its capacity; a guard tier's inputs
against their limits. Each piece is printed only when its query returns something, after the alert's
own value, so with no data the line degrades to the value alone:

    Now: status FROZEN · REST latency 2.5s · error ratio 12% · orderbook age 3m 20s

**Graphs** (`Graph`): the series that explain an alert, in the `graph` annotation as JSON (the
receiver renders them after a page): a list of `{"title", "expr", "unit": "s"|"ratio"|"usd"|"",
"threshold": number|null, "states": {"0": "HEALTHY", ...}|null}`.

Texts use the catalog's placeholders (`{label:exchange}`, `{threshold}`, `{limit:AlertName}`, ...), filled
in by `build.py`.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .gotemplate import humanize_duration

__all__ = ["HEALTH_STATES", "GUARD_STATES", "UP_STATES", "Ctx", "Graph", "value_template", "format_value",
           "static_value", "context_line", "graph_json", "GRAPH_UNITS", "USD_SEPARATORS",
           "exchange_context", "rate_limit_context", "guard_context", "GUARD_INPUTS"]

HEALTH_STATES = ("HEALTHY", "DEGRADED", "DOWN", "FROZEN")     # d75_exchange_health_status
GUARD_STATES = ("ALLOW", "DEGRADE", "COOLDOWN", "BLOCK")      # d75_riskguard_state
UP_STATES = ("DOWN", "UP")                                     # up, d75_service_up

# thousands separators without arithmetic in Go templates: each pass puts one comma in the leading
# digits ("1234567" -> "1234,567" -> "1,234,567"); five passes cover every amount below 10^18
USD_SEPARATORS = ' | reReplaceAll "^(-?[0-9]+)([0-9]{3})" "${1},${2}"' * 5
_WHOLE = 'printf "%.0f"'
# a unit's Go template pipe and what follows the number (other units: the whole number alone)
_UNIT_PIPES: dict[str, tuple[str, str]] = {
    "ratio": ("humanizePercentage", ""),
    "seconds": ("humanizeDuration", ""),
    "usd": (_WHOLE + USD_SEPARATORS, " USD"),
    "bytes": ("humanize", "B"),
    "bps": (_WHOLE, " bps"),
}
# the graph contract's units, from the catalog's
GRAPH_UNITS = {"seconds": "s", "ratio": "ratio", "usd": "usd"}


def _state_names(src: str, states: Sequence[str], var: str) -> str:
    """`src` (a number) as the name of its state; an unknown number prints as itself."""
    chain = "".join(f"{{{{ {'if' if i == 0 else 'else if'} eq {var} {i}.0 }}}}{name}"
                    for i, name in enumerate(states))
    return f"{{{{ {var} := {src} }}}}{chain}{{{{ else }}}}{{{{ {var} | printf \"%.0f\" }}}}{{{{ end }}}}"


def format_value(src: str, unit: str, states: Sequence[str] | None = None) -> str:
    """A Go template printing the number `src` (`$value`, or `. | first | value`) in its unit."""
    if states:
        return _state_names(src, states, "$state")
    pipe, suffix = _UNIT_PIPES.get(unit, (_WHOLE, ""))
    return f"{{{{ {src} | {pipe} }}}}{suffix}"


def value_template(unit: str, states: Sequence[str] | None = None, expr: str = "") -> str:
    """The Go template that prints `$value` for a unit (the `value` annotation, `{value}` in texts).

    An alert on one state (`expr` ends in `== 3`) always has that value: its name is written as text,
    not looked up at every evaluation (Prometheus parses and runs each annotation's template for every
    active alert at every evaluation; a route-tier storm has hundreds)."""
    fixed = _FIXED_STATE.search(expr) if states else None
    if fixed and int(fixed.group(1)) < len(states or ()):
        return (states or ())[int(fixed.group(1))]
    return format_value("$value", unit, states)


# `... == N` at the end of an expression, or inside label_replace(... == N, ...)
_FIXED_STATE = re.compile(r"==\s*(\d+)\s*(?:\)|,|$)")


def static_value(x: float, unit: str) -> str:
    """A number known when generating (a threshold, a limit) printed as `format_value` prints it."""
    from .build import fmt_num

    if unit == "ratio":
        return f"{fmt_num(round(x * 100, 6))}%"
    if unit == "seconds":
        return humanize_duration(x)
    if unit == "usd":
        return f"{x:,.0f} USD"
    if unit == "bps":
        return f"{fmt_num(x)} bps"
    return fmt_num(x)


@dataclass(frozen=True)
class Ctx:
    """One piece of context asked from Prometheus when the alert fires.

    `query` is a Go `printf` format (`%q` for each label of `args`, in order, taken from the alert's
    labels); the piece prints ` · {label} {value}` when the query returns a sample. `limit` names the
    catalog alert whose threshold is the limit of this value (printed as `(limit X)`); `of` is a
    second query whose value follows as `/X` (tokens left of the bucket's capacity)."""

    name: str
    label: str
    query: str
    args: tuple[str, ...]
    unit: str = ""
    states: tuple[str, ...] | None = None
    limit: str | None = None
    of: Ctx | None = None

    def query_text(self, labels: Mapping[str, str]) -> str:
        """The query Prometheus runs for an alert with `labels` (for the tests' expected results)."""
        from .gotemplate import go_printf

        missing = [a for a in self.args if a not in labels]
        if missing:
            raise ValueError(f"context {self.name}: the alert has no label {', '.join(missing)}")
        return go_printf(self.query, *(labels[a] for a in self.args))

    def _printf(self) -> str:
        return f"printf `{self.query}` " + " ".join(f"$labels.{a}" for a in self.args)

    def template(self) -> str:
        value = format_value(". | first | value", self.unit, self.states)
        limit = f" (limit {{limit:{self.limit}}})" if self.limit else ""
        if self.of is None:
            return f"{{{{ with {self._printf()} | query }}}} · {self.label} {value}{limit}{{{{ end }}}}"
        total = format_value("$of", self.of.unit)
        return (f"{{{{ with {self.of._printf()} | query }}}}{{{{ $of := . | first | value }}}}"
                f"{{{{ with {self._printf()} | query }}}} · {self.label} {value}/{total}{limit}{{{{ end }}}}"
                "{{ end }}")


def context_line(own: str, context: Sequence[Ctx]) -> str:
    """`Now: <own> · <context> ...`: `own` is the alert's own value in words (always there)."""
    return "Now: " + own + "".join(c.template() for c in context)


@dataclass(frozen=True)
class Graph:
    """One series that explains an alert (`expr` may use `{label:NAME}` placeholders).

    `threshold`: None, "own" (the alert's threshold that applied) or a catalog alert's name (its
    threshold); `states` names the values of a state metric."""

    title: str
    expr: str
    unit: str = ""
    threshold: str | None = None
    states: tuple[str, ...] | None = None


def graph_json(entries: Sequence[Mapping[str, object]]) -> str:
    """The `graph` annotation: the entries as one line of JSON (Go template actions stay inside strings)."""
    return json.dumps(list(entries), separators=(", ", ": "))


# -- context of the alert families ------------------------------------------------------------------------
def exchange_context(label: str = "exchange", *, without: str = "") -> tuple[Ctx, ...]:
    """An exchange's status, REST latency, error ratio and orderbook age (`label` carries the exchange's
    name; `without`: the one the alert itself shows)."""
    sel = "{exchange=%q,instance=%q}"
    err = "d75_exchange_requests_total{exchange=%q,instance=%q,outcome=\"error\"}"
    all_ = ("status", "latency", "errors", "book_age")
    ctx = {
        "status": Ctx("status", "status", f"d75_exchange_health_status{sel}", (label, "instance"), "status",
                      HEALTH_STATES),
        "latency": Ctx("latency", "REST latency", f"d75_exchange_rest_latency_seconds{sel}", (label, "instance"),
                       "seconds"),
        "errors": Ctx("errors", "error ratio",
                      f"sum(rate({err}[1m])) / sum(rate(d75_exchange_requests_total{sel}[1m]))",
                      (label, "instance", label, "instance"), "ratio"),
        "book_age": Ctx("book_age", "orderbook age",
                        f"time() - d75_exchange_orderbook_last_update_timestamp_seconds{sel}", (label, "instance"),
                        "seconds"),
    }
    return tuple(ctx[k] for k in all_ if k != without)


def rate_limit_context(*, with_ratio: bool = False) -> tuple[Ctx, ...]:
    """A bucket's tokens left of its capacity (`d75_rate_limit_capacity`); `with_ratio`: its remaining
    ratio first (for the alerts whose own value is a count)."""
    sel = "{exchange=%q,category=%q,instance=%q}"
    args = ("exchange", "category", "instance")
    capacity = Ctx("capacity", "capacity", f"d75_rate_limit_capacity{sel}", args, "count")
    tokens = Ctx("tokens", "tokens left", f"d75_rate_limit_remaining_ratio{sel} * d75_rate_limit_capacity{sel}",
                 args + args, "count", of=capacity)
    ratio = Ctx("ratio", "bucket left", f"d75_rate_limit_remaining_ratio{sel}", args, "ratio", limit="RateLimitLow")
    return (ratio, tokens) if with_ratio else (tokens,)


# what each tier of the 4-tier risk guard judges (the seeds' D75 risk design), with the catalog alert
# whose threshold is that input's limit (the catalog asks for the global and exchange tiers' at fire
# time; the route and symbol tiers, with a scope per route or symbol, name their limits only)
GUARD_INPUTS: dict[str, tuple[Ctx, ...]] = {
    "exchange": (
        Ctx("daily_loss", "daily loss", "-d75_daily_pnl_usd{exchange=%q,instance=%q}", ("scope", "instance"), "usd",
            limit="ExchangeDailyLoss"),
        Ctx("status", "exchange", "d75_exchange_health_status{exchange=%q,instance=%q}", ("scope", "instance"),
            "status", HEALTH_STATES),
        Ctx("rate_limit", "lowest rate-limit bucket", "min(d75_rate_limit_remaining_ratio{exchange=%q,instance=%q})",
            ("scope", "instance"), "ratio", limit="RateLimitLow"),
    ),
    "route": (
        Ctx("streak", "loss streak", "d75_route_loss_streak{route=%q,instance=%q}", ("scope", "instance"), "count",
            limit="RouteLossStreak"),
        Ctx("score", "score", "d75_route_score{route=%q,instance=%q}", ("scope", "instance"), "count",
            limit="RouteScoreLow"),
        Ctx("spread", "spread", "d75_route_spread_bps{route=%q,instance=%q}", ("scope", "instance"), "bps",
            limit="RouteSpreadWide"),
    ),
    "symbol": (
        Ctx("exposure", "exposure",
            "d75_exposure_usd{symbol=%q,instance=%q} / on (job, instance) group_left () d75_capital_usd{instance=%q}",
            ("scope", "instance", "instance"), "ratio", limit="SymbolExposureHigh"),
        Ctx("drawdown", "drawdown", "d75_symbol_drawdown_ratio{symbol=%q,instance=%q}", ("scope", "instance"),
            "ratio", limit="SymbolDrawdown"),
        Ctx("volatility", "volatility", "d75_symbol_volatility_ratio{symbol=%q,instance=%q}", ("scope", "instance"),
            "ratio", limit="SymbolVolatilityHigh"),
    ),
    "global": (
        Ctx("daily_loss", "daily loss", "-sum(d75_daily_pnl_usd{instance=%q})", ("instance",), "usd",
            limit="GlobalDailyLoss"),
        Ctx("exposure", "exposure", "sum(d75_exposure_usd{instance=%q})", ("instance",), "usd",
            limit="GlobalExposureHigh"),
        Ctx("imbalance", "max imbalance", "max(d75_inventory_imbalance_ratio{instance=%q})", ("instance",), "ratio",
            limit="GlobalImbalanceHigh"),
    ),
}


def guard_context(tier: str) -> tuple[Ctx, ...]:
    return GUARD_INPUTS[tier]
