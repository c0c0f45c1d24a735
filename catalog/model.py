"""Typed model of the threshold catalog: alert definitions, severity policy, settings.

`AlertSpec` is the *template* (PromQL and texts with `{threshold}`-style placeholders, written once
in `defaults.py`); `AlertDef` is the *rendered* alert after overrides, which every generator reads.
Keeping the two apart means an override of a threshold changes the expression and the text at once.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vocabulary import DEFAULT_RUNBOOK_BASE_URL, IDENTIFYING_LABELS, SEVERITIES, SOURCES

if TYPE_CHECKING:
    from webhook_receiver.notify.maintenance import Window

    from .texts import Ctx, Graph

__all__ = [
    "SEVERITIES", "SOURCES", "CHANNELS", "CatalogError", "AlertSpec", "AlertDef", "SeverityPolicy",
    "CatalogSettings", "Catalog", "Probe", "parse_duration", "DURATION_RE", "LabelThreshold", "CustomTest",
]

def _registered_channels() -> tuple[str, ...]:
    """The receiver's channel registry: one list of channels for the catalog and the receiver."""
    from webhook_receiver.notify.channels import channel_names

    return channel_names()


CHANNELS = _registered_channels()
# names older override files used for a channel
CHANNEL_ALIASES = {"email_digest": "email"}

# Prometheus duration syntax (model.ParseDuration): units from largest to smallest, e.g. "1h30m", "500ms".
DURATION_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNIT_SECONDS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


class CatalogError(ValueError):
    """An invalid catalog or override; each message line names the offending key.

    `errors` holds every problem found (an override file with three mistakes reports all three);
    `str()` is those lines joined by newlines.
    """

    def __init__(self, errors: str | list[str]) -> None:
        self.errors: list[str] = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


def parse_duration(value: object, key: str) -> float:
    """Seconds in a Prometheus duration string; `CatalogError` naming `key` otherwise."""
    if not isinstance(value, str) or not value:
        raise CatalogError(f"{key}: expected a Prometheus duration string like '5m', got {value!r}")
    if value.startswith("-"):
        raise CatalogError(f"{key}: duration must not be negative, got {value!r}")
    m = DURATION_RE.match(value)
    if value == "0":
        return 0.0
    if not m or not any(m.groups()):
        raise CatalogError(f"{key}: {value!r} is not a Prometheus duration (e.g. 0s, 30s, 5m, 1h30m)")
    return sum(int(g) * u for g, u in zip(m.groups(), _UNIT_SECONDS) if g)


@dataclass(frozen=True)
class Probe:
    """How promtool unit tests drive one alert (generated into `prometheus/tests/`).

    `series(value)` returns the input series (selector -> one sample value) for one level of the
    watched quantity; counters are expressed as per-sample increments (`counter=True`).
    `at` is the level that must stay silent (the threshold itself, or just inside it when the
    expression is computed and floating point cannot hit the threshold exactly), `past` just beyond
    it, `calm` a normal value it returns to.
    """

    series: Callable[[float], dict[str, float]]
    at: Callable[[float | None], float]
    past: Callable[[float | None], float]
    calm: Callable[[float | None], float]
    # gauge: sample = level; counter: level is the increment per sample; age: sample = t - level;
    # drop: `base` first, then series(level); step: `base`, then base + level (a value change)
    kind: str = "gauge"
    base: float = 0.0
    # seconds after the condition first holds until the expression's value is steady (range windows)
    settle_seconds: float = 0.0
    # the expression's value for a level (what `$value` shows); identity by default
    value: Callable[[float], float] | None = None
    # the expression rises to its level over `settle_seconds` (a rate over a window filling up): the
    # condition holds only after that, so `for` counts from there
    rising: bool = False
    # labels the firing alert carries besides severity/source/alertname (from the input series)
    exp_labels: dict[str, str] = field(default_factory=dict)
    # series held at one value through every test, whatever the level (e.g. a process start time)
    constant: dict[str, float] = field(default_factory=dict)
    # the rule also fires when the watched series does not exist at all (`absent()`): the labels it
    # then carries; promtool gets one more test with no input series
    absent_labels: dict[str, str] | None = None
    # series the alert's context queries read (`texts.Ctx`), held for the whole test: selector ->
    # (kind, per-sample value) with kind "gauge" (the value), "counter" (grows by it) or "age" (a
    # timestamp that many seconds old)
    context: dict[str, tuple[str, float]] = field(default_factory=dict)
    # what each context query (by `Ctx.name`) returns at the checks: a number, a function of the
    # probe's level, or None (no sample: the piece is left out)
    context_values: dict[str, float | Callable[[float], float] | None] = field(default_factory=dict)

    def value_for(self, level: float) -> float:
        return self.value(level) if self.value else level


@dataclass(frozen=True)
class AlertSpec:
    """One alert as written in the catalog defaults (templates, not yet rendered)."""

    name: str
    source: str
    severity: str | None
    expr: str                    # PromQL template: {threshold}, {keep}, ... placeholders
    summary: str                 # Go template for Alertmanager, with catalog placeholders
    description: str
    metric: str                  # the main contract metric it watches
    labels: tuple[str, ...]      # identifying labels of the series it fires on
    threshold: float | None = None
    comparison: str | None = None
    for_: str = "0s"
    unit: str = ""               # "ratio", "seconds", "usd", "bps", "count", "bytes", "" (how to print)
    meaning: str = ""            # runbook: what it means for the bot
    checks: tuple[str, ...] = ()  # runbook: first checks
    probe: Probe | None = None
    action: str = ""             # what the bot already did, what to check, how to resume (one or two lines)
    now: str = ""                # words before the alert's own value on the description's "Now:" line
    context: tuple[Ctx, ...] = ()    # asked from Prometheus at fire time, after the own value
    graph: tuple[Graph, ...] = ()    # the series that explain it (the `graph` annotation)
    states: tuple[str, ...] | None = None   # names of the values of a state metric (`{value}` prints them)
    custom: CustomTest | None = None   # an operator's own alert (override file), with its test scaffold


@dataclass(frozen=True)
class LabelThreshold:
    """A per-label threshold (`by: {exchange: {upbit: 1.5}}`): its own rule, same alertname.

    `expr`, `summary` and `description` are rendered with this threshold and a matcher
    `label="value"` on every selector of a metric carrying the label."""

    label: str
    value: str
    threshold: float
    expr: str
    summary: str
    description: str
    action: str = ""
    graph: str = ""


@dataclass(frozen=True)
class CustomTest:
    """How the promtool scaffold drives an operator's alert (`alerts.NAME.test` in the override file).

    `silent` and `firing` are input series (selector -> a sample value held constant, or promtool's
    series notation such as `0+5x100`); empty when the entry gives no test: the scaffold then only
    checks that the rule loads and stays silent without its series."""

    silent: dict[str, str] = field(default_factory=dict)
    firing: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)   # the rule's own labels, checked on the alert


@dataclass(frozen=True)
class AlertDef:
    """A rendered alert: the final PromQL and texts every generator reads."""

    name: str
    source: str
    severity: str | None
    expr: str
    for_: str
    threshold: float | None
    comparison: str | None
    metric: str
    labels: list[str]
    summary: str
    description: str
    runbook: str
    runbook_url: str
    unit: str = ""
    enabled: bool = True
    meaning: str = ""
    checks: tuple[str, ...] = ()
    probe: Probe | None = field(default=None, repr=False, compare=False)
    # per-label thresholds; when present, `expr` is the default rule, which excludes their values
    by: tuple[LabelThreshold, ...] = ()
    action: str = ""             # what to do now (the `action` annotation; empty: none)
    graph: str = ""              # the `graph` annotation (JSON, Go template actions inside its strings)
    states: tuple[str, ...] | None = None
    context: tuple[Ctx, ...] = field(default=(), repr=False, compare=False)
    # the operator wrote a text (an override or an own alert): the tests cannot render it independently
    own_texts: bool = False
    custom: CustomTest | None = None   # an operator's own alert
    static_labels: dict[str, str] = field(default_factory=dict)   # the rule's `labels` besides severity/source
    runbook_text: str = ""       # an operator's runbook text for the page

    @property
    def by_label(self) -> str | None:
        """The label of the per-label thresholds (one label per alert), or None."""
        return self.by[0].label if self.by else None

    def threshold_for(self, label: str, value: str) -> float | None:
        """The threshold that applies to a series with `label=value`."""
        for b in self.by:
            if b.label == label and b.value == value:
                return b.threshold
        return self.threshold

    @property
    def for_seconds(self) -> float:
        return parse_duration(self.for_, f"alerts.{self.name}.for")


@dataclass(frozen=True)
class SeverityPolicy:
    """Alertmanager timing and channels for one severity (CONTRACT section 4)."""

    channels: list[str]
    group_wait: str
    group_interval: str
    repeat_interval: str
    # this severity's share of a chat's slots when severities contend for them (never a cap)
    share_per_minute: int
    # Telegram: sent without a sound (disable_notification); P2/P3 by default, P0/P1 loud
    quiet: bool = False
    # an unacknowledged firing alert is paged again this often (a Prometheus duration), or "never"
    remind_every: str = "never"


@dataclass(frozen=True)
class CatalogSettings:
    """Pipeline-wide knobs: scrape/evaluation timing, grouping and where runbooks live."""

    scrape_interval: str = "500ms"         # exporter (job d75): P0 in about a second
    evaluation_interval: str = "500ms"
    infra_scrape_interval: str = "5s"      # prometheus, alertmanager, receiver jobs
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    # public base URL of the receiver (links a phone can open); None: links stay local
    external_url: str | None = None
    group_by: tuple[str, ...] = ("alertname", *IDENTIFYING_LABELS)
    watchdog_repeat_interval: str = "1m"


@dataclass(frozen=True)
class Catalog:
    alerts: list[AlertDef]
    severity_policy: dict[str, SeverityPolicy]
    settings: CatalogSettings
    override_file: str | None = None
    # Telegram routes (chats, forum topics) as the receiver's channel map reads them (policy.telegram.routes)
    telegram_routes: tuple[dict, ...] = ()
    # who is on call (policy.oncall, canonical) and the recurring maintenance windows (policy.maintenance)
    oncall: dict[str, Any] | None = None
    maintenance: tuple[Window, ...] = ()
    # the built-in sources, then those an override file declares (`sources:`): one rule file each
    sources: tuple[str, ...] = SOURCES
    # what the operator should know about the override file (an own alert without a test, ...)
    notes: tuple[str, ...] = ()
    # escalation chains as the receiver's channel map reads them (policy.escalation)
    escalation: tuple[dict, ...] = ()

    @property
    def external_url(self) -> str | None:
        """`policy.external_url` without a trailing slash (the receiver's public base URL), or None."""
        return self.settings.external_url

    def get(self, name: str) -> AlertDef:
        for a in self.alerts:
            if a.name == name:
                return a
        raise KeyError(name)

    @property
    def enabled_alerts(self) -> list[AlertDef]:
        return [a for a in self.alerts if a.enabled]
