"""Every setting of the receiver, listed from the declarations that parse them (so a table of them,
such as the one in docs/contract.md, is generated rather than written again).

Who reads what: the receiver's core (`webhook_receiver.settings`), notifications
(`webhook_receiver.notify.settings`), the history jobs (`webhook_receiver.history.settings`) and each
channel of the registry, plug-ins included (`Channel.settings`).
"""
from __future__ import annotations

from .history.settings import HistorySettings
from .notify.channels import channel_classes
from .notify.heartbeat import HeartbeatSettings
from .notify.settings import NotifySettings
from .setting_parsers import SettingRow, rows
from .settings import CONFIG_FILE, Settings

__all__ = ["SettingRow", "settings_by_owner", "all_settings"]


def settings_by_owner() -> dict[str, list[SettingRow]]:
    """{owner: its settings}: `receiver`, `notify`, `history`, `heartbeat`, then `channel <name>` for each
    channel."""
    out = {"receiver": [*rows(Settings), CONFIG_FILE], "notify": rows(NotifySettings),
           "history": rows(HistorySettings), "heartbeat": rows(HeartbeatSettings)}
    out.update({f"channel {name}": rows(cls.settings) for name, cls in channel_classes().items()})
    return out


def all_settings() -> list[SettingRow]:
    """Every setting of the receiver as (name, default, meaning) rows, in the order above; a default
    that depends on other settings is said in words, "" is unset."""
    return [row for owned in settings_by_owner().values() for row in owned]
