"""alertmanager.yml and the receiver's channel map, rendered from the catalog (CONTRACT section 4)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vocabulary import WATCHDOG

from .model import SEVERITIES, Catalog
from .render_prometheus import dump_yaml, header

__all__ = ["render_alertmanager_config", "alertmanager_doc", "render_channel_map", "receiver_name", "WATCHDOG_RECEIVER",
           "inhibit_rules", "TOKEN_FILE_LOCAL", "TOKEN_FILE_COMPOSE"]

WATCHDOG_RECEIVER = "d76-watchdog"
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
    if "RiskGuardGlobalBlock" in names:
        rules.append({"source_matchers": ['alertname="RiskGuardGlobalBlock"'],
                      "target_matchers": ['alertname=~"RiskGuard(Exchange|Route|Symbol)Block"'],
                      "equal": ["job", "instance"]})
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
                               bearer_token_file: str | None) -> str:
    """alertmanager.yml. Several `receiver_url`s (receiver replicas on one database) give every
    route one webhook per replica: Alertmanager posts each notification to all of them and the
    receivers store and tell it once (they deduplicate in the shared database)."""
    return header(catalog) + dump_yaml(alertmanager_doc(catalog, receiver_url=receiver_url,
                                                        bearer_token_file=bearer_token_file))


def alertmanager_doc(catalog: Catalog, *, receiver_url: str | Sequence[str],
                     bearer_token_file: str | None) -> dict[str, Any]:
    """alertmanager.yml as data (a new dict each call; `render_existing` derives its fragment from it)."""
    s = catalog.settings
    urls = [receiver_url] if isinstance(receiver_url, str) else list(receiver_url)
    routes: list[dict[str, Any]] = [{
        # the heartbeat: sent every minute so the receiver's dead man's switch notices when it stops
        "receiver": WATCHDOG_RECEIVER,
        "matchers": [f'alertname="{WATCHDOG}"'],
        "group_by": ["alertname"],
        "group_wait": "0s",
        "group_interval": "30s",
        "repeat_interval": s.watchdog_repeat_interval,
    }]
    for sev in SEVERITIES:
        p = catalog.severity_policy[sev]
        routes.append({"receiver": receiver_name(sev), "matchers": [f'severity="{sev}"'],
                       "group_wait": p.group_wait, "group_interval": p.group_interval,
                       "repeat_interval": p.repeat_interval})
    doc = {
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
        "receivers": [{"name": name, "webhook_configs": [_webhook(u, bearer_token_file) for u in urls]}
                      for name in (WATCHDOG_RECEIVER, *(receiver_name(sev) for sev in SEVERITIES))],
    }
    return doc


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
    return header(catalog) + dump_yaml(doc)
