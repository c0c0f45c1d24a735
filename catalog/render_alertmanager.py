"""alertmanager.yml and the receiver's channel map, rendered from the catalog (CONTRACT section 4).

The second road: alerts of source `pipeline` (the pipeline watching itself) go to the receiver like
every alert and, when the deployment gives a `NativeRoad`, also through Alertmanager's own
integrations (Telegram, email) by a route with `continue: true` placed first, so "receiver down"
reaches a phone while the receiver is dead. Alertmanager 0.25 has no `bot_token_file`: the bot
token is written into the config itself, which is why the committed configs carry no native road
(the compose `*-telegram.yml` variants hold placeholders its entrypoint fills) and the native runner
writes its config 0600.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vocabulary import PIPELINE_SOURCE, WATCHDOG
from webhook_receiver.notify.maintenance import Window, window_routes

from .model import SEVERITIES, Catalog
from .render_prometheus import _Dumper, dump_yaml, header

__all__ = ["render_alertmanager_config", "alertmanager_doc", "render_channel_map", "receiver_name", "WATCHDOG_RECEIVER",
           "inhibit_rules", "TOKEN_FILE_LOCAL", "TOKEN_FILE_COMPOSE", "NativeRoad", "NativeTelegram", "NativeEmail",
           "DIRECT_RECEIVER", "TELEGRAM_MESSAGE", "DIRECT_REPEAT_INTERVAL"]

# the receiver of the native road (Alertmanager's own integrations, not the webhook receiver)
DIRECT_RECEIVER = "d76-pipeline-direct"
# the native road has no acknowledgement: a pipeline alert that still fires is told again this often
DIRECT_REPEAT_INTERVAL = "1h"
# Telegram HTML; Go's text/template `html` escapes every annotation (Telegram refuses a bare < or &)
TELEGRAM_MESSAGE = (
    "{{ range .Alerts }}{{ if eq .Status \"firing\" }}\U0001F6A8 <b>[{{ .Labels.severity }}] "
    "{{ .Annotations.summary | html }}</b>{{ else }}\u2705 <b>RESOLVED: {{ .Annotations.summary | html }}</b>"
    "{{ end }}\n{{ .Annotations.description | html }}\n"
    "{{ if .Annotations.action }}<b>Do:</b> {{ .Annotations.action | html }}\n{{ end }}"
    "{{ if .Annotations.runbook_url }}<a href=\"{{ .Annotations.runbook_url | html }}\">Runbook</a>\n{{ end }}"
    "\n{{ end }}<i>Sent by Alertmanager directly, not through the receiver.</i>"
)


class _Quoted(str):
    """A string YAML must keep a string (a bot token like `123:45` is not a number)."""


_Dumper.add_representer(_Quoted, lambda d, data: d.represent_scalar("tag:yaml.org,2002:str", str(data), style="'"))


@dataclass(frozen=True)
class NativeTelegram:
    """Alertmanager's `telegram_configs` entry: the receiver's bot and chat (a numeric chat id: 0.25
    takes no `@channel`); `api_url` None is Telegram's own. The compose template passes placeholders
    (strings) its entrypoint replaces."""

    bot_token: str
    chat_id: int | str
    api_url: str | None = None


@dataclass(frozen=True)
class NativeEmail:
    """Alertmanager's `email_configs` entry (the receiver's SMTP settings)."""

    to: str
    sender: str
    smarthost: str                  # host:port
    username: str | None = None
    password: str | None = None
    require_tls: bool = False       # STARTTLS (SMTP_STARTTLS)


@dataclass(frozen=True)
class NativeRoad:
    """What the deployment has for the road that bypasses the receiver; empty: no road."""

    telegram: NativeTelegram | None = None
    email: NativeEmail | None = None

    def __bool__(self) -> bool:
        return self.telegram is not None or self.email is not None

WATCHDOG_RECEIVER = "d76-watchdog"
_GUARD_ALERT = re.compile(r"RiskGuard(Global|Exchange|Route|Symbol)(Block|Degrade|Cooldown)")
# Alertmanager resolves a relative credentials_file against the config file's folder: the stack
# runner writes the token next to the rendered config. Compose mounts it as a secret.
TOKEN_FILE_LOCAL = "receiver_token"
TOKEN_FILE_COMPOSE = "/run/secrets/receiver_token"


def receiver_name(severity: str) -> str:
    return f"d76-{severity.lower()}"


def inhibit_rules(catalog: Catalog) -> list[dict[str, Any]]:
    """CONTRACT section 4 inhibitions.

    `equal` treats a label missing on both sides as equal, so every source matcher that relies on an
    identifying label also requires it to be present (`exchange=~".+"`).
    """
    names = {a.name for a in catalog.enabled_alerts}
    lower = "|".join(s for s in SEVERITIES if s != "P0")
    rules: list[dict[str, Any]] = [{
        # a P0 on an exchange (FROZEN, DOWN for 5m, stale book, ...) silences that exchange's P1-P3
        "source_matchers": ['severity="P0"', 'exchange=~".+"'],
        "target_matchers": [f'severity=~"{lower}"'],
        "equal": ["exchange"],
    }]
    if "ExchangeFrozen" in names:
        targets = "|".join(n for n in ("ExchangeDown", "ExchangeDownSustained", "ExchangeDegraded") if n in names)
        rules.append({"source_matchers": ['alertname="ExchangeFrozen"', 'exchange=~".+"'],
                      "target_matchers": [f'alertname=~"{targets}"'], "equal": ["exchange"]})
    guard = sorted(n for n in names if _GUARD_ALERT.fullmatch(n))
    if "RiskGuardGlobalBlock" in names and len(guard) > 1:
        # the global BLOCK stops everything: the other tiers' guard alerts (and its own early warnings) add nothing
        rules.append({"source_matchers": ['alertname="RiskGuardGlobalBlock"'],
                      "target_matchers": [f'alertname=~"{"|".join(n for n in guard if n != "RiskGuardGlobalBlock")}"'],
                      "equal": ["job", "instance"]})
    blocks = [n for n in guard if n.endswith("Block")]
    early = [n for n in guard if not n.endswith("Block")]
    if blocks and early:
        # a scope's BLOCK hides the DEGRADE/COOLDOWN of the same scope (the same tier of the same bot)
        rules.append({"source_matchers": [f'alertname=~"{"|".join(blocks)}"'],
                      "target_matchers": [f'alertname=~"{"|".join(early)}"'],
                      "equal": ["tier", "scope", "job", "instance"]})
    if "ExporterDown" in names:
        rules.append({"source_matchers": ['alertname="ExporterDown"', 'instance=~".+"'],
                      "target_matchers": ['alertname!="ExporterDown"', f'alertname!="{WATCHDOG}"'],
                      "equal": ["job", "instance"]})
    return rules


def _webhook(receiver_url: str, bearer_token_file: str | None) -> dict[str, Any]:
    hook: dict[str, Any] = {"url": receiver_url.rstrip("/") + "/webhook/alertmanager",
                            "send_resolved": True, "max_alerts": 0}
    if bearer_token_file:
        hook["http_config"] = {"authorization": {"type": "Bearer", "credentials_file": bearer_token_file}}
    return hook


def render_alertmanager_config(catalog: Catalog, *, receiver_url: str | Sequence[str],
                               bearer_token_file: str | None, native: NativeRoad | None = None) -> str:
    """alertmanager.yml. Several `receiver_url`s (receiver replicas on one database) give every
    route one webhook per replica: Alertmanager posts each notification to all of them and the
    receivers store and tell it once (they deduplicate in the shared database). `native`: the
    pipeline's alerts also go through Alertmanager's own Telegram/email (module docstring)."""
    return header(catalog) + dump_yaml(alertmanager_doc(catalog, receiver_url=receiver_url,
                                                        bearer_token_file=bearer_token_file, native=native))


def _direct_receiver(native: NativeRoad) -> dict[str, Any]:
    out: dict[str, Any] = {"name": DIRECT_RECEIVER}
    tg = native.telegram
    if tg is not None:
        cfg: dict[str, Any] = {"bot_token": _Quoted(tg.bot_token), "chat_id": tg.chat_id}
        if tg.api_url:
            cfg["api_url"] = tg.api_url
        cfg.update({"parse_mode": "HTML", "message": TELEGRAM_MESSAGE, "send_resolved": True})
        out["telegram_configs"] = [cfg]
    em = native.email
    if em is not None:
        mail: dict[str, Any] = {"to": em.to, "from": em.sender, "smarthost": em.smarthost,
                                "require_tls": em.require_tls, "send_resolved": True}
        if em.username:
            mail["auth_username"] = em.username
        if em.password:
            mail["auth_password"] = _Quoted(em.password)
        mail["headers"] = {"Subject": '[D76 pipeline] {{ .Status | toUpper }}: {{ .CommonLabels.alertname }}'}
        out["email_configs"] = [mail]
    return out


def alertmanager_doc(catalog: Catalog, *, receiver_url: str | Sequence[str],
                     bearer_token_file: str | None, native: NativeRoad | None = None) -> dict[str, Any]:
    """alertmanager.yml as data (a new dict each call; `render_existing` derives its fragment from it)."""
    s = catalog.settings
    urls = [receiver_url] if isinstance(receiver_url, str) else list(receiver_url)
    routes: list[dict[str, Any]] = []
    if native:
        # first, and `continue`: the same alerts then follow their severity to the receiver as well
        p0 = catalog.severity_policy["P0"]
        routes.append({"receiver": DIRECT_RECEIVER, "matchers": [f'source="{PIPELINE_SOURCE}"'],
                       "group_by": ["alertname"], "group_wait": p0.group_wait, "group_interval": "1m",
                       "repeat_interval": DIRECT_REPEAT_INTERVAL, "continue": True})
    routes += [{
        # the heartbeat: sent every minute so the receiver's dead man's switch notices when it stops
        "receiver": WATCHDOG_RECEIVER,
        "matchers": [f'alertname="{WATCHDOG}"'],
        "group_by": ["alertname"],
        "group_wait": "0s",
        "group_interval": "30s",
        "repeat_interval": s.watchdog_repeat_interval,
    }]
    windows = catalog.maintenance
    for sev in SEVERITIES:
        p = catalog.severity_policy[sev]
        routes.append({"receiver": receiver_name(sev), "matchers": [f'severity="{sev}"'],
                       "group_wait": p.group_wait, "group_interval": p.group_interval,
                       "repeat_interval": p.repeat_interval, **_muted_by(windows, sev)})
    # unclassified alerts (no severity route took them: the root's receiver) are muted by the windows
    # too, by those not only for our severities
    routes += _muted_by([w for w in windows if not set(w.match.get("severity", ("",))) <= set(SEVERITIES)]
                        ).get("routes", [])
    receivers: list[dict[str, Any]] = [
        {"name": name, "webhook_configs": [_webhook(u, bearer_token_file) for u in urls]}
        for name in (WATCHDOG_RECEIVER, *(receiver_name(sev) for sev in SEVERITIES))]
    if native:
        receivers.append(_direct_receiver(native))
    doc: dict[str, Any] = {
        "global": {"resolve_timeout": "5m"},
        "route": {
            # unclassified alerts (a one-off event with an odd severity) are treated as P2
            "receiver": receiver_name("P2"),
            # one incident, one message: an exchange's 429s on every category arrive together
            "group_by": list(s.group_by),
            "group_wait": catalog.severity_policy["P2"].group_wait,
            "group_interval": catalog.severity_policy["P2"].group_interval,
            "repeat_interval": catalog.severity_policy["P2"].repeat_interval,
            "routes": routes,
        },
        "inhibit_rules": inhibit_rules(catalog),
        "receivers": receivers,
    }
    if windows:
        doc["time_intervals"] = [w.time_interval() for w in windows]
    return doc


def _muted_by(windows: Sequence[Window], severity: str | None = None) -> dict[str, Any]:
    """Child routes muting the alerts each recurring maintenance window matches while it is open
    (`policy.maintenance`). They sit under each severity's route, so an alert keeps its severity's
    receiver and timings, and Watchdog (whose route comes first) is never muted."""
    routes = window_routes(windows, {"severity": severity} if severity else None) if windows else []
    return {"routes": routes} if routes else {}


def render_channel_map(catalog: Catalog) -> str:
    """The receiver's severity -> channels map, each severity's share of a chat's slots, whether
    Telegram tells it quietly and how often an unacknowledged alert is paged again, the Telegram
    routes to chats and forum topics, and the escalation chains (read, and checked again at start-up,
    by webhook_receiver.notify.channel_map)."""
    doc = {
        "severities": {sev: {"channels": list(p.channels), "share_per_minute": p.share_per_minute, "quiet": p.quiet,
                             "remind_every": p.remind_every}
                       for sev, p in catalog.severity_policy.items()},
        "telegram": {"routes": [dict(r) for r in catalog.telegram_routes]},
        "escalation": [dict(c) for c in catalog.escalation],
    }
    if catalog.oncall:
        doc["oncall"] = catalog.oncall
    if catalog.maintenance:
        doc["maintenance"] = [w.document() for w in catalog.maintenance]
    return header(catalog) + dump_yaml(doc)
