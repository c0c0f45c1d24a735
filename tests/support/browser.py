"""Headless Chromium for the page tests: Debian's `chromium` and `chromium-driver`, driven by selenium.

`scripts/setup.sh` installs both packages; nothing here downloads a browser or a driver (selenium's
own manager is bypassed by naming both binaries). The flags keep Chromium off the network: this
machine's network is closed, and without them Chromium opens background connections at start.

Screenshots go to `<repo>/.d76/screenshots/<test name>/` (or `$D76_SCREENSHOTS/<test name>/`), for a
person to review; the folder is named by the test that took them.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.support import paths

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PHONE = (390, 844)
LAPTOP = (1366, 900)
_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
          "--disable-dev-shm-usage", "--force-device-scale-factor=1")


def screenshot_dir(test_name: str) -> Path:
    """The folder a test's screenshots go to (created, emptied of an earlier run's files)."""
    root = Path(os.environ.get("D76_SCREENSHOTS") or paths.REPO / ".d76" / "screenshots")
    folder = root / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium(size: tuple[int, int] = LAPTOP) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium (its own empty profile) with a window of `size` CSS pixels."""
    profile = tempfile.mkdtemp(prefix="d76-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in _FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={size[0]},{size[1]}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        driver.set_page_load_timeout(30)
        resize(driver, size)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def resize(driver: webdriver.Chrome, size: tuple[int, int]) -> None:
    """Make the viewport (not the window) `size` CSS pixels: headless windows have no frame, but ask."""
    driver.set_window_size(*size)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    if inner and list(inner) != list(size):
        w, h = driver.get_window_size()["width"], driver.get_window_size()["height"]
        driver.set_window_size(w + size[0] - inner[0], h + size[1] - inner[1])


def horizontal_overflow(driver: webdriver.Chrome) -> list[str]:
    """Elements wider than the viewport or sticking out to its right (a page that scrolls sideways on a
    phone); empty when nothing overflows."""
    return list(driver.execute_script("""
        const doc = document.documentElement, vw = doc.clientWidth, out = [];
        if (doc.scrollWidth > vw) out.push('document ' + doc.scrollWidth + ' > ' + vw);
        for (const el of document.body.querySelectorAll('*')) {
          const r = el.getBoundingClientRect();
          const name = el.tagName.toLowerCase() + (el.className ? '.' + el.className : '');
          if (r.width > 0 && r.right > vw + 1) out.push(name + ' right=' + Math.round(r.right));
        }
        return out;"""))


def text_of(driver: webdriver.Chrome, css: str, containing: str, timeout: float = 15.0) -> str:
    """The text of the first element matching `css` once it contains `containing` (a click that submits
    a form navigates: the old page's elements go stale and the new ones are not there yet)."""
    def ready(d: webdriver.Chrome) -> str | bool:
        text = str(d.find_element(By.CSS_SELECTOR, css).text)
        return text if containing in text else False

    waiter = WebDriverWait(driver, timeout, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))
    return str(waiter.until(ready, f"no {css} containing {containing!r}"))
