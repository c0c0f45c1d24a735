"""The default threshold catalog: every row of CONTRACT section 3, Watchdog, system rules, P3 warnings,
and the pipeline's own alerts (`pipeline_alerts.py`).

Each alert is written once. Placeholders filled in by `render.py`:
  {threshold} {threshold_pct} {threshold_usd}  the (possibly overridden) threshold
  {keep}                                       1 - threshold (for "fell by more than X")
  {for}                                        the `for` duration
  {value}                                      the current value, formatted for the alert's unit
  {label:NAME}                                 a label of the firing series
Comparisons are strict as CONTRACT section 3 writes them ("< 0.20" is silent at exactly 0.20).

P3 early warnings sit between the simulator's calm bands (docs/architecture.md) and the P2 thresholds,
with long `for`s: they go to the daily digest, so they may overlap a P2 on the same signal.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from vocabulary import EXPORTER_PORT

from .model import AlertSpec, Probe
from .pipeline_alerts import PIPELINE_SPECS

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
def _guard_block_expr(tier: str) -> str:
    """BLOCK of one guard tier. The exchange tier's scope is an exchange: the alert also carries it
    as `exchange`, so an exchange's P0 inhibits it like every other alert about that exchange."""
    expr = f'd75_riskguard_state{{tier="{tier}"}} == 3'
    if tier == "exchange":
        return f'label_replace({expr}, "exchange", "$1", "scope", "(.+)")'
    return expr


_RISK_CHECKS = (
    "The risk guard state panel: which tier and scope is limiting trading.",
    "Recent fills and PnL for the scope in the bot's trade log.",
    "Do not raise a limit to silence this: decide with the risk owner.",
)

DEFAULT_SPECS: tuple[AlertSpec, ...] = (
    (
        # ------------------------------------------------------------------ rate_limiter
        AlertSpec(
            name="RateLimitLow",
            source="rate_limiter",
            severity="P2",
            expr="d75_rate_limit_remaining_ratio < {threshold}",
            threshold=0.20,
            comparison="<",
            metric="d75_rate_limit_remaining_ratio",
            labels=("exchange", "category"),
            unit="ratio",
            summary="Rate limit low on {label:exchange} ({label:category})",
            description="Only {value} of the {label:category} token bucket is left on {label:exchange} "
            "(alert below {threshold_pct}%). Requests will soon be refused by the bot's own limiter.",
            meaning="The bot is close to its own request budget for this exchange and category; the next "
            "burst will be refused locally (RateLimitExhausted) or by the exchange (HTTP 429).",
            checks=_RL_CHECKS,
            probe=_gauge("d75_rate_limit_remaining_ratio", RL, at=_same, past=lambda t: t - 0.01, calm=lambda t: 0.9),
        ),
        AlertSpec(
            name="RateLimitHttp429",
            source="rate_limiter",
            severity="P1",
            expr="increase(d75_rate_limit_http_429_total[1m]) > {threshold}",
            threshold=0,
            comparison=">",
            metric="d75_rate_limit_http_429_total",
            labels=("exchange", "category"),
            unit="count",
            summary="HTTP 429 from {label:exchange} ({label:category})",
            description="{label:exchange} answered {value} HTTP 429 (too many requests) on {label:category} "
            "requests in the last minute. Repeated 429s can get the API key banned.",
            meaning="The exchange itself is throttling the bot: orders may be rejected and repeated "
            "violations can lead to a temporary IP or key ban.",
            checks=_RL_CHECKS + ("Check whether another process shares the same API key or IP.",),
            probe=_counter("d75_rate_limit_http_429_total", RL, window_samples=4),
        ),
        AlertSpec(
            name="RateLimitExhausted",
            source="rate_limiter",
            severity="P2",
            expr="increase(d75_rate_limit_rejected_total[1m]) > {threshold}",
            threshold=0,
            comparison=">",
            metric="d75_rate_limit_rejected_total",
            labels=("exchange", "category"),
            unit="count",
            summary="Rate limit bucket exhausted on {label:exchange} ({label:category})",
            description="The bot's limiter refused {value} {label:category} requests to {label:exchange} "
            "in the last minute because the token bucket was empty.",
            meaning="Requests are being dropped by the bot's own limiter: quotes or orders are delayed or lost.",
            checks=_RL_CHECKS,
            probe=_counter("d75_rate_limit_rejected_total", RL, window_samples=4),
        ),
        AlertSpec(
            name="RateLimitHeadroomShrinking",
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
            description="The {label:category} bucket on {label:exchange} has stayed under {threshold_pct}% "
            "for {for} (now {value}). An early warning, before RateLimitLow.",
            meaning="Sustained high request usage: an early warning for capacity planning, not an incident.",
            checks=_RL_CHECKS,
            probe=_gauge("d75_rate_limit_remaining_ratio", RL, at=_same, past=lambda t: t - 0.05, calm=lambda t: 0.9),
        ),
        # ------------------------------------------------------------------ exchange_health
        AlertSpec(
            name="ExchangeDegraded",
            source="exchange_health",
            severity="P2",
            expr="d75_exchange_health_status == 1",
            comparison="==",
            metric="d75_exchange_health_status",
            labels=("exchange",),
            unit="status",
            summary="{label:exchange} is DEGRADED",
            description="The health monitor reports {label:exchange} as DEGRADED (status {value}): slow or "
            "partially failing API. Routes through it score lower.",
            meaning="The exchange answers, but slowly or with errors; the route scorer already penalises it.",
            checks=_EX_CHECKS,
            probe=_status("d75_exchange_health_status", EX, at=0, past=1, calm=0),
        ),
        AlertSpec(
            name="ExchangeDown",
            source="exchange_health",
            severity="P1",
            expr="d75_exchange_health_status == 2",
            comparison="==",
            metric="d75_exchange_health_status",
            labels=("exchange",),
            unit="status",
            summary="{label:exchange} is DOWN",
            description="The health monitor reports {label:exchange} as DOWN (status {value}). Trading "
            "on it has stopped; after 5m this becomes ExchangeDownSustained (P0, failover).",
            meaning="No usable API on this exchange: open positions there cannot be managed.",
            checks=_EX_CHECKS,
            probe=_status("d75_exchange_health_status", EX, at=1, past=2, calm=0),
        ),
        AlertSpec(
            name="ExchangeDownSustained",
            source="exchange_health",
            severity="P0",
            for_="5m",
            expr="d75_exchange_health_status == 2",
            comparison="==",
            metric="d75_exchange_health_status",
            labels=("exchange",),
            unit="status",
            summary="{label:exchange} DOWN for {for}: failover required",
            description="{label:exchange} has been DOWN (status {value}) for {for}. Fail over: move "
            "inventory and routes away from it.",
            meaning="A long outage: inventory stuck on the exchange is at risk and routes through it are dead.",
            checks=_EX_CHECKS + ("Start the failover procedure: disable the exchange's routes, rebalance away.",),
            probe=_status("d75_exchange_health_status", EX, at=1, past=2, calm=0),
        ),
        AlertSpec(
            name="ExchangeFrozen",
            source="exchange_health",
            severity="P0",
            expr="d75_exchange_health_status == 3",
            comparison="==",
            metric="d75_exchange_health_status",
            labels=("exchange",),
            unit="status",
            summary="{label:exchange} is FROZEN",
            description="The health monitor froze {label:exchange} (status {value}): data is not moving and "
            "trading on it is halted. Its DOWN/DEGRADED alerts are inhibited.",
            meaning="Prices from this exchange cannot be trusted (stale or stuck); acting on them loses money.",
            checks=_EX_CHECKS + ("Check the websocket feed and the orderbook age panel.",),
            probe=_status("d75_exchange_health_status", EX, at=2, past=3, calm=0),
        ),
        AlertSpec(
            name="ExchangeLatencyHigh",
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
            description="REST latency to {label:exchange} is {value} (over {threshold}s for {for}).",
            meaning="Slow API calls: quotes go stale before orders land, so fills slip.",
            checks=_EX_CHECKS,
            probe=_gauge("d75_exchange_rest_latency_seconds", EX, at=_same, past=lambda t: t + 0.1, calm=lambda t: 0.1),
        ),
        AlertSpec(
            name="ExchangeLatencyCritical",
            source="exchange_health",
            severity="P0",
            expr="d75_exchange_rest_latency_seconds > {threshold}",
            threshold=2.0,
            comparison=">",
            metric="d75_exchange_rest_latency_seconds",
            labels=("exchange",),
            unit="seconds",
            summary="{label:exchange} REST latency critical",
            description="REST latency to {label:exchange} is {value} (over {threshold}s). Orders will land "
            "on prices that no longer exist.",
            meaning="The exchange is effectively unusable for arbitrage at this latency.",
            checks=_EX_CHECKS,
            probe=_gauge("d75_exchange_rest_latency_seconds", EX, at=_same, past=lambda t: t + 0.5, calm=lambda t: 0.1),
        ),
        AlertSpec(
            name="ExchangeLatencyElevated",
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
            description="REST latency to {label:exchange} has been over {threshold}s for {for} (now {value}). "
            "An early warning, before ExchangeLatencyHigh.",
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
            source="exchange_health",
            severity="P2",
            expr="time() - d75_exchange_orderbook_last_update_timestamp_seconds > {threshold}",
            threshold=5,
            comparison=">",
            metric="d75_exchange_orderbook_last_update_timestamp_seconds",
            labels=("exchange",),
            unit="seconds",
            summary="{label:exchange} orderbook lagging",
            description="The {label:exchange} orderbook was last updated {value} ago (over {threshold}s).",
            meaning="Spreads computed from this book are getting stale.",
            checks=_EX_CHECKS + ("Check the websocket connection for the exchange.",),
            probe=_orderbook_age(at=_same, past=lambda t: t + 1),
        ),
        AlertSpec(
            name="OrderbookStale",
            source="exchange_health",
            severity="P0",
            expr="time() - d75_exchange_orderbook_last_update_timestamp_seconds > {threshold}",
            threshold=10,
            comparison=">",
            metric="d75_exchange_orderbook_last_update_timestamp_seconds",
            labels=("exchange",),
            unit="seconds",
            summary="{label:exchange} orderbook stale",
            description="The {label:exchange} orderbook was last updated {value} ago (over {threshold}s). "
            "Arbitrage on it trades against prices that are gone.",
            meaning="Stale book: any opportunity the bot sees on this exchange is probably fake.",
            checks=_EX_CHECKS + ("Check the websocket connection for the exchange.",),
            probe=_orderbook_age(at=_same, past=lambda t: t + 2),
        ),
        AlertSpec(
            name="ExchangeErrorRatioHigh",
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
            description="{value} of REST requests to {label:exchange} failed over the last minute "
            "(over {threshold_pct}% for {for}).",
            meaning="A meaningful share of API calls fail: orders and balance checks are unreliable.",
            checks=_EX_CHECKS,
            probe=_error_ratio(at=_same, past=lambda t: t + 0.01),
        ),
        AlertSpec(
            name="ExchangeErrorRatioCritical",
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
            description="{value} of REST requests to {label:exchange} failed over the last minute "
            "(over {threshold_pct}%).",
            meaning="The exchange is failing a large share of calls: one leg of a trade may fill and the other not.",
            checks=_EX_CHECKS,
            probe=_error_ratio(at=_same, past=lambda t: t + 0.05),
        ),
        # ------------------------------------------------------------------ arb_route
        AlertSpec(
            name="RouteScoreLow",
            source="arb_route",
            severity="P2",
            expr="d75_route_score < {threshold}",
            threshold=50,
            comparison="<",
            metric="d75_route_score",
            labels=("route",),
            unit="score",
            summary="Route {label:route} score low",
            description="RouteScore of {label:route} is {value} (below {threshold}).",
            meaning="The route is barely worth trading; the universe will likely skip it.",
            checks=(
                "Route score panel: which component (spread, depth, latency, fees) fell.",
                "Health of both exchanges of the route.",
            ),
            probe=_gauge("d75_route_score", RT, at=_same, past=lambda t: t - 1, calm=lambda t: 80),
        ),
        AlertSpec(
            name="RouteScoreDrop",
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
            "(a fall of more than {threshold_pct}%).",
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
            description="Only {value} routes have been active for {for} (alert below {threshold}). The bot "
            "is not trading.",
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
            source="cross_sync",
            severity="P2",
            expr="d75_inventory_imbalance_ratio > {threshold}",
            threshold=0.5,
            comparison=">",
            metric="d75_inventory_imbalance_ratio",
            labels=("symbol",),
            unit="ratio",
            summary="{label:symbol} inventory imbalanced",
            description="Cross-exchange inventory of {label:symbol} is {value} imbalanced (over {threshold_pct}%).",
            meaning="One side of the arbitrage is running out of the symbol; trades in that direction will stop.",
            checks=(
                "Inventory panel: balances per exchange.",
                "Is rebalancing running and succeeding?",
            ),
            probe=_gauge("d75_inventory_imbalance_ratio", SY, at=_same, past=lambda t: t + 0.05, calm=lambda t: 0.1),
        ),
        AlertSpec(
            name="InventoryImbalanceRising",
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
            description="Inventory of {label:symbol} has been over {threshold_pct}% imbalanced for {for} "
            "(now {value}). An early warning, before InventoryImbalanceHigh.",
            meaning="Rebalancing is not keeping up with trading flow.",
            checks=("Inventory panel: balances per exchange.",),
            probe=_gauge("d75_inventory_imbalance_ratio", SY, at=_same, past=lambda t: t + 0.05, calm=lambda t: 0.1),
        ),
        AlertSpec(
            name="TotalExposureHigh",
            source="cross_sync",
            severity="P1",
            expr="sum by (job, instance) (d75_exposure_usd) / on (job, instance) d75_capital_usd > {threshold}",
            threshold=0.8,
            comparison=">",
            metric="d75_exposure_usd",
            labels=(),
            unit="ratio",
            summary="Total exposure above {threshold_pct}% of capital",
            description="Open exposure is {value} of trading capital (over {threshold_pct}%).",
            meaning="Almost all capital is tied up in open positions: no room to hedge or to take new trades.",
            checks=(
                "Exposure panel: which symbols carry it.",
                "Are positions closing, or stuck on a slow exchange?",
            ),
            probe=_capital_ratio(at=_same, past=lambda t: t + 0.05, calm=lambda t: 0.3, with_symbol=False),
        ),
        AlertSpec(
            name="TotalExposureWarning",
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
            description="Open exposure has been over {threshold_pct}% of capital for {for} (now {value}). "
            "An early warning, before TotalExposureHigh.",
            meaning="Capital usage is trending high.",
            checks=("Exposure panel: which symbols carry it.",),
            probe=_capital_ratio(at=_same, past=lambda t: t + 0.05, calm=lambda t: 0.3, with_symbol=False),
        ),
        AlertSpec(
            name="RebalanceFailing",
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
            source="risk_guard",
            severity="P1",
            expr="-d75_daily_pnl_usd > {threshold}",
            threshold=10_000,
            comparison=">",
            metric="d75_daily_pnl_usd",
            labels=("exchange",),
            unit="usd",
            summary="Daily loss on {label:exchange} over {threshold_usd} USD",
            description="Realised loss on {label:exchange} since 00:00 UTC is {value} (limit {threshold_usd} USD).",
            meaning="The exchange-tier loss limit is breached: the risk guard should be degrading or blocking it.",
            checks=_RISK_CHECKS,
            probe=_gauge("d75_daily_pnl_usd", EX, at=_same, past=lambda t: t + 5000, calm=lambda t: -1000, scale=-1.0),
        ),
        AlertSpec(
            name="DailyLossWarning",
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
            "{threshold_usd} USD, before ExchangeDailyLoss).",
            meaning="A losing day on this exchange; informational.",
            checks=_RISK_CHECKS,
            probe=_gauge("d75_daily_pnl_usd", EX, at=_same, past=lambda t: t + 1000, calm=lambda t: -1000, scale=-1.0),
        ),
        AlertSpec(
            name="RouteLossStreak",
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
            source="risk_guard",
            severity="P2",
            expr="d75_exposure_usd / on (job, instance) group_left () d75_capital_usd > {threshold}",
            threshold=0.5,
            comparison=">",
            metric="d75_exposure_usd",
            labels=("symbol",),
            unit="ratio",
            summary="{label:symbol} exposure above {threshold_pct}% of capital",
            description="Exposure in {label:symbol} is {value} of capital (over {threshold_pct}%).",
            meaning="Concentration risk: one symbol carries most of the book.",
            checks=_RISK_CHECKS,
            probe=_capital_ratio(at=_same, past=lambda t: t + 0.05, calm=lambda t: 0.1, with_symbol=True),
        ),
        AlertSpec(
            name="SymbolDrawdown",
            source="risk_guard",
            severity="P1",
            expr="d75_symbol_drawdown_ratio > {threshold}",
            threshold=0.20,
            comparison=">",
            metric="d75_symbol_drawdown_ratio",
            labels=("symbol",),
            unit="ratio",
            summary="{label:symbol} drawdown over {threshold_pct}%",
            description="{label:symbol} is {value} below its peak (over {threshold_pct}%).",
            meaning="Inventory held in the symbol is losing value fast.",
            checks=_RISK_CHECKS,
            probe=_gauge("d75_symbol_drawdown_ratio", SY, at=_same, past=lambda t: t + 0.05, calm=lambda t: 0.01),
        ),
        AlertSpec(
            name="SymbolVolatilityHigh",
            source="risk_guard",
            severity="P2",
            expr="d75_symbol_volatility_ratio > {threshold}",
            threshold=0.10,
            comparison=">",
            metric="d75_symbol_volatility_ratio",
            labels=("symbol",),
            unit="ratio",
            summary="{label:symbol} volatility high",
            description="Volatility of {label:symbol} is {value} (over {threshold_pct}%).",
            meaning="Prices move faster than trades settle: legs fill at very different prices.",
            checks=_RISK_CHECKS,
            probe=_gauge("d75_symbol_volatility_ratio", SY, at=_same, past=lambda t: t + 0.05, calm=lambda t: 0.02),
        ),
        AlertSpec(
            name="GlobalDailyLoss",
            source="risk_guard",
            severity="P0",
            expr="-sum by (job, instance) (d75_daily_pnl_usd) > {threshold}",
            threshold=50_000,
            comparison=">",
            metric="d75_daily_pnl_usd",
            labels=(),
            unit="usd",
            summary="Total daily loss over {threshold_usd} USD",
            description="Realised loss across all exchanges since 00:00 UTC is {value} "
            "(global limit {threshold_usd} USD). The global guard must block trading.",
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
            ),
        ),
        AlertSpec(
            name="GlobalExposureHigh",
            source="risk_guard",
            severity="P0",
            expr="sum by (job, instance) (d75_exposure_usd) > {threshold}",
            threshold=100_000,
            comparison=">",
            metric="d75_exposure_usd",
            labels=(),
            unit="usd",
            summary="Total exposure over {threshold_usd} USD",
            description="Open exposure across all symbols is {value} (global limit {threshold_usd} USD).",
            meaning="The bot-wide exposure limit is breached.",
            checks=_RISK_CHECKS,
            probe=_gauge(
                "d75_exposure_usd",
                SY,
                at=_same,
                past=lambda t: t + 20_000,
                calm=lambda t: 10_000,
                aggregated=True,
            ),
        ),
        AlertSpec(
            name="GlobalImbalanceHigh",
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
            "(global limit {threshold_pct}%).",
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
    + tuple(
        AlertSpec(
            name=f"RiskGuard{tier.capitalize()}Block",
            source="risk_guard",
            severity=sev,
            expr=_guard_block_expr(tier),
            comparison="==",
            metric="d75_riskguard_state",
            labels=("tier", "scope", "exchange") if tier == "exchange" else ("tier", "scope"),
            unit="status",
            summary=f"Risk guard BLOCK ({tier} {{label:scope}})",
            description=f"The {tier}-tier risk guard blocks trading for {{label:scope}} (state {{value}}). "
            + ("Lower tiers' BLOCK alerts are inhibited." if tier == "global" else ""),
            meaning=f"The {tier} tier of the 4-tier risk guard stopped trading for its scope.",
            checks=_RISK_CHECKS,
            probe=_status(
                "d75_riskguard_state",
                {"tier": tier, "scope": scope},
                at=2,
                past=3,
                calm=0,
                exp_extra={"exchange": scope} if tier == "exchange" else None,
            ),
        )
        for tier, sev, scope in (
            ("global", "P0", "all"),
            ("exchange", "P1", "upbit"),
            ("route", "P2", "upbit-binance-BTC"),
            ("symbol", "P2", "BTC"),
        )
    )
    + (
        # ------------------------------------------------------------------ system
        AlertSpec(
            name="ExporterDown",
            source="system",
            severity="P0",
            expr='up{job="d75"} == 0',
            comparison="==",
            metric="up",
            labels=("job", "instance"),
            unit="status",
            summary="D75 exporter {label:instance} is down",
            description="Prometheus cannot scrape the bot's exporter at {label:instance} (up={value}). "
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
            source="system",
            severity="P2",
            for_="10m",
            expr='process_resident_memory_bytes{job="d75"} > {threshold}',
            threshold=2_000_000_000,
            comparison=">",
            metric="process_resident_memory_bytes",
            labels=(),
            unit="bytes",
            summary="Bot process memory high on {label:instance}",
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
            source="system",
            severity="P3",
            expr='changes(process_start_time_seconds{job="d75"}[15m]) > {threshold}',
            threshold=0,
            comparison=">",
            metric="process_start_time_seconds",
            labels=(),
            unit="count",
            summary="Bot process restarted on {label:instance}",
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
            name="MetricsHookErrors",
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
