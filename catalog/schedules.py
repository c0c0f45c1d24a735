"""The override file's `policy.oncall` and `policy.maintenance`: checked by the receiver's own
validators (one definition of what is valid, every problem naming its key), with label names no
alert carries reported too, and carried in canonical form into the channel map and alertmanager.yml."""
from __future__ import annotations

import difflib
from typing import Any

from webhook_receiver.notify.maintenance import Window, maintenance_errors, parse_maintenance
from webhook_receiver.notify.oncall import oncall_errors, parse_oncall

__all__ = ["schedule_errors", "oncall_document", "maintenance_windows"]


def schedule_errors(policy: dict[str, Any], source: str, known_labels: list[str],
                    reported: set[str]) -> list[str]:
    """Every problem of the two sections; `reported` are keys the schema already complained about
    (a section of the wrong type is one error, not two)."""
    errors = [f"{source}: {e}" for e in oncall_errors(policy.get("oncall"), "policy.oncall")]
    windows = policy.get("maintenance")
    errors += [f"{source}: {e}" for e in maintenance_errors(windows, "policy.maintenance")]
    if isinstance(windows, list):
        for n, w in enumerate(windows):
            match = w.get("match") if isinstance(w, dict) else None
            for label in match if isinstance(match, dict) else ():
                if isinstance(label, str) and label not in known_labels:
                    hint = difflib.get_close_matches(label, known_labels, n=1)
                    errors.append(f"{source}: policy.maintenance[{n}].match.{label}: no alert carries the label "
                                  f"{label!r}" + (f" (did you mean {hint[0]}?)" if hint
                                                  else f" (labels: {', '.join(known_labels)})"))
    return [e for e in errors if e.split(": ", 2)[1] not in reported]


def oncall_document(policy: dict[str, Any]) -> dict[str, Any] | None:
    """`policy.oncall` in canonical form (times in UTC, durations as text), None without one."""
    raw = policy.get("oncall")
    return parse_oncall(raw, "policy.oncall").document() if raw else None


def maintenance_windows(policy: dict[str, Any]) -> tuple[Window, ...]:
    return parse_maintenance(policy.get("maintenance"), "policy.maintenance").windows
