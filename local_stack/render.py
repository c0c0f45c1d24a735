"""The configs of a local stack, rendered from the catalog into the state folder.

`render(config, state)` writes what the pieces read at start: the rule files and one prometheus.yml
per Prometheus replica, alertmanager.yml (every Alertmanager reads the same one) with a fresh 0600
bearer token next to it, and the receiver's channel map. `receiver_env` is the rest of a receiver's
configuration, given through its environment.

Links: the rules' `runbook_url` points at this stack's receiver (its real port) unless the override
file sets `policy.runbook_base_url` or `policy.external_url`; with `policy.external_url` the
receivers also get RECEIVER_EXTERNAL_URL (history links in messages).

The second road (`native_road`): when the receivers' environment has a Telegram bot
(TELEGRAM_BOT_TOKEN and a numeric TELEGRAM_CHAT_ID; TELEGRAM_API_URL moves the Bot API, as for the
receiver) the pipeline's alerts also go through Alertmanager's own Telegram integration, and with
SMTP_HOST and ALERT_EMAIL_TO through its email. Alertmanager 0.25 reads the bot token only from its
config, so alertmanager.yml is then written 0600.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import vocabulary
from catalog import Catalog, load_catalog, render_channel_map, render_rule_files
from catalog.deploy_configs import alertmanager_config, local_topology, prometheus_config
from catalog.render_alertmanager import NativeEmail, NativeRoad, NativeTelegram
from webhook_receiver.notify.channels.email import EmailSettings
from webhook_receiver.notify.channels.telegram.settings import TelegramSettings
from webhook_receiver.notify.settings import SettingsError
from webhook_receiver.setting_parsers import load

from . import defaults
from .config import StackConfig
from .state import write_secret

__all__ = ["Rendered", "render", "receiver_env", "native_road", "direct_road_names"]


@dataclass(frozen=True)
class Rendered:
    """What `render` wrote: the catalog it rendered, the receiver's token, and where the files are."""

    catalog: Catalog
    token: str
    state: Path
    native: NativeRoad = NativeRoad()   # the road that bypasses the receiver (empty: none)

    @property
    def alertmanager_config(self) -> Path:
        return self.state / "alertmanager" / "alertmanager.yml"

    @property
    def channel_map(self) -> Path:
        return self.state / "channel_map.yml"

    def prometheus_config(self, name: str) -> Path:
        """The config of one Prometheus (`prometheus`, or `prometheus-a` ... in the HA shape)."""
        return self.state / "prometheus" / f"{name}.yml"


def render(config: StackConfig, state: Path) -> Rendered:
    """Write every config of the stack into `state` (rule files of an earlier run are replaced)."""
    c = config
    # runbook links: this stack's receiver, on its real port, unless the override file says otherwise
    catalog: Catalog = load_catalog(c.catalog_override,
                                    runbook_base_url=f"http://{vocabulary.HOST}:{c.receiver_port}/runbooks/")
    rendered = Rendered(catalog, secrets.token_urlsafe(32), state, native_road({**os.environ, **c.receiver_env}))
    prom_dir = state / "prometheus"
    (prom_dir / "rules").mkdir(parents=True, exist_ok=True)
    rendered.alertmanager_config.parent.mkdir(parents=True, exist_ok=True)
    for old in (prom_dir / "rules").glob("*.yml"):
        old.unlink()
    for name, text in render_rule_files(catalog).items():
        (prom_dir / "rules" / name).write_text(text)
    topo = local_topology(exporter_port=c.exporter_port, prometheus_ports=c.prometheus_ports(),
                          alertmanager_ports=c.alertmanager_ports(), receiver_ports=c.receiver_ports(),
                          targets=c.scrape_targets())
    for i, name in enumerate(c.names("prometheus")):
        rendered.prometheus_config(name).write_text(prometheus_config(catalog, topo, i))
    write_secret(state, defaults.STATE_TOKEN_FILE, rendered.token)
    am_config = alertmanager_config(catalog, topo, rendered.native)
    if rendered.native:  # the bot token (and SMTP password) are in it
        write_secret(state, rendered.alertmanager_config.relative_to(state), am_config)
    else:
        rendered.alertmanager_config.write_text(am_config)
    rendered.channel_map.write_text(render_channel_map(catalog))
    return rendered


def native_road(env: dict[str, str]) -> NativeRoad:
    """The receivers' own Telegram bot and SMTP settings (`env`: what they will run with), as
    Alertmanager's integrations; empty when there is no bot or mail server, or the settings do not
    parse (the receiver then refuses to start and says why)."""
    try:
        tg = load(TelegramSettings, env)
        mail = load(EmailSettings, env)
    except SettingsError:
        return NativeRoad()
    telegram = None
    chat = (tg.chat_id or "").strip()
    if tg.bot_token and chat.lstrip("-").isdigit():  # Alertmanager 0.25 takes no @channel
        api = tg.api_url if tg.api_url != "https://api.telegram.org" else None
        telegram = NativeTelegram(bot_token=tg.bot_token, chat_id=int(chat), api_url=api)
    email = None
    if mail.enabled and mail.smtp_host and mail.mail_from:
        email = NativeEmail(to=", ".join(mail.mail_to), sender=mail.mail_from,
                            smarthost=f"{mail.smtp_host}:{mail.smtp_port}", username=mail.smtp_user,
                            password=mail.smtp_password, require_tls=mail.smtp_starttls)
    return NativeRoad(telegram=telegram, email=email)


def direct_road_names(native: NativeRoad) -> list[str]:
    """Where the native road goes, for the manifest and the start notes (no secrets)."""
    out = [f"telegram chat {native.telegram.chat_id}"] if native.telegram else []
    return out + ([f"email to {native.email.to}"] if native.email else [])


def receiver_env(config: StackConfig, rendered: Rendered, index: int, database_url: str) -> dict[str, str]:
    """The environment of receiver `index` (0: replica a): this process's environment, the stack's
    settings, then `config.receiver_env` (tests point TELEGRAM_API_URL at a fake there)."""
    am_urls = [config.url(n) for n in config.names("alertmanager")]
    prom_urls = [config.url(n) for n in config.names("prometheus")]
    env = {**os.environ, "DATABASE_URL": database_url, "RECEIVER_TOKEN": rendered.token,
           "CHANNEL_MAP_FILE": str(rendered.channel_map),
           # each receiver talks to "its" Alertmanager first (silences gossip across the cluster) and
           # falls back to the others; the history reconciler polls them all
           "ALERTMANAGER_URL": ",".join(am_urls[index % len(am_urls):] + am_urls[:index % len(am_urls)]),
           # graphs in the page and /status read Prometheus (its replica of the same letter)
           "PROMETHEUS_URL": prom_urls[index % len(prom_urls)],
           "NOTIFICATIONS_ENABLED": "true",
           "PYTHONUNBUFFERED": "1"}
    # the console dry run saves the graphs it would send in the stack's own state folder (two stacks
    # never write into one folder); a TELEGRAM_DRY_RUN_DIR of the environment or the config wins
    env.setdefault("TELEGRAM_DRY_RUN_DIR", str((rendered.state / "graphs").resolve()))
    if rendered.catalog.external_url:
        # history links in messages (`<external>/alerts/<id>`) for a phone; policy.external_url
        env["RECEIVER_EXTERNAL_URL"] = rendered.catalog.external_url
    # every replica may long-poll Telegram: the `telegram-poll` lease in the shared database lets one
    # poll at a time (Telegram answers 409 to a second getUpdates consumer), whichever is alive
    env.update(config.receiver_env)
    return env
