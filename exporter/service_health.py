"""The health of the bot's own services (the seeds' SystemMonitor), as metrics Prometheus alerts on.

    services = ServiceHooks(metrics)
    services.register("database", lambda: db.ping(), every=30)     # a check: True = up; False or raising = down
    services.http("upbit_api", "https://api.upbit.com/v1/market/all", every=60, timeout=5)
    services.report("binance_ws", up=feed.connected, latency=feed.last_rtt)   # the bot knows it already
    services.status_summary()      # {"status": "healthy" | "degraded" | "down" | "unknown", "services": {...}}
    services.close()               # at shutdown: stops the checks

Metrics: ``d75_service_up{service}`` (1 up, 0 down) and ``d75_service_check_duration_seconds{service}``
(how long the last check took). The catalog alerts on them (ServiceDown P1, ServiceSlow P2).

Rules, as for every hook:

* ``report`` is the hot path: two gauge sets and a few attribute writes, no lock, never raises;
* a registered check runs in a background thread, never in the caller's: each service has one loop
  thread that starts the check in a worker thread every ``every`` seconds and waits for it at most
  ``timeout`` seconds. A check that raises, returns something false or outlives its timeout counts
  as down (a hung check is cut: Python cannot kill a thread, so the worker is abandoned as a daemon
  and no second worker is started for that service until it returns; meanwhile each period reports
  the service down again);
* ``metrics=None`` turns every method into a no-op (``status_summary`` then reports nothing).

The seeds' names: ``SystemMonitor.register_service(name, check_fn)`` is ``register``,
``check_all()`` is ``check_all``, ``get_status_summary()`` is ``status_summary``.
"""
from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._hooks import Hooks, label_value, non_negative
from .metrics import D75Metrics

__all__ = ["ServiceHooks", "ServiceState", "http_check", "DEFAULT_EVERY_S", "DEFAULT_TIMEOUT_S"]

DEFAULT_EVERY_S = 30.0
DEFAULT_TIMEOUT_S = 5.0
MAX_ERROR_CHARS = 200


@dataclass
class ServiceState:
    """What is known about one service (read by ``status_summary``; written without a lock, one
    attribute at a time, so a summary may mix two consecutive reports: harmless for a status page)."""

    name: str
    up: bool | None = None             # None: never checked or reported
    latency: float | None = None       # seconds the last check took
    checked_at: float | None = None    # unix time of the last result
    error: str | None = None           # why the last check failed
    checks: int = 0
    failures: int = 0


@dataclass
class _Check:
    name: str
    fn: Callable[[], object]
    every: float
    timeout: float
    stop: threading.Event = field(default_factory=threading.Event)
    loop: threading.Thread | None = None
    worker: threading.Thread | None = None   # the last run, when it outlived its timeout and is still running
    since: float = 0.0                       # when that run started (monotonic)


def http_check(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> Callable[[], bool]:
    """A check that GETs `url`: up when it answers 2xx or 3xx within `timeout` (an HTTP error, a refused
    connection or a timeout raises, which counts as down with the reason)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"an http(s) URL is needed, got {url!r}")

    def check() -> bool:
        req = urllib.request.Request(url, method="GET", headers={"User-Agent": "d75-service-check"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the bot's own URL
            resp.read(1024)
            return 200 <= resp.status < 400
    return check


class ServiceHooks(Hooks):
    """The bot's services: registered checks run in the background, or results the bot reports."""

    component = "service"
    hook_methods = ("report", "register", "http", "unregister")

    def __init__(self, metrics: D75Metrics | None, *, default_timeout: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(metrics)
        self._up = self._shared("service_up", "service")
        self._duration = self._shared("service_check_duration", "service")
        self._states: dict[Any, ServiceState] = {}    # keyed by the raw name the bot passes
        self._checks: dict[str, _Check] = {}
        self._lock = threading.Lock()                  # registering and unregistering (not the hot path)
        self._default_timeout = default_timeout

    # -- results ---------------------------------------------------------------------------------
    def report(self, name: str, up: bool, latency: float | None = None, error: str | None = None) -> None:
        """The result of a check of `name`: up or down, and how long it took (seconds, optional)."""
        try:
            state = self._states.get(name)
            if state is None:
                state = self._state(name)
            up_child = self._up.get(name) or self._up.child(name, (name,))
            up_child.set(1.0 if up else 0.0)
            if latency is not None:
                seconds = non_negative(latency)
                (self._duration.get(name) or self._duration.child(name, (name,))).set(seconds)
                state.latency = seconds
            state.up = bool(up)
            state.checked_at = time.time()
            state.error = None if up else (error or "reported down")[:MAX_ERROR_CHARS]
            state.checks += 1
            if not up:
                state.failures += 1
        except Exception as exc:  # noqa: BLE001
            self._fail("report", exc)

    def _state(self, name: object) -> ServiceState:
        with self._lock:
            state = self._states.get(name)
            if state is None:
                state = self._states[name] = ServiceState(label_value(name))
            return state

    # -- checks ----------------------------------------------------------------------------------
    def register(self, name: str, check_fn: Callable[[], object], every: float = DEFAULT_EVERY_S,
                 timeout: float | None = None) -> None:
        """Run `check_fn` every `every` seconds in a background thread, at most `timeout` seconds each
        (default 5 s, at most `every`); the first run starts now. Registering a name again replaces
        its check."""
        try:
            label = label_value(name)
            period = non_negative(every)
            if period <= 0:
                raise ValueError("every must be > 0 seconds")
            limit = min(non_negative(self._default_timeout if timeout is None else timeout), period)
            if limit <= 0:
                raise ValueError("timeout must be > 0 seconds")
            if not callable(check_fn):
                raise TypeError("check_fn must be callable")
            self._state(label)
            check = _Check(label, check_fn, period, limit)
            with self._lock:
                old = self._checks.pop(label, None)
                self._checks[label] = check
            if old is not None:
                old.stop.set()
            check.loop = threading.Thread(target=self._loop, args=(check,), name=f"service-check-{label}",
                                          daemon=True)
            check.loop.start()
        except Exception as exc:  # noqa: BLE001
            self._fail("register", exc)

    def http(self, name: str, url: str, every: float = DEFAULT_EVERY_S, timeout: float | None = None) -> None:
        """Register an HTTP GET health check of `url` (up: a 2xx/3xx answer within the timeout)."""
        try:
            limit = self._default_timeout if timeout is None else timeout
            self.register(name, http_check(url, limit), every=every, timeout=limit)
        except Exception as exc:  # noqa: BLE001
            self._fail("http", exc)

    def unregister(self, name: str) -> None:
        """Stop checking `name` and drop its series (a service the bot no longer uses)."""
        try:
            label = label_value(name)
            with self._lock:
                check = self._checks.pop(label, None)
                for key in [k for k, s in self._states.items() if s.name == label]:
                    del self._states[key]
            if check is not None:
                check.stop.set()
            self._up.retire(service=label)
            self._duration.retire(service=label)
        except Exception as exc:  # noqa: BLE001
            self._fail("unregister", exc)

    def _loop(self, check: _Check) -> None:
        next_at = time.monotonic()
        while not check.stop.wait(max(0.0, next_at - time.monotonic())):
            self._run(check)
            next_at += check.every
            if next_at < time.monotonic():    # a slow round: do not catch up in a burst
                next_at = time.monotonic() + check.every

    def _run(self, check: _Check) -> bool:
        """One run of a check, bounded by its timeout; returns whether it was up. Never raises."""
        try:
            if check.worker is not None and check.worker.is_alive():
                stuck = time.monotonic() - check.since
                self.report(check.name, False, check.timeout, f"check still running after {stuck:.0f}s (hung)")
                return False
            result: dict[str, Any] = {}
            done = threading.Event()

            def work() -> None:
                t0 = time.perf_counter()
                try:
                    result["up"] = bool(check.fn())
                    if not result["up"]:
                        result["error"] = "check returned false"
                except BaseException as exc:  # noqa: BLE001 - a check may raise anything; it means down
                    result["up"], result["error"] = False, f"{type(exc).__name__}: {exc}"
                result["seconds"] = time.perf_counter() - t0
                done.set()

            worker = threading.Thread(target=work, name=f"service-check-{check.name}-run", daemon=True)
            check.since = time.monotonic()
            worker.start()
            if not done.wait(check.timeout):
                check.worker = worker          # cut: abandoned until it returns by itself
                if not check.stop.is_set():
                    self.report(check.name, False, check.timeout, f"timed out after {check.timeout:g}s")
                return False
            check.worker = None
            if check.stop.is_set():            # unregistered meanwhile: keep its series gone
                return bool(result["up"])
            self.report(check.name, result["up"], result["seconds"], result.get("error"))
            return bool(result["up"])
        except Exception as exc:  # noqa: BLE001
            self._fail("check", exc)
            return False

    def check_all(self) -> dict[str, bool]:
        """Run every registered check now (in parallel, each bounded by its timeout) and wait for them:
        service -> up. Blocks the caller for at most the longest timeout; the background schedule goes on."""
        if self.metrics is None:
            return {}
        with self._lock:
            checks = list(self._checks.values())
        out: dict[str, bool] = {}
        threads = [threading.Thread(target=lambda c=c: out.__setitem__(c.name, self._run(c)), daemon=True)
                   for c in checks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    # -- reading ---------------------------------------------------------------------------------
    def status_summary(self) -> dict[str, Any]:
        """The overall status and each service's last result.

        `status`: "healthy" (every service up), "degraded" (some down), "down" (every service down),
        "unknown" (no service, or some not checked yet and none down)."""
        with self._lock:
            states = [ServiceState(**vars(s)) for s in self._states.values()]
        up = sum(1 for s in states if s.up is True)
        down = sum(1 for s in states if s.up is False)
        if states and down == len(states):
            status = "down"
        elif down:
            status = "degraded"
        elif states and up == len(states):
            status = "healthy"
        else:
            status = "unknown"
        return {
            "status": status, "total": len(states), "up": up, "down": down, "unknown": len(states) - up - down,
            "services": {s.name: {"up": s.up, "latency_seconds": s.latency, "checked_at": s.checked_at,
                                  "error": s.error, "checks": s.checks, "failures": s.failures}
                         for s in sorted(states, key=lambda s: s.name)},
        }

    def close(self, timeout: float = 5.0) -> None:
        """Stop every check loop (a check running now finishes in its worker thread, unobserved)."""
        with self._lock:
            checks = list(self._checks.values())
        for c in checks:
            c.stop.set()
        deadline = time.monotonic() + timeout
        for c in checks:
            if c.loop is not None:
                c.loop.join(max(0.0, deadline - time.monotonic()))
