"""Which channels get an alert of each severity, and each severity's share of a chat's slots.

Read from the generated `channel_map.yml` (written by `d76 generate` from the catalog into this
package, so an installed wheel carries it; `CHANNEL_MAP_FILE` points elsewhere):

    severities: {P0: {channels: [telegram], share_per_minute: 10}, P1: {...}, ...}

Channel names are checked against the channel registry. Shares are not caps: Telegram's limits are
the only hard budget; when alerts of several severities wait for the same slots, the slots go to them
in proportion to their shares (P0 always first).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

__all__ = ["ChannelMap", "DEFAULT_CHANNEL_MAP", "load_channel_map", "parse_channel_map", "PACKAGED_MAP"]

PACKAGED_MAP = "channel_map.yml"
# older generated maps call the email channel by what it does
_ALIASES = {"email_digest": "email"}


@dataclass(frozen=True)
class ChannelMap:
    channels: Mapping[str, tuple[str, ...]]
    shares: Mapping[str, int]
    source: str = "defaults"

    def channels_for(self, severity: str | None) -> tuple[str, ...]:
        return tuple(self.channels.get(severity or "", ()))

    def share(self, severity: str | None) -> int:
        return max(1, int(self.shares.get(severity or "", 1)))


DEFAULT_CHANNEL_MAP = ChannelMap(
    channels={"P0": ("telegram",), "P1": ("telegram", "slack"), "P2": ("telegram", "slack"), "P3": ("email",)},
    shares={"P0": 10, "P1": 5, "P2": 3, "P3": 1},
)


def parse_channel_map(data: Any, source: str = "<data>") -> ChannelMap:
    from .channels import channel_names

    known = channel_names()
    if not isinstance(data, dict) or not isinstance(data.get("severities"), dict):
        raise ValueError(f"{source}: expected a mapping with 'severities'")
    channels: dict[str, tuple[str, ...]] = {}
    shares: dict[str, int] = {}
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
    if errors:
        raise ValueError(f"{source}: " + "; ".join(errors))
    return ChannelMap(channels=channels, shares=shares, source=source)


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
