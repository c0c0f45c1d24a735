"""The operator's commands, parsed: pure, no I/O, and never an exception other than `CommandError`.

    /status                                   pipeline health in one screen
    /alerts [P0|P1|...] [label=value ...]     firing alerts, most severe first (paged)
    /ack ID [comment]                         acknowledge alert #ID (again: add a comment)
    /unack ID [comment]                       give an acknowledged alert back (reminders resume)
    /silences                                 silences in force
    /unsilence ID                             end a silence (its id, or the first characters of it)
    /mute label=value ... DURATION [reason]   a maintenance window (an Alertmanager silence)
    /mute                                     the recurring maintenance windows and open mutes
    /unmute [ID]                              end a maintenance window
    /oncall                                   who is on call now and next
    /oncall take DURATION                     the sender is on call for DURATION (an override)
    /help

The text comes from anyone who can write to the bot, so everything is bounded: the text's length, the
number of arguments, ids (a 64-bit row id at most), durations (`MAX_MUTE`), label names (Prometheus'
syntax) and values (no control characters). In a group a command may be addressed to a bot
(`/status@d76_bot`); one addressed to another bot is not ours (`parse_command` returns None).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from vocabulary import SEVERITIES

__all__ = ["Command", "CommandError", "Matcher", "parse_command", "parse_duration", "parse_matcher",
           "COMMANDS", "MAX_MUTE", "MAX_TEXT", "clean_text"]

MAX_TEXT = 4096          # Telegram's own limit for a message
MAX_ARGS = 40
MAX_MATCHERS = 10
MAX_VALUE = 200
MAX_COMMENT = 500
MAX_ID = 2**63 - 1       # BIGINT
MIN_MUTE = timedelta(minutes=1)
MAX_MUTE = timedelta(days=30)

# (command, description) as registered with setMyCommands, in the order Telegram shows them
COMMANDS: tuple[tuple[str, str], ...] = (
    ("status", "Pipeline health and firing alerts by severity"),
    ("alerts", "Firing alerts: /alerts [P0|P1|...] [exchange=...]"),
    ("ack", "Acknowledge: /ack ID [comment]"),
    ("silences", "Silences in force"),
    ("unsilence", "End a silence: /unsilence ID"),
    ("mute", "Maintenance window: /mute exchange=upbit 2h [reason]"),
    ("unmute", "End a maintenance window: /unmute [ID]"),
    ("oncall", "Who is on call: /oncall, or take it: /oncall take 4h"),
    ("help", "What the bot can do"),
)
# taken but not in the registered list (`/help` names them with their neighbours)
UNLISTED = ("start", "unack")
_NAMES = {c for c, _ in COMMANDS} | set(UNLISTED)

_HEAD = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,99}$")
_MATCHER = re.compile(r"^([a-zA-Z_][a-zA-Z0-9_]*)(=~|!~|!=|=)(.*)$", re.S)
_DURATION = re.compile(r"^(?:(\d{1,12})([smhdw]))+$")
_DURATION_PART = re.compile(r"(\d{1,12})([smhdw])")
_DURATION_CAP = 10**10  # seconds; anything longer is refused as "too long" (and timedelta would overflow)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_ID = re.compile(r"^#?(\d{1,25})$")
_SILENCE_ID = re.compile(r"^[0-9a-fA-F][0-9a-fA-F-]{3,35}$")


class CommandError(ValueError):
    """The command cannot be understood; the text is the answer for the user (plain text)."""


@dataclass(frozen=True)
class Matcher:
    """One Alertmanager matcher: `exchange=upbit`, `route=~"upbit-.*"`, `symbol!=BTC`."""

    name: str
    value: str
    regex: bool = False
    equal: bool = True

    def am(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "isRegex": self.regex, "isEqual": self.equal}

    @classmethod
    def from_am(cls, m: Mapping[str, Any]) -> Matcher:
        """An Alertmanager v2 matcher (`name`, `value`, `isRegex`, `isEqual`) as a Matcher."""
        return cls(str(m.get("name")), str(m.get("value")), bool(m.get("isRegex")), bool(m.get("isEqual", True)))

    def __str__(self) -> str:
        op = ("=" if self.equal else "!=") if not self.regex else ("=~" if self.equal else "!~")
        return f"{self.name}{op}{self.value}"

    def matches(self, labels: dict[str, str]) -> bool:
        have = labels.get(self.name, "")
        if self.regex:
            try:
                hit = re.fullmatch(self.value, have) is not None
            except re.error:
                hit = False
        else:
            hit = have == self.value
        return hit if self.equal else not hit


@dataclass(frozen=True)
class Command:
    name: str
    severities: tuple[str, ...] = ()
    matchers: tuple[Matcher, ...] = ()
    alert_id: int | None = None
    silence_id: str | None = None
    mute_id: int | None = None
    duration: timedelta | None = None
    text: str | None = None      # the comment of /ack, the reason of /mute
    bot: str | None = None       # the @bot it was addressed to
    take: bool = False           # /oncall take DURATION
    user_id: int | None = None   # who sent it (the channel fills these in: /oncall take)
    username: str | None = None


def clean_text(value: Any, limit: int = MAX_TEXT) -> str:
    """A str without NUL, other control characters (but newline and tab) and lone surrogates, at
    most `limit` characters."""
    if not isinstance(value, str):
        return ""
    out = "".join(c for c in value[: limit * 2]
                  if (c in "\n\t" or ord(c) >= 32) and ord(c) != 127 and not 0xD800 <= ord(c) <= 0xDFFF)
    return out[:limit]


def parse_duration(token: str) -> timedelta | None:
    """`2h`, `90m`, `1h30m`, `1d`, `1w` -> timedelta; None when the token is not a duration."""
    if not isinstance(token, str) or not _DURATION.match(token.lower()):
        return None
    seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION_PART.findall(token.lower()))
    return timedelta(seconds=min(seconds, _DURATION_CAP))


def parse_matcher(token: str) -> Matcher | None:
    """`label=value` (also `=~`, `!=`, `!~`; the value may be quoted) -> Matcher; None when the token
    is not a matcher. Raises CommandError when it looks like one but is not valid."""
    m = _MATCHER.match(token)
    if not m:
        return None
    name, op, value = m.group(1), m.group(2), m.group(3)
    if not _LABEL.match(name):
        raise CommandError(f"{name[:40]!r} is not a label name")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    if not value:
        raise CommandError(f"{name}: give a value, like {name}=upbit")
    if len(value) > MAX_VALUE:
        raise CommandError(f"{name}: the value is longer than {MAX_VALUE} characters")
    regex = op in ("=~", "!~")
    if regex:
        try:
            re.compile(value)
        except (re.error, RecursionError, OverflowError):
            raise CommandError(f"{name}{op}...: not a valid regular expression") from None
    return Matcher(name, value, regex=regex, equal=op in ("=", "=~"))


def _id(token: str, what: str) -> int:
    m = _ID.match(token)
    if not m:
        raise CommandError(f"{what}: expected a number like 42, got {token[:40]!r}")
    n = int(m.group(1))
    if not 1 <= n <= MAX_ID:
        raise CommandError(f"{what}: no such id ({token[:30]})")
    return n


def parse_command(text: Any, bot_username: str | None = None) -> Command | None:
    """The command in a message's text; None when the text is not a command (or one addressed to
    another bot). Raises CommandError, whose text is for the user, when it cannot be understood."""
    text = clean_text(text)
    if not text.startswith("/"):
        return None
    first, _, rest = text.partition("\n")  # a command's arguments are on its first line; more is comment
    tokens = first.split()
    if not tokens:
        return None
    head = _HEAD.match(tokens[0])
    if not head:
        if len(tokens[0]) > 1 and tokens[0][1:2].isalnum():
            raise CommandError(f"Unknown command {tokens[0][:40]}. Try /help.")
        return None
    name, bot = head.group(1).lower(), head.group(2)
    if bot and bot_username and bot.lower() != bot_username.lower():
        return None  # addressed to another bot in the group
    args = tokens[1:]
    if len(args) > MAX_ARGS:
        raise CommandError(f"Too many arguments ({len(args)}; at most {MAX_ARGS}).")
    if name not in _NAMES:
        raise CommandError(f"Unknown command /{name}. Try /help.")
    if name in ("help", "start"):
        return Command("help", bot=bot)
    if name in ("status", "silences"):
        return Command(name, bot=bot)
    if name == "alerts":
        return _alerts(args, bot)
    if name == "ack":
        if not args:
            raise CommandError("Usage: /ack ID [comment], e.g. /ack 42 failing over")
        comment = _rest(first, 2) + (("\n" + rest) if rest.strip() else "")
        return Command("ack", alert_id=_id(args[0], "/ack"), text=comment.strip()[:MAX_COMMENT] or None, bot=bot)
    if name == "unack":
        if not args:
            raise CommandError("Usage: /unack ID [comment], e.g. /unack 42 handing over to the day shift")
        comment = _rest(first, 2) + (("\n" + rest) if rest.strip() else "")
        return Command("unack", alert_id=_id(args[0], "/unack"), text=comment.strip()[:MAX_COMMENT] or None, bot=bot)
    if name == "unsilence":
        if len(args) != 1 or not _SILENCE_ID.match(args[0]):
            raise CommandError("Usage: /unsilence ID (the silence's id from /silences, or its first characters)")
        return Command("unsilence", silence_id=args[0].lower(), bot=bot)
    if name == "oncall":
        return _oncall(args, bot)
    if name == "unmute":
        if not args:
            return Command("unmute", bot=bot)
        if len(args) != 1:
            raise CommandError("Usage: /unmute [ID] (the maintenance window's number from /silences)")
        return Command("unmute", mute_id=_id(args[0], "/unmute"), bot=bot)
    return _mute(first, args, bot)


def _rest(line: str, skip: int) -> str:
    """`line` without its first `skip` whitespace-separated tokens (spacing of the rest kept)."""
    parts = line.split(None, skip)
    return parts[skip] if len(parts) > skip else ""


def _alerts(args: list[str], bot: str | None) -> Command:
    sevs: list[str] = []
    matchers: list[Matcher] = []
    for a in args:
        for piece in (a.split(",") if "=" not in a else [a]):
            up = piece.upper()
            if up in SEVERITIES:
                if up not in sevs:
                    sevs.append(up)
                continue
            if not piece:
                continue
            m = parse_matcher(piece)
            if m is None:
                raise CommandError(f"/alerts: {piece[:40]!r} is neither a severity (P0-P3) nor label=value. "
                                   "Example: /alerts P0 P1 exchange=upbit")
            if m.regex:
                raise CommandError("/alerts filters with = or != (regular expressions only in /mute)")
            if len(matchers) >= MAX_MATCHERS:
                raise CommandError(f"/alerts: at most {MAX_MATCHERS} label filters")
            matchers.append(m)
    return Command("alerts", severities=tuple(sorted(sevs)), matchers=tuple(matchers), bot=bot)


def _oncall(args: list[str], bot: str | None) -> Command:
    usage = "Usage: /oncall (who is on call), or /oncall take DURATION (you, e.g. /oncall take 4h)"
    if not args:
        return Command("oncall", bot=bot)
    if args[0].lower() != "take" or len(args) != 2:
        raise CommandError(usage)
    d = parse_duration(args[1])
    if d is None:
        raise CommandError("/oncall take needs a duration like 30m, 4h or 2d. " + usage)
    if d < MIN_MUTE or d > MAX_MUTE:
        raise CommandError(f"/oncall take: between 1m and {MAX_MUTE.days}d")
    return Command("oncall", take=True, duration=d, bot=bot)


def _mute(first: str, args: list[str], bot: str | None) -> Command:
    usage = "Usage: /mute label=value [label=value ...] DURATION [reason], e.g. /mute exchange=upbit 2h maintenance"
    if not args:
        return Command("mute", bot=bot)  # what is muted: the recurring windows and the open mutes
    matchers: list[Matcher] = []
    duration: timedelta | None = None
    used = 0
    for a in args:
        m = parse_matcher(a)
        if m is not None:
            if len(matchers) >= MAX_MATCHERS:
                raise CommandError(f"/mute: at most {MAX_MATCHERS} matchers")
            matchers.append(m)
            used += 1
            continue
        d = parse_duration(a)
        if d is not None and duration is None:
            duration = d
            used += 1
            continue
        break  # the reason starts here
    if not matchers:
        raise CommandError("/mute needs at least one label=value (what to mute: exchange, route, symbol, "
                           "tier, scope, alertname, ...). " + usage)
    if not any(m.equal for m in matchers):
        raise CommandError("/mute needs at least one matcher that selects (= or =~), not only != / !~")
    if duration is None:
        raise CommandError("/mute needs a duration like 30m, 2h or 1d. " + usage)
    if duration < MIN_MUTE:
        raise CommandError("/mute: the shortest maintenance window is 1m")
    if duration > MAX_MUTE:
        raise CommandError(f"/mute: the longest maintenance window is {MAX_MUTE.days}d")
    reason = _rest(first, used + 1).strip()[:MAX_COMMENT]
    return Command("mute", matchers=tuple(matchers), duration=duration, text=reason or None, bot=bot)
