"""Acknowledgement as ownership through every door: the API (ack, comments kept, unack), the alert's
page (forms guarded by the cookie or the token, and by a form token bound to the browser's session),
Telegram (the Unack button and /unack, /ack with a comment, through the webhook), and `d76 ack` /
`d76 unack` against a real `d76 receiver`. SQLite and PostgreSQL for the in-process app."""
from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import telegram_env
from tests.support import paths
from tests.support.fakes import FakeTelegram, am_alert, am_payload
from tests.support.waiting import until
from webhook_receiver.page_actions import CSRF_COOKIE
from webhook_receiver.pages import COOKIE, cookie_value

TOKEN = "ownership-token"
SECRET = "ownership-webhook-secret"
CHAT = "-1001"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Receiver:
    def __init__(self, app: Any, tg: FakeTelegram) -> None:
        self.app, self.tg = app, tg
        self.client = app.test_client()

    def fire(self, exchange: str = "upbit") -> int:
        body = am_payload(am_alert("ExchangeFrozen", "P0", labels={"exchange": exchange},
                                   annotations={"summary": f"{exchange} is FROZEN"}), receiver="d76-p0")
        r = self.client.post("/webhook/alertmanager", json=body, headers=AUTH)
        assert r.status_code == 200, r.get_data(as_text=True)
        alerts = self.client.get("/api/alerts", headers=AUTH).get_json()["alerts"]
        return next(int(a["id"]) for a in alerts if a["labels"]["exchange"] == exchange)

    def api(self, method: str, path: str, **kw: Any) -> Any:
        r = self.client.open(path, method=method, headers=AUTH, **kw)
        return r.status_code, r.get_json()

    def update(self, update: dict[str, Any]) -> None:
        r = self.client.post("/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert r.status_code == 200, r.get_data(as_text=True)


@pytest.fixture
def rx(database_url: str, make_app, tg: FakeTelegram) -> Iterator[Receiver]:  # the app closes before its database goes
    env = {**telegram_env(tg, CHAT), "DATABASE_URL": database_url, "RECEIVER_TOKEN": TOKEN,
           "TELEGRAM_WEBHOOK_SECRET": SECRET, "DEADMAN_ENABLED": "false", "HISTORY_PRUNE": "false",
           "TELEGRAM_CHAT_MIN_INTERVAL_SECONDS": "0", "TELEGRAM_CHAT_PER_MINUTE": "1000",
           "TELEGRAM_P0_RESERVE_PER_MINUTE": "0"}
    yield Receiver(make_app(env), tg)


def test_api_ack_keeps_every_comment_and_unack_gives_it_back(rx: Receiver) -> None:
    aid = rx.fire()
    rx.tg.wait_messages(1)
    status, body = rx.api("POST", f"/api/alerts/{aid}/ack", json={"by": "kim", "comment": "looking"})
    assert status == 200 and body["changed"] and not body["comment_added"]
    status, body = rx.api("POST", f"/api/alerts/{aid}/ack", json={"by": "lee", "comment": "db restarted"})
    assert status == 200 and not body["changed"] and body["comment_added"]
    assert (body["alert"]["acknowledged_by"], body["alert"]["ack_comment"], body["alert"]["last_comment"],
            body["alert"]["last_comment_by"]) == ("kim", "looking", "db restarted", "lee")
    status, body = rx.api("POST", f"/api/alerts/{aid}/ack", json={"by": "lee"})
    assert status == 200 and not body["changed"] and not body["comment_added"]  # nothing to keep
    until(lambda: any("💬 lee: db restarted" in e["text"] for e in rx.tg.edits), 10, what="the comment shown")

    status, body = rx.api("POST", f"/api/alerts/{aid}/unack", json={"by": "kim", "comment": "handing over"})
    assert status == 200 and body["changed"] and not body["alert"]["acknowledged"]
    status, body = rx.api("POST", f"/api/alerts/{aid}/unack")
    assert status == 200 and not body["changed"]
    status, body = rx.api("POST", "/api/alerts/999999/unack", json={"by": "kim"})
    assert status == 404
    status, body = rx.api("POST", f"/api/alerts/{aid}/unack", json={"by": ""})
    assert status == 400 and body["param"] == "by"
    status, body = rx.api("GET", f"/api/alerts/{aid}/timeline")
    story = [(e["event"], e.get("by"), e.get("comment")) for e in body["events"]
             if e["event"] in ("acknowledged", "commented", "unacknowledged")]
    assert story == [("acknowledged", "kim", "looking"), ("commented", "lee", "db restarted"),
                     ("unacknowledged", "kim", "handing over")]
    status, body = rx.api("GET", f"/api/alerts/{aid}")
    assert body["alert"]["reminders_sent"] == 0 and body["alert"]["escalations_sent"] == 0


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert m, "no form token on the page"
    return m.group(1)


def test_the_alert_page_acts_with_a_form_token_bound_to_the_session(rx: Receiver) -> None:
    aid = rx.fire()
    rx.tg.wait_messages(1)
    browser = rx.app.test_client()
    assert browser.post(f"/alerts/{aid}/ack", data={"by": "kim"}).status_code == 401  # not signed in
    browser.set_cookie(COOKIE, cookie_value(TOKEN))
    page = browser.get(f"/alerts/{aid}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="ack"' in html and 'id="timeline"' in html
    session = browser.get_cookie(CSRF_COOKIE)
    assert session is not None and session.http_only and session.same_site == "Strict"
    token = _csrf(html)

    assert browser.post(f"/alerts/{aid}/ack", data={"by": "kim"}).status_code == 403  # no form token
    assert browser.post(f"/alerts/{aid}/ack", data={"by": "kim", "csrf": "0" * 64}).status_code == 403
    other = rx.app.test_client()  # another browser (another session) signed in too: its own token
    other.set_cookie(COOKIE, cookie_value(TOKEN))
    other.get(f"/alerts/{aid}")
    assert other.post(f"/alerts/{aid}/ack", data={"by": "eve", "csrf": token}).status_code == 403
    assert browser.post(f"/alerts/{aid}/ack", data={"by": "", "csrf": token}).status_code == 400

    r = browser.post(f"/alerts/{aid}/ack", data={"by": "kim", "comment": "on it", "csrf": token})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/{aid}")
    alert = rx.api("GET", f"/api/alerts/{aid}")[1]["alert"]
    assert (alert["acknowledged_by"], alert["ack_comment"]) == ("page:kim", "on it")
    until(lambda: any("Acked by page:kim" in e["text"] and ": on it" in e["text"] for e in rx.tg.edits), 10,
          what="the page's ack edits the message")
    html = browser.get(f"/alerts/{aid}").get_data(as_text=True)
    assert 'id="unack"' in html and 'value="kim"' in html  # the name is remembered
    assert re.search(r"<b>acknowledged</b>\s*<br><span class=\"muted\">by: page:kim · comment: on it", html)

    r = browser.post(f"/alerts/{aid}/unack", data={"by": "kim", "comment": "wrong person", "csrf": _csrf(html)})
    assert r.status_code == 303 and not rx.api("GET", f"/api/alerts/{aid}")[1]["alert"]["acknowledged"]
    # a script with the token needs no form token (no ambient credential to abuse)
    r = rx.client.post(f"/alerts/{aid}/ack", data={"by": "bot"}, headers=AUTH)
    assert r.status_code == 303 and rx.api("GET", f"/api/alerts/{aid}")[1]["alert"]["acknowledged_by"] == "page:bot"
    # no Alertmanager answers here: the silence is refused with the reason, never a 500
    r = rx.client.post(f"/alerts/{aid}/silence", data={"by": "bot", "duration": "1h"}, headers=AUTH)
    assert r.status_code == 503 and "Alertmanager" in r.get_data(as_text=True)
    r = rx.client.post(f"/alerts/{aid}/silence", data={"by": "bot", "duration": "7d"}, headers=AUTH)
    assert r.status_code == 400
    assert rx.client.post("/alerts/nope/ack", data={"by": "bot"}, headers=AUTH).status_code == 404
    assert rx.client.post("/alerts/999999/ack", data={"by": "bot"}, headers=AUTH).status_code == 404


def test_unack_button_and_commands_through_the_telegram_webhook(rx: Receiver) -> None:
    aid = rx.fire()
    [page] = rx.tg.wait_messages(1)
    rx.update(rx.tg.make_callback_update(f"ack:{aid}", chat_id=CHAT, message_id=page.message_id, username="kim"))
    until(lambda: any(f"un:{aid}" in str(e["reply_markup"]) for e in rx.tg.edits), 10, what="an Unack button")
    rx.update(rx.tg.make_callback_update(f"un:{aid}", chat_id=CHAT, message_id=page.message_id, username="lee"))
    answers = rx.tg.wait_callback_answers(2)
    assert answers[1]["text"] == "Unacknowledged: nobody owns it now"
    assert not rx.api("GET", f"/api/alerts/{aid}")[1]["alert"]["acknowledged"]

    rx.update(rx.tg.make_command_update(f"/ack {aid} failing over", chat_id=CHAT, username="kim"))
    rx.update(rx.tg.make_command_update(f"/ack {aid} done, watching", chat_id=CHAT, username="lee"))
    rx.update(rx.tg.make_command_update(f"/unack {aid} shift change", chat_id=CHAT, username="kim"))
    rx.update(rx.tg.make_command_update(f"/unack {aid}", chat_id=CHAT, username="kim"))
    replies = until(lambda: [m.visible_text for m in rx.tg.messages[1:]] if len(rx.tg.messages) >= 5 else None, 10,
                    what="four answers")
    assert replies[0].startswith("✅ Acknowledged") and "failing over" in replies[0]
    assert replies[1].startswith("💬 Comment added") and "done, watching" in replies[1]
    assert replies[2].startswith("↩️") and "nobody's now" in replies[2] and "shift change" in replies[2]
    assert replies[3].startswith("❓") and "not acknowledged" in replies[3]
    events = [(e["event"], e.get("by")) for e in rx.api("GET", f"/api/alerts/{aid}/timeline")[1]["events"]
              if e["event"] in ("acknowledged", "commented", "unacknowledged")]
    assert events == [("acknowledged", "telegram:kim"), ("unacknowledged", "telegram:lee"),
                      ("acknowledged", "telegram:kim"), ("commented", "telegram:lee"),
                      ("unacknowledged", "telegram:kim")]


def _d76(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "d76_cli.main", *args], capture_output=True, text=True,
                          cwd=paths.REPO, timeout=60)


def test_d76_ack_keeps_a_second_comment_and_d76_unack(receiver_process, tmp_path: Path) -> None:
    _, url = receiver_process({"DATABASE_URL": f"sqlite:///{tmp_path / 'h.sqlite3'}", "RECEIVER_TOKEN": TOKEN,
                               "NOTIFICATIONS_ENABLED": "false"})
    body = am_payload(am_alert("ExchangeFrozen", "P0", labels={"exchange": "upbit"}), receiver="d76-p0")
    assert requests.post(f"{url}/webhook/alertmanager", json=body, headers=AUTH, timeout=10).status_code == 200
    aid = requests.get(f"{url}/api/alerts", headers=AUTH, timeout=10).json()["alerts"][0]["id"]
    base = ("--receiver-url", url, "--token", TOKEN)
    r = _d76("ack", str(aid), "--as", "kim", "-m", "on it", *base)
    assert r.returncode == 0 and "acknowledged #" in r.stdout and "as kim: on it" in r.stdout, r.stderr
    r = _d76("ack", str(aid), "--as", "lee", "-m", "restarted the feed", *base)
    assert r.returncode == 0 and "comment added" in r.stdout and "restarted the feed" in r.stdout, r.stderr
    r = _d76("unack", str(aid), "--as", "kim", "-m", "handing over", *base)
    assert r.returncode == 0 and "unacknowledged #" in r.stdout and "start again" in r.stdout, r.stderr
    r = _d76("unack", str(aid), *base)
    assert r.returncode == 0 and "is not acknowledged" in r.stdout
    r = _d76("unack", "999999", *base)
    assert r.returncode == 1 and "no alert #999999" in r.stderr
    timeline = requests.get(f"{url}/api/alerts/{aid}/timeline", headers=AUTH, timeout=10).json()
    assert [(e["event"], e["by"], e.get("comment")) for e in timeline["events"]
            if e["event"] in ("acknowledged", "commented", "unacknowledged")] == [
        ("acknowledged", "kim", "on it"), ("commented", "lee", "restarted the feed"),
        ("unacknowledged", "kim", "handing over")]
