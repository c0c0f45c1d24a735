"""Reminders and escalation chains as the channel map configures them (checked, then typed).

The channel map (generated from the catalog's `policy.severities.<P>.remind_every` and
`policy.escalation`) carries:

    severities:
      P0: {channels: [telegram], remind_every: 5m}     # never: no reminders (P2/P3 by default)
    escalation:
    - severities: [P0]                 # and/or match: {exchange: upbit}; both empty: every alert
      steps:
      - after: 10m                     # since the alert started, still unacknowledged
        telegram: {chat: "-1001234", thread: 12, mention: ["4242", "@alice", "oncall"]}
      - after: 20m
        webhook: {url: "https://sms.example.com/hook"}
        slack: true                    # another channel: true, or {} (email: {to: [a@example.com]})

The first chain that matches an alert (severity and labels) is its chain. Every problem is
reported, one line each naming its key (`escalation[0].steps[1].after: ...`), like the rest of the
map; `escalation_errors` is also what the catalog checks an override file with. A mention is a
Telegram user id (its phone rings: the message links `tg://user?id=...`), an `@username`, or
`oncall` (the person on call when the step fires, `webhook_receiver.notify.oncall`).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vocabulary import SEVERITIES, Severity

from .config_checks import mapping_entries, unknown_keys

__all__ = ["EscalationPolicy", "Chain", "Step", "TelegramTarget", "escalation_errors", "parse_escalation",
           "parse_prometheus_duration", "remind_every_errors", "parse_remind_every", "DEFAULT_REMIND_EVERY",
           "webhook_key", "ONCALL", "STEP_KEYS", "NEVER"]

# the defaults: P0 every 5 minutes, P1 every 30, P2 and P3 never
DEFAULT_REMIND_EVERY: Mapping[str, float] = {Severity.P0.value: 300.0, Severity.P1.value: 1800.0}
NEVER = "never"
MIN_REMIND_EVERY = 5.0
MAX_CHAINS = 50
MAX_STEPS = 20
MAX_MENTIONS = 20
ONCALL = "oncall"
CHAIN_KEYS = ("severities", "match", "steps")
STEP_KEYS = ("after", "telegram", "webhook")  # plus any channel by its registry name
TELEGRAM_KEYS = ("chat", "thread", "mention")
WEBHOOK_KEYS = ("url",)
EMAIL_KEYS = ("to",)

_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNIT_SECONDS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_CHAT = re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$")
_USER_ID = re.compile(r"^[0-9]{1,20}$")
_USERNAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")
_EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[^@\s<>,;\"]{1,255}$")
_TOPIC_MAX = 2**31 - 1


def parse_prometheus_duration(value: Any) -> float | None:
    """Seconds in a Prometheus duration (`30s`, `5m`, `1h30m`); None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, str) or not value:
        return None
    if value == "0":
        return 0.0
    m = _DURATION.match(value)
    if not m or not any(m.groups()):
        return None
    return float(sum(int(g) * u for g, u in zip(m.groups(), _UNIT_SECONDS) if g))


def webhook_key(url: str) -> str:
    """The lane of a webhook target: a digest of its URL (the URL may carry a secret; lanes are logged)."""
    return "wh-" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]


# ---- reminders -------------------------------------------------------------------------------------------
def remind_every_errors(value: Any, key: str) -> list[str]:
    """`remind_every` of one severity: a Prometheus duration of at least 5s, or `never`."""
    if value is None or value == NEVER:
        return []
    seconds = parse_prometheus_duration(value)
    if seconds is None:
        return [f"{key}: a Prometheus duration like 5m, or '{NEVER}', got {value!r}"]
    if seconds and seconds < MIN_REMIND_EVERY:
        return [f"{key}: at least {MIN_REMIND_EVERY:g}s (or '{NEVER}'), got {value!r}"]
    return []


def parse_remind_every(severities: Mapping[str, Any]) -> dict[str, float]:
    """Seconds between reminders per severity (severities without reminders absent); a severity
    whose spec does not say gets the default (P0 5m, P1 30m). Assumes `remind_every_errors` passed."""
    out: dict[str, float] = {}
    for sev, spec in severities.items():
        value = spec.get("remind_every", "absent") if isinstance(spec, Mapping) else "absent"
        if value == "absent":
            if str(sev) in DEFAULT_REMIND_EVERY:
                out[str(sev)] = DEFAULT_REMIND_EVERY[str(sev)]
            continue
        seconds = parse_prometheus_duration(value) if value not in (None, NEVER) else None
        if seconds:
            out[str(sev)] = seconds
    return out


# ---- escalation ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TelegramTarget:
    chat: str | None = None  # None: TELEGRAM_CHAT_ID
    thread: int | None = None
    mentions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    after: float
    telegram: TelegramTarget | None = None
    webhook: str | None = None  # the URL
    channels: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # slack, discord, email: options

    def detail(self) -> dict[str, Any]:
        """What a scheduled step keeps (the map may change before it fires); a webhook by its key."""
        out: dict[str, Any] = {"after": self.after}
        if self.telegram is not None:
            out["telegram"] = {"chat": self.telegram.chat, "thread": self.telegram.thread,
                               "mention": list(self.telegram.mentions)}
        if self.webhook is not None:
            out["webhook"] = webhook_key(self.webhook)
        if self.channels:
            out["channels"] = {k: dict(v) for k, v in self.channels.items()}
        return out


@dataclass(frozen=True)
class Chain:
    severities: tuple[str, ...] = ()
    match: Mapping[str, str] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()

    def matches(self, severity: str, labels: Mapping[str, str]) -> bool:
        if self.severities and severity not in self.severities:
            return False
        return all(labels.get(k) == v for k, v in self.match.items())


@dataclass(frozen=True)
class EscalationPolicy:
    chains: tuple[Chain, ...] = ()

    def chain_for(self, severity: str, labels: Mapping[str, str]) -> tuple[int, Chain] | None:
        """The first chain that matches."""
        for n, c in enumerate(self.chains):
            if c.matches(severity, labels):
                return n, c
        return None

    def telegram_chats(self) -> tuple[str, ...]:
        """Chats the steps name (the default chat, `None`, is not among them)."""
        chats = [s.telegram.chat for c in self.chains for s in c.steps if s.telegram and s.telegram.chat]
        return tuple(dict.fromkeys(chats))

    def webhook_urls(self) -> dict[str, str]:
        """Webhook target key -> URL."""
        return {webhook_key(s.webhook): s.webhook for c in self.chains for s in c.steps if s.webhook}


def escalation_errors(data: Any, key: str = "escalation", channels: Iterable[str] = ()) -> list[str]:
    """Every problem of an escalation section, one line each naming its key. `channels`: the
    registered channel names a step may name besides `telegram` and `webhook`."""
    if data is None:
        return []
    if not isinstance(data, list):
        return [f"{key}: expected a list of chains, got {type(data).__name__}"]
    if len(data) > MAX_CHAINS:
        return [f"{key}: at most {MAX_CHAINS} chains, got {len(data)}"]
    others = tuple(c for c in channels if c not in ("telegram", "webhook"))
    errors: list[str] = []
    for k, chain in mapping_entries(data, key, "expected a mapping with steps", errors):
        errors += unknown_keys(chain, CHAIN_KEYS, k)
        errors += _severities(chain.get("severities"), f"{k}.severities")
        errors += _match(chain.get("match"), f"{k}.match")
        steps = chain.get("steps")
        if not isinstance(steps, list) or not steps:
            errors.append(f"{k}.steps: a non-empty list of steps (each with `after` and where to tell)")
            continue
        if len(steps) > MAX_STEPS:
            errors.append(f"{k}.steps: at most {MAX_STEPS} steps, got {len(steps)}")
            continue
        for j, step in enumerate(steps):
            errors += _step_errors(step, f"{k}.steps[{j}]", others)
    return errors


def _severities(v: Any, k: str) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list) or not v:
        return [f"{k}: a non-empty list of {', '.join(SEVERITIES)}"]
    return [f"{k}: {s!r} is not one of {', '.join(SEVERITIES)}" for s in v if s not in SEVERITIES]


def _match(v: Any, k: str) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, dict) or not v:
        return [f"{k}: a non-empty mapping of label: value"]
    errors = []
    for lab, val in v.items():
        if not isinstance(lab, str) or not _LABEL.match(lab):
            errors.append(f"{k}.{lab}: not a label name")
        if not isinstance(val, str) or not val:
            errors.append(f"{k}.{lab}: the value must be a non-empty string, got {val!r}")
    return errors


def _step_errors(step: Any, k: str, others: Sequence[str]) -> list[str]:
    if not isinstance(step, dict):
        return [f"{k}: expected a mapping with `after` and a target, got {type(step).__name__}"]
    allowed = (*STEP_KEYS, *others)
    errors = [f"{k}.{extra}: unknown key (allowed here: {', '.join(allowed)})"
              for extra in sorted(set(map(str, step)) - set(allowed))]
    after = step.get("after")
    seconds = parse_prometheus_duration(after)
    if seconds is None:
        errors.append(f"{k}.after: a Prometheus duration like 10m (since the alert started), got {after!r}")
    if not any(t in step for t in ("telegram", "webhook", *others)):
        errors.append(f"{k}: says where to tell: telegram, webhook" + "".join(f", {o}" for o in others))
    if "telegram" in step:
        errors += _telegram_errors(step["telegram"], f"{k}.telegram")
    if "webhook" in step:
        errors += _webhook_errors(step["webhook"], f"{k}.webhook")
    for other in others:
        if other in step:
            errors += _channel_errors(other, step[other], f"{k}.{other}")
    return errors


def _telegram_errors(v: Any, k: str) -> list[str]:
    if v is True:
        return []
    if not isinstance(v, dict):
        return [f"{k}: a mapping with chat, thread and mention (or true: the default chat), got {v!r}"]
    errors = [f"{k}.{extra}: unknown key (allowed here: {', '.join(TELEGRAM_KEYS)})"
              for extra in sorted(set(map(str, v)) - set(TELEGRAM_KEYS))]
    chat = v.get("chat")
    if chat is not None and chat != "default" and (
            isinstance(chat, bool) or not isinstance(chat, (str, int)) or not _CHAT.match(str(chat))):
        errors.append(f"{k}.chat: a chat id (like \"-1001234567890\"), an @channel name or 'default', got {chat!r}")
    thread = v.get("thread")
    if thread is not None and (isinstance(thread, bool) or not isinstance(thread, int)
                               or not 1 <= thread <= _TOPIC_MAX):
        errors.append(f"{k}.thread: a forum topic's message_thread_id (a positive integer), got {thread!r}")
    mention = v.get("mention")
    if mention is not None:
        if not isinstance(mention, list) or len(mention) > MAX_MENTIONS:
            errors.append(f"{k}.mention: a list of at most {MAX_MENTIONS} Telegram user ids, @usernames or "
                          f"'{ONCALL}', got {mention!r}")
        else:
            for i, m in enumerate(mention):
                text = str(m) if isinstance(m, int) and not isinstance(m, bool) else m
                if not isinstance(text, str) or not (_USER_ID.match(text) or _USERNAME.match(text)
                                                     or text == ONCALL):
                    errors.append(f"{k}.mention[{i}]: a Telegram user id (digits), an @username or "
                                  f"'{ONCALL}', got {m!r}")
    return errors


def _webhook_errors(v: Any, k: str) -> list[str]:
    if not isinstance(v, dict):
        return [f"{k}: a mapping with url, got {v!r}"]
    errors = [f"{k}.{extra}: unknown key (allowed here: {', '.join(WEBHOOK_KEYS)})"
              for extra in sorted(set(map(str, v)) - set(WEBHOOK_KEYS))]
    url = v.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url) or any(c.isspace() for c in url):
        errors.append(f"{k}.url: an http(s) URL, got {'(unset)' if url is None else type(url).__name__}")
    return errors


def _channel_errors(name: str, v: Any, k: str) -> list[str]:
    if v is True:
        return []
    if not isinstance(v, dict):
        return [f"{k}: true (or a mapping of options), got {v!r}"]
    allowed = EMAIL_KEYS if name == "email" else ()
    errors = [f"{k}.{extra}: unknown key" + (f" (allowed here: {', '.join(allowed)})" if allowed else
                                            " (this channel takes no options: write true)")
              for extra in sorted(set(map(str, v)) - set(allowed))]
    if name == "email" and "to" in v:
        to = v["to"]
        if not isinstance(to, list) or not to:
            errors.append(f"{k}.to: a non-empty list of e-mail addresses, got {to!r}")
        else:
            errors += [f"{k}.to[{i}]: not an e-mail address: {a!r}" for i, a in enumerate(to)
                       if not isinstance(a, str) or not _EMAIL.match(a)]
    return errors


def parse_escalation(data: Any, key: str = "escalation", channels: Iterable[str] = ()) -> EscalationPolicy:
    """The typed policy; ValueError with every problem when `escalation_errors` finds any."""
    names = tuple(channels)
    errors = escalation_errors(data, key, names)
    if errors:
        raise ValueError("; ".join(errors))
    others = tuple(c for c in names if c not in ("telegram", "webhook"))
    chains = []
    for chain in data or []:
        steps = []
        for s in chain["steps"]:
            tg = s.get("telegram")
            target = None
            if tg is not None:
                tg = {} if tg is True else tg
                chat = tg.get("chat")
                target = TelegramTarget(None if chat in (None, "default") else str(chat), tg.get("thread"),
                                        tuple(str(m) for m in tg.get("mention") or ()))
            wh = s.get("webhook")
            opts = {o: ({} if s[o] is True else dict(s[o])) for o in others if o in s}
            steps.append(Step(float(parse_prometheus_duration(s["after"]) or 0.0), target,
                              str(wh["url"]) if isinstance(wh, dict) else None, opts))
        chains.append(Chain(tuple(chain.get("severities") or ()), dict(chain.get("match") or {}), tuple(steps)))
    return EscalationPolicy(tuple(chains))
