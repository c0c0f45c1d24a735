"""Threshold lines from the catalog: a changed threshold in the catalog moves the line on the panel.

A panel's steps come from the catalog alerts on its quantity; a per-label threshold of those alerts
(`by: {exchange: {upbit: 1.5}}`) becomes a field override for the series whose legend shows that value
(`legend_regex`), so their lines follow too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from grafana_foundation_sdk.models.dashboard import Threshold

from vocabulary import SEVERITIES

from ..model import AlertDef, Catalog

__all__ = ["PanelThresholds", "fixed", "from_catalog", "legend_regex", "SEVERITY_COLORS"]

SEVERITY_COLORS = dict(zip(SEVERITIES, ("red", "orange", "yellow", "blue"), strict=True))


@dataclass(frozen=True)
class PanelThresholds:
    """Grafana threshold steps, plus the steps for each special (label, value) of the catalog."""

    steps: list[Threshold]
    per_label: dict[tuple[str, str], list[Threshold]] = field(default_factory=dict)


def fixed(*steps: tuple[str, float | None]) -> PanelThresholds:
    """Steps written on the panel, (colour, from value): the first from None (-Infinity)."""
    return PanelThresholds([Threshold(value=v, color=c) for c, v in steps])


def _color(alert: AlertDef) -> str:
    return SEVERITY_COLORS.get(alert.severity or "", "red")


def _steps(alerts: list[tuple[AlertDef, float]], scale: float) -> list[Threshold]:
    """Steps from (alert, threshold that applies) pairs. Alerts firing above a value colour upwards;
    "below" alerts colour the low band, the lowest (most severe) first."""
    below = sorted([x for x in alerts if x[0].comparison in ("<", "<=")], key=lambda x: x[1])
    above = sorted([x for x in alerts if x[0].comparison in (">", ">=")], key=lambda x: x[1])
    if below:
        steps = [Threshold(value=None, color=_color(below[0][0]))]
        steps += [Threshold(value=prev[1] * scale, color=_color(nxt[0])) for prev, nxt in zip(below, below[1:])]
        return [*steps, Threshold(value=below[-1][1] * scale, color="green")]
    return [Threshold(value=None, color="green"), *(Threshold(value=t * scale, color=_color(a)) for a, t in above)]


def from_catalog(catalog: Catalog, *names: str, scale: float = 1.0) -> PanelThresholds:
    """Steps from the catalog alerts `names` (enabled ones with a threshold), with their per-label steps."""
    alerts = [a for a in (catalog.get(n) for n in names) if a.enabled and a.threshold is not None]
    special = sorted({(b.label, b.value) for a in alerts for b in a.by})
    per_label = {}
    for label, value in special:
        applies = [(a, a.threshold_for(label, value)) for a in alerts]
        per_label[(label, value)] = _steps([(a, t) for a, t in applies if t is not None], scale)
    return PanelThresholds(_steps([(a, a.threshold) for a in alerts if a.threshold is not None], scale), per_label)


_JS_REGEX_SPECIAL = set("\\^$.|?*+()[]{}/")
_LEGEND_LABEL = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


def _js_escape(text: str) -> str:
    """`text` as a literal in a JavaScript regex (Grafana's byRegexp matcher)."""
    return "".join("\\" + c if c in _JS_REGEX_SPECIAL else c for c in text)


def legend_regex(legend: str, label: str, value: str) -> str | None:
    """A regex matching the display names `legend` gives series with `label=value` (None when the
    legend does not show the label, e.g. a sum over it)."""
    if label not in _LEGEND_LABEL.findall(legend):
        return None
    out, pos = [], 0
    for m in _LEGEND_LABEL.finditer(legend):
        out.append(_js_escape(legend[pos:m.start()]))
        out.append(_js_escape(value) if m.group(1) == label else ".*")
        pos = m.end()
    out.append(_js_escape(legend[pos:]))
    return "^" + "".join(out) + "$"
