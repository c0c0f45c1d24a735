"""Run every benchmark: `.venv/bin/python -m benchmarks.run [name ...]`.

Each `benchmarks/bench_*.py` module has a `main() -> None` that prints its numbers: exporter,
receiver, notify, e2e, fuzz (mutation soak against a live receiver: counts by status, target no 5xx),
history (prune 1,000,000 rows on PostgreSQL; ingest latency meanwhile), storm (delivery under
Telegram's limits, ours and Alertmanager's native notifier side by side), remind (how late 1,000
alerts' reminders are told beyond what Telegram's pacing requires), scale (ten times bigger: the
exporter at 10x, single-alert ingest, 10,000 firing alerts end to end, /api/alerts over 10M rows, the
digest over a day of 100,000 alerts, each next to its goal). `benchmarks/common.py` holds what they
share.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in argv]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(names)}", file=sys.stderr)
        return 2
    for name in wanted or names:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        importlib.import_module(f"benchmarks.{name}").main()
        print(f"({name} took {time.perf_counter() - t0:.1f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
