"""P0 end-to-end latency on the shipped local configuration, single and HA.

From the moment the simulator applies `exchange-frozen` (its `applied_at`, the value already on
/metrics) to the moment the fake Telegram Bot API receives sendMessage, through real Prometheus and
Alertmanager with the generated configs (500 ms scrape and evaluation, P0 group_wait 0s) and the
receiver(s). Each trial starts at a random moment (a bot's incidents are not in phase with
Prometheus' 500 ms scrape/evaluation cycle) and freezes an exchange that has not fired on this stack
before, then returns to calm and waits until Alertmanager has the resolve. Pages are at least 6.5 s
apart (the P0 Telegram budget is 10 a minute). Goal: p50 < 1 s, p99 < 2 s (seed target < 1 s; the
Prometheus/Alertmanager defaults would give up to ~150 s).

Why fresh exchanges: after a resolve, Prometheus re-sends the resolved alert every resend delay for
15 minutes, which keeps its Alertmanager group alive; an alert that fires again in that time joins
the group and waits for the P0 group_interval (10 s) instead of group_wait. That case is measured
separately ("re-fire").

Stacks: single (SQLite); HA (`--ha`: two Prometheus replicas, three clustered Alertmanagers, two
receivers on one PostgreSQL); HA again, measured after SIGKILL of prometheus-a, alertmanager-a and
receiver-a (what is left must still page).
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

import requests

from benchmarks.common import percentile, scratch_dir
from local_stack.runner import Stack, StackConfig
from simulator.engine import EXCHANGES
from tests.support.fakes import FakeTelegram

PAGE_SPACING = 6.5
REFIRE_TRIALS = 6
DEGRADED_TRIALS = 12
EXCHANGE_COUNT = 20


def _am_has(stack: Stack, ex: str) -> bool:
    for url in stack.urls("alertmanager"):
        try:
            alerts = requests.get(url + "/api/v2/alerts", timeout=2).json()
        except requests.RequestException:
            continue  # a killed replica
        if any(a["labels"].get("alertname") == "ExchangeFrozen" and a["labels"].get("exchange") == ex
               for a in alerts):
            return True
    return False


def _trials(stack: Stack, tg: FakeTelegram, rng: random.Random, exchanges: list[str],
            warm_up: bool = True) -> list[float]:
    """One trial per exchange; the first is a warm-up (not counted) when `warm_up`."""
    offset = time.time() - time.monotonic()  # fake Telegram stamps messages with monotonic time
    latencies: list[float] = []
    last_page = 0.0
    for i, ex in enumerate(exchanges):
        # at most one P0 every PAGE_SPACING s: the P0 budget (10 a minute) would otherwise hold pages
        time.sleep(max(0.0, last_page + PAGE_SPACING - time.monotonic()) + rng.uniform(0, 1.0))
        n = len(tg.messages)
        applied = stack.scenario("exchange-frozen", target=ex)["applied_at"]
        msg = tg.wait_for(lambda n=n, ex=ex: next((m for m in tg.messages[n:]
                                                   if f"[P0] {ex} is FROZEN" in m.visible_text), None), timeout=60)
        last_page = time.monotonic()
        latency = msg.at + offset - applied
        if warm_up and i == 0:
            # right after start-up (or a failure) Prometheus' first evaluations come late (2-3 s
            # measured); a running pipeline does not see that
            print(f"  warm-up trial ({ex}) {latency * 1000:.0f} ms (not counted)")
        else:
            latencies.append(latency)
            print(f"  trial {len(latencies):2d} ({ex:<9}) {latency * 1000:7.0f} ms", file=sys.stderr)
        stack.scenario("calm")
        deadline = time.monotonic() + 30
        while _am_has(stack, ex) and time.monotonic() < deadline:
            time.sleep(0.1)
    return latencies


def _report(title: str, latencies: list[float]) -> None:
    print(f"{title}, {len(latencies)} trials:")
    print(f"  p50 {statistics.median(latencies) * 1000:.0f} ms   p90 {percentile(latencies, 0.9) * 1000:.0f} ms"
          f"   p99 {percentile(latencies, 0.99) * 1000:.0f} ms   max {max(latencies) * 1000:.0f} ms"
          f"   min {min(latencies) * 1000:.0f} ms")
    print("  goal: p50 < 1000 ms, p99 < 2000 ms", flush=True)


def _config(state: Path, tg: FakeTelegram, ha: bool) -> StackConfig:
    return StackConfig.with_free_ports(
        state, ha=ha, simulator_args=["--tick", "0.25", "--exchanges", str(EXCHANGE_COUNT)],
        receiver_env={"TELEGRAM_API_URL": tg.api_url, "TELEGRAM_BOT_TOKEN": tg.token,
                      "TELEGRAM_CHAT_ID": "-100", "TELEGRAM_POLLING": "false",
                      "DEADMAN_TIMEOUT_SECONDS": "3600"})


def main(refire_trials: int = REFIRE_TRIALS, degraded_trials: int = DEGRADED_TRIALS) -> None:
    with scratch_dir("d76-bench-e2e-") as tmp:  # the HA stacks' throwaway PostgreSQL must reach it
        _run(tmp, refire_trials, degraded_trials)


def _run(tmp: Path, refire_trials: int, degraded_trials: int) -> None:
    rng = random.Random(76)
    fresh = list(EXCHANGES[:EXCHANGE_COUNT])
    with FakeTelegram() as tg, Stack(_config(tmp / "single", tg, ha=False)) as stack:
        time.sleep(6)  # let Prometheus discover Alertmanager (discovery reports every 5 s)
        _report("single: P0 end-to-end latency (simulator FROZEN -> Telegram sendMessage)",
                _trials(stack, tg, rng, fresh))
        _report("single, re-fire (an exchange FROZEN again about 2 min after its resolve)",
                _trials(stack, tg, rng, fresh[1:1 + refire_trials], warm_up=False))
    with FakeTelegram() as tg, Stack(_config(tmp / "ha", tg, ha=True)) as stack:
        time.sleep(6)
        _report("HA (2 Prometheus, 3 Alertmanagers, 2 receivers on PostgreSQL): P0 end-to-end latency",
                _trials(stack, tg, rng, fresh))
    with FakeTelegram() as tg, Stack(_config(tmp / "ha-degraded", tg, ha=True)) as stack:
        time.sleep(6)
        for piece in ("prometheus-a", "alertmanager-a", "receiver-a"):
            stack.kill(piece)
        _report("HA after SIGKILL of prometheus-a, alertmanager-a, receiver-a: P0 end-to-end latency",
                _trials(stack, tg, rng, fresh[:degraded_trials + 1]))


if __name__ == "__main__":
    main()
