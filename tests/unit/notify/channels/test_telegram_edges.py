"""Telegram's edge cases in the channel, with a stub Bot API and an SQLite history: a group upgraded to
a supergroup (the message goes to the new chat, the move is remembered in the database and told
once), an edit of a message that is gone (sent again as a new one), how the client classifies the
answers (and what counts against the service's health), and long polling by lease with the offset
in the database (two pollers on one database: one polls; the other takes over where it stopped)."""
from __future__ import annotations

from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.notify_doubles import RecordingReplies
from webhook_receiver.notify.channels.base import ChannelLimits, DeliveryError, Part
from webhook_receiver.notify.channels.telegram import TelegramChannel
from webhook_receiver.notify.channels.telegram.client import ChatMigrated, MessageGone, TelegramClient
from webhook_receiver.notify.channels.telegram.state import ChatMoves, TelegramState
from webhook_receiver.notify.channels.telegram.updates import CallbackHandler, LongPoller
from webhook_receiver.store import AlertStore

OLD, NEW = "-4001", "-1004001"


class Bot:
    """A stub Bot API: `migrated` chats answer as Telegram does after an upgrade; `gone` messages
    cannot be edited."""

    def __init__(self) -> None:
        self.migrated: dict[str, str] = {}
        self.gone: dict[tuple[str, int], str] = {}
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.edits: list[tuple[str, int, str]] = []
        self.calls: list[tuple[str, str]] = []

    def _check(self, method: str, chat: str | int) -> None:
        self.calls.append((method, str(chat)))
        if str(chat) in self.migrated:
            raise ChatMigrated(f"telegram {method}: 400 Bad Request: group chat was upgraded to a supergroup chat",
                               self.migrated[str(chat)])

    def send_message(self, chat_id: str | int, text: str, **kw: Any) -> int:
        self._check("sendMessage", chat_id)
        self.sent.append((str(chat_id), text, kw))
        return len(self.sent)

    def send_photo(self, chat_id: str | int, png: bytes, **kw: Any) -> int:
        self._check("sendPhoto", chat_id)
        self.sent.append((str(chat_id), "<photo>", kw))
        return len(self.sent)

    def edit_message_text(self, chat_id: str | int, message_id: int, text: str, **kw: Any) -> None:
        self._check("editMessageText", chat_id)
        why = self.gone.get((str(chat_id), message_id))
        if why:
            raise MessageGone(f"telegram editMessageText: 400 Bad Request: {why}")
        self.edits.append((str(chat_id), message_id, text))

    def answer_callback_query(self, *a: Any, **k: Any) -> None:
        return None


def channel(bot: Bot, store: AlertStore | None = None) -> TelegramChannel:
    ch = TelegramChannel(bot, OLD, ChannelLimits())
    if store is not None:
        ch.use_store(store)
    return ch


BUTTONS = {"reply_markup": {"inline_keyboard": [[{"text": "Ack", "callback_data": "ack:1"}]]}}


def test_a_message_to_a_group_that_became_a_supergroup_goes_to_the_new_chat_and_the_move_is_told_once(store):
    bot = Bot()
    bot.migrated[OLD] = NEW
    a, b = channel(bot, store), channel(bot, store)  # two replicas on one database
    assert a.send(OLD, Part("<b>first</b>", BUTTONS)) is not None
    # the alert in the new chat with its buttons, and one note asking to update the configuration
    texts = [(chat, text) for chat, text, _ in bot.sent]
    assert (NEW, "<b>first</b>") in texts
    notes = [t for c, t in texts if "became a supergroup" in t]
    assert len(notes) == 1 and NEW in notes[0] and OLD in notes[0] and all(c == NEW for c, _ in texts)
    assert TelegramState(store).moves() == {OLD: NEW}
    # the other replica reads the move from the database: straight to the new chat, no second note
    bot.calls.clear()
    b.send(OLD, Part("second"))
    assert bot.calls == [("sendMessage", NEW)] and bot.sent[-1][:2] == (NEW, "second")
    a.send_photo(OLD, b"png", "graph")
    assert bot.sent[-1][0] == NEW and sum("became a supergroup" in t for _, t, _ in bot.sent) == 1


def test_edits_are_not_moved_a_moved_chats_update_is_sent_as_a_new_message(store):
    bot = Bot()
    bot.migrated[OLD] = NEW
    ch = channel(bot, store)
    ch.edit(OLD, "17", Part("✅ RESOLVED", BUTTONS))  # learns the move from the edit's answer
    assert bot.edits == [] and bot.sent[-1][:2] == (NEW, "✅ RESOLVED") and bot.sent[-1][2]["reply_markup"]
    bot.calls.clear()
    ch.edit(OLD, "18", Part("acked"))  # known: no edit is tried in the old chat
    assert bot.calls == [("sendMessage", NEW)]
    # a chat configured by its new id is edited as usual
    ch.edit(NEW, "3", Part("acked"))
    assert bot.edits == [(NEW, 3, "acked")]


@pytest.mark.parametrize("why", ["message to edit not found", "message can't be edited"])
def test_an_update_of_a_message_that_is_gone_is_sent_as_a_new_message(why):
    bot = Bot()
    bot.gone[(OLD, 5)] = why
    ch = channel(bot)
    ch.edit(OLD, "5", Part("👀 ACKNOWLEDGED by kim", BUTTONS))
    assert bot.edits == [] and bot.sent == [(OLD, "👀 ACKNOWLEDGED by kim", bot.sent[0][2])]
    assert bot.sent[0][2]["reply_markup"] == BUTTONS["reply_markup"]
    ch.edit(OLD, "6", Part("edited"))
    assert bot.edits == [(OLD, 6, "edited")]


def test_without_a_database_the_move_is_kept_in_memory():
    bot = Bot()
    bot.migrated[OLD] = NEW
    ch = channel(bot)
    ch.send(OLD, Part("x"))
    ch.send(OLD, Part("y"))
    assert [c for c, *_ in bot.sent] == [NEW, NEW, NEW] and ch.moves.current(OLD) == NEW


def test_moves_follow_chains_both_ways():
    moves = ChatMoves()
    assert moves.learn("a", "b") and not moves.learn("a", "b") and moves.learn("b", "c")
    assert moves.current("a") == "c" and moves.current("b") == "c" and moves.current("x") == "x"
    assert moves.original("c") == "a" and moves.original("b") == "a" and moves.original("a") is None
    loop = ChatMoves()
    loop.learn("p", "q")
    loop.learn("q", "p")
    assert loop.current("p") in ("p", "q")  # bad data cannot hang a lane


# updates from the new chat ---------------------------------------------------------------------------------
class Console:
    def run(self, cmd: Any, who: str) -> Any:
        from webhook_receiver.notify.operator import Answer

        return Answer(f"ran {cmd.name}")

    def alerts_page(self, query: dict, page: int) -> Any:
        raise AssertionError


def _command(chat: str, text: str = "/status", **extra: Any) -> dict:
    return {"message": {"message_id": 9, "chat": {"id": int(chat), "type": "supergroup"},
                        "from": {"id": 42, "username": "kim"}, "text": text, **extra}}


def test_the_service_message_teaches_the_move_and_the_new_chat_may_use_commands():
    bot = Bot()
    ch = channel(bot)
    replies = RecordingReplies()
    h = CallbackHandler(object(), bot, chat_id=OLD, console=Console(), replies=replies,  # type: ignore[arg-type]
                        moved_from=ch.moves.original, on_chat_moved=ch.chat_moved)
    assert h.handle_update(_command(NEW)).startswith("Sorry")  # a chat we do not serve, so far
    h.handle_update({"message": {"message_id": 1, "chat": {"id": int(OLD), "type": "group"},
                                 "migrate_to_chat_id": int(NEW)}})
    assert ch.moves.current(OLD) == NEW and sum("became a supergroup" in t for _, t, _ in bot.sent) == 1
    assert h.handle_update(_command(NEW)) == "ran status" and replies.queued[-1][0] == NEW
    # the new chat's own service message (migrate_from) repeats nothing
    h.handle_update({"message": {"message_id": 2, "chat": {"id": int(NEW), "type": "supergroup"},
                                 "migrate_from_chat_id": int(OLD)}})
    assert sum("became a supergroup" in t for _, t, _ in bot.sent) == 1
    # a move of a chat we do not serve is ignored
    h.handle_update({"message": {"message_id": 3, "chat": {"id": -77, "type": "group"}, "migrate_to_chat_id": -1077}})
    assert ch.moves.current("-77") == "-77"


# the client's classification ----------------------------------------------------------------------------------
class Response:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code, self._body, self.headers = status, body, {}

    def json(self) -> Any:
        return self._body


class Session:
    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)

    def post(self, url: str, **kw: Any) -> Any:
        a = self.answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    def close(self) -> None:
        return None


def _client(*answers: Any) -> TelegramClient:
    return TelegramClient("123:SECRET", "http://127.0.0.1:1", session=Session(*answers))  # type: ignore[arg-type]


def _err(code: int, desc: str, **params: Any) -> Response:
    return Response(code, {"ok": False, "error_code": code, "description": desc,
                           **({"parameters": params} if params else {})})


def test_the_client_says_which_answer_is_which_and_what_counts_as_the_service_failing():
    c = _client(_err(400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=-1009),
                _err(400, "Bad Request: message to edit not found"),
                _err(400, "Bad Request: message can't be edited"),
                _err(409, "Conflict: terminated by other getUpdates request"),
                requests.ConnectTimeout(), _err(502, "Bad Gateway"),
                _err(429, "Too Many Requests: retry after 3", retry_after=3),
                Response(200, {"ok": True, "result": {"message_id": 4}}))
    assert c.bot_id == "123" and c.health.snapshot().last_ok_at is None
    with pytest.raises(ChatMigrated) as moved:
        c.send_message(-9, "x")
    assert moved.value.new_chat_id == "-1009" and moved.value.permanent and "SECRET" not in str(moved.value)
    for _ in range(2):
        with pytest.raises(MessageGone):
            c.edit_message_text(-9, 1, "x")
    with pytest.raises(DeliveryError) as conflict:
        c.get_updates(None, timeout=1)
    assert conflict.value.status == 409
    h = c.health.snapshot()
    assert h.last_ok_at is not None and h.failing_since is None  # answers about a message: Telegram works
    for _ in range(2):
        with pytest.raises(DeliveryError):
            c.send_message(-9, "x")
    failing = c.health.snapshot()
    assert failing.failing_since is not None and failing.last_failure_at is not None
    assert failing.failing_since <= failing.last_failure_at and "502" in (failing.last_error or "")
    with pytest.raises(DeliveryError):
        c.send_message(-9, "x")  # a rate limit: an answer, not a failure
    assert c.health.snapshot().failing_since is None
    assert c.send_message(-9, "x") == 4 and c.health.snapshot().failing_since is None


# long polling by lease ---------------------------------------------------------------------------------------
class PollBot:
    """getUpdates over a list of updates (offset confirms, as Telegram does), counting who polled."""

    bot_id = "123"

    def __init__(self) -> None:
        self.updates = [{"update_id": i, "message": {"text": f"u{i}"}} for i in range(1, 6)]
        self.polls: list[int | None] = []

    def get_updates(self, offset: int | None, timeout: int = 25) -> list[dict[str, Any]]:
        self.polls.append(offset)
        return [u for u in self.updates if offset is None or u["update_id"] >= offset][:2]


class Recorder:
    def __init__(self) -> None:
        self.handled: list[int] = []

    def handle_update(self, u: dict[str, Any]) -> None:
        self.handled.append(u["update_id"])


def test_one_poller_at_a_time_and_the_next_one_starts_where_the_last_stopped(store):
    bot = PollBot()
    state = TelegramState(store)
    ra, rb = Recorder(), Recorder()
    a = LongPoller(bot, ra, state=state, lease_seconds=30, owner="a")  # type: ignore[arg-type]
    b = LongPoller(bot, rb, state=state, lease_seconds=30, owner="b")  # type: ignore[arg-type]
    a._step()
    b._step()  # a holds the lease: b does not poll
    assert bot.polls == [None] and ra.handled == [1, 2] and rb.handled == [] and not b.holding
    assert b._wait == pytest.approx(10.0)
    assert state.poll_offset("123") == 3
    a.stop()  # hands the lease over at once
    b._step()
    b._step()
    assert bot.polls == [None, 3, 5] and rb.handled == [3, 4, 5]
    assert state.poll_offset("123") == 6
    state.save_offset("123", 2)  # a late write of an old poller never moves it back
    assert state.poll_offset("123") == 6


def test_a_poller_without_a_database_polls_alone_with_the_offset_in_memory():
    bot = PollBot()
    r = Recorder()
    p = LongPoller(bot, r)  # type: ignore[arg-type]
    p._step()
    p._step()
    assert bot.polls == [None, 3] and r.handled == [1, 2, 3, 4] and p.holding


_json = st.recursive(st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.text(max_size=20),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                     max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(status=st.sampled_from([400, 403, 409, 429, 500]), body=st.one_of(_json, st.fixed_dictionaries({
    "ok": st.just(False), "error_code": st.sampled_from([400, 409, 429]), "description": _json,
    "parameters": st.one_of(_json, st.fixed_dictionaries({"migrate_to_chat_id": _json, "retry_after": _json}))})),
       method=st.sampled_from(["sendMessage", "editMessageText", "getUpdates"]))
def test_any_error_answer_is_a_delivery_error(status: int, body: Any, method: str) -> None:
    """Whatever an error answer holds, the client raises a DeliveryError (never another exception)."""
    c = _client(Response(status, body))
    with pytest.raises(DeliveryError) as err:
        c.call(method, {})
    if isinstance(err.value, ChatMigrated):
        assert err.value.new_chat_id and err.value.permanent
