"""One runbook page per alert (`webhook_receiver/runbook_pages/<slug>.md`) and an index."""
from __future__ import annotations

import re

from vocabulary import DEFAULT_ALERTMANAGER_URL, IDENTIFYING_LABELS, WATCHDOG, WATCHDOG_SEVERITY

from .model import AlertDef, Catalog
from .render_prometheus import header

__all__ = ["render_runbooks"]


def _silence_matchers(a: AlertDef) -> str:
    """alertname and the identifying labels the alert fires on (what the Silence buttons and `d76
    silence create --alert N` match), or its own labels when it has none of those (`job`, `instance`)."""
    names = [lbl for lbl in a.labels if lbl in IDENTIFYING_LABELS] or list(a.labels)
    return " ".join([f"alertname={a.name}"] + [f"{lbl}=<{lbl}>" for lbl in names])


_LABEL_ACTION = re.compile(r"\{\{ \$labels\.([a-zA-Z_][a-zA-Z0-9_]*) \}\}")
_VALUE_ACTION = re.compile(r"\{\{[^}]*\$value[^}]*\}\}\S*")


def _readable(template: str) -> str:
    """A text template for reading: `{{ $labels.exchange }}` as `<exchange>`, the alert's own value as
    "the value" (other actions as written)."""
    return _VALUE_ACTION.sub("the value", _LABEL_ACTION.sub(r"<\1>", template))


def _page(catalog: Catalog, a: AlertDef) -> str:
    lines = [header(catalog, "<!--").rstrip("\n") + " -->", "", f"# {a.name}", ""]
    facts = [("severity", a.severity or "none (heartbeat)"), ("source", a.source),
             ("fires on", ", ".join(a.labels) or "the bot as a whole")]
    if a.threshold is not None:
        facts.append(("threshold", f"{a.comparison} {a.threshold:g}" + (" (default)" if a.by else "")))
    for b in a.by:
        facts.append((f"threshold for {b.label}={b.value}", f"{a.comparison} {b.threshold:g}"))
    facts.append(("for", a.for_))
    if a.custom is not None:
        facts.append(("defined in", f"the override file {catalog.override_file or ''}".rstrip()
                      + " (an alert of your own)"))
    lines += [f"- **{k}**: {v}" for k, v in facts]
    lines += ["", "```promql", a.expr, *[b.expr for b in a.by], "```", ""]
    if a.action:
        lines += ["## What to do now", "", _readable(a.action), ""]
    lines += ["## What it means for the bot", "", a.meaning or _readable(a.summary), "", "## First checks", ""]
    lines += [f"{i}. {c}" for i, c in enumerate(a.checks or ("Look at the Overview dashboard.",), 1)]
    lines += ["", "## How to silence", ""]
    if a.name == WATCHDOG:
        lines += [f"Do not silence the {WATCHDOG}: the receiver's dead man's switch would then page that the "
                  "alerting pipeline is down.", ""]
    else:
        lines += [
            "- From Telegram: press **Silence 1h** or **Silence 24h** under the alert message (creates an "
            "Alertmanager silence matching this alert's identifying labels).",
            "- From a shell, with `d76` (it finds the stack `d76 stack up` started, else `--alertmanager-url`):",
            "",
            "  ```sh",
            f"  d76 silence create {_silence_matchers(a)} --duration 1h -m 'reason'",
            "  ```",
            "",
            "  or `d76 silence create --alert <history id> --duration 1h -m 'reason'` (the alert's identifying "
            "labels, read from the receiver's history). It says how many alerts the silence matches now.",
            f"- Without `d76`: `amtool silence add --alertmanager.url={DEFAULT_ALERTMANAGER_URL} --duration=1h "
            f"--comment='reason' {_silence_matchers(a)}`.",
            "- Silencing hides the notification only; the alert is still stored in the receiver's history.",
            "",
            "## Tuning",
            "",
            (f"Change `alerts.{a.name}` in your override file and run `d76 generate --config FILE`."
             if a.custom is not None else
             f"Change `alerts.{a.name}` (`threshold`, `for`, `severity`, `enabled`, the texts `summary`, "
             "`description`, `action`"
             + (f", per-label thresholds `by: {{{a.labels[0]}: {{VALUE: THRESHOLD}}}}`"
                if a.threshold is not None and a.labels else "")
             + ") in an override file and run `d76 generate --config FILE`; never edit the generated rule files."),
            "",
        ]
    return "\n".join(lines)


def render_runbooks(catalog: Catalog) -> dict[str, str]:
    """Repo-relative path -> markdown."""
    out = {f"webhook_receiver/runbook_pages/{a.runbook}.md": _page(catalog, a) for a in catalog.alerts}
    index = [header(catalog, "<!--").rstrip("\n") + " -->", "", "# Runbooks", "",
             "| alert | severity | source | for |", "|---|---|---|---|"]
    for a in sorted(catalog.alerts, key=lambda a: (a.severity or "P9", a.source, a.name)):
        index.append(f"| [{a.name}]({a.runbook}.md) | {a.severity or WATCHDOG_SEVERITY} | {a.source} | {a.for_} |")
    out["webhook_receiver/runbook_pages/README.md"] = "\n".join(index) + "\n"
    return out
