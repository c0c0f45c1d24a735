"""The pages' sign-in form is throttled per client: a few wrong tokens a minute, then 429 with
Retry-After (even for the right token) until the oldest is a minute old."""
from __future__ import annotations

from webhook_receiver.app import create_app
from webhook_receiver.pages import COOKIE
from webhook_receiver.settings import load_settings
from webhook_receiver.signin_throttle import SignInThrottle

TOKEN = "throttle-test-token"


def test_the_window_slides_per_client_and_the_table_is_bounded() -> None:
    clock = [1000.0]
    t = SignInThrottle(3, max_clients=2, clock=lambda: clock[0])
    for _ in range(3):
        assert t.retry_after("a") is None
        t.failed("a")
        clock[0] += 10
    assert t.retry_after("a") == 30  # the first failure (at 1000) is a minute old at 1060
    assert t.retry_after("b") is None  # another client is not held back
    clock[0] = 1060.0
    assert t.retry_after("a") is None
    t.failed("b")
    t.failed("c")  # a third client: the least recently heard of is forgotten
    assert set(t._failures) == {"b", "c"}


def test_the_form_answers_429_with_retry_after_then_lets_the_right_token_in_later(tmp_path) -> None:
    app = create_app(load_settings(env={"DATABASE_URL": f"sqlite:///{tmp_path}/h.db", "RECEIVER_TOKEN": TOKEN,
                                        "RECEIVER_SIGNIN_TRIES_PER_MINUTE": "2"}))
    try:
        c = app.test_client()
        for _ in range(2):
            r = c.post("/alerts", data={"token": "guess"})
            assert r.status_code == 401 and "That is not the receiver" in r.text
        r = c.post("/alerts", data={"token": TOKEN})  # even the right one, while throttled
        assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
        assert "Too many wrong tokens" in r.text and "set-cookie" not in r.headers
        other = app.test_client()  # another address is not held back
        r = other.post("/alerts/1", data={"token": TOKEN}, environ_base={"REMOTE_ADDR": "10.0.0.9"})
        assert r.status_code == 303 and COOKIE in r.headers["Set-Cookie"]
        # the throttle is the form's only: a script with the bearer token reads on
        assert c.get("/alerts", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    finally:
        app.extensions["d76_receiver"].close()
