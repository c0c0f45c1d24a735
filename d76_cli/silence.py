"""`d76 silence create|list|expire`: Alertmanager silences (API v2), from the command line.

Which Alertmanager: `--alertmanager-url` / ALERTMANAGER_URL, else the stack `d76 stack up` started
(`--state-dir`), else `vocabulary.DEFAULT_ALERTMANAGER_URL` (`d76_cli.stack_client`). In a cluster one member is enough:
silences gossip to the others.

    d76 silence create exchange=upbit alertname=~"Exchange.*" --duration 2h -m "upbit maintenance"
    d76 silence create --alert 812 --duration 30m     # that alert's alertname and identifying labels

`create` says how many alerts Alertmanager holds that the silence matches now (and names a few).
`--alert N` matches what the Silence buttons match: the alertname and the identifying labels
(`vocabulary.IDENTIFYING_LABELS`: exchange, route, symbol, ...), never `instance` or `job`, so the
silence still holds when the bot restarts on another port. Times: UTC, or `--tz` / D76_TZ.
    d76 silence list [--all]
    d76 silence expire 0b6c1b2e                      # the first characters of its id do
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import click

from vocabulary import DEFAULT_ALERTMANAGER_URL

from .output import tz_option, when
from .stack_client import Endpoint, alertmanager, api_error, default_actor, receiver, receiver_request, state_dir_option

__all__ = ["command", "parse_matcher"]

_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$')
MAX_SECONDS = 30 * 86400

_am_opt = click.option("--alertmanager-url", envvar="ALERTMANAGER_URL", default=None,
                       help=f"[default: the stack in --state-dir, else {DEFAULT_ALERTMANAGER_URL}]")


def parse_matcher(text: str) -> dict[str, Any]:
    """`label=value`, `label!=value`, `label=~regex`, `label!~regex` -> an API v2 matcher."""
    m = _MATCHER.match(text)
    if not m:
        raise click.BadParameter(f"{text!r}: expected LABEL=VALUE (or !=, =~, !~), e.g. exchange=upbit")
    name, op, value = m.groups()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise click.BadParameter(f"{text!r}: not a regular expression ({exc})") from None
    return {"name": name, "value": value, "isRegex": "~" in op, "isEqual": not op.startswith("!")}


def _filter(m: dict[str, Any]) -> str:
    """A matcher as Alertmanager's `filter` parameter takes it (`exchange="upbit"`)."""
    value = str(m["value"]).replace("\\", "\\\\").replace('"', '\\"')
    return _show({**m, "value": value})


def _matching(client: Any, matchers: list[dict[str, Any]]) -> str:
    """How many alerts Alertmanager holds now that these matchers catch, and a few of them."""
    from webhook_receiver.alertmanager_api import AlertmanagerError
    from webhook_receiver.history.alert_state import where

    try:
        alerts = client.alerts(filter=[_filter(m) for m in matchers])
    except AlertmanagerError as exc:
        return f"(could not count the alerts it matches now: {exc})"
    if not alerts:
        return "it matches no alert firing now (it hides those that fire before it ends)"
    named = []
    for a in alerts[:5]:
        labels = {str(k): str(v) for k, v in (a.get("labels") or {}).items()}
        place = " ".join(f"{k}={v}" for k, v in where(labels))
        named.append(f"{labels.get('alertname', '?')}" + (f" {place}" if place else ""))
    more = f", and {len(alerts) - 5} more" if len(alerts) > 5 else ""
    return f"it matches {len(alerts)} alert(s) firing now: " + "; ".join(named) + more


def _show(m: dict[str, Any]) -> str:
    equal = m.get("isEqual", True)
    op = ("=~" if equal else "!~") if m.get("isRegex") else ("=" if equal else "!=")
    return f'{m["name"]}{op}"{m["value"]}"'


def _client(target: Endpoint) -> Any:
    from webhook_receiver.alertmanager_api import AlertmanagerClient

    return AlertmanagerClient(list(target.urls))


def _call(target: Endpoint, fn: Any, *args: Any) -> Any:
    from webhook_receiver.alertmanager_api import AlertmanagerError

    try:
        return fn(*args)
    except AlertmanagerError as exc:
        raise click.ClickException(f"{exc} (Alertmanager {', '.join(target.urls)}, from {target.origin})") from None


def _duration(value: str) -> timedelta:
    from catalog import CatalogError, parse_duration

    try:
        seconds = parse_duration(value, "--duration")
    except CatalogError as exc:
        raise click.BadParameter(str(exc), param_hint="--duration") from None
    if not 60 <= seconds <= MAX_SECONDS:
        raise click.BadParameter("between 1m and 30d", param_hint="--duration")
    return timedelta(seconds=seconds)


@click.group(name="silence")
def command() -> None:
    """Create, list and expire Alertmanager silences."""


@command.command("create")
@click.argument("matchers", nargs=-1)
@click.option("--alert", "alert_id", type=click.IntRange(1, 2**63 - 1), default=None,
              help="silence exactly this history alert's labels (read from the receiver)")
@click.option("--duration", "-d", default="1h", show_default=True, help="e.g. 30m, 2h, 1d (1m to 30d)")
@click.option("--comment", "-m", default=None, help="why [default: 'silenced with d76 silence']")
@click.option("--by", default=None, help="who [default: USER@cli]")
@_am_opt
@click.option("--receiver-url", default=None, help="with --alert: the receiver [default: the stack in --state-dir]")
@tz_option
@state_dir_option
def create(matchers: tuple[str, ...], alert_id: int | None, duration: str, comment: str | None, by: str | None,
           alertmanager_url: str | None, receiver_url: str | None, tz: tzinfo, state_dir: Path) -> None:
    """Silence the alerts matching every MATCHER (LABEL=VALUE, !=, =~, !~) for --duration."""
    parsed = [parse_matcher(m) for m in matchers]
    if alert_id is not None:
        rcv = receiver(receiver_url, None, state_dir)
        resp = receiver_request(rcv, "GET", f"/api/alerts/{alert_id}")
        if resp.status_code == 404:
            raise click.ClickException(f"no alert #{alert_id} in the history (receiver from {rcv.origin})")
        if resp.status_code != 200:
            raise api_error(resp, rcv)
        from webhook_receiver.notify.model import AlertView

        parsed += AlertView.from_row(resp.json()["alert"]).silence_matchers()
    if not parsed:
        raise click.UsageError("give at least one matcher (e.g. exchange=upbit) or --alert ID")
    if all(m["isRegex"] and m["value"] in (".*", "") or not m["isEqual"] for m in parsed):
        raise click.UsageError("these matchers would silence everything; name at least one label value")
    length = _duration(duration)
    target = alertmanager(alertmanager_url, state_dir)
    now = datetime.now(UTC)
    client = _client(target)
    silence_id = _call(target, client.create_silence, parsed, now, now + length, by or default_actor(),
                       comment or "silenced with d76 silence")
    click.echo(f"silence {silence_id}: {', '.join(_show(m) for m in parsed)} until {when(now + length, tz)}")
    click.echo(_matching(client, parsed))


@command.command("list")
@click.option("--all", "show_all", is_flag=True, help="expired silences too")
@_am_opt
@tz_option
@state_dir_option
def list_(show_all: bool, alertmanager_url: str | None, tz: tzinfo, state_dir: Path) -> None:
    """Silences in force (and pending), ending soonest first."""
    target = alertmanager(alertmanager_url, state_dir)
    silences = _call(target, _client(target).silences)
    rows = [s for s in silences if show_all or (s.get("status") or {}).get("state") in ("active", "pending")]
    if not rows:
        click.echo("no silences in force" if not show_all else "no silences")
        return
    for s in sorted(rows, key=lambda s: str(s.get("endsAt") or "")):
        state = (s.get("status") or {}).get("state", "?")
        click.echo(f"{s.get('id')}  {state:<8} until {_am_time(s.get('endsAt'), tz)}  "
                   f"{', '.join(_show(m) for m in s.get('matchers') or [])}  "
                   f"by {s.get('createdBy')}: {s.get('comment')}")


def _am_time(value: Any, tz: tzinfo) -> str:
    from webhook_receiver.history.amview import parse_am_time

    parsed = parse_am_time(value)
    return when(parsed, tz) if parsed else str(value)


@command.command("expire")
@click.argument("silence_id")
@_am_opt
@state_dir_option
def expire(silence_id: str, alertmanager_url: str | None, state_dir: Path) -> None:
    """End a silence now (its id, or the first characters of it)."""
    target = alertmanager(alertmanager_url, state_dir)
    client = _client(target)
    live = [s for s in _call(target, client.silences) if (s.get("status") or {}).get("state") in ("active", "pending")]
    hits = [s for s in live if str(s.get("id", "")).startswith(silence_id.strip())] if silence_id.strip() else []
    if not hits:
        raise click.ClickException(f"no silence in force whose id starts with {silence_id!r} (`d76 silence list`)")
    if len(hits) > 1:
        raise click.ClickException(f"{silence_id!r} names {len(hits)} silences; give more characters: "
                                   + ", ".join(str(s["id"]) for s in hits))
    _call(target, client.expire_silence, hits[0]["id"])
    click.echo(f"expired silence {hits[0]['id']} ({', '.join(_show(m) for m in hits[0].get('matchers') or [])})")
