"""`d76 oncall`: who is on call now, next and the week ahead; `d76 oncall take NAME 4h`: NAME is on
call for 4 hours (an override stored by the receiver, winning over the rotation until it ends; the
same as `/oncall take 4h` from the phone).

Through the receiver's API (`GET /api/oncall`, `POST /api/oncall/take`): the stack `d76 stack up`
started (`--state-dir`), else `--receiver-url` with `--token` or RECEIVER_TOKEN
(`d76_cli.stack_client`). The rotation itself is `policy.oncall` in the override file.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from .stack_client import Endpoint, api_error, default_actor, receiver, receiver_request, state_dir_option

__all__ = ["command"]

_url = click.option("--receiver-url", default=None, help="the receiver's base URL [default: the stack in --state-dir]")
_token = click.option("--token", default=None,
                      help="bearer token [default: the stack's; with --receiver-url, RECEIVER_TOKEN]")


def _when(text: str | None, zone: ZoneInfo) -> str:
    if not text:
        return "…"
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(zone).strftime("%a %d %b %H:%M")


def _line(label: str, s: dict[str, Any] | None, zone: ZoneInfo) -> str:
    if s is None:
        return f"{label:<6} -"
    who = s["person"] or "nobody"
    reach = ", ".join(x for x in (s.get("telegram"), s.get("email")) if x)
    return (f"{label:<6} {who:<14} {_when(s.get('start'), zone)} -> {_when(s.get('until'), zone)}  ({s['why']})"
            + (f"  {reach}" if reach else ""))


def _show(data: dict[str, Any], target: Endpoint) -> None:
    if not data.get("configured"):
        click.echo(f"no on-call rotation is configured (policy.oncall in the override file; receiver from "
                   f"{target.origin})")
        return
    zone = ZoneInfo(data.get("timezone") or "UTC")
    click.echo(f"times in {zone.key}" + (f"; rotation: {data['rotation']}" if data.get("rotation") else ""))
    click.echo(_line("now", data["now"], zone))
    click.echo(_line("next", data["next"], zone))
    if data.get("ahead"):
        click.echo("the days ahead:")
        for s in data["ahead"]:
            click.echo("  " + _line("", s, zone).strip())


@click.group(name="oncall", invoke_without_command=True)
@click.option("--days", type=click.IntRange(0, 31), default=7, show_default=True, help="how far ahead to show")
@_url
@_token
@state_dir_option
@click.pass_context
def command(ctx: click.Context, days: int, receiver_url: str | None, token: str | None, state_dir: Path) -> None:
    """Who is on call now, next, and the days ahead."""
    if ctx.invoked_subcommand is not None:
        return
    target = receiver(receiver_url, token, state_dir)
    resp = receiver_request(target, "GET", "/api/oncall", params={"days": days})
    if resp.status_code != 200:
        raise api_error(resp, target)
    _show(resp.json(), target)


@command.command(name="take")
@click.argument("name")
@click.argument("duration")
@click.option("--by", default=None, help="who says so [default: USER@cli]")
@_url
@_token
@state_dir_option
def take(name: str, duration: str, by: str | None, receiver_url: str | None, token: str | None,
         state_dir: Path) -> None:
    """NAME (one of policy.oncall.people) is on call for DURATION (30m, 4h, 2d) from now."""
    target = receiver(receiver_url, token, state_dir)
    resp = receiver_request(target, "POST", "/api/oncall/take",
                            json={"who": name, "duration": duration, "by": by or default_actor()})
    if resp.status_code != 200:
        raise api_error(resp, target)
    data = resp.json()
    zone = ZoneInfo(data.get("timezone") or "UTC")
    t = data["taken"]
    click.echo(f"{t['person']} is on call until {_when(t['until'], zone)} ({zone.key}), taken by {t['by']}")
    _show(data, target)
