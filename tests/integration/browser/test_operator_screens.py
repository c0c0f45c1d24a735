"""The operator's screens in a real headless Chromium (Debian's package) at a phone's 390x844 and a
laptop's 1366x900, on a real pipeline: alerts fire in a real Alertmanager, which posts them to the
real `d76 receiver` process; the operator silences one by its exchange (`d76 silence create
exchange=upbit`) and one by its history id (`d76 silence create --alert N`), both straight to
Alertmanager, as an operator at a shell does.

Checked on each screen: the silence is shown with its author and its end (the receiver learns it from
Alertmanager through the history reconciler: the alert row's own `silence_id` stays empty); nothing
sticks out sideways (`horizontal_overflow`); no word of a table cell is broken across two lines (each
word's rendered line boxes: `Range.getClientRects()`), so label values are read whole; the list row
carries the alert's summary, where it is and its state; Watchdog is not listed. Screenshots go to the
folder the test names (`screenshot_dir`), for review.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from local_stack.processes import ManagedProcess, free_port, start_alertmanager
from tests.conftest import D76, start_receiver
from tests.support.browser import LAPTOP, PHONE, chromium, horizontal_overflow, screenshot_dir, text_of
from tests.support.history import AM, now, wait_for
from webhook_receiver.history.amview import parse_am_time
from webhook_receiver.timefmt import fmt_time

TOKEN = "operator-screens-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

# every whitespace-separated word of these elements: on more than one line box = broken in the middle
_BROKEN_WORDS = """
const out = [];
for (const el of document.querySelectorAll(arguments[0])) {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const re = /\\S+/g;
    for (let m = re.exec(node.textContent); m; m = re.exec(node.textContent)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (tops.size > 1) out.push(m[0]);
    }
  }
}
return out;"""
CELLS = "table td, table th, .lv"


@dataclass(frozen=True)
class Pipeline:
    receiver: str
    alertmanager: str
    ids: dict[str, int]
    silence_ends: dict[str, str]  # alertname -> the silence's end as the pages write it
    outputs: dict[str, str]  # what `d76 silence create` printed


def _annotations(summary: str, runbook: str, description: str, action: str) -> dict[str, str]:
    return {"summary": summary, "description": description, "action": action, "value": "12 s",
            "runbook_url": f"http://127.0.0.1:9099/runbooks/{runbook}"}


def _d76(*args: str) -> str:
    r = subprocess.run([D76, *args], capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "RECEIVER_TOKEN": TOKEN, "COLUMNS": "100"})
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    tmp = tmp_path_factory.mktemp("screens")
    port = free_port()
    receiver_url = f"http://127.0.0.1:{port}"
    config = tmp / "alertmanager.yml"
    config.write_text(f"""route:
  receiver: d76-p1
  group_by: [alertname, exchange, route]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: d76-p1
    webhook_configs:
      - url: {receiver_url}/webhook/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials: {TOKEN}
""")
    am_port = free_port()
    am_proc: ManagedProcess = start_alertmanager(config, am_port, tmp / "am-data", tmp / "am.log")
    am_url = f"http://127.0.0.1:{am_port}"
    rcv_proc, _ = start_receiver(tmp / "receiver.log", {
        "DATABASE_URL": f"sqlite:///{tmp / 'history.sqlite3'}", "RECEIVER_TOKEN": TOKEN, "ALERTMANAGER_URL": am_url,
        "NOTIFICATIONS_ENABLED": "false", "HISTORY_RECONCILE_INTERVAL_SECONDS": "0.5"}, port=port)
    try:
        am = AM(am_url)
        start = now() - timedelta(minutes=7)
        am.fire(AM.labels("ExchangeFrozen", "P0", exchange="upbit"), start, **_annotations(
            "upbit is FROZEN", "exchange-frozen", "upbit's market data stopped: orderbook age 12 s (limit 5 s).",
            "The bot halted trading on upbit; check its websocket feed and status page."))
        am.fire(AM.labels("RateLimitHttp429", "P1", exchange="bithumb", category="order"), start, **_annotations(
            "HTTP 429 from bithumb (order)", "rate-limit-http429", "bithumb answered 14 requests with HTTP 429.",
            "Lower the order rate on bithumb."))
        am.fire(AM.labels("RouteScoreLow", "P2", route="upbit-binance-BTC"), start, **_annotations(
            "Route upbit-binance-BTC score low", "route-score-low", "RouteScore of upbit-binance-BTC is 42.",
            "The universe skips upbit-binance-BTC while its score is low."))
        am.fire(AM.labels("InventoryImbalanceRising", "P3", symbol="XRP"), start, **_annotations(
            "XRP inventory drifting", "inventory-imbalance-rising", "XRP is 31% imbalanced.",
            "Check that rebalancing of XRP runs."))
        am.fire(AM.labels("Watchdog", "none"), start, summary="the pipeline is alive")
        names = ("ExchangeFrozen", "RateLimitHttp429", "RouteScoreLow", "InventoryImbalanceRising", "Watchdog")

        def stored() -> dict[str, int] | None:
            rows = requests.get(f"{receiver_url}/api/alerts", headers=AUTH, timeout=5).json()["alerts"]
            ids = {r["alertname"]: r["id"] for r in rows}
            return ids if all(n in ids for n in names) else None

        ids = wait_for(stored, 20, "every alert in the receiver's history")
        outputs = {
            "ExchangeFrozen": _d76("silence", "create", "exchange=upbit", "--alertmanager-url", am_url,
                                   "--by", "kim", "-m", "upbit maintenance", "--duration", "2h"),
            "RateLimitHttp429": _d76("silence", "create", "--alert", str(ids["RateLimitHttp429"]), "--receiver-url",
                                     receiver_url, "--alertmanager-url", am_url, "--by", "lee", "--duration", "30m"),
        }
        ends = {}
        for s in requests.get(f"{am_url}/api/v2/silences", timeout=5).json():
            by = {"kim": "ExchangeFrozen", "lee": "RateLimitHttp429"}[s["createdBy"]]
            ends[by] = fmt_time(parse_am_time(s["endsAt"]))

        def silenced_in_history() -> bool:
            pages = [requests.get(f"{receiver_url}/alerts/{ids[n]}", headers=AUTH, timeout=5).text
                     for n in ("ExchangeFrozen", "RateLimitHttp429")]
            return all("silenced by" in p for p in pages)

        wait_for(silenced_in_history, 20, "both silences known to the receiver (from Alertmanager)")
        yield Pipeline(receiver_url, am_url, ids, ends, outputs)
    finally:
        rcv_proc.stop()
        am_proc.stop()


def test_silence_create_matches_what_it_says_and_alert_uses_the_identifying_labels(pipeline: Pipeline) -> None:
    by_exchange = pipeline.outputs["ExchangeFrozen"]
    assert 'exchange="upbit"' in by_exchange
    assert "it matches 1 alert(s) firing now: ExchangeFrozen exchange=upbit" in by_exchange, by_exchange
    assert f"until {pipeline.silence_ends['ExchangeFrozen']}" in by_exchange  # the one time format
    by_alert = pipeline.outputs["RateLimitHttp429"]
    first = by_alert.splitlines()[0]
    assert 'alertname="RateLimitHttp429", exchange="bithumb"' in first, first
    for plumbing in ("instance=", "job=", "category=", "severity=", "source="):
        assert plumbing not in first, first
    assert "it matches 1 alert(s) firing now: RateLimitHttp429 exchange=bithumb" in by_alert, by_alert
    # the receiver's own record of a silence is empty: the page knows it from Alertmanager's episodes
    row = requests.get(f"{pipeline.receiver}/api/alerts/{pipeline.ids['ExchangeFrozen']}", headers=AUTH,
                       timeout=5).json()["alert"]
    assert row["silence_id"] is None


def _sign_in(driver: WebDriver, url: str) -> None:
    driver.get(url)
    text_of(driver, "h1", "sign in")
    driver.find_element(By.NAME, "token").send_keys(TOKEN)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def _fits(driver: WebDriver, what: str) -> None:
    assert horizontal_overflow(driver) == [], (what, horizontal_overflow(driver))
    broken = driver.execute_script(_BROKEN_WORDS, CELLS)
    assert broken == [], (what, broken)


@pytest.mark.parametrize("size", [PHONE, LAPTOP], ids=["phone", "laptop"])
def test_the_list_and_a_silenced_alert_read_whole_on_a_phone_and_a_laptop(
        pipeline: Pipeline, size: tuple[int, int], request: pytest.FixtureRequest) -> None:
    shots = screenshot_dir(request.node.name)
    base = pipeline.receiver
    with chromium(size) as driver:
        _sign_in(driver, f"{base}/alerts")
        text_of(driver, "h1", "Alerts")
        assert driver.execute_script("return window.innerWidth") == size[0]
        driver.save_screenshot(str(shots / "1-list.png"))
        _fits(driver, "the list")
        rows = {r.get_attribute("class"): r for r in driver.find_elements(By.CSS_SELECTOR, "tr.alert")}
        texts = [r.text for r in rows.values()]
        assert len(texts) == 4 and not any("Watchdog" in t for t in texts), texts  # the heartbeat is hidden
        expect = {"upbit is FROZEN": ("exchange=upbit", "silenced", "by kim"),
                  "HTTP 429 from bithumb (order)": ("exchange=bithumb", "silenced", "by lee"),
                  "Route upbit-binance-BTC score low": ("route=upbit-binance-BTC", "firing"),
                  "XRP inventory drifting": ("symbol=XRP", "firing")}
        for summary, parts in expect.items():
            row = next((t for t in texts if summary in t), None)
            assert row is not None, (summary, texts)  # the summary is in the list row
            for part in parts:
                assert part in row, (summary, part, row)
        assert "Watchdog hidden" in driver.find_element(By.TAG_NAME, "main").text

        frozen = pipeline.ids["ExchangeFrozen"]
        driver.get(f"{base}/alerts/{frozen}")
        text_of(driver, "h1", "upbit is FROZEN")
        driver.save_screenshot(str(shots / "2-silenced-alert.png"))
        _fits(driver, "the silenced alert")
        page = driver.find_element(By.TAG_NAME, "main").text
        silence = f"silenced by kim until {pipeline.silence_ends['ExchangeFrozen']}: upbit maintenance"
        assert silence in page, page  # its author and its end
        assert "not silenced" not in page
        assert page.count("upbit's market data stopped") == 1  # the description once
        assert "First checks" in page and "Exchange status page" in page  # the runbook's, on the page itself
        assert driver.find_element(By.CSS_SELECTOR, ".headline .state").text == "silenced"

        driver.get(f"{base}/alerts/{pipeline.ids['RateLimitHttp429']}")
        text_of(driver, "h1", "HTTP 429 from bithumb")
        _fits(driver, "the alert silenced by its id")
        assert (f"silenced by lee until {pipeline.silence_ends['RateLimitHttp429']}"
                in driver.find_element(By.TAG_NAME, "main").text)

        driver.get(f"{base}/alerts/{frozen}")
        driver.find_element(By.LINK_TEXT, "The runbook").click()
        text_of(driver, "article h1", "ExchangeFrozen")
        driver.save_screenshot(str(shots / "3-runbook.png"))
        assert horizontal_overflow(driver) == []
        runbook = driver.find_element(By.TAG_NAME, "article").text
        assert "d76 silence create alertname=ExchangeFrozen exchange=upbit --duration 1h" in runbook
        assert f"d76 silence create --alert {frozen}" in runbook and "generated by" not in runbook
    for name in ("1-list.png", "2-silenced-alert.png", "3-runbook.png"):
        assert (shots / name).stat().st_size > 5000, name
