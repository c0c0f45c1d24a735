"""How the commands write to the terminal: times in one format (`webhook_receiver.timefmt`: UTC, or
the operator's zone with `--tz` / D76_TZ) and tables as wide as the terminal (rich's own width: an
80-column or a phone's SSH terminal gets a table that fits, never one wrapped at 200 columns)."""
from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

import click

from webhook_receiver.timefmt import TZ_VARIABLE, fmt_time, zone

__all__ = ["tz_option", "when", "console"]


def _tz(ctx: click.Context, param: click.Parameter, value: str | None) -> tzinfo:
    try:
        return zone(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


tz_option = click.option("--tz", "tz", envvar=TZ_VARIABLE, default="UTC", show_default=True, callback=_tz,
                         help=f"write times in this zone (an IANA name such as Asia/Seoul; {TZ_VARIABLE})")


def when(dt: datetime | None, tz: tzinfo | None = None) -> str:
    """A time as every command writes it: `2026-12-04 19:55:26 UTC`."""
    return fmt_time(dt, tz)


def console(width: int | None = None) -> Any:
    """A rich Console as wide as the terminal (or `width`, for tests)."""
    from rich.console import Console

    return Console(width=width, highlight=False, soft_wrap=False)
