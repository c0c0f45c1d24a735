"""Severity -> channels and Telegram budgets, from the generated `alertmanager/channel_map.yml`.

Format (written by `d76 generate` from the catalog):
    severities: {P0: {channels: [telegram], telegram_budget_per_minute: 10}, ...}
    telegram_budget_total_per_minute: 10
Without the file the CONTRACT section 4 defaults apply.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

__all__ = ["ChannelMap", "DEFAULT_CHANNEL_MAP", "load_channel_map", "KNOWN_CHANNELS"]

KNOWN_CHANNELS = ("telegram", "slack", "discord", "email_digest")


@dataclass(frozen=True)
class ChannelMap:
    channels: Mapping[str, tuple[str, ...]]
    budgets: Mapping[str, int]
    total_budget: int
    source: str = "defaults"

    def channels_for(self, severity: str | None) -> tuple[str, ...]:
        return tuple(self.channels.get(severity or "", ()))


DEFAULT_CHANNEL_MAP = ChannelMap(
    channels={"P0": ("telegram",), "P1": ("telegram", "slack"), "P2": ("telegram", "slack"),
              "P3": ("email_digest",)},
    budgets={"P0": 10, "P1": 5, "P2": 3, "P3": 1},
    total_budget=10,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATH = REPO_ROOT / "alertmanager" / "channel_map.yml"


def parse_channel_map(data: Any, source: str = "<data>") -> ChannelMap:
    if not isinstance(data, dict) or not isinstance(data.get("severities"), dict):
        raise ValueError(f"{source}: expected a mapping with 'severities'")
    channels: dict[str, tuple[str, ...]] = {}
    budgets: dict[str, int] = {}
    for sev, spec in data["severities"].items():
        if not isinstance(spec, dict):
            raise ValueError(f"{source}: severities.{sev} must be a mapping")
        chans = spec.get("channels") or []
        unknown = [c for c in chans if c not in KNOWN_CHANNELS]
        if unknown:
            raise ValueError(f"{source}: severities.{sev}.channels: unknown {unknown}")
        channels[str(sev)] = tuple(chans)
        budget = spec.get("telegram_budget_per_minute", DEFAULT_CHANNEL_MAP.budgets.get(str(sev), 1))
        if not isinstance(budget, int) or budget < 0:
            raise ValueError(f"{source}: severities.{sev}.telegram_budget_per_minute must be an integer >= 0")
        budgets[str(sev)] = budget
    total = data.get("telegram_budget_total_per_minute", DEFAULT_CHANNEL_MAP.total_budget)
    if not isinstance(total, int) or total < 1:
        raise ValueError(f"{source}: telegram_budget_total_per_minute must be an integer >= 1")
    return ChannelMap(channels=channels, budgets=budgets, total_budget=total, source=source)


def load_channel_map(path: str | Path | None = None) -> ChannelMap:
    """Load the given file, else the repo's generated one, else CONTRACT defaults."""
    p = Path(path) if path else DEFAULT_PATH
    if not p.exists():
        if path:
            raise FileNotFoundError(f"channel map {p} does not exist")
        return DEFAULT_CHANNEL_MAP
    return parse_channel_map(yaml.safe_load(p.read_text(encoding="utf-8")), str(p))
