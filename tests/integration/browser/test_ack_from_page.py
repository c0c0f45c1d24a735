"""Acting from the alert's page in a real headless Chromium (Debian's package), as a phone opens it
from a chat link: sign in, press Ack with a comment; the Telegram message is edited (the fake Bot API's
editMessageText) and the page's timeline shows the acknowledgement; then Unack gives it back."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.conftest import telegram_env
from tests.support.browser import PHONE, chromium, horizontal_overflow, screenshot_dir, text_of
from tests.support.fakes import FakeTelegram, am_alert, am_payload
from webhook_receiver.page_actions import CSRF_COOKIE

TOKEN = "browser-ack-token-0123456789"
CHAT = "-1001"


def test_ack_with_a_comment_from_the_page_edits_the_message_and_shows_in_the_timeline(
        receiver_process, tg: FakeTelegram, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    _, url = receiver_process({**telegram_env(tg, CHAT), "DATABASE_URL": f"sqlite:///{tmp_path / 'h.sqlite3'}",
                               "RECEIVER_TOKEN": TOKEN, "DEADMAN_ENABLED": "false"})
    body = am_payload(am_alert("ExchangeFrozen", "P0", labels={"exchange": "upbit"},
                               annotations={"summary": "upbit is FROZEN"}), receiver="d76-p0")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.post(f"{url}/webhook/alertmanager", json=body, headers=auth, timeout=10).status_code == 200
    [page] = tg.wait_messages(1)
    alert_id = requests.get(f"{url}/api/alerts", headers=auth, timeout=10).json()["alerts"][0]["id"]
    shots = screenshot_dir(request.node.name)
    with chromium(PHONE) as driver:
        driver.get(f"{url}/alerts/{alert_id}")
        driver.find_element(By.NAME, "token").send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        text_of(driver, "h1", "upbit is FROZEN")
        assert driver.get_cookie(CSRF_COOKIE) is not None  # the form session
        driver.find_element(By.NAME, "by").send_keys("kim")
        driver.find_element(By.NAME, "comment").send_keys("checking the feed")
        driver.save_screenshot(str(shots / "1-before-ack.png"))
        driver.find_element(By.ID, "ack").click()
        timeline = text_of(driver, "#timeline", "acknowledged")
        assert "by: page:kim · comment: checking the feed" in timeline
        assert driver.find_element(By.ID, "unack").is_displayed()
        assert horizontal_overflow(driver) == []
        driver.save_screenshot(str(shots / "2-acked.png"))
        edit = tg.wait_for(lambda: next((e for e in tg.edits if e["message_id"] == page.message_id), None), 15)
        assert "Acked by page:kim" in edit["text"] and ": checking the feed" in edit["text"]

        driver.find_element(By.NAME, "comment").send_keys("wrong alert")
        driver.find_element(By.ID, "unack").click()
        assert "unacknowledged" in text_of(driver, "#timeline", "unacknowledged")
        assert driver.find_element(By.ID, "ack").is_displayed()
        driver.save_screenshot(str(shots / "3-unacked.png"))
    tg.wait_for(lambda: "Acked by" not in tg.find_message(CHAT, page.message_id).text, 15)
    assert all((shots / f).stat().st_size > 1000 for f in ("1-before-ack.png", "2-acked.png", "3-unacked.png"))
