"""Which channels get an alert of each severity, each severity's share of a chat's slots, and
which Telegram chat (and forum topic) an alert goes to.

Read from the generated `channel_map.yml` (written by `d76 generate` from the catalog into this
package, so an installed wheel carries it; `CHANNEL_MAP_FILE` points elsewhere):

    severities:
      P0: {channels: [telegram], share_per_minute: 10, quiet: false}
      P2: {channels: [telegram, slack], share_per_minute: 3, quiet: true}   # disable_notification
      # remind_every: an unacknowledged alert is paged again (P0 5m, P1 30m, else never by default)
    telegram:
      routes:                                   # first match wins (`continue: true` goes on)
      - {severities: [P0], chat: "-1002000"}    # the on-call group
      - {severities: [P1, P2], topic_label: exchange, topics: {upbit: 11, binance: 12}, thread: 10}
    oncall: {people: {...}, rotation: {...}, overrides: [...]}   # who is on call (notify.oncall)
    maintenance: [{name: upbit-weekly, match: {exchange: upbit}, ...}]  # recurring windows (notify.maintenance)

A route matches by severity (`severities`, empty: any) and labels (`match`: exact values); it names a
`chat` (a chat id or @channel; `default` or absent: TELEGRAM_CHAT_ID) and a forum topic: the
`topics` entry of the alert's `topic_label` value, else `thread`, else none. An alert no route
matches goes to the default chat. `quiet` (per route, else per severity) sends without a sound.

Channel names are checked against the channel registry, routes against their schema; every error
names its key. Shares are not caps: Telegram's limits are the only hard budget; when alerts of
several severities wait for the same slots, the slots go to them in proportion to their shares (P0
always first).

`remind_every` and the `escalation` section (reminders, escalation chains) are checked and typed by
`notify.escalation`; this module hands them over.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from vocabulary import SEVERITIES, Severity

from .channels.base import Destination
from .config_checks import mapping_entries, unknown_keys
from .escalation import (
    DEFAULT_REMIND_EVERY,
    EscalationPolicy,
    escalation_errors,
    parse_escalation,
    parse_remind_every,
    remind_every_errors,
)
from .maintenance import MaintenanceSchedule, maintenance_errors, parse_maintenance
from .oncall import OncallPolicy, oncall_errors, parse_oncall

__all__ = ["ChannelMap", "DEFAULT_CHANNEL_MAP", "load_channel_map", "parse_channel_map", "PACKAGED_MAP",
           "TelegramRoute", "Destination", "parse_telegram_routes", "route_errors", "DEFAULT_QUIET"]

PACKAGED_MAP = "channel_map.yml"
# older generated maps call the email channel by what it does
_ALIASES = {"email_digest": "email"}


# severities told without a sound unless the map says otherwise (P0/P1 are loud)
DEFAULT_QUIET = frozenset({Severity.P2.value, Severity.P3.value})
DEFAULT_CHAT = "default"
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_CHAT = re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$")
THREAD_MAX = 2**31 - 1
ROUTE_KEYS = ("severities", "match", "chat", "thread", "topic_label", "topics", "quiet", "continue")


@dataclass(frozen=True)
class TelegramRoute:
    severities: tuple[str, ...] = ()
    match: Mapping[str, str] = field(default_factory=dict)
    chat: str | None = None  # None: the default chat (TELEGRAM_CHAT_ID)
    thread: int | None = None
    topic_label: str | None = None
    topics: Mapping[str, int] = field(default_factory=dict)
    quiet: bool | None = None
    continue_: bool = False

    def matches(self, severity: str, labels: Mapping[str, str]) -> bool:
        if self.severities and severity not in self.severities:
            return False
        return all(labels.get(k) == v for k, v in self.match.items())

    def thread_for(self, labels: Mapping[str, str]) -> int | None:
        if self.topic_label is not None:
            value = labels.get(self.topic_label)
            if value is not None and value in self.topics:
                return self.topics[value]
        return self.thread


@dataclass(frozen=True)
class ChannelMap:
    channels: Mapping[str, tuple[str, ...]]
    shares: Mapping[str, int]
    source: str = "defaults"
    quiet: frozenset[str] = DEFAULT_QUIET
    telegram_routes: tuple[TelegramRoute, ...] = ()
    oncall: OncallPolicy = field(default_factory=OncallPolicy)  # `oncall:` (notify.oncall)
    maintenance: MaintenanceSchedule = field(default_factory=MaintenanceSchedule)  # `maintenance:` (notify.maintenance)
    # seconds between reminders of an unacknowledged alert, per severity (absent: never)
    remind_every: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_REMIND_EVERY))
    escalation: EscalationPolicy = EscalationPolicy()

    def channels_for(self, severity: str | None) -> tuple[str, ...]:
        return tuple(self.channels.get(severity or "", ()))

    def share(self, severity: str | None) -> int:
        return max(1, int(self.shares.get(severity or "", 1)))

    def telegram_destinations(self, severity: str, labels: Mapping[str, str], default_chat: str) -> list[Destination]:
        """Every chat (with its topic) an alert goes to: the first matching route, and the ones after
        it while routes say `continue`; the default chat when none matches. One destination per chat
        (a chat is one lane, and an alert's message in a lane is edited in place)."""
        out: dict[str, Destination] = {}
        for r in self.telegram_routes:
            if not r.matches(severity, labels):
                continue
            chat = r.chat or default_chat
            quiet = r.quiet if r.quiet is not None else severity in self.quiet
            out.setdefault(chat, Destination(chat, r.thread_for(labels), quiet))
            if not r.continue_:
                break
        if not out:
            return [Destination(default_chat, None, severity in self.quiet)]
        return list(out.values())

    def telegram_chats(self, default_chat: str) -> tuple[str, ...]:
        """Every chat the routes name (commands are taken from these)."""
        chats = [default_chat] + [r.chat for r in self.telegram_routes if r.chat]
        return tuple(dict.fromkeys(chats))


DEFAULT_CHANNEL_MAP = ChannelMap(
    channels={Severity.P0.value: ("telegram",), Severity.P1.value: ("telegram", "slack"),
              Severity.P2.value: ("telegram", "slack"), Severity.P3.value: ("email",)},
    shares={Severity.P0.value: 10, Severity.P1.value: 5, Severity.P2.value: 3, Severity.P3.value: 1},
)


def _thread_ok(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= THREAD_MAX


def route_errors(routes: Any, key: str = "telegram.routes") -> list[str]:
    """Every problem of a list of Telegram routes, one line each naming its key (also used by the
    catalog for `policy.telegram.routes`)."""
    if routes is None:
        return []
    if not isinstance(routes, list):
        return [f"{key}: expected a list of routes, got {type(routes).__name__}"]
    errors: list[str] = []
    for k, r in mapping_entries(routes, key, "expected a mapping", errors):
        errors += unknown_keys(r, ROUTE_KEYS, k)
        for check in (_severity_errors, _match_errors, _chat_errors, _topic_errors):
            errors += check(k, r)
        errors += [f"{k}.{flag}: true or false, got {r[flag]!r}"
                   for flag in ("quiet", "continue") if flag in r and not isinstance(r[flag], bool)]
    return errors


def _filled(r: Mapping[str, Any], key: str, kind: type, where: str, expected: str) -> tuple[Any, list[str]]:
    """(value, []) when `key` holds a non-empty `kind`; (None, []) when it is absent; else (None, the
    error saying what was `expected` at `where`)."""
    v = r.get(key)
    if v is None:
        return None, []
    if not isinstance(v, kind) or not v:
        return None, [f"{where}: {expected}"]
    return v, []


def _severity_errors(k: str, r: Mapping[str, Any]) -> list[str]:
    sevs, errors = _filled(r, "severities", list, f"{k}.severities", f"a non-empty list of {', '.join(SEVERITIES)}")
    return errors + [f"{k}.severities: {s!r} is not one of {', '.join(SEVERITIES)}"
                     for s in sevs or () if s not in SEVERITIES]


def _match_errors(k: str, r: Mapping[str, Any]) -> list[str]:
    match, errors = _filled(r, "match", dict, f"{k}.match", "a non-empty mapping of label: value")
    for lab, val in (match or {}).items():
        if not isinstance(lab, str) or not _LABEL.match(lab):
            errors.append(f"{k}.match.{lab}: not a label name")
        if not isinstance(val, str) or not val:
            errors.append(f"{k}.match.{lab}: the value must be a non-empty string, got {val!r}")
    return errors


def _chat_errors(k: str, r: Mapping[str, Any]) -> list[str]:
    errors = []
    chat = r.get("chat")
    if chat is not None and chat != DEFAULT_CHAT and (
            isinstance(chat, bool) or not isinstance(chat, (str, int)) or not _CHAT.match(str(chat))):
        errors.append(f"{k}.chat: a chat id (like \"-1001234567890\"), an @channel name or "
                      f"'{DEFAULT_CHAT}', got {chat!r}")
    thread = r.get("thread")
    if thread is not None and not _thread_ok(thread):
        errors.append(f"{k}.thread: a forum topic's message_thread_id (a positive integer), got {thread!r}")
    return errors


def _topic_errors(k: str, r: Mapping[str, Any]) -> list[str]:
    label = r.get("topic_label")
    topics = r.get("topics")
    errors = []
    if label is not None and (not isinstance(label, str) or not _LABEL.match(label)):
        errors.append(f"{k}.topic_label: not a label name: {label!r}")
    if topics is None:
        if label is not None:
            errors.append(f"{k}.topic_label: needs topics (label value: message_thread_id)")
        return errors
    if label is None:
        errors.append(f"{k}.topics: needs topic_label (which label's value picks the topic)")
    topics, wrong = _filled(r, "topics", dict, f"{k}.topics", "a non-empty mapping of label value: message_thread_id")
    for val, tid in (topics or {}).items():
        if not isinstance(val, str) or not val:
            errors.append(f"{k}.topics: the label value {val!r} must be a non-empty string")
        elif not _thread_ok(tid):
            errors.append(f"{k}.topics.{val}: a forum topic's message_thread_id (a positive integer), got {tid!r}")
    return errors + wrong


def parse_telegram_routes(routes: Any, key: str = "telegram.routes") -> tuple[TelegramRoute, ...]:
    errors = route_errors(routes, key)
    if errors:
        raise ValueError("; ".join(errors))
    out = []
    for r in routes or []:
        chat = r.get("chat")
        out.append(TelegramRoute(
            severities=tuple(r.get("severities") or ()), match=dict(r.get("match") or {}),
            chat=None if chat in (None, DEFAULT_CHAT) else str(chat), thread=r.get("thread"),
            topic_label=r.get("topic_label"), topics=dict(r.get("topics") or {}), quiet=r.get("quiet"),
            continue_=bool(r.get("continue", False))))
    return tuple(out)


def parse_channel_map(data: Any, source: str = "<data>") -> ChannelMap:
    from .channels import channel_names

    known = channel_names()
    if not isinstance(data, dict) or not isinstance(data.get("severities"), dict):
        raise ValueError(f"{source}: expected a mapping with 'severities'")
    channels: dict[str, tuple[str, ...]] = {}
    shares: dict[str, int] = {}
    quiet: set[str] = set()
    errors: list[str] = []
    for sev, spec in data["severities"].items():
        if not isinstance(spec, dict):
            errors.append(f"severities.{sev} must be a mapping")
            continue
        chans = [_ALIASES.get(str(c), str(c)) for c in (spec.get("channels") or [])]
        unknown = [c for c in chans if c not in known]
        if unknown:
            errors.append(f"severities.{sev}.channels: unknown {unknown} (known: {', '.join(known)})")
        channels[str(sev)] = tuple(chans)
        share = spec.get("share_per_minute", spec.get("telegram_budget_per_minute",
                                                      DEFAULT_CHANNEL_MAP.shares.get(str(sev), 1)))
        if not isinstance(share, int) or share < 0:
            errors.append(f"severities.{sev}.share_per_minute must be an integer >= 0")
        else:
            shares[str(sev)] = share
        q = spec.get("quiet", str(sev) in DEFAULT_QUIET)
        if not isinstance(q, bool):
            errors.append(f"severities.{sev}.quiet must be true or false")
        elif q:
            quiet.add(str(sev))
        errors += remind_every_errors(spec.get("remind_every"), f"severities.{sev}.remind_every")
    telegram = data.get("telegram")
    routes: Any = None
    if telegram is not None:
        if not isinstance(telegram, dict):
            errors.append("telegram must be a mapping (with 'routes')")
        else:
            errors += [f"telegram.{k}: unknown key (allowed here: routes)" for k in telegram if k != "routes"]
            routes = telegram.get("routes")
            errors += route_errors(routes)
    # sections parsed by the modules that own them
    errors += oncall_errors(data.get("oncall"), "oncall") + maintenance_errors(data.get("maintenance"), "maintenance")
    errors += escalation_errors(data.get("escalation"), "escalation", known)
    allowed = ("severities", "telegram", "oncall", "maintenance", "escalation")
    for k in data:
        if k not in allowed:
            errors.append(f"{k}: unknown key (allowed here: {', '.join(allowed)})")
    if errors:
        raise ValueError(f"{source}: " + "; ".join(errors))
    return ChannelMap(channels=channels, shares=shares, source=source, quiet=frozenset(quiet),
                      telegram_routes=parse_telegram_routes(routes), oncall=parse_oncall(data.get("oncall")),
                      maintenance=parse_maintenance(data.get("maintenance")),
                      remind_every=parse_remind_every(data["severities"]),
                      escalation=parse_escalation(data.get("escalation"), "escalation", known))


def load_channel_map(path: str | Path | None = None) -> ChannelMap:
    """The given file, else the map packaged with the receiver, else the CONTRACT defaults."""
    if path:
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"channel map {p} does not exist")
        return parse_channel_map(yaml.safe_load(p.read_text(encoding="utf-8")), str(p))
    packaged = resources.files(__package__).joinpath(PACKAGED_MAP)
    if packaged.is_file():
        return parse_channel_map(yaml.safe_load(packaged.read_text(encoding="utf-8")), f"package:{PACKAGED_MAP}")
    return DEFAULT_CHANNEL_MAP
