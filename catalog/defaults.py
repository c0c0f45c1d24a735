"""The default threshold catalog: every row of CONTRACT section 3, Watchdog, system rules, P3 warnings,
and the pipeline's own alerts (`pipeline_alerts.py`).

Each alert is written once. Placeholders filled in by `build.py`:
  {threshold} {threshold_pct} {threshold_usd}  the (possibly overridden) threshold
  {threshold_text}                             the threshold in words and units (12%, 2s, 10,000 USD)
  {limit:NAME}                                 the threshold of the catalog alert NAME, in words and units
  {keep}                                       1 - threshold (for "fell by more than X")
  {for}                                        the `for` duration
  {value}                                      the current value in words and units (`texts.value_template`)
  {label:NAME}                                 a label of the firing series
Comparisons are strict as CONTRACT section 3 writes them ("< 0.20" is silent at exactly 0.20).

Every alert says what to do (`action`: what the bot already did, what to check, how it resumes) and
names the series that explain it (`graph`). Texts name an alert by its identifying labels only; `job`
and `instance` appear only where they tell two alerts apart (ExporterDown). Where an operator wants
more than the alert's own value, `now` and `context` add a line asked from Prometheus at fire time
(`texts.Ctx`): "Now: status FROZEN · REST latency 2.5s · error ratio 12% · orderbook age 3m 20s".

Risk guard states (`d75_riskguard_state`: 1 DEGRADE, 2 COOLDOWN, 3 BLOCK) alert per tier. Severities
follow the seeds' D75 risk design: BLOCK at its tier's severity (global P0, exchange P1, route and
symbol P2); DEGRADE and COOLDOWN are the tier's early warnings, one step below its BLOCK and never
below P2 (the risk layer's design dispatches warnings and above; P3 would only reach the daily
digest): global P1, exchange P2, route P2, symbol P2.

P3 early warnings sit between the simulator's calm bands (docs/architecture.md) and the P2 thresholds,
with long `for`s: they go to the daily digest, so they may overlap a P2 on the same signal.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from vocabulary import EXPORTER_PORT

from .model import AlertSpec, Probe
from .pipeline_alerts import PIPELINE_SPECS
from .texts import (
    GUARD_STATES,
    HEALTH_STATES,
    UP_STATES,
    Ctx,
    Graph,
    exchange_context,
    guard_context,
    rate_limit_context,
)

__all__ = ["DEFAULT_SPECS", "BOT"]

# every promtool input series carries the labels Prometheus adds to the exporter's samples
BOT = {"job": "d75", "instance": f"bot:{EXPORTER_PORT}"}


Labels = Mapping[str, str]
FromThreshold = Callable[[float], float]   # a probe level computed from the alert's threshold


def _sel(metric: str, labels: Labels | None = None) -> str:
    allp = {**BOT, **(labels or {})}
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in allp.items()) + "}"


def _of_threshold(level: FromThreshold) -> Callable[[float | None], float]:
    """A probe level (`Probe.at` ...) from a function of the threshold, which the alert must have."""
    def of(t: float | None) -> float:
        if t is None:
            raise ValueError("this probe computes its levels from a threshold, and the alert has none")
        return level(t)
    return of


def _same(t: float) -> float:
    return t


def _gauge(metric: str, labels: Labels | None = None, *, at: FromThreshold, past: FromThreshold,
           calm: FromThreshold, scale: float = 1.0, aggregated: bool = False) -> Probe:
    """A single gauge series whose sample value is `scale * level` (`aggregated`: the rule sums it
    by job and instance, so the alert carries only those)."""
    s = _sel(metric, labels)
    return Probe(series=lambda v: {s: scale * v}, at=_of_threshold(at), past=_of_threshold(past),
                 calm=_of_threshold(calm), exp_labels=dict(BOT) if aggregated else {**BOT, **(labels or {})})


def _status(metric: str, labels: Labels | None = None, *, at: float, past: float, calm: float,
            exp_extra: Labels | None = None) -> Probe:
    """A status gauge (no threshold: fixed levels); `exp_extra`: labels the rule adds to the alert
    (label_replace)."""
    s = _sel(metric, labels)
    return Probe(series=lambda v: {s: v}, at=lambda _t: at, past=lambda _t: past, calm=lambda _t: calm,
                 exp_labels={**BOT, **(labels or {}), **(exp_extra or {})})


def _counter(metric: str, labels: Labels | None = None, *, window_samples: int) -> Probe:
    """A counter growing by `level` per 15 s sample; `increase(...[w])` then reads level * samples.

    `at` spreads the threshold over the window (a hair under it: floating point), `past` adds at
    least one event per sample."""
    s = _sel(metric, labels)
    ws = window_samples
    return Probe(series=lambda v: {s: v}, at=_of_threshold(lambda t: t / ws * (1 - 1e-9)),
                 past=_of_threshold(lambda t: max(1.0, (t + 1) / ws)), calm=lambda _t: 0.0,
                 kind="counter", settle_seconds=window_samples * 15,
                 value=lambda v: v * window_samples, exp_labels={**BOT, **(labels or {})})


EX = {"exchange": "upbit"}
RL = {"exchange": "upbit", "category": "order"}
RT = {"route": "upbit-binance-BTC"}
SY = {"symbol": "BTC"}
CAPITAL = 100_000.0


def _capital_ratio(*, at: FromThreshold, past: FromThreshold, calm: FromThreshold, with_symbol: bool) -> Probe:
    """Exposure of one symbol as `level` x capital, with the capital series alongside."""
    exp = _sel("d75_exposure_usd", SY)
    cap = _sel("d75_capital_usd")
    labels = {**BOT, **SY} if with_symbol else dict(BOT)
    return Probe(series=lambda v: {exp: round(v * CAPITAL, 6), cap: CAPITAL}, at=_of_threshold(at),
                 past=_of_threshold(past), calm=_of_threshold(calm), exp_labels=labels)


def _error_ratio(*, at: FromThreshold, past: FromThreshold) -> Probe:
    """REST requests per 15 s sample: 100 in all, `level` of them errors."""
    err = _sel("d75_exchange_requests_total", {"outcome": "error", **EX})
    ok = _sel("d75_exchange_requests_total", {"outcome": "ok", **EX})
    return Probe(series=lambda v: {err: round(100 * v, 6), ok: round(100 * (1 - v), 6)}, at=_of_threshold(at),
                 past=_of_threshold(past), calm=lambda _t: 0.01, kind="counter", settle_seconds=60,
                 exp_labels={**BOT, **EX})


def _orderbook_age(*, at: FromThreshold, past: FromThreshold) -> Probe:
    s = _sel("d75_exchange_orderbook_last_update_timestamp_seconds", EX)
    return Probe(series=lambda v: {s: v}, at=_of_threshold(at), past=_of_threshold(past), calm=lambda _t: 0.0,
                 kind="age", exp_labels={**BOT, **EX})


def _with_context(probe: Probe, series: Mapping[str, tuple[str, float]],
                  values: Mapping[str, float | Callable[[float], float] | None]) -> Probe:
    """`probe` with series for the alert's context queries and what those return (`texts.Ctx`)."""
    return replace(probe, context=dict(series), context_values=dict(values))


# the context series the probes hold (per-sample values; `age`: a timestamp that old)
def _ex_context(labels: Labels = EX, *, status: float | None = None, latency: float | None = None,
                errors: float | None = None, book_age: float | None = None) -> dict[str, tuple[str, float]]:
    out: dict[str, tuple[str, float]] = {}
    if status is not None:
        out[_sel("d75_exchange_health_status", labels)] = ("gauge", status)
    if latency is not None:
        out[_sel("d75_exchange_rest_latency_seconds", labels)] = ("gauge", latency)
    if errors is not None:  # 100 requests per sample, `errors` of them failed
        out[_sel("d75_exchange_requests_total", {**labels, "outcome": "error"})] = ("counter", round(100 * errors, 6))
        out[_sel("d75_exchange_requests_total", {**labels, "outcome": "ok"})] = ("counter",
                                                                                 round(100 * (1 - errors), 6))
    if book_age is not None:
        out[_sel("d75_exchange_orderbook_last_update_timestamp_seconds", labels)] = ("age", book_age)
    return out


def _q(metric: str, **labels: str) -> str:
    """A selector for a graph: `label='<the firing alert's label>'` (a label of the alert by name)."""
    return metric + "{" + ",".join(f"{k}='{{label:{v}}}'" for k, v in labels.items()) + "}"


def _ex_graphs(label: str = "exchange", own: str = "") -> dict[str, Graph]:
    """An exchange's series; the one named `own` carries the alert's own threshold."""
    sel = {"exchange": label, "instance": "instance"}

    def th(name: str, default: str) -> str:
        return "own" if own == name else default

    requests = "d75_exchange_requests_total"
    return {
        "status": Graph(f"{{label:{label}}} health", _q("d75_exchange_health_status", **sel), states=HEALTH_STATES),
        "latency": Graph(f"{{label:{label}}} REST latency", _q("d75_exchange_rest_latency_seconds", **sel), "seconds",
                         th("latency", "ExchangeLatencyCritical")),
        "book_age": Graph(f"{{label:{label}}} orderbook age",
                          "time() - " + _q("d75_exchange_orderbook_last_update_timestamp_seconds", **sel), "seconds",
                          th("book_age", "OrderbookStale")),
        "errors": Graph(f"{{label:{label}}} REST error ratio (1m)",
                        f"sum(rate({_q(requests, **sel)[:-1]},outcome='error'}}[1m]))"
                        f" / sum(rate({_q(requests, **sel)}[1m]))", "ratio",
                        th("errors", "ExchangeErrorRatioCritical")),
    }


_RL = {"exchange": "exchange", "category": "category", "instance": "instance"}
_RL_GRAPHS = {
    "remaining": Graph("{label:exchange} {label:category} bucket left", _q("d75_rate_limit_remaining_ratio", **_RL),
                       "ratio", "RateLimitLow"),
    "http_429": Graph("HTTP 429 in the last minute", f"increase({_q('d75_rate_limit_http_429_total', **_RL)}[1m])"),
    "rejected": Graph("requests refused by the limiter in the last minute",
                      f"increase({_q('d75_rate_limit_rejected_total', **_RL)}[1m])"),
}
_TOTAL_EXPOSURE_RATIO = ("sum by (job, instance) (" + _q("d75_exposure_usd", instance="instance")
                         + ") / on (job, instance) " + _q("d75_capital_usd", instance="instance"))
# the rate-limit probes' bucket: capacity 1200 tokens (tokens left = ratio x capacity)
_CAPACITY = {_sel("d75_rate_limit_capacity", RL): ("gauge", 1200.0)}


def _guard_graphs(tier: str) -> tuple[Graph, ...]:
    """The guard's state for the scope, then the inputs its tier judges (with their limits)."""
    scope = "" if tier == "global" else "scope='{label:scope}',"   # one global scope: the global alerts have none
    state = Graph(f"{tier} guard" + ("" if tier == "global" else " {label:scope}"),
                  f"d75_riskguard_state{{tier='{tier}',{scope}instance='{{label:instance}}'}}", states=GUARD_STATES)
    scoped = {"instance": "instance"}
    inputs: dict[str, tuple[Graph, ...]] = {
        "exchange": (Graph("{label:scope} daily loss", "-" + _q("d75_daily_pnl_usd", exchange="scope", **scoped), "usd",
                           "ExchangeDailyLoss"),),
        "route": (Graph("{label:scope} loss streak", _q("d75_route_loss_streak", route="scope", **scoped), "",
                        "RouteLossStreak"),
                  Graph("{label:scope} score", _q("d75_route_score", route="scope", **scoped), "", "RouteScoreLow")),
        "symbol": (Graph("{label:scope} exposure / capital", _q("d75_exposure_usd", symbol="scope", **scoped)
                         + " / on (job, instance) group_left () " + _q("d75_capital_usd", **scoped), "ratio",
                         "SymbolExposureHigh"),
                   Graph("{label:scope} drawdown", _q("d75_symbol_drawdown_ratio", symbol="scope", **scoped), "ratio",
                         "SymbolDrawdown")),
        "global": (Graph("total daily loss", "-sum(" + _q("d75_daily_pnl_usd", **scoped) + ")", "usd",
                         "GlobalDailyLoss"),
                   Graph("total exposure", "sum(" + _q("d75_exposure_usd", **scoped) + ")", "usd",
                         "GlobalExposureHigh")),
    }
    return (state, *inputs[tier])


def _guard_state_ctx(tier: str, label: str) -> Ctx:
    """The state of one tier's guard for the scope named by the alert's `label`."""
    args = (label, "instance") if tier != "global" else ("instance",)
    scope = "scope=%q," if tier != "global" else ""
    return Ctx("guard", f"{tier} guard", f'd75_riskguard_state{{tier="{tier}",{scope}instance=%q}}', args, "status",
               GUARD_STATES)


_RL_CHECKS = (
    "Which bucket: the `category` label (`order` or `market_data`) and the exchange's rate-limit dashboard panel.",
    "Did request volume change? A new route set or a retry loop can drain a bucket.",
    "Compare with the exchange's published limits; lower the bot's request rate for that category if they changed.",
)
_EX_CHECKS = (
    "Exchange status page and its API announcements (maintenance, incidents).",
    "The Overview dashboard: REST latency, error ratio and orderbook age for the exchange.",
    "The bot's logs for that exchange: timeouts, HTTP 5xx, websocket reconnects.",
)
def _guard_expr(tier: str, state: int) -> str:
    """One state of one guard tier. The exchange tier's scope is an exchange: the alert also carries it
    as `exchange`, so an exchange's P0 inhibits it like every other alert about that exchange."""
    expr = f'd75_riskguard_state{{tier="{tier}"}} == {state}'
    if tier == "exchange":
        return f'label_replace({expr}, "exchange", "$1", "scope", "(.+)")'
    return expr


_RISK_CHECKS = (
    "The risk guard state panel: which tier and scope is limiting trading.",
    "Recent fills and PnL for the scope in the bot's trade log.",
    "Do not raise a limit to silence this: decide with the risk owner.",
)

# tier -> (BLOCK severity, DEGRADE/COOLDOWN severity): see the module docstring
GUARD_TIER_SEVERITY = {"global": ("P0", "P1"), "exchange": ("P1", "P2"), "route": ("P2", "P2"), "symbol": ("P2", "P2")}
_GUARD_SCOPE = {"global": "global", "exchange": "upbit", "route": "upbit-binance-BTC", "symbol": "BTC"}
# what the guard does in each state; {where}: the scope ("{label:scope}", or "all trading" for the global tier)
_GUARD_TEXT = {
    "BLOCK": ("blocks {where}", "The {tier} tier of the 4-tier risk guard stopped trading for its scope."),
    "DEGRADE": ("DEGRADEs {where}: trading goes on with reduced size",
                "An early warning: the {tier} tier of the risk guard reduces trading for its scope because an input "
                "is close to its limit."),
    "COOLDOWN": ("put {where} in COOLDOWN: trading pauses until the cooldown ends",
                 "An early warning: the {tier} tier of the risk guard pauses its scope for a while (a loss streak, "
                 "a burst of errors)."),
}
_GUARD_ACTION = {
    ("global", "BLOCK"): "Trading is halted until the next day. Manual review required before any restart; do not "
                         "raise a limit to restart.",
    ("exchange", "BLOCK"): "The bot stopped trading on {label:scope}. Find the input over its limit (above); trading "
                           "resumes when the guard returns to ALLOW.",
    ("route", "BLOCK"): "The bot stopped trading {label:scope}; it resumes when the guard returns to ALLOW. Check the "
                        "route's score and loss streak.",
    ("symbol", "BLOCK"): "The bot stopped trading {label:scope}. Decide with the risk owner whether to reduce the "
                         "inventory.",
    ("global", "DEGRADE"): "Nothing stopped yet: the bot trades with reduced size everywhere. Check the input close "
                           "to its limit (above) before the global guard blocks all trading.",
    ("global", "COOLDOWN"): "The bot pauses all trading and resumes by itself when the cooldown ends. If it repeats, "
                            "review the day's losses with the risk owner.",
    "DEGRADE": "Nothing stopped yet: the bot trades {where} with reduced size. Check the input close to its limit "
               "(above) before the guard blocks.",
    "COOLDOWN": "The bot pauses {where} and resumes by itself when the cooldown ends. If it repeats, check the loss "
                "streak and the edge there.",
}


def _guard_probe(tier: str, state: str) -> Probe:
    """The guard's state series, and for some cases the tier's inputs (the others show the degraded line)."""
    scope = _GUARD_SCOPE[tier]
    level = GUARD_STATES.index(state)
    probe = _status("d75_riskguard_state", {"tier": tier, "scope": scope}, at=level - 1, past=level, calm=0,
                    exp_extra={"exchange": scope} if tier == "exchange" else None)
    inputs: dict[tuple[str, str], tuple[dict[str, tuple[str, float]], dict[str, float | None]]] = {
        ("global", "BLOCK"): ({_sel("d75_daily_pnl_usd", EX): ("gauge", -55_000),
                              _sel("d75_exposure_usd", SY): ("gauge", 120_000)},
                             {"daily_loss": 55_000.0, "exposure": 120_000.0}),
        ("exchange", "BLOCK"): ({_sel("d75_daily_pnl_usd", EX): ("gauge", -12_000), **_ex_context(status=1),
                                _sel("d75_rate_limit_remaining_ratio", RL): ("gauge", 0.15)},
                               {"daily_loss": 12_000.0, "status": 1.0, "rate_limit": 0.15}),
        ("exchange", "DEGRADE"): ({_sel("d75_rate_limit_remaining_ratio", RL): ("gauge", 0.15)}, {"rate_limit": 0.15}),
    }
    if (tier, state) in inputs:
        series, values = inputs[(tier, state)]
        probe = _with_context(probe, series, values)
    return probe


# The route and symbol tiers have a scope per route (hundreds) or symbol: a context query per alert would
# cost every evaluation of their group one query per firing alert (measured: 500 route DEGRADEs with
# three queries each took the group 0.3-0.7 s on a loaded 2-CPU box, more than the 500 ms evaluation
# interval). Their texts name the tier's limits instead; the values are in the graph annotation.
_GUARD_LIMITS = {
    "route": " Its limits: a loss streak of {limit:RouteLossStreak}, a score under {limit:RouteScoreLow}, a spread "
             "over {limit:RouteSpreadWide}.",
    "symbol": " Its limits: exposure over {limit:SymbolExposureHigh} of capital, a drawdown over "
              "{limit:SymbolDrawdown}, volatility over {limit:SymbolVolatilityHigh}.",
}


def _guard_spec(tier: str, state: str) -> AlertSpec:
    """The alert on one state (BLOCK, DEGRADE, COOLDOWN) of one tier of the risk guard."""
    block_sev, early_sev = GUARD_TIER_SEVERITY[tier]
    where = "all trading" if tier == "global" else "{label:scope}"
    what, meaning = (t.format(where=where, tier=tier) for t in _GUARD_TEXT[state])
    action = (_GUARD_ACTION.get((tier, state)) or _GUARD_ACTION[state]).replace("{where}", where)
    inhibited = ""
    if tier == "global" and state == "BLOCK":
        inhibited = " The other tiers' guard alerts are inhibited."
    elif state == "BLOCK":
        inhibited = " Its DEGRADE and COOLDOWN alerts are inhibited."
    return AlertSpec(
        name=f"RiskGuard{tier.capitalize()}{state.capitalize()}",
        source="risk_guard",
        severity=block_sev if state == "BLOCK" else early_sev,
        expr=_guard_expr(tier, GUARD_STATES.index(state)),
        comparison="==",
        metric="d75_riskguard_state",
        labels=("tier", "scope", "exchange") if tier == "exchange" else ("tier", "scope"),
        unit="status",
        states=GUARD_STATES,
        # the global tier has one scope: it is not named
        summary=f"Risk guard {state} ({tier})" if tier == "global" else f"Risk guard {state} ({tier} {{label:scope}})",
        description=f"The {tier}-tier risk guard {what}.{inhibited}" + _GUARD_LIMITS.get(tier, ""),
        now="state",
        context=() if tier in _GUARD_LIMITS else guard_context(tier),
        action=action,
        graph=_guard_graphs(tier),
        meaning=meaning,
        checks=_RISK_CHECKS,
        probe=_guard_probe(tier, state),
    )


DEFAULT_SPECS: tuple[AlertSpec, ...] = (
    (
        # ------------------------------------------------------------------ rate_limiter
        AlertSpec(
            name="RateLimitLow",
            action="The bot's limiter is already throttling {label:category} requests on {label:exchange}. Look for a "
            "retry loop or a new route set; if the exchange lowered its limits, lower the bot's request rate.",
            now="bucket left",
            context=rate_limit_context(),
            graph=(replace(_RL_GRAPHS["remaining"], threshold="own"), _RL_GRAPHS["rejected"]),
            source="rate_limiter",
            severity="P2",
            expr="d75_rate_limit_remaining_ratio < {threshold}",
            threshold=0.20,
            comparison="<",
            metric="d75_rate_limit_remaining_ratio",
            labels=("exchange", "category"),
            unit="ratio",
            summary="Rate limit low on {label:exchange} ({label:category})",
            description="The {label:category} token bucket on {label:exchange} is below {threshold_text}: requests "
            "will soon be refused by the bot's own limiter.",
            meaning="The bot is close to its own request budget for this exchange and category; the next "
            "burst will be refused locally (RateLimitExhausted) or by the exchange (HTTP 429).",
            checks=_RL_CHECKS,
            probe=_with_context(
                _gauge("d75_rate_limit_remaining_ratio", RL, at=_same, past=lambda t: t - 0.01, calm=lambda t: 0.9),
                _CAPACITY, {"capacity": 1200.0, "tokens": lambda level: level * 1200}),
        ),
        AlertSpec(
            name="RateLimitHttp429",
            action="Slow down {label:category} requests to {label:exchange} now: the exchange refuses them and may ban "
            "the key. Check whether another process uses the same API key or IP.",
            now="429s in the last minute",
            context=rate_limit_context(with_ratio=True),
            graph=(replace(_RL_GRAPHS["http_429"], threshold="own"), _RL_GRAPHS["remaining"]),
            source="rate_limiter",
            severity="P1",
            expr="increase(d75_rate_limit_http_429_total[1m]) > {threshold}",
            threshold=0,
            comparison=">",
            metric="d75_rate_limit_http_429_total",
            labels=("exchange", "category"),
            unit="count",
            summary="HTTP 429 from {label:exchange} ({label:category})",
            description="{label:exchange} answers HTTP 429 (too many requests) to {label:category} requests. "
            "Repeated 429s can get the API key banned.",
            meaning="The exchange itself is throttling the bot: orders may be rejected and repeated "
            "violations can lead to a temporary IP or key ban.",
            checks=_RL_CHECKS + ("Check whether another process shares the same API key or IP.",),
            probe=_with_context(_counter("d75_rate_limit_http_429_total", RL, window_samples=4),
                                {**_CAPACITY, _sel("d75_rate_limit_remaining_ratio", RL): ("gauge", 0.05)},
                                {"ratio": 0.05, "capacity": 1200.0, "tokens": 60.0}),
        ),
        AlertSpec(
            name="RateLimitExhausted",
            action="The bot is dropping {label:category} requests to {label:exchange} (empty bucket): quotes and "
            "orders are delayed. Lower the request rate for that category, or raise the bucket if the exchange allows.",
            now="refused in the last minute",
            context=rate_limit_context(with_ratio=True),
            graph=(replace(_RL_GRAPHS["rejected"], threshold="own"), _RL_GRAPHS["remaining"]),
            source="rate_limiter",
            severity="P2",
            expr="increase(d75_rate_limit_rejected_total[1m]) > {threshold}",
            threshold=0,
            comparison=">",
            metric="d75_rate_limit_rejected_total",
            labels=("exchange", "category"),
            unit="count",
            summary="Rate limit bucket exhausted on {label:exchange} ({label:category})",
            description="The bot's limiter refuses {label:category} requests to {label:exchange}: the token bucket "
            "is empty.",
            meaning="Requests are being dropped by the bot's own limiter: quotes or orders are delayed or lost.",
            checks=_RL_CHECKS,
            probe=_counter("d75_rate_limit_rejected_total", RL, window_samples=4),
        ),
        AlertSpec(
            name="RateLimitHeadroomShrinking",
            action="Nothing to do now. Plan capacity: review the {label:category} request volume on {label:exchange} "
            "before it reaches RateLimitLow.",
            graph=(replace(_RL_GRAPHS["remaining"], threshold="own"),),
            source="rate_limiter",
            severity="P3",
            for_="10m",
            expr="d75_rate_limit_remaining_ratio < {threshold}",
            threshold=0.40,
            comparison="<",
            metric="d75_rate_limit_remaining_ratio",
            labels=("exchange", "category"),
            unit="ratio",
            summary="Rate limit headroom shrinking on {label:exchange} ({label:category})",
            description="The {label:category} bucket on {label:exchange} has stayed under {threshold_text} "
            "for {for} (now {value} left). An early warning, before RateLimitLow.",
            meaning="Sustained high request usage: an early warning for capacity planning, not an incident.",
            checks=_RL_CHECKS,
            probe=_gauge("d75_rate_limit_remaining_ratio", RL, at=_same, past=lambda t: t - 0.05, calm=lambda t: 0.9),
        ),
        # ------------------------------------------------------------------ exchange_health
        AlertSpec(
            name="ExchangeDegraded",
            action="The route scorer already penalises {label:exchange}; nothing to do if it recovers. If it lasts, "
            "check its status page and its latency and error ratio.",
            now="status",
            states=HEALTH_STATES,
            context=exchange_context(without="status"),
            graph=tuple(_ex_graphs()[k] for k in ("status", "latency", "errors")),
            source="exchange_health",
            severity="P2",
            expr="d75_exchange_health_status == 1",
            comparison="==",
            metric="d75_exchange_health_status",
            labels=("exchange",),
            unit="status",
            summary="{label:exchange} is DEGRADED",
            description="The health monitor reports {label:exchange} as DEGRADED: slow or partially failing API. "
            "Routes through it score lower.",
            meaning="The exchange answers, but slowly or with errors; the route scorer already penalises it.",
            checks=_EX_CHECKS,
            probe=_with_context(_status("d75_exchange_health_status", EX, at=0, past=1, calm=0),
                                _ex_context(latency=0.8, book_age=7), {"latency": 0.8, "book_age": 7.0}),
        ),
        AlertSpec(
            name="ExchangeDown",
            action="Trading on {label:exchange} has stopped. Check its status page and API announcements; after 5m "
            "DOWN, fail over (ExchangeDownSustained pages P0).",
            now="status",
            states=HEALTH_STATES,
            context=exchange_context(without="status"),
            graph=tuple(_ex_graphs()[k] for k in ("status", "latency", "errors")),
            source="exchange_health",
            severity="P1",
            expr="d75_exchange_health_status == 2",
            comparison="==",
            metric="d75_exchange_health_status",
            labels=("exchange",),
            unit="status",
            summary="{label:exchange} is DOWN",
            description="The health monitor reports {label:exchange} as DOWN: no usable API, trading on it has "
            "stopped. After 5m this becomes ExchangeDownSustained (P0, failover).",
            meaning="No usable API on this exchange: open positions there cannot be managed.",
            checks=_EX_CHECKS,
            probe=_with_context(_status("d75_exchange_health_status", EX, at=1, past=2, calm=0),
                                _ex_context(latency=1.25, errors=0.125, book_age=8.2),
                                {"latency": 1.25, "errors": 0.125, "book_age": 8.2}),
        ),
        AlertSpec(
            name="ExchangeDownSustained",
            action="Fail over now: disable the routes through {label:exchange} and move inventory away from it. "
            "Re-enable them once its health is HEALTHY again.",
            now="status",
            states=HEALTH_STATES,
            context=exchange_context(without="status"),
            graph=tuple(_ex_graphs()[k] for k in ("status", "latency", "errors")),
            source="exchange_health",
            severity="P0",
            for_="5m",
            expr="d75_exchange_health_status == 2",
            comparison="==",
            metric="d75_exchange_health_status",
            labels=("exchange",),
            unit="status",
            summary="{label:exchange} DOWN for {for}: failover required",
            description="{label:exchange} has been DOWN for {for}: inventory there is stuck and routes through it "
            "are dead.",
            meaning="A long outage: inventory stuck on the exchange is at risk and routes through it are dead.",
            checks=_EX_CHECKS + ("Start the failover procedure: disable the exchange's routes, rebalance away.",),
            probe=_status("d75_exchange_health_status", EX, at=1, past=2, calm=0),
        ),
        AlertSpec(
            name="ExchangeFrozen",
            action="The bot halted trading on {label:exchange}. Check its websocket feed and status page; trading "
            "resumes by itself once the orderbook moves again and the monitor reports HEALTHY.",
            now="status",
            states=HEALTH_STATES,
            context=exchange_context(without="status"),
            graph=tuple(_ex_graphs()[k] for k in ("book_age", "latency", "status")),
            source="exchange_health",
            severity="P0",
            expr="d75_exchange_health_status == 3",
            comparison="==",
            metric="d75_exchange_health_status",
            labels=("exchange",),
            unit="status",
            summary="{label:exchange} is FROZEN",
            description="The health monitor froze {label:exchange}: its data is not moving, so trading on it is "
            "halted. Its DOWN/DEGRADED alerts are inhibited.",
            meaning="Prices from this exchange cannot be trusted (stale or stuck); acting on them loses money.",
            checks=_EX_CHECKS + ("Check the websocket feed and the orderbook age panel.",),
            probe=_with_context(_status("d75_exchange_health_status", EX, at=2, past=3, calm=0),
                                _ex_context(latency=2.5, errors=0.12, book_age=200),
                                {"latency": 2.5, "errors": 0.12, "book_age": 200.0}),
        ),
        AlertSpec(
            name="ExchangeLatencyHigh",
            action="Fills on {label:exchange} slip. Check the network path and the exchange's status; consider smaller "
            "orders there until REST latency is back under {threshold_text}.",
            now="REST latency",
            context=exchange_context(without="latency"),
            graph=tuple(_ex_graphs(own="latency")[k] for k in ("latency", "errors")),
            source="exchange_health",
            severity="P2",
            for_="5m",
            expr="d75_exchange_rest_latency_seconds > {threshold}",
            threshold=0.5,
            comparison=">",
            metric="d75_exchange_rest_latency_seconds",
            labels=("exchange",),
            unit="seconds",
            summary="{label:exchange} REST latency high",
            description="REST latency to {label:exchange} has been over {threshold_text} for {for}.",
            meaning="Slow API calls: quotes go stale before orders land, so fills slip.",
            checks=_EX_CHECKS,
            probe=_with_context(
                _gauge("d75_exchange_rest_latency_seconds", EX, at=_same, past=lambda t: t + 0.1, calm=lambda t: 0.1),
                _ex_context(status=0, errors=0.02, book_age=0.4), {"status": 0.0, "errors": 0.02, "book_age": 0.4}),
        ),
        AlertSpec(
            name="ExchangeLatencyCritical",
            action="Stop trading on {label:exchange} until REST latency is back under {threshold_text}: orders land on "
            "prices that no longer exist. Check the network path and the exchange's status page.",
            now="REST latency",
            context=exchange_context(without="latency"),
            graph=tuple(_ex_graphs(own="latency")[k] for k in ("latency", "book_age", "errors")),
            source="exchange_health",
            severity="P0",
            expr="d75_exchange_rest_latency_seconds > {threshold}",
            threshold=2.0,
            comparison=">",
            metric="d75_exchange_rest_latency_seconds",
            labels=("exchange",),
            unit="seconds",
            summary="{label:exchange} REST latency critical",
            description="REST latency to {label:exchange} is over {threshold_text}: orders land on prices that no "
            "longer exist.",
            meaning="The exchange is effectively unusable for arbitrage at this latency.",
            checks=_EX_CHECKS,
            probe=_with_context(
                _gauge("d75_exchange_rest_latency_seconds", EX, at=_same, past=lambda t: t + 0.5, calm=lambda t: 0.1),
                _ex_context(status=1, errors=0.12, book_age=3), {"status": 1.0, "errors": 0.12, "book_age": 3.0}),
        ),
        AlertSpec(
            name="ExchangeLatencyElevated",
            action="Nothing to do now; watch the latency trend (network path, region, exchange load).",
            now="REST latency",
            context=exchange_context(without="latency"),
            graph=(_ex_graphs(own="latency")["latency"],),
            source="exchange_health",
            severity="P3",
            for_="10m",
            expr="d75_exchange_rest_latency_seconds > {threshold}",
            threshold=0.3,
            comparison=">",
            metric="d75_exchange_rest_latency_seconds",
            labels=("exchange",),
            unit="seconds",
            summary="{label:exchange} REST latency elevated",
            description="REST latency to {label:exchange} has been over {threshold_text} for {for}. An early "
            "warning, before ExchangeLatencyHigh.",
            meaning="A slow drift in latency: network path, region or exchange load.",
            checks=_EX_CHECKS,
            probe=_gauge(
                "d75_exchange_rest_latency_seconds",
                EX,
                at=_same,
                past=lambda t: t + 0.05,
                calm=lambda t: 0.1,
            ),
        ),
        AlertSpec(
            name="OrderbookLagging",
            action="Spreads from {label:exchange} are getting stale. Check its websocket connection; the alert pages "
            "P0 once the book is over {limit:OrderbookStale} old.",
            now="orderbook age",
            context=exchange_context(without="book_age"),
            graph=tuple(_ex_graphs(own="book_age")[k] for k in ("book_age", "latency")),
            source="exchange_health",
            severity="P2",
            expr="time() - d75_exchange_orderbook_last_update_timestamp_seconds > {threshold}",
            threshold=5,
            comparison=">",
            metric="d75_exchange_orderbook_last_update_timestamp_seconds",
            labels=("exchange",),
            unit="seconds",
            summary="{label:exchange} orderbook lagging",
            description="The {label:exchange} orderbook is over {threshold_text} old: spreads computed from it are "
            "getting stale.",
            meaning="Spreads computed from this book are getting stale.",
            checks=_EX_CHECKS + ("Check the websocket connection for the exchange.",),
            probe=_orderbook_age(at=_same, past=lambda t: t + 1),
        ),
        AlertSpec(
            name="OrderbookStale",
            action="Do not trust opportunities on {label:exchange}: its orderbook is stale. Restart its websocket "
            "feed; the alert clears as soon as updates arrive.",
            now="orderbook age",
            context=exchange_context(without="book_age"),
            graph=tuple(_ex_graphs(own="book_age")[k] for k in ("book_age", "latency", "status")),
            source="exchange_health",
            severity="P0",
            expr="time() - d75_exchange_orderbook_last_update_timestamp_seconds > {threshold}",
            threshold=10,
            comparison=">",
            metric="d75_exchange_orderbook_last_update_timestamp_seconds",
            labels=("exchange",),
            unit="seconds",
            summary="{label:exchange} orderbook stale",
            description="The {label:exchange} orderbook is over {threshold_text} old: arbitrage on it trades "
            "against prices that are gone.",
            meaning="Stale book: any opportunity the bot sees on this exchange is probably fake.",
            checks=_EX_CHECKS + ("Check the websocket connection for the exchange.",),
            probe=_with_context(_orderbook_age(at=_same, past=lambda t: t + 2),
                                _ex_context(status=3, latency=0.15), {"status": 3.0, "latency": 0.15}),
        ),
        AlertSpec(
            name="ExchangeErrorRatioHigh",
            action="Orders and balance checks on {label:exchange} are unreliable. Check its status page and the bot's "
            "log for the errors (timeouts, HTTP 5xx).",
            now="error ratio",
            context=exchange_context(without="errors"),
            graph=tuple(_ex_graphs(own="errors")[k] for k in ("errors", "latency")),
            source="exchange_health",
            severity="P1",
            for_="1m",
            expr='sum by (job, instance, exchange) (rate(d75_exchange_requests_total{outcome="error"}[1m]))'
            " / sum by (job, instance, exchange) (rate(d75_exchange_requests_total[1m])) > {threshold}",
            threshold=0.05,
            comparison=">",
            metric="d75_exchange_requests_total",
            labels=("exchange",),
            unit="ratio",
            summary="{label:exchange} REST error ratio high",
            description="Over {threshold_text} of REST requests to {label:exchange} have failed for {for}.",
            meaning="A meaningful share of API calls fail: orders and balance checks are unreliable.",
            checks=_EX_CHECKS,
            probe=_error_ratio(at=_same, past=lambda t: t + 0.01),
        ),
        AlertSpec(
            name="ExchangeErrorRatioCritical",
            action="Stop trading on {label:exchange}: one leg of a trade may fill and the other not. Check open "
            "orders there, its status page and the bot's error log.",
            now="error ratio",
            context=exchange_context(without="errors"),
            graph=tuple(_ex_graphs(own="errors")[k] for k in ("errors", "latency", "status")),
            source="exchange_health",
            severity="P0",
            expr='sum by (job, instance, exchange) (rate(d75_exchange_requests_total{outcome="error"}[1m]))'
            " / sum by (job, instance, exchange) (rate(d75_exchange_requests_total[1m])) > {threshold}",
            threshold=0.10,
            comparison=">",
            metric="d75_exchange_requests_total",
            labels=("exchange",),
            unit="ratio",
            summary="{label:exchange} REST error ratio critical",
            description="Over {threshold_text} of REST requests to {label:exchange} failed in the last minute.",
            meaning="The exchange is failing a large share of calls: one leg of a trade may fill and the other not.",
            checks=_EX_CHECKS,
            probe=_with_context(_error_ratio(at=_same, past=lambda t: t + 0.05),
                                _ex_context(status=1, latency=1.25, book_age=8.2),
                                {"status": 1.0, "latency": 1.25, "book_age": 8.2}),
        ),
        # ------------------------------------------------------------------ arb_route
        AlertSpec(
            name="RouteScoreLow",
            action="The universe skips {label:route} while its score is low; nothing to do if that is right. Check "
            "the health of both exchanges of the route.",
            graph=(Graph("{label:route} score", _q("d75_route_score", route="route", instance="instance"),
                         threshold="own"),),
            source="arb_route",
            severity="P2",
            expr="d75_route_score < {threshold}",
            threshold=50,
            comparison="<",
            metric="d75_route_score",
            labels=("route",),
            unit="score",
            summary="Route {label:route} score low",
            description="RouteScore of {label:route} is {value} (below {threshold}): the universe skips it.",
            meaning="The route is barely worth trading; the universe will likely skip it.",
            checks=(
                "Route score panel: which component (spread, depth, latency, fees) fell.",
                "Health of both exchanges of the route.",
            ),
            probe=_gauge("d75_route_score", RT, at=_same, past=lambda t: t - 1, calm=lambda t: 80),
        ),
        AlertSpec(
            name="RouteScoreDrop",
            action="Check both exchanges of {label:route} (health, liquidity); the universe skips the route while "
            "its score stays low.",
            graph=(Graph("{label:route} score", _q("d75_route_score", route="route", instance="instance"),
                         threshold="RouteScoreLow"),),
            source="arb_route",
            severity="P2",
            expr="d75_route_score / max_over_time(d75_route_score[1m]) < {keep}",
            threshold=0.30,
            comparison=">",
            metric="d75_route_score",
            labels=("route",),
            unit="ratio",
            summary="Route {label:route} score collapsed",
            description="RouteScore of {label:route} fell to {value} of its 1-minute high "
            "(a fall of more than {threshold_text}).",
            meaning="A sudden collapse: usually one exchange of the route degraded or liquidity vanished.",
            checks=("Route score panel for the route, and the health of both exchanges.",),
            probe=Probe(
                series=lambda v: {_sel("d75_route_score", RT): 80 * (1 - v)},
                at=_of_threshold(_same),
                past=_of_threshold(lambda t: t + 0.05),
                calm=lambda _t: 0.0,
                kind="drop",
                base=80.0,
                value=lambda v: 1 - v,
                exp_labels={**BOT, **RT},
            ),
        ),
        # ------------------------------------------------------------------ arb_universe
        AlertSpec(
            name="NoActiveRoutes",
            action="The bot is not trading. Find why every route is skipped: route scores, exchange health, a risk "
            "guard BLOCK.",
            graph=(Graph("active routes", "d75_universe_routes{state='active',instance='{label:instance}'}",
                         threshold="own"),
                   Graph("global guard", "d75_riskguard_state{tier='global',instance='{label:instance}'}",
                         states=GUARD_STATES)),
            source="arb_universe",
            severity="P1",
            for_="5m",
            expr='d75_universe_routes{state="active"} < {threshold}',
            threshold=1,
            comparison="<",
            metric="d75_universe_routes",
            labels=(),
            unit="count",
            summary="No active arbitrage routes",
            description="{value} routes have been active for {for} (alert below {threshold}): the bot is not "
            "trading.",
            meaning="The bot earns nothing: every route is skipped.",
            checks=(
                "Universe panel: why routes are skipped (scores, exchange health, risk guard).",
                "Risk guard state: a global BLOCK also empties the universe.",
            ),
            probe=_gauge("d75_universe_routes", {"state": "active"}, at=_same, past=lambda t: t - 1, calm=lambda t: 10),
        ),
        # ------------------------------------------------------------------ cross_sync
        AlertSpec(
            name="InventoryImbalanceHigh",
            action="Trades in one direction will stop. Check that rebalancing of {label:symbol} runs and succeeds; "
            "rebalance by hand if it is stuck.",
            graph=(Graph("{label:symbol} imbalance", _q("d75_inventory_imbalance_ratio", symbol="symbol",
                                                        instance="instance"), "ratio", "own"),
                   Graph("{label:symbol} rebalance failures in a row",
                         _q("d75_rebalance_consecutive_failures", symbol="symbol", instance="instance"))),
            source="cross_sync",
            severity="P2",
            expr="d75_inventory_imbalance_ratio > {threshold}",
            threshold=0.5,
            comparison=">",
            metric="d75_inventory_imbalance_ratio",
            labels=("symbol",),
            unit="ratio",
            summary="{label:symbol} inventory imbalanced",
            description="Cross-exchange inventory of {label:symbol} is {value} imbalanced (over {threshold_text}).",
            meaning="One side of the arbitrage is running out of the symbol; trades in that direction will stop.",
            checks=(
                "Inventory panel: balances per exchange.",
                "Is rebalancing running and succeeding?",
            ),
            probe=_gauge("d75_inventory_imbalance_ratio", SY, at=_same, past=lambda t: t + 0.05, calm=lambda t: 0.1),
        ),
        AlertSpec(
            name="InventoryImbalanceRising",
            action="Nothing to do now; check that rebalancing keeps up with the trading flow.",
            graph=(Graph("{label:symbol} imbalance", _q("d75_inventory_imbalance_ratio", symbol="symbol",
                                                        instance="instance"), "ratio", "own"),),
            source="cross_sync",
            severity="P3",
            for_="15m",
            expr="d75_inventory_imbalance_ratio > {threshold}",
            threshold=0.3,
            comparison=">",
            metric="d75_inventory_imbalance_ratio",
            labels=("symbol",),
            unit="ratio",
            summary="{label:symbol} inventory drifting",
            description="Inventory of {label:symbol} has been over {threshold_text} imbalanced for {for} "
            "(now {value}). An early warning, before InventoryImbalanceHigh.",
            meaning="Rebalancing is not keeping up with trading flow.",
            checks=("Inventory panel: balances per exchange.",),
            probe=_gauge("d75_inventory_imbalance_ratio", SY, at=_same, past=lambda t: t + 0.05, calm=lambda t: 0.1),
        ),
        AlertSpec(
            name="TotalExposureHigh",
            action="No room left to hedge or take new trades. Check which symbols carry the exposure and whether "
            "positions are closing.",
            graph=(Graph("total exposure / capital", _TOTAL_EXPOSURE_RATIO, "ratio", "own"),),
            source="cross_sync",
            severity="P1",
            expr="sum by (job, instance) (d75_exposure_usd) / on (job, instance) d75_capital_usd > {threshold}",
            threshold=0.8,
            comparison=">",
            metric="d75_exposure_usd",
            labels=(),
            unit="ratio",
            summary="Total exposure above {threshold_pct}% of capital",
            description="Open exposure is {value} of trading capital (over {threshold_text}).",
            meaning="Almost all capital is tied up in open positions: no room to hedge or to take new trades.",
            checks=(
                "Exposure panel: which symbols carry it.",
                "Are positions closing, or stuck on a slow exchange?",
            ),
            probe=_capital_ratio(at=_same, past=lambda t: t + 0.05, calm=lambda t: 0.3, with_symbol=False),
        ),
        AlertSpec(
            name="TotalExposureWarning",
            action="Nothing to do now; watch capital usage.",
            graph=(Graph("total exposure / capital", _TOTAL_EXPOSURE_RATIO, "ratio", "own"),),
            source="cross_sync",
            severity="P3",
            for_="15m",
            expr="sum by (job, instance) (d75_exposure_usd) / on (job, instance) d75_capital_usd > {threshold}",
            threshold=0.6,
            comparison=">",
            metric="d75_exposure_usd",
            labels=(),
            unit="ratio",
            summary="Total exposure above {threshold_pct}% of capital",
            description="Open exposure has been over {threshold_text} of capital for {for} (now {value}). "
            "An early warning, before TotalExposureHigh.",
            meaning="Capital usage is trending high.",
            checks=("Exposure panel: which symbols carry it.",),
            probe=_capital_ratio(at=_same, past=lambda t: t + 0.05, calm=lambda t: 0.3, with_symbol=False),
        ),
        AlertSpec(
            name="RebalanceFailing",
            action="Inventory of {label:symbol} cannot be moved. Check deposits and withdrawals of the asset on both "
            "exchanges and the bot's rebalance log; move funds by hand if needed.",
            graph=(Graph("{label:symbol} rebalance failures in a row",
                         _q("d75_rebalance_consecutive_failures", symbol="symbol", instance="instance"),
                         threshold="own"),
                   Graph("{label:symbol} imbalance", _q("d75_inventory_imbalance_ratio", symbol="symbol",
                                                        instance="instance"), "ratio", "InventoryImbalanceHigh")),
            source="cross_sync",
            severity="P1",
            expr="d75_rebalance_consecutive_failures >= {threshold}",
            threshold=3,
            comparison=">=",
            metric="d75_rebalance_consecutive_failures",
            labels=("symbol",),
            unit="count",
            summary="{label:symbol} rebalancing failing",
            description="{value} rebalance attempts for {label:symbol} failed in a row (alert at {threshold}).",
            meaning="Inventory cannot be moved between exchanges: imbalance will grow until trading stops.",
            checks=(
                "Withdrawal/deposit status of both exchanges for the asset (network suspended?).",
                "The bot's rebalance log for the error.",
            ),
            probe=_gauge("d75_rebalance_consecutive_failures", SY, at=lambda t: t - 1, past=_same, calm=lambda t: 0),
        ),
        AlertSpec(
            name="InventorySyncFailing",
            action="The bot's balances on {label:exchange} may be wrong. Check the balance API (key permissions, "
            "expiry) and the exchange's status.",
            graph=(Graph("{label:exchange} balance sync failures (5m)",
                         f"increase({_q('d75_inventory_sync_failures_total', exchange='exchange', instance='instance')}"
                         "[5m])", threshold="own"),),
            source="cross_sync",
            severity="P2",
            expr="increase(d75_inventory_sync_failures_total[5m]) > {threshold}",
            threshold=0,
            comparison=">",
            metric="d75_inventory_sync_failures_total",
            labels=("exchange",),
            unit="count",
            summary="Balance sync failing on {label:exchange}",
            description="{value} balance API calls to {label:exchange} failed or timed out in the last 5m.",
            meaning="The bot's view of balances on this exchange may be wrong; sizing decisions use old numbers.",
            checks=_EX_CHECKS + ("API key permissions and expiry for the balance endpoint.",),
            probe=_counter("d75_inventory_sync_failures_total", EX, window_samples=20),
        ),
        # ------------------------------------------------------------------ risk_guard
        AlertSpec(
            name="ExchangeDailyLoss",
            action="The exchange-tier guard should be degrading or blocking {label:exchange}: confirm it is. Decide "
            "with the risk owner before trading there again today.",
            now="loss",
            context=(_guard_state_ctx("exchange", "exchange"),),
            graph=(Graph("{label:exchange} daily loss", "-" + _q("d75_daily_pnl_usd", exchange="exchange",
                                                                 instance="instance"), "usd", "own"),
                   Graph("exchange guard {label:exchange}", "d75_riskguard_state{tier='exchange',"
                         "scope='{label:exchange}',instance='{label:instance}'}", states=GUARD_STATES)),
            source="risk_guard",
            severity="P1",
            expr="-d75_daily_pnl_usd > {threshold}",
            threshold=10_000,
            comparison=">",
            metric="d75_daily_pnl_usd",
            labels=("exchange",),
            unit="usd",
            summary="Daily loss on {label:exchange} over {threshold_usd} USD",
            description="Realised loss on {label:exchange} since 00:00 UTC is over the exchange limit of "
            "{threshold_text}.",
            meaning="The exchange-tier loss limit is breached: the risk guard should be degrading or blocking it.",
            checks=_RISK_CHECKS,
            probe=_with_context(
                _gauge("d75_daily_pnl_usd", EX, at=_same, past=lambda t: t + 5000, calm=lambda t: -1000, scale=-1.0),
                {_sel("d75_riskguard_state", {"tier": "exchange", "scope": "upbit"}): ("gauge", 1)}, {"guard": 1.0}),
        ),
        AlertSpec(
            name="DailyLossWarning",
            action="Nothing to do now; review the day's trades on {label:exchange}.",
            graph=(Graph("{label:exchange} daily loss", "-" + _q("d75_daily_pnl_usd", exchange="exchange",
                                                                 instance="instance"), "usd", "own"),),
            source="risk_guard",
            severity="P3",
            expr="-d75_daily_pnl_usd > {threshold}",
            threshold=5_000,
            comparison=">",
            metric="d75_daily_pnl_usd",
            labels=("exchange",),
            unit="usd",
            summary="Daily loss on {label:exchange} over {threshold_usd} USD",
            description="Realised loss on {label:exchange} since 00:00 UTC is {value} (early warning at "
            "{threshold_text}, before ExchangeDailyLoss at {limit:ExchangeDailyLoss}).",
            meaning="A losing day on this exchange; informational.",
            checks=_RISK_CHECKS,
            probe=_gauge("d75_daily_pnl_usd", EX, at=_same, past=lambda t: t + 1000, calm=lambda t: -1000, scale=-1.0),
        ),
        AlertSpec(
            name="RouteLossStreak",
            action="The route tier's guard puts {label:route} in COOLDOWN. Check fees, slippage and competition "
            "before trading it again.",
            graph=(Graph("{label:route} loss streak", _q("d75_route_loss_streak", route="route", instance="instance"),
                         threshold="own"),),
            source="risk_guard",
            severity="P2",
            expr="d75_route_loss_streak >= {threshold}",
            threshold=3,
            comparison=">=",
            metric="d75_route_loss_streak",
            labels=("route",),
            unit="count",
            summary="Route {label:route} on a losing streak",
            description="{label:route} lost {value} trades in a row (alert at {threshold}).",
            meaning="The route's edge may be gone (fees, slippage, a faster competitor).",
            checks=_RISK_CHECKS,
            probe=_gauge("d75_route_loss_streak", RT, at=lambda t: t - 1, past=_same, calm=lambda t: 0),
        ),
        AlertSpec(
            name="RouteSpreadWide",
            action="Do not trade {label:route} on this spread: it is bad data or a halted market. Check both "
            "exchanges' market status for the symbol.",
            graph=(Graph("{label:route} spread (bps)", _q("d75_route_spread_bps", route="route", instance="instance"),
                         threshold="own"),),
            source="risk_guard",
            severity="P2",
            expr="d75_route_spread_bps > {threshold}",
            threshold=500,
            comparison=">",
            metric="d75_route_spread_bps",
            labels=("route",),
            unit="bps",
            summary="Route {label:route} spread abnormally wide",
            description="The spread on {label:route} is {value} bps (over {threshold} bps): usually a "
            "pricing error or a suspended market, not an opportunity.",
            meaning="Spreads this wide are almost always bad data or a halted market on one side.",
            checks=_RISK_CHECKS + ("Check both exchanges' market status for the symbol.",),
            probe=_gauge("d75_route_spread_bps", RT, at=_same, past=lambda t: t + 150, calm=lambda t: 50),
        ),
        AlertSpec(
            name="SymbolExposureHigh",
            action="The symbol tier's guard degrades {label:symbol}. Reduce the position, or let the guard hold new "
            "trades until it is under {threshold_text} of capital.",
            graph=(Graph("{label:symbol} exposure / capital", _q("d75_exposure_usd", symbol="symbol",
                                                                 instance="instance")
                         + " / on (job, instance) group_left () " + _q("d75_capital_usd", instance="instance"),
                         "ratio", "own"),),
            source="risk_guard",
            severity="P2",
            expr="d75_exposure_usd / on (job, instance) group_left () d75_capital_usd > {threshold}",
            threshold=0.5,
            comparison=">",
            metric="d75_exposure_usd",
            labels=("symbol",),
            unit="ratio",
            summary="{label:symbol} exposure above {threshold_pct}% of capital",
            description="Exposure in {label:symbol} is {value} of capital (over {threshold_text}).",
            meaning="Concentration risk: one symbol carries most of the book.",
            checks=_RISK_CHECKS,
            probe=_capital_ratio(at=_same, past=lambda t: t + 0.05, calm=lambda t: 0.1, with_symbol=True),
        ),
        AlertSpec(
            name="SymbolDrawdown",
            action="The symbol tier's guard blocks {label:symbol}. Decide with the risk owner whether to cut the "
            "inventory.",
            graph=(Graph("{label:symbol} drawdown", _q("d75_symbol_drawdown_ratio", symbol="symbol",
                                                       instance="instance"), "ratio", "own"),),
            source="risk_guard",
            severity="P1",
            expr="d75_symbol_drawdown_ratio > {threshold}",
            threshold=0.20,
            comparison=">",
            metric="d75_symbol_drawdown_ratio",
            labels=("symbol",),
            unit="ratio",
            summary="{label:symbol} drawdown over {threshold_pct}%",
            description="{label:symbol} is {value} below its peak (over {threshold_text}).",
            meaning="Inventory held in the symbol is losing value fast.",
            checks=_RISK_CHECKS,
            probe=_gauge("d75_symbol_drawdown_ratio", SY, at=_same, past=lambda t: t + 0.05, calm=lambda t: 0.01),
        ),
        AlertSpec(
            name="SymbolVolatilityHigh",
            action="The symbol tier's guard degrades {label:symbol}: legs fill at very different prices. Consider "
            "smaller sizes until it calms.",
            graph=(Graph("{label:symbol} volatility", _q("d75_symbol_volatility_ratio", symbol="symbol",
                                                         instance="instance"), "ratio", "own"),),
            source="risk_guard",
            severity="P2",
            expr="d75_symbol_volatility_ratio > {threshold}",
            threshold=0.10,
            comparison=">",
            metric="d75_symbol_volatility_ratio",
            labels=("symbol",),
            unit="ratio",
            summary="{label:symbol} volatility high",
            description="Volatility of {label:symbol} is {value} (over {threshold_text}).",
            meaning="Prices move faster than trades settle: legs fill at very different prices.",
            checks=_RISK_CHECKS,
            probe=_gauge("d75_symbol_volatility_ratio", SY, at=_same, past=lambda t: t + 0.05, calm=lambda t: 0.02),
        ),
        AlertSpec(
            name="GlobalDailyLoss",
            action="Trading is halted until the next day (global guard BLOCK). Manual review required before any "
            "restart: confirm no orders are going out.",
            now="loss",
            context=(_guard_state_ctx("global", "instance"),),
            graph=_guard_graphs("global")[1:2] + _guard_graphs("global")[:1],
            source="risk_guard",
            severity="P0",
            expr="-sum by (job, instance) (d75_daily_pnl_usd) > {threshold}",
            threshold=50_000,
            comparison=">",
            metric="d75_daily_pnl_usd",
            labels=(),
            unit="usd",
            summary="Total daily loss over {threshold_usd} USD",
            description="Realised loss across all exchanges since 00:00 UTC is over the global limit of "
            "{threshold_text}: the global guard must block trading.",
            meaning="The bot-wide loss limit is breached.",
            checks=_RISK_CHECKS + ("Confirm the global guard is in BLOCK and no orders are going out.",),
            probe=_gauge(
                "d75_daily_pnl_usd",
                EX,
                at=_same,
                past=lambda t: t + 10_000,
                calm=lambda t: -1000,
                scale=-1.0,
                aggregated=True,
            ),  # no guard series here: the "Now:" line shows the loss alone
        ),
        AlertSpec(
            name="GlobalExposureHigh",
            action="The global guard blocks new trades. Confirm no orders are going out, then reduce exposure; "
            "manual review required.",
            now="exposure",
            context=(_guard_state_ctx("global", "instance"),),
            graph=_guard_graphs("global")[2:3] + _guard_graphs("global")[:1],
            source="risk_guard",
            severity="P0",
            expr="sum by (job, instance) (d75_exposure_usd) > {threshold}",
            threshold=100_000,
            comparison=">",
            metric="d75_exposure_usd",
            labels=(),
            unit="usd",
            summary="Total exposure over {threshold_usd} USD",
            description="Open exposure across all symbols is over the global limit of {threshold_text}.",
            meaning="The bot-wide exposure limit is breached.",
            checks=_RISK_CHECKS,
            probe=_with_context(
                _gauge("d75_exposure_usd", SY, at=_same, past=lambda t: t + 20_000, calm=lambda t: 10_000,
                       aggregated=True),
                {_sel("d75_riskguard_state", {"tier": "global", "scope": "global"}): ("gauge", 3)}, {"guard": 3.0}),
        ),
        AlertSpec(
            name="GlobalImbalanceHigh",
            action="Trading capacity is shrinking bot-wide. Find the imbalanced symbol and check that rebalancing "
            "runs.",
            graph=(Graph("max imbalance", "max(" + _q("d75_inventory_imbalance_ratio", instance="instance") + ")",
                         "ratio", "own"),),
            source="risk_guard",
            severity="P1",
            expr="max by (job, instance) (d75_inventory_imbalance_ratio) > {threshold}",
            threshold=0.5,
            comparison=">",
            metric="d75_inventory_imbalance_ratio",
            labels=(),
            unit="ratio",
            summary="Maximum inventory imbalance over {threshold_pct}%",
            description="The most imbalanced symbol is {value} imbalanced across exchanges "
            "(global limit {threshold_text}).",
            meaning="The global guard's imbalance limit is breached: trading capacity is shrinking bot-wide.",
            checks=_RISK_CHECKS + ("Inventory panel: which symbol.",),
            probe=_gauge(
                "d75_inventory_imbalance_ratio",
                SY,
                at=_same,
                past=lambda t: t + 0.05,
                calm=lambda t: 0.1,
                aggregated=True,
            ),
        ),
    )
    + tuple(_guard_spec(tier, state) for tier in GUARD_TIER_SEVERITY for state in ("BLOCK", "DEGRADE", "COOLDOWN"))
    + (
        # ------------------------------------------------------------------ system
        AlertSpec(
            name="ExporterDown",
            action="Every alert of this bot is blind. Check that the bot process runs and that its /metrics answers "
            "from the Prometheus host.",
            states=UP_STATES,
            graph=(Graph("scrape of {label:instance}", "up{job='d75',instance='{label:instance}'}",
                         states=UP_STATES),),
            source="system",
            severity="P0",
            expr='up{job="d75"} == 0',
            comparison="==",
            metric="up",
            labels=("job", "instance"),
            unit="status",
            summary="D75 exporter {label:instance} is down",
            description="Prometheus cannot scrape the bot's exporter at {label:instance} (its target is {value}). "
            "Every other alert from it is blind and inhibited.",
            meaning="Either the bot is down or its metrics endpoint is: no alert from it can fire.",
            checks=(
                "Is the bot process running? (`systemctl status`, container state).",
                "Can you curl its /metrics from the Prometheus host?",
            ),
            probe=_status("up", at=1, past=0, calm=1),
        ),
        AlertSpec(
            name="DataDiskCritical",
            action="Free space now: rotate or ship the bot's logs on {label:path}. The bot fails to write its state "
            "and trade log when the disk is full.",
            graph=(Graph("free on {label:path}", _q("d75_data_disk_free_ratio", path="path", instance="instance"),
                         "ratio", "own"),),
            source="system",
            severity="P2",
            expr="d75_data_disk_free_ratio < {threshold}",
            threshold=0.05,
            comparison="<",
            metric="d75_data_disk_free_ratio",
            labels=("path",),
            unit="ratio",
            summary="Bot data disk almost full ({label:path})",
            description="Only {value} of the disk holding {label:path} is free (below {threshold_pct}%).",
            meaning="The bot will soon fail to write its state and trade log.",
            checks=("`df -h` on the bot host; rotate or ship logs.",),
            probe=_gauge(
                "d75_data_disk_free_ratio",
                {"path": "/var/lib/d75"},
                at=_same,
                past=lambda t: t - 0.01,
                calm=lambda t: 0.5,
            ),
        ),
        AlertSpec(
            name="DataDiskLow",
            action="Plan disk space: rotate or ship logs on {label:path} before DataDiskCritical.",
            graph=(Graph("free on {label:path}", _q("d75_data_disk_free_ratio", path="path", instance="instance"),
                         "ratio", "own"),),
            source="system",
            severity="P3",
            for_="5m",
            expr="d75_data_disk_free_ratio < {threshold}",
            threshold=0.10,
            comparison="<",
            metric="d75_data_disk_free_ratio",
            labels=("path",),
            unit="ratio",
            summary="Bot data disk filling up ({label:path})",
            description="{value} of the disk holding {label:path} is free (below {threshold_pct}% for {for}).",
            meaning="Disk usage is trending towards full.",
            checks=("`df -h` on the bot host; rotate or ship logs.",),
            probe=_gauge(
                "d75_data_disk_free_ratio",
                {"path": "/var/lib/d75"},
                at=_same,
                past=lambda t: t - 0.02,
                calm=lambda t: 0.5,
            ),
        ),
        AlertSpec(
            name="ExporterMemoryHigh",
            action="Check the memory trend: steady growth is a leak. Restart the bot at a quiet moment, before it is "
            "OOM-killed mid-trade.",
            graph=(Graph("bot resident memory", "process_resident_memory_bytes{job='d75',instance='{label:instance}'}",
                         threshold="own"),),
            source="system",
            severity="P2",
            for_="10m",
            expr='process_resident_memory_bytes{job="d75"} > {threshold}',
            threshold=2_000_000_000,
            comparison=">",
            metric="process_resident_memory_bytes",
            labels=(),
            unit="bytes",
            summary="Bot process memory high",
            description="The bot process uses {value} of resident memory (over {threshold_bytes} for {for}).",
            meaning="A memory leak or an oversized universe; the process may be OOM-killed mid-trade.",
            checks=("Memory trend on the dashboard: steady growth means a leak.",),
            probe=_gauge(
                "process_resident_memory_bytes",
                at=_same,
                past=lambda t: t * 1.25,
                calm=lambda t: 100_000_000,
            ),
        ),
        AlertSpec(
            name="ExporterRestarted",
            action="Check the bot's logs around the restart (crash or deploy?). In-memory state such as loss streaks "
            "started over.",
            graph=(Graph("bot process start time", "process_start_time_seconds{job='d75',instance='{label:instance}'}"),
                   ),
            source="system",
            severity="P3",
            expr='changes(process_start_time_seconds{job="d75"}[15m]) > {threshold}',
            threshold=0,
            comparison=">",
            metric="process_start_time_seconds",
            labels=(),
            unit="count",
            summary="Bot process restarted",
            description="The bot process restarted {value} time(s) in the last 15m.",
            meaning="A restart loses in-memory state (open orders tracking, streaks); informational.",
            checks=("The bot's logs around the restart: crash or deploy?",),
            probe=Probe(
                series=lambda v: {_sel("process_start_time_seconds"): v},
                at=_of_threshold(_same),
                past=_of_threshold(lambda t: t + 1),
                calm=lambda _t: 0.0,
                kind="step",
                base=1_700_000_000.0,
                value=lambda v: 1.0 if v else 0.0,
                settle_seconds=0,
                exp_labels=dict(BOT),
            ),
        ),
        AlertSpec(
            name="ServiceDown",
            source="system",
            severity="P1",
            for_="1m",
            expr="d75_service_up == 0",
            comparison="==",
            metric="d75_service_up",
            labels=("service",),
            unit="status",
            states=UP_STATES,
            summary="Bot service {label:service} is down",
            description="The bot's health check of {label:service} has failed for {for} (it returned false, raised "
            "or was cut at its timeout).",
            now="status",
            context=(Ctx("duration", "last check took",
                         "d75_service_check_duration_seconds{service=%q,instance=%q}", ("service", "instance"),
                         "seconds"),),
            action="Check {label:service} itself (process, network, credentials) and the bot's log for the check's "
            "error; the alert clears at the first good check.",
            graph=(Graph("{label:service}", _q("d75_service_up", service="service", instance="instance"),
                         states=UP_STATES),
                   Graph("{label:service} check duration", _q("d75_service_check_duration_seconds",
                                                              service="service", instance="instance"), "seconds",
                         "ServiceSlow")),
            meaning="A service the bot depends on (its database, a websocket feed, an exchange API) fails the "
            "health check the bot runs on it (`exporter.ServiceHooks`).",
            checks=("`status_summary()` in the bot, or its log: the check's last error.",
                    "The service itself: is it running, reachable from the bot's host, are its credentials valid?"),
            probe=_with_context(_status("d75_service_up", {"service": "database"}, at=1, past=0, calm=1),
                                {_sel("d75_service_check_duration_seconds", {"service": "database"}): ("gauge", 5)},
                                {"duration": 5.0}),
        ),
        AlertSpec(
            name="ServiceSlow",
            source="system",
            severity="P2",
            for_="5m",
            expr="d75_service_check_duration_seconds > {threshold} and d75_service_up == 1",
            threshold=2.0,
            comparison=">",
            metric="d75_service_check_duration_seconds",
            labels=("service",),
            unit="seconds",
            summary="Bot service {label:service} is slow",
            description="The bot's health check of {label:service} passes but has taken over {threshold_text} "
            "for {for}.",
            now="last check took",
            action="{label:service} answers, but slowly: check its load and the network path before it starts "
            "timing out (ServiceDown).",
            graph=(Graph("{label:service} check duration", _q("d75_service_check_duration_seconds",
                                                              service="service", instance="instance"), "seconds",
                         "own"),),
            meaning="A service the bot depends on is slow: the bot's own calls to it are probably slow too.",
            checks=("The service's load and the network path from the bot's host.",),
            probe=Probe(
                series=lambda v: {_sel("d75_service_check_duration_seconds", {"service": "database"}): v,
                                  _sel("d75_service_up", {"service": "database"}): 1.0},
                at=_of_threshold(_same), past=_of_threshold(lambda t: t + 0.5), calm=lambda _t: 0.05,
                exp_labels={**BOT, "service": "database"}),
        ),
        AlertSpec(
            name="ExporterCpuHigh",
            source="system",
            severity="P2",
            for_="10m",
            expr='rate(process_cpu_seconds_total{job="d75"}[5m]) > {threshold}',
            threshold=0.9,
            comparison=">",
            metric="process_cpu_seconds_total",
            labels=(),
            unit="ratio",
            summary="Bot process CPU high",
            description="The bot process has used over {threshold_text} of a CPU core for {for} (now {value}).",
            action="The bot's loop may fall behind the market. Look for a busy loop or an oversized universe (the "
            "CPU panel), and give the bot a faster core if it is just load.",
            graph=(Graph("bot CPU (cores)",
                         "rate(process_cpu_seconds_total{job='d75',instance='{label:instance}'}[5m])", "ratio",
                         "own"),),
            meaning="A saturated process reacts late: quotes age before the bot acts on them.",
            checks=("CPU trend on the dashboard: a step after a deploy, or a slow climb with the universe size?",),
            # CPU seconds per 15 s sample = level x 15; the 5m rate reaches the level once its window is full
            probe=Probe(
                series=lambda v: {_sel("process_cpu_seconds_total"): round(v * 15, 6)},
                at=_of_threshold(lambda t: t * (1 - 1e-6)), past=_of_threshold(lambda t: t + 0.05),
                calm=lambda _t: 0.1, kind="counter", settle_seconds=300, rising=True, exp_labels=dict(BOT)),
        ),
        AlertSpec(
            name="MetricsHookErrors",
            action="The bot was not affected. Fix the call its log names (`metrics hook failed`): a dashboard or alert "
            "may be missing data.",
            graph=(Graph("{label:hook} errors (15m)",
                         f"increase({_q('d75_exporter_hook_errors_total', hook='hook', instance='instance')}[15m])",
                         threshold="own"),),
            source="system",
            severity="P3",
            expr="increase(d75_exporter_hook_errors_total[15m]) > {threshold}",
            threshold=0,
            comparison=">",
            metric="d75_exporter_hook_errors_total",
            labels=("hook",),
            unit="count",
            summary="Metric hook {label:hook} rejected input",
            description="The bot passed bad values to the {label:hook} metric hook {value} time(s) in the "
            "last 15m (the bot was not affected; the metric may be stale).",
            meaning="A bug or a data problem in the bot's reporting: dashboards and alerts may miss something.",
            checks=("The bot's logs for `metrics hook failed` warnings.",),
            probe=_counter("d75_exporter_hook_errors_total", {"hook": "risk_guard.on_decision"}, window_samples=60),
        ),
    )
    # the alerting pipeline watching itself (receiver, Alertmanager, Prometheus): pipeline_alerts.py
    + PIPELINE_SPECS
)
