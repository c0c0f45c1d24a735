"""The Telegram channel's settings (TELEGRAM_*), read from the receiver's raw settings."""
from __future__ import annotations

from dataclasses import dataclass

from ....setting_parsers import (
    Raw,
    SettingsError,
    flag,
    integer,
    number,
    parse_list,
    parse_str,
    parse_url,
    setting,
    text,
)
from .client import DEFAULT_API_URL

__all__ = ["TelegramSettings"]


def _api_url(raw: Raw, key: str, default: str) -> str:
    return parse_url(raw, key) or default


def _user_ids(raw: Raw, key: str, default: frozenset[int]) -> frozenset[int]:
    users: set[int] = set()
    for part in parse_list(raw, key):
        if not part.lstrip("-").isdigit():
            raise SettingsError(f"{key}: {part!r} is not a numeric user id")
        users.add(int(part))
    return frozenset(users) or default


@dataclass(frozen=True)
class TelegramSettings:
    bot_token: str | None = setting("TELEGRAM_BOT_TOKEN", None, "the bot's token; unset: messages are printed "
                                    "(the console dry run)", text, secret=True)
    chat_id: str | None = setting("TELEGRAM_CHAT_ID", None, "the default chat (routes of the channel map may "
                                  "name others)", text)
    api_url: str = setting("TELEGRAM_API_URL", DEFAULT_API_URL, "the Bot API", _api_url)
    webhook_secret: str | None = setting("TELEGRAM_WEBHOOK_SECRET", None, "takes updates at POST /telegram/webhook "
                                         "(X-Telegram-Bot-Api-Secret-Token) instead of long polling", text,
                                         secret=True)
    allowed_user_ids: frozenset[int] = setting("TELEGRAM_ALLOWED_USER_IDS", frozenset(), "user ids whose commands "
                                               "and buttons count (comma separated); unset: anyone in the chats",
                                               _user_ids)
    polling: bool = setting("TELEGRAM_POLLING", True, "long poll getUpdates for commands and buttons", flag,
                            derive=lambda raw: parse_str(raw, "TELEGRAM_WEBHOOK_SECRET") is None,
                            show="true unless TELEGRAM_WEBHOOK_SECRET is set")
    poll_timeout: int = setting("TELEGRAM_POLL_TIMEOUT", 25, "seconds one getUpdates call waits", integer(0, 50))
    poll_lease_seconds: float = setting("TELEGRAM_POLL_LEASE_SECONDS", 10.0, "lease of long polling (one receiver "
                                        "polls at a time); a dead poller's replica takes over after this",
                                        number(2.0, 300.0))
    # Telegram's own limits (the only hard budget): ~1 message a second and 20 a minute per group
    # chat, ~30 a second per bot; a few of a chat's per-minute slots are kept for P0
    chat_min_interval: float = setting("TELEGRAM_CHAT_MIN_INTERVAL_SECONDS", 1.05, "seconds between two messages "
                                       "to one chat", number(0.0, 60.0))
    chat_per_minute: int = setting("TELEGRAM_CHAT_PER_MINUTE", 20, "messages to one chat in a minute",
                                   integer(1, 10_000))
    global_per_second: float = setting("TELEGRAM_GLOBAL_PER_SECOND", 30.0, "messages of the bot in a second",
                                       number(0.0, 10_000.0))
    p0_reserve_per_minute: int = setting("TELEGRAM_P0_RESERVE_PER_MINUTE", 3, "of a chat's messages in a minute, "
                                         "how many are kept for P0", integer(0, 10_000))
    dry_run_dir: str | None = setting("TELEGRAM_DRY_RUN_DIR", None, "where the console dry run saves the graphs it "
                                      "would have sent", text)
    set_commands: bool = setting("TELEGRAM_SET_COMMANDS", True, "register the command list (setMyCommands) at "
                                 "start", flag)

    @property
    def dry_run(self) -> bool:
        return not self.bot_token
