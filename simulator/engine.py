"""A simulated D75 bot that drives the hooks like the real one would.

N exchanges, routes and symbols follow mean-reverting random walks inside the calm bands of
docs/architecture.md; the selected scenario (``simulator.scenarios``) overrides its target on
every publication. ``set_scenario`` publishes the new scenario's values before it returns, so
``applied_at`` is when a scrape can first see them.
"""
from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from dataclasses import dataclass

from exporter.arb_route import ArbRouteHooks, route_name
from exporter.arb_universe import ArbUniverseHooks
from exporter.cross_sync import CrossSyncHooks
from exporter.exchange_health import ExchangeHealthHooks
from exporter.metrics import D75Metrics
from exporter.rate_limiter import RateLimiterHooks
from exporter.risk_guard import GLOBAL_SCOPE, RiskGuardHooks
from exporter.service_health import ServiceHooks

from .scenarios import (
    CAPITAL_USD,
    SCENARIO_NAMES,
    SERVICES,
    ScenarioContext,
    TickView,
    UnknownScenario,
    get_scenario,
)

__all__ = ["Simulator", "SimulatorConfig", "EXCHANGES", "SYMBOLS", "RATE_LIMIT_CATEGORIES",
           "UnknownScenario", "BadTarget"]

log = logging.getLogger("simulator.engine")

EXCHANGES = ("upbit", "binance", "bithumb", "okx", "bybit", "coinbase", "kraken", "bitget", "kucoin",
             "gateio", "htx", "mexc", "bitfinex", "gemini", "bitstamp", "cryptocom", "korbit", "coinone",
             "bitflyer", "poloniex")
SYMBOLS = ("BTC", "ETH", "XRP", "SOL", "ADA", "DOGE", "TRX", "AVAX", "DOT", "LINK", "MATIC", "LTC",
           "BCH", "ATOM", "XLM", "ETC", "NEAR", "APT", "ARB", "OP", "FIL", "HBAR", "ICP", "VET", "SUI",
           "AAVE", "UNI", "SAND", "MANA", "EOS")
RATE_LIMIT_CATEGORIES = ("order", "market_data")
RATE_LIMIT_CAPACITY = 1200


class BadTarget(ValueError):
    pass


@dataclass(frozen=True)
class SimulatorConfig:
    exchanges: int = 7   # the fewest for which global-daily-loss keeps every exchange above -10,000
    routes: int = 12
    symbols: int = 4
    tick: float = 0.5
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.exchanges < 2:
            raise ValueError("need at least 2 exchanges (a route buys on one and sells on another)")
        if self.symbols < 1 or self.routes < 1:
            raise ValueError("need at least 1 symbol and 1 route")
        if self.routes > self.exchanges * (self.exchanges - 1) * self.symbols:
            raise ValueError(f"at most {self.exchanges * (self.exchanges - 1) * self.symbols} routes "
                             f"with {self.exchanges} exchanges and {self.symbols} symbols")
        if not self.tick > 0:
            raise ValueError("tick must be > 0 seconds")


def _names(base: tuple[str, ...], n: int, prefix: str) -> tuple[str, ...]:
    return tuple(base[i] if i < len(base) else f"{prefix}{i + 1}" for i in range(n))


class _Walk:
    """A mean-reverting random walk clamped to [lo, hi]."""

    __slots__ = ("lo", "hi", "mid", "step", "x")

    def __init__(self, rng: random.Random, lo: float, hi: float, step_share: float = 0.04) -> None:
        self.lo, self.hi = lo, hi
        self.mid = (lo + hi) / 2
        self.step = (hi - lo) * step_share
        self.x = rng.uniform(lo + (hi - lo) * 0.25, hi - (hi - lo) * 0.25)

    def advance(self, rng: random.Random) -> float:
        x = self.x + rng.gauss(0.0, self.step) + 0.1 * (self.mid - self.x)
        self.x = min(self.hi, max(self.lo, x))
        return self.x


class Simulator:
    """The simulated bot. Thread-safe: ticks run in a background thread, scenario switches in any."""

    def __init__(self, metrics: D75Metrics, config: SimulatorConfig | None = None,
                 scenario: str = "calm", target: str | None = None) -> None:
        self.config = cfg = config or SimulatorConfig()
        self.metrics = metrics
        self.exchanges = _names(EXCHANGES, cfg.exchanges, "exchange")
        self.symbols = _names(SYMBOLS, cfg.symbols, "SYM")
        self.routes = tuple(itertools.islice(
            (route_name(b, s, sym) for sym in self.symbols for b in self.exchanges
             for s in self.exchanges if b != s), cfg.routes))
        self._rng = random.Random(cfg.seed)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        self.rate = RateLimiterHooks(metrics)
        self.health = ExchangeHealthHooks(metrics)
        self.route_hooks = ArbRouteHooks(metrics)
        self.universe = ArbUniverseHooks(metrics)
        self.sync = CrossSyncHooks(metrics)
        self.guard = RiskGuardHooks(metrics)
        self.services = ServiceHooks(metrics)
        self._buckets = {(ex, cat): self.rate.bind(ex, cat)
                         for ex in self.exchanges for cat in RATE_LIMIT_CATEGORIES}
        self._ex = {ex: self.health.bind(ex) for ex in self.exchanges}
        self._init_walks()

        self._scenario = get_scenario(scenario)
        self._target = self._resolve_target(self._scenario.target_kind, target)
        self._applied_at = time.time()
        self._ticks = 0

    # -- calm state -----------------------------------------------------------------------------
    def _init_walks(self) -> None:
        rng, n_ex, n_sym = self._rng, len(self.exchanges), len(self.symbols)
        self._w_ratio = {k: _Walk(rng, 0.65, 0.98) for k in self._buckets}
        self._w_latency = {ex: _Walk(rng, 0.06, 0.18) for ex in self.exchanges}
        self._w_score = {r: _Walk(rng, 72.0, 93.0, 0.02) for r in self.routes}
        self._w_spread = {r: _Walk(rng, 10.0, 90.0) for r in self.routes}
        self._w_imbalance = {s: _Walk(rng, 0.02, 0.15) for s in self.symbols}
        hi = min(12_000.0, 35_000.0 / n_sym)
        self._w_exposure = {s: _Walk(rng, hi * 0.1, hi) for s in self.symbols}
        lo = -min(1_500.0, 4_000.0 / n_ex)
        self._w_pnl = {ex: _Walk(rng, lo, 3_000.0) for ex in self.exchanges}
        self._w_drawdown = {s: _Walk(rng, 0.005, 0.04) for s in self.symbols}
        self._w_vol = {s: _Walk(rng, 0.005, 0.03) for s in self.symbols}
        self._w_service = {name: _Walk(rng, 0.005, 0.05) for name in SERVICES}
        # a few routes are skipped in calm too (never the first, the default scenario target)
        self._calm_active = {r: not (i % 10 == 9) for i, r in enumerate(self.routes)}

    def _calm_view(self, now: float, advance: bool) -> TickView:
        rng = self._rng

        def val(w: _Walk) -> float:
            return w.advance(rng) if advance else w.x

        return TickView(
            ratio={k: val(w) for k, w in self._w_ratio.items()},
            rejects={}, http_429={},
            status={ex: 0 for ex in self.exchanges},
            latency={ex: val(w) for ex, w in self._w_latency.items()},
            orderbook_ts={ex: now for ex in self.exchanges},
            requests_ok={ex: rng.randint(20, 40) for ex in self.exchanges},
            requests_error={ex: 1 if rng.random() < 0.002 else 0 for ex in self.exchanges},
            score={r: val(w) for r, w in self._w_score.items()},
            spread={r: val(w) for r, w in self._w_spread.items()},
            streak={r: 1 if rng.random() < 0.1 else 0 for r in self.routes},
            route_active=dict(self._calm_active),
            imbalance={s: val(w) for s, w in self._w_imbalance.items()},
            exposure={s: val(w) for s, w in self._w_exposure.items()},
            rebalance_failures={s: 0 for s in self.symbols},
            sync_ok={ex: True for ex in self.exchanges},
            pnl={ex: val(w) for ex, w in self._w_pnl.items()},
            drawdown={s: val(w) for s, w in self._w_drawdown.items()},
            volatility={s: val(w) for s, w in self._w_vol.items()},
            guard={**{("exchange", ex): 0 for ex in self.exchanges},
                   **{("route", r): 0 for r in self.routes},
                   **{("symbol", s): 0 for s in self.symbols},
                   ("global", GLOBAL_SCOPE): 0},
            capital=CAPITAL_USD,
            services={name: (True, val(w)) for name, w in self._w_service.items()},
        )

    # -- publication ----------------------------------------------------------------------------
    def _publish(self, v: TickView) -> None:
        for key, bucket in self._buckets.items():
            bucket.consume(v.ratio[key] * RATE_LIMIT_CAPACITY, RATE_LIMIT_CAPACITY)
            if v.rejects.get(key):
                bucket.reject(v.rejects[key])
            if v.http_429.get(key):
                bucket.http_429(v.http_429[key])
        for ex, bound in self._ex.items():
            bound.status(v.status[ex])
            bound.rest_latency(v.latency[ex])
            bound.orderbook_update(v.orderbook_ts[ex])
            bound.request(True, v.requests_ok[ex])
            if v.requests_error[ex]:
                bound.request(False, v.requests_error[ex])
            self.sync.on_sync_result(ex, v.sync_ok[ex])
            self.guard.on_daily_pnl(ex, v.pnl[ex])
        for r in self.routes:
            self.route_hooks.on_score(r, v.score[r])
            self.route_hooks.on_spread(r, v.spread[r])
            self.guard.on_loss_streak(r, v.streak[r])
        active = sum(1 for a in v.route_active.values() if a)
        self.universe.on_counts(active, len(v.route_active) - active)
        for s in self.symbols:
            self.sync.on_inventory(s, v.imbalance[s], v.exposure[s])
            self.sync.on_rebalance_failures(s, v.rebalance_failures[s])
            self.guard.on_drawdown(s, v.drawdown[s])
            self.guard.on_volatility(s, v.volatility[s])
        self.sync.on_capital(v.capital)
        for (tier, scope), state in v.guard.items():
            self.guard.on_decision(tier, scope, state)
        for name, (up, seconds) in v.services.items():
            self.services.report(name, up, seconds)

    def _step(self, now: float, advance: bool) -> None:
        view = self._calm_view(now, advance)
        ctx = ScenarioContext(now=now, applied_at=self._applied_at, ticks=self._ticks,
                              exchanges=self.exchanges, routes=self.routes, symbols=self.symbols)
        self._scenario.apply(view, self._target or "", ctx)
        self._publish(view)
        self._ticks += 1

    def tick(self, now: float | None = None) -> None:
        """Advance the calm walk one step and publish it with the current scenario applied."""
        with self._lock:
            self._step(time.time() if now is None else now, advance=True)

    # -- scenarios ------------------------------------------------------------------------------
    def _resolve_target(self, kind: str | None, target: str | None) -> str | None:
        if kind is None:
            if target is not None:
                raise BadTarget("this scenario applies to the whole bot and takes no target")
            return None
        pool = {"exchange": self.exchanges, "route": self.routes, "symbol": self.symbols}[kind]
        if target is None:
            return pool[0]
        if target not in pool:
            raise BadTarget(f"unknown {kind} {target!r}; known: {', '.join(pool[:10])}"
                            + (" ..." if len(pool) > 10 else ""))
        return target

    @property
    def scenario(self) -> str:
        return self._scenario.name

    @property
    def target(self) -> str | None:
        return self._target

    @property
    def applied_at(self) -> float:
        return self._applied_at

    @property
    def ticks(self) -> int:
        """Publications since the current scenario was applied (the apply itself counts)."""
        return self._ticks

    def set_scenario(self, name: str, target: str | None = None) -> float:
        """Switch scenario and publish it at once; returns ``applied_at`` (unix seconds).

        Raises ``UnknownScenario`` or ``BadTarget`` (both ``ValueError``) and changes nothing then.
        """
        scenario = get_scenario(name)
        resolved = self._resolve_target(scenario.target_kind, target)
        with self._lock:
            self._scenario, self._target = scenario, resolved
            self._applied_at = now = time.time()
            self._ticks = 0
            self._step(now, advance=False)
        log.info("scenario applied", extra={"fields": {"scenario": name, "target": resolved,
                                                       "applied_at": now}})
        return now

    def next_scenario(self) -> str:
        """Step to the next scenario of ``SCENARIOS`` (wrapping around), default target."""
        with self._lock:
            i = SCENARIO_NAMES.index(self._scenario.name)
            name = SCENARIO_NAMES[(i + 1) % len(SCENARIO_NAMES)]
            self.set_scenario(name)
        return name

    # -- background ticking ---------------------------------------------------------------------
    def start(self) -> Simulator:
        """Publish once now, then every ``tick`` seconds in a daemon thread."""
        with self._lock:
            self._step(time.time(), advance=False)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="d75-simulator", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        interval = self.config.tick
        next_at = time.monotonic() + interval
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a simulator bug must not stop the ticking
                log.exception("simulator tick failed")
            next_at += interval
            if next_at < time.monotonic():      # fell behind (loaded box): do not burst
                next_at = time.monotonic() + interval

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
