"""Updates are untrusted input: whatever their shape, the handler answers or ignores them, never
raises; commands are refused politely (once a minute per chat and user) outside the operators."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.notify_doubles import RecordingReplies
from webhook_receiver.notify.channels.telegram.state import ChatMoves
from webhook_receiver.notify.channels.telegram.updates import CallbackHandler
from webhook_receiver.notify.operator import Answer

CHAT, OPERATOR = "-1001", 4242


class Console:
    def __init__(self) -> None:
        self.ran: list[Any] = []

    def run(self, cmd: Any, who: str) -> Answer:
        self.ran.append((cmd.name, who))
        return Answer(f"ran {cmd.name}")

    def alerts_page(self, query: dict, page: int) -> Answer:
        return Answer(f"page {page}")


class Telegram:
    def answer_callback_query(self, *a: Any, **k: Any) -> None:
        return None


def handler(clock=lambda: 0.0) -> tuple[CallbackHandler, Console, RecordingReplies]:
    c, r = Console(), RecordingReplies()
    moves = ChatMoves()  # chats that became supergroups (service messages teach them)
    h = CallbackHandler(object(), Telegram(), chat_id=CHAT, allowed_user_ids=frozenset({OPERATOR}), chats=["-1002"],
                        console=c, replies=r, clock=clock, moved_from=moves.original, on_chat_moved=moves.learn)
    h.bot_username = "d76_bot"
    return h, c, r


def msg(text: Any, chat: Any = -1001, user: Any = OPERATOR, chat_type: str = "supergroup", **extra: Any) -> dict:
    return {
        "message": {
            "message_id": 7,
            "chat": {"id": chat, "type": chat_type},
            "from": {"id": user, "username": "kim"},
            "text": text,
            **extra,
        }
    }


def test_an_operators_command_is_run_and_answered_in_its_topic() -> None:
    h, c, r = handler()
    assert h.handle_update(msg("/status@d76_bot", message_thread_id=11, is_topic_message=True)) == "ran status"
    assert c.ran == [("status", "telegram:kim")]
    [(chat, payload, key)] = r.queued
    assert chat == CHAT and payload == {"reply_to": 7, "thread_id": 11, "text": "ran status"} and key == "reply:-1001:7"
    assert h.handle_update(msg("/status", chat=-1002)) == "ran status"  # a routed chat takes commands too
    assert h.handle_update(msg("/status@other_bot")) is None and h.handle_update(msg("hello")) is None


def test_a_bad_command_is_explained() -> None:
    h, c, r = handler()
    assert "Usage: /ack" in h.handle_update(msg("/ack"))
    assert r.queued[-1][1]["text"].startswith("❓ Usage: /ack") and not c.ran


def test_strangers_are_refused_once_a_minute() -> None:
    now = [0.0]
    h, c, r = handler(clock=lambda: now[0])
    assert h.handle_update(msg("/mute exchange=upbit 1h", user=999)).startswith("Sorry")
    assert h.handle_update(msg("/status", user=999)) is None  # refused again, silently
    now[0] = 61.0
    assert h.handle_update(msg("/status", user=999)).startswith("Sorry")
    assert not c.ran and [q[2] for q in r.queued] == ["refuse:-1001:7", "refuse:-1001:7"]
    # other chats: refused, even for an operator in a group we do not serve ...
    assert h.handle_update(msg("/status", chat=-5, user=OPERATOR)).startswith("Sorry")
    # ... but an operator's private chat with the bot is served
    assert h.handle_update(msg("/status", chat=OPERATOR, chat_type="private")) == "ran status"
    assert h.handle_update(msg("/status", chat=999, user=999, chat_type="private")).startswith("Sorry")


_json = st.recursive(st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.text(max_size=30),
                     lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children,
                                                                                       max_size=3), max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(_json, st.text(max_size=80).map(lambda s: "/" + s)), chat=_json, user=_json,
       thread=_json, data=_json, mid=_json)
def test_any_update_is_answered_or_ignored(text: Any, chat: Any, user: Any, thread: Any, data: Any, mid: Any) -> None:
    h, _, _ = handler()
    h.handle_update(msg(text, chat=chat, user=user, message_thread_id=thread, is_topic_message=True))
    h.handle_update({"message": {"message_id": mid, "chat": chat, "from": user, "text": text}})
    h.handle_update({"callback_query": {"id": "1", "from": {"id": user}, "data": data,
                                        "message": {"message_id": mid, "chat": {"id": chat}}}})
    h.handle_update({"message": text, "callback_query": data})
    # a chat's move to a supergroup (service messages) with any values
    h.handle_update({"message": {"message_id": mid, "chat": chat, "migrate_to_chat_id": data}})
    h.handle_update({"message": {"message_id": mid, "chat": {"id": chat}, "migrate_from_chat_id": user}})
