"""What the settings and the channel map disagree about, said once at start (and by `d76 receiver
--check-config`): a channel configured that the map never routes anything to (SLACK_WEBHOOK_URL_P0 set
while P0 goes to Telegram only), and severities routed to a channel that is not configured for them
(the map sends P1 to Slack, no Slack webhook is set: those alerts are told nowhere else).

Pure: the channel map, the channels the settings built and the raw settings in, warnings out. They name
variables and severities, never a value (webhook URLs and tokens are secrets). Nothing here names a
channel: a channel's variables are its `settings_keys`, a variable for one severity ends in `_P0` ...
`_P3` (`setting_parsers.setting_per`), and a channel fed otherwise than per alert (the email digest)
is used by what feeds it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vocabulary import SEVERITIES

from .channel_map import ChannelMap
from .channels import UsesChannelMap, channel_classes
from .channels.base import Channel
from .planner import routed_channels
from .settings import NotifySettings

__all__ = ["RoutingWarning", "routing_warnings", "check_routing"]


@dataclass(frozen=True)
class RoutingWarning:
    """One disagreement: `kind` `unused` (configured, nothing routed to it) or `unconfigured` (routed to,
    not configured for those severities); the channel, the severities and the variables concerned."""

    kind: str
    channel: str
    severities: tuple[str, ...]
    variables: tuple[str, ...]
    message: str

    def fields(self) -> dict[str, object]:
        """For a structured log line (no values: variable names only)."""
        return {"kind": self.kind, "channel": self.channel, "severities": list(self.severities),
                "variables": list(self.variables)}


def _set(raw: Mapping[str, str], key: str) -> bool:
    return bool(str(raw.get(key) or "").strip())


def _severity_of(key: str) -> str | None:
    """`SLACK_WEBHOOK_URL_P0` -> P0: a variable that configures one severity."""
    for sev in SEVERITIES:
        if key.endswith(f"_{sev}"):
            return sev
    return None


def _used_for(name: str, cmap: ChannelMap, channels: Mapping[str, Channel]) -> tuple[str, ...]:
    """The severities a built per-alert channel is told: routed to it (the map, or following the pager)
    and with a destination there."""
    ch = channels[name]
    return tuple(sev for sev in SEVERITIES if name in routed_channels(cmap, channels, sev)
                 and ch.destinations(sev, {}))


def _routes(cmap: ChannelMap) -> str:
    return "; ".join(f"{sev}: {', '.join(cmap.channels_for(sev)) or 'none'}" for sev in SEVERITIES)


def routing_warnings(cmap: ChannelMap, channels: Mapping[str, Channel],
                     raw: Mapping[str, str]) -> list[RoutingWarning]:
    """Every disagreement between the configured channels (`channels`: what the settings built, `raw`: the
    settings) and the channel map, one warning per channel and kind."""
    out: list[RoutingWarning] = []
    for name, cls in channel_classes().items():
        keys = tuple(k for k in cls.settings_keys if _set(raw, k))
        configured = bool(keys) and name in channels
        routed = tuple(sev for sev in SEVERITIES if name in cmap.channels_for(sev))
        per_alert = name in channels and channels[name].per_alert
        used = _used_for(name, cmap, channels) if per_alert else routed
        # configured, but the map sends it nothing (or nothing it has a destination for)
        if configured and per_alert:
            stray = [(k, s) for k in keys if (s := _severity_of(k)) is not None and s not in used]
            if stray:
                sevs = tuple(dict.fromkeys(s for _, s in stray))
                out.append(RoutingWarning(
                    "unused", name, sevs, tuple(k for k, _ in stray),
                    f"{', '.join(k for k, _ in stray)} set, but the channel map does not route "
                    f"{', '.join(sevs)} to {name} ({_routes(cmap)}): nothing is told there"))
            elif not used:
                out.append(RoutingWarning(
                    "unused", name, (), keys,
                    f"{name} is configured ({', '.join(keys)}) but the channel map routes no severity to it "
                    f"({_routes(cmap)}): nothing is told there"))
        # routed to, but not configured for those severities
        if not configured:
            missing = routed
        elif per_alert:
            missing = tuple(sev for sev in routed if not channels[name].destinations(sev, {}))
        else:
            missing = ()
        if missing:
            wanted = tuple(k for k in cls.settings_keys if _severity_of(k) in (None, *missing))
            dry = " (it runs as a dry run)" if name in channels and not configured else ""
            out.append(RoutingWarning(
                "unconfigured", name, missing, wanted,
                f"the channel map routes {', '.join(missing)} to {name}, which is not configured for "
                f"{'them' if len(missing) > 1 else 'it'}{dry}: see {', '.join(wanted)}"))
    return out


def check_routing(settings: NotifySettings) -> list[RoutingWarning]:
    """The warnings for these settings, building the channels and reading the channel map as the service
    does (without starting anything); a bad channel map raises `SettingsError` naming its key."""
    from .service import build_channels, load_service_channel_map

    cmap = load_service_channel_map(settings)
    channels = build_channels(settings)
    for ch in channels.values():
        if isinstance(ch, UsesChannelMap):
            ch.use_channel_map(cmap)
    return routing_warnings(cmap, channels, settings.raw)
