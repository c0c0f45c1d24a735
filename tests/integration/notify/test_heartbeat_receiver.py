"""The external heartbeat of one real `d76 receiver` process, against the fake heartbeat service, for
the parts of the chain a whole stack is not needed for (the Watchdog's part: test_heartbeat_stack.py):

- PostgreSQL dies (its own throwaway cluster, stopped with `pg_ctl -m immediate`): the fail URL is
  called within an interval, "storage unavailable"; back, the pings resume. Uptime Kuma's push URLs
  (`?status=up` / `?status=down`, the reason in `msg`).
- Telegram fails every call (the fake Bot API answers 503) while a P0 waits: the fail URL names both
  (the P0 waiting over HEARTBEAT_P0_WAIT_SECONDS, Telegram's calls failing over
  HEARTBEAT_CHANNEL_FAILING_SECONDS, shortened here); Telegram back: the P0 is told, nothing is
  marked failed, the pings resume. healthchecks.io's URLs.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import requests

from local_stack.processes import PostgresCluster
from tests.support.fakes import FakeHeartbeat, FakeTelegram, Fault, am_alert, am_payload

INTERVAL = 1.0
TOKEN = "heartbeat-test-token"


def _env(**extra: str) -> dict[str, str]:
    return {"RECEIVER_TOKEN": TOKEN, "HEARTBEAT_INTERVAL_SECONDS": str(INTERVAL),
            "DEADMAN_TIMEOUT_SECONDS": "3600", "NOTIFY_POLL_SECONDS": "0.05", "ALERTMANAGER_URL": "http://127.0.0.1:9",
            "HISTORY_RECONCILE": "false", **extra}


def _post(url: str, *alerts: dict) -> None:
    r = requests.post(f"{url}/webhook/alertmanager", json=am_payload(*alerts),
                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 200, r.text


def test_storage_down_calls_the_fail_url_within_an_interval_and_back_resumes_the_pings(session_tmp: Path,
                                                                                         receiver_process):
    base = session_tmp / f"hb-pg-{os.getpid()}"
    base.mkdir()
    pg = PostgresCluster(base / "pg").init().start()
    try:
        with FakeHeartbeat() as hb:
            token = hb.kuma_monitor()
            _, url = receiver_process(_env(DATABASE_URL=pg.url, HEARTBEAT_URL=hb.kuma_url(token),
                                           HEARTBEAT_FAIL_URL=hb.kuma_url(token, "down")))
            hb.wait_for(lambda: len(hb.successes(token)) >= 3, timeout=30)
            assert hb.failures(token) == [] and hb.successes(token)[0].msg.startswith("ok")  # type: ignore[union-attr]
            pg.stop(mode="immediate")
            down = time.monotonic()
            fail = hb.wait_ping(token, "fail", after=down, timeout=30)
            assert fail.msg == "storage unavailable (postgresql)" and fail.body == fail.msg
            assert requests.get(url + "/readyz", timeout=5).status_code == 503
            pg.start()
            up = time.monotonic()
            ok = hb.wait_ping(token, "success", after=up, timeout=60)
            print(f"\nPostgreSQL stopped: fail URL (Uptime Kuma status=down) after {fail.at - down:.1f}s; "
                  f"started again: pings resume after {ok.at - up:.1f}s")
            assert fail.at - down <= 2 * INTERVAL + 3.0  # the tick, plus the pool noticing the database is gone
    finally:
        pg.stop(mode="immediate")


def test_telegram_failing_with_a_p0_waiting_calls_the_fail_url_naming_both_and_nothing_is_lost(tmp_path: Path,
                                                                                                 receiver_process):
    with FakeHeartbeat() as hb, FakeTelegram() as tg:
        check = hb.hc_check()
        _, url = receiver_process(_env(
            DATABASE_URL=f"sqlite:///{tmp_path / 'history.sqlite3'}", HEARTBEAT_URL=hb.hc_url(check),
            HEARTBEAT_P0_WAIT_SECONDS="3", HEARTBEAT_CHANNEL_FAILING_SECONDS="4", TELEGRAM_BOT_TOKEN=tg.token,
            TELEGRAM_CHAT_ID="-100616", TELEGRAM_API_URL=tg.api_url, TELEGRAM_POLL_TIMEOUT="1",
            NOTIFY_BACKOFF_CAP_SECONDS="2"))
        hb.wait_for(lambda: len(hb.successes(check)) >= 2, timeout=30)
        tg.inject(Fault(status=503, times=100_000, body={"ok": False, "error_code": 503,
                                                         "description": "Service Unavailable"}))
        broken = time.monotonic()
        _post(url, am_alert("ExchangeFrozen", "P0", labels={"exchange": "upbit"}))
        fail = hb.wait_for(lambda: next((p for p in hb.failures(check, after=broken)
                                         if "telegram calls failing" in p.body and "P0" in p.body), None), timeout=60)
        first_fail = hb.failures(check, after=broken)[0]
        print(f"\nTelegram answering 503 to every call: first fail call after {first_fail.at - broken:.1f}s "
              f"({first_fail.body!r}); both reasons after {fail.at - broken:.1f}s: {fail.body!r}")
        assert "a P0 notification has waited" in fail.body and "503" in fail.body
        tg.clear_faults()
        healed = time.monotonic()
        page = tg.wait_for(lambda: next((m for m in tg.messages if "ExchangeFrozen" in m.visible_text
                                         or "FROZEN" in m.visible_text.upper()), None), timeout=30)
        ok = hb.wait_ping(check, "success", after=healed, timeout=30)
        print(f"Telegram back: the P0 told after {page.at - healed:.1f}s, pings resume after {ok.at - healed:.1f}s")
        rows = requests.get(f"{url}/api/alerts", params={"alertname": "ExchangeFrozen"},
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()["alerts"]
        detail = requests.get(f"{url}/api/alerts/{rows[0]['id']}", headers={"Authorization": f"Bearer {TOKEN}"},
                              timeout=10).json()
        statuses = [n["status"] for n in detail["alert"]["deliveries"]]
        assert statuses and "failed" not in statuses, detail["alert"]["deliveries"]
