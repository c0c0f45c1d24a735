"""Webhook received -> fake Telegram sendMessage call, through the real receiver.

Stack: a throwaway PostgreSQL 15 cluster, the receiver app (create_app) under waitress on loopback
with notifications on, the fake Telegram Bot API. Each sample POSTs one new P0 alert to
/webhook/alertmanager and measures until the fake records the sendMessage request (same process,
same monotonic clock). "Under budget": samples are spaced 3.05 s apart (Telegram: about 1 msg/s per
chat and 20 a minute per group)
and a channel map with generous per-minute budgets is used, so pacing never holds a sample back;
what is measured is store + outbox + dispatcher wake-up + HTTP to Telegram. Goal: p99 < 50 ms.
Set BENCH_NOTIFY_SAMPLES (default 20).
"""
from __future__ import annotations

import os
import statistics
import threading
import time

import requests

from benchmarks.common import nearest_rank, postgres_cluster, scratch_dir

__all__ = ["main"]


def main() -> None:
    from waitress.server import create_server

    from tests.support.fakes import FakeTelegram
    from tests.support.fakes.payloads import am_alert, am_payload
    from webhook_receiver.app import create_app
    from webhook_receiver.settings import load_settings

    samples = int(os.environ.get("BENCH_NOTIFY_SAMPLES", "20"))
    lat: list[float] = []
    ack: list[float] = []
    with scratch_dir("d76-bench-notify-") as tmp, postgres_cluster(tmp) as cluster, FakeTelegram() as tg:
        cmap = tmp / "channel_map.yml"
        cmap.write_text("severities:\n" + "".join(
            f"  {s}: {{channels: [telegram], share_per_minute: 10}}\n" for s in ("P0", "P1", "P2")))
        app = create_app(load_settings({
            "DATABASE_URL": cluster.url,
            "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_CHAT_ID": "-100", "TELEGRAM_API_URL": tg.api_url,
            "TELEGRAM_POLLING": "false", "DEADMAN_ENABLED": "false", "CHANNEL_MAP_FILE": str(cmap),
            # our own overhead, not Telegram's clock (`benchmarks.run storm` measures under its limits)
            "TELEGRAM_CHAT_MIN_INTERVAL_SECONDS": "0", "TELEGRAM_CHAT_PER_MINUTE": "10000"}))
        server = create_server(app, host="127.0.0.1", port=0, threads=4)
        threading.Thread(target=server.run, daemon=True).start()
        url = f"http://127.0.0.1:{server.effective_port}/webhook/alertmanager"
        session = requests.Session()
        try:
            for i in range(samples + 2):  # the first two warm up connections and caches
                body = am_payload(am_alert("ExchangeFrozen", "P0", labels={"exchange": f"ex{i}"}))
                n = len(tg.messages)
                t0 = time.monotonic()
                r = session.post(url, json=body, timeout=10)
                t_ack = time.monotonic()
                assert r.status_code == 200, r.text
                tg.wait_messages(n + 1, timeout=10)
                sent_at = tg.method_calls("sendMessage")[-1].at
                if i >= 2:
                    lat.append((sent_at - t0) * 1000)
                    ack.append((t_ack - t0) * 1000)
                time.sleep(3.05)
        finally:
            server.close()
            app.extensions["d76_receiver"].close()
    print(f"samples: {len(lat)} (PostgreSQL store, waitress, fake Telegram on loopback)")
    print(f"webhook 200 latency   p50 {statistics.median(ack):6.1f} ms  p99 {nearest_rank(ack, 0.99):6.1f} ms")
    print(f"webhook -> sendMessage p50 {statistics.median(lat):6.1f} ms  p99 {nearest_rank(lat, 0.99):6.1f} ms  "
          f"max {max(lat):6.1f} ms  (goal p99 < 50 ms)")
