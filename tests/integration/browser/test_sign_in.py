"""The receiver's pages in a real headless Chromium (Debian's package), as a phone opens them from a
chat link: the sign-in form, a wrong token refused, the right one sets a cookie that opens the page.

This is the browser harness the other page tests build on (tests/support/browser.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.support.browser import LAPTOP, PHONE, chromium, horizontal_overflow, screenshot_dir, text_of
from tests.support.fakes.payloads import am_alert, am_payload
from webhook_receiver.pages import COOKIE

TOKEN = "browser-test-token-0123456789"


@pytest.fixture
def receiver(receiver_process, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    _, url = receiver_process({"DATABASE_URL": f"sqlite:///{tmp_path / 'h.sqlite3'}", "RECEIVER_TOKEN": TOKEN,
                               "NOTIFICATIONS_ENABLED": "false"})
    body = am_payload(am_alert("ExchangeFrozen", "P0", labels={"exchange": "upbit"}), receiver="d76-p0")
    r = requests.post(f"{url}/webhook/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"},
                      timeout=10)
    assert r.status_code == 200, r.text
    return url


@pytest.mark.parametrize("size", [PHONE, LAPTOP], ids=["phone", "laptop"])
def test_sign_in_with_the_token_then_the_alert_page_opens(receiver: str, size: tuple[int, int],
                                                          request: pytest.FixtureRequest) -> None:
    shots = screenshot_dir(request.node.name)
    alert_id = requests.get(f"{receiver}/api/alerts", headers={"Authorization": f"Bearer {TOKEN}"},
                            timeout=10).json()["alerts"][0]["id"]
    with chromium(size) as driver:
        driver.get(f"{receiver}/alerts/{alert_id}")
        text_of(driver, "h1", "sign in")
        assert driver.execute_script("return window.innerWidth") == size[0]
        driver.save_screenshot(str(shots / "1-sign-in.png"))

        driver.find_element(By.NAME, "token").send_keys("not-the-token")
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        text_of(driver, ".err", "not the receiver's token")
        assert driver.get_cookie(COOKIE) is None

        driver.find_element(By.NAME, "token").send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        assert text_of(driver, "h1", "ExchangeFrozen fired").startswith("P0")  # the severity's badge
        cookie = driver.get_cookie(COOKIE)
        assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert TOKEN not in cookie["value"]  # an HMAC of the token, never the token
        driver.save_screenshot(str(shots / "2-alert.png"))
        assert horizontal_overflow(driver) == []  # (the layout in depth: test_operator_screens)
    assert (shots / "1-sign-in.png").stat().st_size > 1000 and (shots / "2-alert.png").stat().st_size > 1000
