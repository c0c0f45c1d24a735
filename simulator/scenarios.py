"""Named incident scenarios of the D75 simulator.

Every tick the simulator builds a ``TickView`` from its calm random walk (values inside the calm
bands of docs/architecture.md), lets the current scenario override a few entries for its target,
then reports the view through the hooks. A scenario therefore holds while it is selected, and
switching back to ``calm`` ends it at the next publication.

Each scenario pushes *one* thing clearly past its CONTRACT section 3 threshold; where a real
bot's risk guard would react (the global loss and exposure limits) the guard state follows.
Known overlaps, inherent in the thresholds rather than choices of the simulator:

* ``global-daily-loss`` puts -60,000 USD on the exchanges in equal parts; with fewer than 7
  exchanges each part is below -10,000, so the per-exchange loss rule fires too.
* ``global-exposure`` spreads 120,000 USD over the symbols; 120,000 is above 80 % of the 100,000
  capital, so the cross_sync total-exposure rule fires too, and with fewer than 3 symbols one
  symbol is above 50 % of capital.
* ``inventory-imbalance`` also raises the max imbalance the global tier watches (same series).

"exporter down" is not a scenario: stop the simulator process (``up == 0`` for job d75).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from vocabulary import WATCHDOG

__all__ = ["SCENARIOS", "SCENARIO_NAMES", "Scenario", "TickView", "ScenarioContext", "get_scenario",
           "UnknownScenario", "CAPITAL_USD", "SERVICES"]

CAPITAL_USD = 100_000.0
# the simulated bot's own services (ServiceHooks); scenarios target the first
SERVICES = ("database", "market_feed", "order_api")


@dataclass
class TickView:
    """Everything the simulated bot reports in one tick (per-tick increments for counters)."""

    ratio: dict[tuple[str, str], float]              # (exchange, category) -> remaining ratio
    rejects: dict[tuple[str, str], int]              # increments this tick
    http_429: dict[tuple[str, str], int]
    status: dict[str, int]
    latency: dict[str, float]
    orderbook_ts: dict[str, float]
    requests_ok: dict[str, int]
    requests_error: dict[str, int]
    score: dict[str, float]
    spread: dict[str, float]
    streak: dict[str, int]
    route_active: dict[str, bool]
    imbalance: dict[str, float]
    exposure: dict[str, float]
    rebalance_failures: dict[str, int]
    sync_ok: dict[str, bool]
    pnl: dict[str, float]
    drawdown: dict[str, float]
    volatility: dict[str, float]
    guard: dict[tuple[str, str], int]                # (tier, scope) -> state
    capital: float = CAPITAL_USD
    # the bot's own services (ServiceHooks): name -> (up, check duration in seconds)
    services: dict[str, tuple[bool, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioContext:
    now: float
    applied_at: float
    ticks: int                    # publications since the scenario was applied (0 = the apply itself)
    exchanges: tuple[str, ...]
    routes: tuple[str, ...]
    symbols: tuple[str, ...]


Apply = Callable[[TickView, str, ScenarioContext], None]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    target_kind: str | None       # "exchange", "route", "symbol" or None (whole bot)
    apply: Apply = field(repr=False)


class UnknownScenario(ValueError):
    pass


ORDER = "order"   # the rate-limit category scenarios hit


def _calm(v: TickView, t: str, c: ScenarioContext) -> None:
    return None


def _status(value: int) -> Apply:
    def apply(v: TickView, t: str, c: ScenarioContext) -> None:
        v.status[t] = value
    return apply


def _latency(seconds: float) -> Apply:
    def apply(v: TickView, t: str, c: ScenarioContext) -> None:
        v.latency[t] = seconds
    return apply


def _orderbook_lagging(v: TickView, t: str, c: ScenarioContext) -> None:
    v.orderbook_ts[t] = c.now - 7.0            # age 7..7+tick s: past 5 s, short of 10 s


def _orderbook_stale(v: TickView, t: str, c: ScenarioContext) -> None:
    v.orderbook_ts[t] = c.applied_at - 12.0    # no update since: age > 10 s and growing


def _errors(error_share: float) -> Apply:
    def apply(v: TickView, t: str, c: ScenarioContext) -> None:
        total = 40
        v.requests_error[t] = round(total * error_share)
        v.requests_ok[t] = total - v.requests_error[t]
    return apply


def _rate_limit_pressure(v: TickView, t: str, c: ScenarioContext) -> None:
    v.ratio[(t, ORDER)] = 0.08


def _rate_limit_rejections(v: TickView, t: str, c: ScenarioContext) -> None:
    v.ratio[(t, ORDER)] = 0.0
    v.rejects[(t, ORDER)] = 5


def _http_429(v: TickView, t: str, c: ScenarioContext) -> None:
    v.http_429[(t, ORDER)] = 2


def _route_collapse(v: TickView, t: str, c: ScenarioContext) -> None:
    v.score[t] = 30.0                          # from the 70..95 calm band: a drop of > 57 %, below 50
    v.route_active[t] = False


def _no_active_routes(v: TickView, t: str, c: ScenarioContext) -> None:
    for route in v.route_active:
        v.route_active[route] = False


def _imbalance(v: TickView, t: str, c: ScenarioContext) -> None:
    v.imbalance[t] = 0.72


def _rebalance_failures(v: TickView, t: str, c: ScenarioContext) -> None:
    v.rebalance_failures[t] = min(3 + c.ticks, 50)   # every attempt fails


def _sync_failures(v: TickView, t: str, c: ScenarioContext) -> None:
    v.sync_ok[t] = False


def _exchange_daily_loss(v: TickView, t: str, c: ScenarioContext) -> None:
    v.pnl[t] = -15_000.0


def _global_daily_loss(v: TickView, t: str, c: ScenarioContext) -> None:
    share = -60_000.0 / len(c.exchanges)
    for ex in c.exchanges:
        v.pnl[ex] = share
    v.guard[("global", "global")] = 3


def _global_exposure(v: TickView, t: str, c: ScenarioContext) -> None:
    share = 120_000.0 / len(c.symbols)
    for sym in c.symbols:
        v.exposure[sym] = share
    v.guard[("global", "global")] = 3


def _symbol_exposure(v: TickView, t: str, c: ScenarioContext) -> None:
    target_usd = 55_000.0                      # > 50 % of capital
    others = [s for s in v.exposure if s != t]
    rest = sum(v.exposure[s] for s in others)
    budget = 20_000.0                          # keep the total < 80 % of capital: one thing only
    if rest > budget:
        for s in others:
            v.exposure[s] *= budget / rest
    v.exposure[t] = target_usd


def _drawdown(v: TickView, t: str, c: ScenarioContext) -> None:
    v.drawdown[t] = 0.30


def _volatility(v: TickView, t: str, c: ScenarioContext) -> None:
    v.volatility[t] = 0.15


def _loss_streak(v: TickView, t: str, c: ScenarioContext) -> None:
    v.streak[t] = 4


def _spread(v: TickView, t: str, c: ScenarioContext) -> None:
    v.spread[t] = 650.0


def _guard_block(v: TickView, t: str, c: ScenarioContext) -> None:
    v.guard[("exchange", t)] = 3


def _guard_degrade(v: TickView, t: str, c: ScenarioContext) -> None:
    v.guard[("exchange", t)] = 1


def _guard_cooldown(v: TickView, t: str, c: ScenarioContext) -> None:
    v.guard[("route", t)] = 2


def _service_down(v: TickView, t: str, c: ScenarioContext) -> None:
    v.services[SERVICES[0]] = (False, 5.0)          # its check cut at a 5 s timeout


def _service_slow(v: TickView, t: str, c: ScenarioContext) -> None:
    v.services[SERVICES[0]] = (True, 3.0)           # passes, in 3 s (> 2 s)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("calm", f"everything inside the calm bands: no alert but {WATCHDOG}", None, _calm),
    Scenario("exchange-degraded", "target exchange status DEGRADED (1)", "exchange", _status(1)),
    Scenario("exchange-down", "target exchange status DOWN (2)", "exchange", _status(2)),
    Scenario("exchange-frozen", "target exchange status FROZEN (3)", "exchange", _status(3)),
    Scenario("exchange-slow", "target exchange REST latency 0.8 s (> 0.5 s)", "exchange", _latency(0.8)),
    Scenario("exchange-latency", "target exchange REST latency 2.5 s (> 2 s)", "exchange", _latency(2.5)),
    Scenario("orderbook-lagging", "target exchange orderbook 7 s old (> 5 s, < 10 s)", "exchange",
             _orderbook_lagging),
    Scenario("orderbook-stale", "target exchange orderbook not updated since 12 s before apply (> 10 s)",
             "exchange", _orderbook_stale),
    Scenario("exchange-errors-elevated", "target exchange REST error ratio 7.5 % (> 5 %)", "exchange",
             _errors(0.075)),
    Scenario("exchange-errors", "target exchange REST error ratio 25 % (> 10 %)", "exchange", _errors(0.25)),
    Scenario("rate-limit-pressure", "target exchange 'order' bucket at 8 % remaining (< 20 %)", "exchange",
             _rate_limit_pressure),
    Scenario("rate-limit-rejections", "target exchange 'order' bucket empty, 5 rejections per tick",
             "exchange", _rate_limit_rejections),
    Scenario("http-429-burst", "target exchange answers HTTP 429, 2 per tick", "exchange", _http_429),
    Scenario("route-collapse", "target route score 30 (below 50, a fall of > 30 %), route skipped", "route",
             _route_collapse),
    Scenario("no-active-routes", "every route in state skip", None, _no_active_routes),
    Scenario("inventory-imbalance", "target symbol imbalance 0.72 (> 0.5)", "symbol", _imbalance),
    Scenario("rebalance-failures", "target symbol rebalance failing: 3 in a row, +1 per tick", "symbol",
             _rebalance_failures),
    Scenario("sync-failures", "target exchange balance API failing every tick", "exchange", _sync_failures),
    Scenario("exchange-daily-loss", "target exchange daily PnL -15,000 USD (loss > 10,000)", "exchange",
             _exchange_daily_loss),
    Scenario("global-daily-loss", "total daily PnL -60,000 USD (loss > 50,000), global guard BLOCK", None,
             _global_daily_loss),
    Scenario("global-exposure", "total exposure 120,000 USD (> 100,000), global guard BLOCK", None,
             _global_exposure),
    Scenario("symbol-exposure", "target symbol exposure 55,000 USD (> 50 % of capital), total < 80 %",
             "symbol", _symbol_exposure),
    Scenario("symbol-drawdown", "target symbol drawdown 0.30 (> 0.20)", "symbol", _drawdown),
    Scenario("symbol-volatility", "target symbol volatility 0.15 (> 0.10)", "symbol", _volatility),
    Scenario("route-loss-streak", "target route 4 losing trades in a row (>= 3)", "route", _loss_streak),
    Scenario("route-spread", "target route spread 650 bps (> 500)", "route", _spread),
    Scenario("guard-block", "risk guard BLOCK on the exchange tier for the target exchange", "exchange",
             _guard_block),
    Scenario("guard-degrade", "risk guard DEGRADE on the exchange tier for the target exchange", "exchange",
             _guard_degrade),
    Scenario("guard-cooldown", "risk guard COOLDOWN on the route tier for the target route", "route",
             _guard_cooldown),
    Scenario("service-down", f"the bot's service {SERVICES[0]!r} fails its health check (cut at 5 s)", None,
             _service_down),
    Scenario("service-slow", f"the bot's service {SERVICES[0]!r} passes its health check in 3 s (> 2 s)", None,
             _service_slow),
)

SCENARIO_NAMES: tuple[str, ...] = tuple(s.name for s in SCENARIOS)
_BY_NAME = {s.name: s for s in SCENARIOS}


def get_scenario(name: str) -> Scenario:
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise UnknownScenario(
            f"unknown scenario {name!r}; available: {', '.join(SCENARIO_NAMES)}") from None
