"""Every inhibition pair the catalog implies, checked in a real Alertmanager, in one batch.

The cases are generated from the catalog, not listed by hand:
  * exchange P0: every P0 alert carrying `exchange` against every other alert carrying it; on
    exchange X the lower-severity one is suppressed, the same alert on exchange Z is not, and a P0
    never hides another P0 (except FROZEN over DOWN, below);
  * FROZEN over DOWN/DEGRADED: found by their expressions (`d75_exchange_health_status == 3` over
    `== 2` / `== 1`), whatever their severity;
  * global BLOCK: the global tier's BLOCK over every other guard alert (every tier's BLOCK, DEGRADE and
    COOLDOWN, its own DEGRADE/COOLDOWN) of the same bot (job, instance), not over another bot's;
  * a guard tier's BLOCK over the DEGRADE and COOLDOWN of the same scope (tier, scope, bot), not over
    another scope's or another bot's;
  * exporter down: ExporterDown over every other alert of that target, not another target's.
The expectations come from CONTRACT section 4 as written here (`_hides`), not from the generated
`inhibit_rules`, so a rule that is missing, too broad or unscoped fails.

Each case gets its own exchange names and instances, so all cases share one Alertmanager; the
whole set runs against our generated config and against a foreign config with our fragment merged
in (the inhibitions there are scoped to our alerts).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import yaml

from catalog import AlertDef, load_catalog, render_alertmanager_config
from catalog.render_existing import render_merged
from local_stack.processes import free_port
from tests.support import paths

REPO = paths.REPO
CATALOG = load_catalog()
LOWER = ("P1", "P2", "P3")
Labels = frozenset  # frozenset of (name, value)


def _status_value(a: AlertDef) -> int | None:
    expr = a.expr.replace(" ", "")
    for v in (1, 2, 3):
        if expr == f"d75_exchange_health_status=={v}":
            return v
    return None


def _guard_state(a: AlertDef) -> tuple[str, int] | None:
    """(tier, state) of a risk guard alert: 1 DEGRADE, 2 COOLDOWN, 3 BLOCK."""
    if a.probe is not None and a.metric == "d75_riskguard_state" and a.comparison == "==":
        for v in (1, 2, 3):
            if f"== {v}" in a.expr:
                return a.probe.exp_labels["tier"], v
    return None


def _guard_tier(a: AlertDef) -> str | None:
    state = _guard_state(a)
    return state[0] if state and state[1] == 3 else None


ALERTS = [a for a in CATALOG.enabled_alerts if a.probe is not None]  # Watchdog has no series
PER_EXCHANGE = [a for a in ALERTS if "exchange" in a.labels]
FROZEN = {a.name for a in ALERTS if _status_value(a) == 3}
DOWN_OR_DEGRADED = {a.name for a in ALERTS if _status_value(a) in (1, 2)}
GLOBAL_BLOCK = [a for a in ALERTS if _guard_tier(a) == "global"]
LOWER_BLOCKS = [a for a in ALERTS if _guard_tier(a) not in (None, "global")]
BLOCKS = [a for a in ALERTS if _guard_tier(a) is not None]
EARLY = [a for a in ALERTS if (_guard_state(a) or ("", 0))[1] in (1, 2)]   # DEGRADE, COOLDOWN
EXPORTER_DOWN = [a for a in ALERTS if a.expr.replace(" ", "") == 'up{job="d75"}==0']


def _hides(src: dict[str, str], tgt: dict[str, str]) -> bool:
    """CONTRACT section 4, independently of the generated rules."""
    same = lambda *names: all(src.get(n) and src.get(n) == tgt.get(n) for n in names)  # noqa: E731
    if src["severity"] == "P0" and tgt["severity"] in LOWER and same("exchange"):
        return True
    if src["alertname"] in FROZEN and tgt["alertname"] in DOWN_OR_DEGRADED and same("exchange"):
        return True
    guard_alerts = {a.name for a in LOWER_BLOCKS + EARLY}
    if src["alertname"] in {a.name for a in GLOBAL_BLOCK} and tgt["alertname"] in guard_alerts \
            and same("job", "instance"):
        return True
    if src["alertname"] in {a.name for a in BLOCKS} and tgt["alertname"] in {a.name for a in EARLY} \
            and same("tier", "scope", "job", "instance"):
        return True
    if src["alertname"] in {a.name for a in EXPORTER_DOWN} and tgt["alertname"] != src["alertname"] \
            and same("job", "instance"):
        return True
    return False


def _labels(a: AlertDef, exchange: str, instance: str, scope: str | None = None) -> dict[str, str]:
    """The labels Prometheus would put on `a`: its probe's series labels, moved to `exchange`/`instance`
    (and a guard alert to `scope`, for the tiers whose scope is not an exchange)."""
    assert a.probe is not None
    base = dict(a.probe.exp_labels)
    old_ex = base.get("exchange")
    out = {k: (exchange if old_ex is not None and v == old_ex else v) for k, v in base.items()}
    if scope is not None and "exchange" not in out:
        out["scope"] = scope
    out.update({"alertname": a.name, "severity": a.severity or "none", "source": a.source,
                "job": "d75", "instance": instance})
    return out


@dataclass
class Case:
    what: str
    alerts: list[dict[str, str]] = field(default_factory=list)

    def expected(self) -> dict[Labels, str]:
        return {Labels(t.items()): "suppressed" if any(_hides(s, t) for s in self.alerts if s is not t) else "active"
                for t in self.alerts}


def generate_cases() -> list[Case]:
    cases: list[Case] = []

    def new(what: str, *placed: tuple[AlertDef, str, str]) -> None:
        k = len(cases)
        cases.append(Case(what, [_labels(a, f"{side}{k}", f"c{k}-{side}:9876") if ex else
                                 _labels(a, f"x{k}", f"c{k}-{side}:9876")
                                 for a, side, ex in placed]))

    for s in PER_EXCHANGE:
        if s.severity != "P0":
            continue
        for t in PER_EXCHANGE:
            if t.name != s.name:  # on X with the P0, on Z without (same instance: only the exchange differs)
                new(f"{s.name}(X) vs {t.name}", (s, "x", "ex"), (t, "x", "ex"), (t, "z", "ex"))
    for f in FROZEN:
        for t in DOWN_OR_DEGRADED:
            fa, ta = CATALOG.get(f), CATALOG.get(t)
            new(f"{f}(X) vs {t}", (fa, "x", "ex"), (ta, "x", "ex"), (ta, "z", "ex"))
    for g in GLOBAL_BLOCK:  # same bot vs another bot (instance), same exchange names
        for t in LOWER_BLOCKS + EARLY:
            new(f"{g.name}(bot a) vs {t.name}", (g, "a", ""), (t, "a", ""), (t, "b", ""))
    for b in BLOCKS:  # the same scope of the same bot vs another scope, and vs another bot
        for t in EARLY:
            if _guard_state(t)[0] != _guard_state(b)[0]:  # type: ignore[index]
                continue
            k = len(cases)
            placed = [(b, f"s{k}", "a"), (t, f"s{k}", "a"), (t, f"o{k}", "a"), (t, f"s{k}", "b")]
            cases.append(Case(f"{b.name}(scope s, bot a) vs {t.name}",
                              [_labels(a, scope, f"c{k}-{bot}:9876", scope) for a, scope, bot in placed]))
    for e in EXPORTER_DOWN:
        for t in ALERTS:
            if t.name != e.name:
                new(f"{e.name}(target a) vs {t.name}", (e, "a", ""), (t, "a", ""), (t, "b", ""))
    return cases


CASES = generate_cases()


def test_the_generated_cases_cover_the_policy():
    """The generator found what CONTRACT section 4 talks about (so an empty set cannot pass)."""
    assert len(FROZEN) == 1 and DOWN_OR_DEGRADED >= {"ExchangeDown", "ExchangeDownSustained", "ExchangeDegraded"}
    assert {a.name for a in GLOBAL_BLOCK} == {"RiskGuardGlobalBlock"} and len(LOWER_BLOCKS) == 3
    assert len(EARLY) == 8 and {_guard_state(a)[1] for a in EARLY} == {1, 2}  # type: ignore[index]
    assert "RiskGuardExchangeBlock" in {a.name for a in PER_EXCHANGE}
    expected = [st for c in CASES for st in c.expected().values()]
    assert expected.count("suppressed") >= 70 and expected.count("active") >= 150
    # the case: with upbit FROZEN, the exchange tier's BLOCK of upbit is hidden
    frozen_vs_guard = next(c for c in CASES if c.what == "ExchangeFrozen(X) vs RiskGuardExchangeBlock")
    states = {dict(k)["exchange"]: v for k, v in frozen_vs_guard.expected().items()
              if dict(k)["alertname"] == "RiskGuardExchangeBlock"}
    assert sorted(states.values()) == ["active", "suppressed"]


def _foreign_merged(tmp: Path, receiver_url: str) -> str:
    return render_merged(CATALOG, (REPO / "tests/fixtures/foreign/alertmanager.yml").read_text(), "foreign.yml",
                         receiver_url=receiver_url, bearer_token_file=None)


@pytest.mark.parametrize("config", ["generated", "merged-into-foreign"])
def test_every_inhibition_pair_in_a_real_alertmanager(alertmanager_factory, tmp_path, config):
    nowhere = f"http://127.0.0.1:{free_port()}"  # notifications fail quietly; states are what we check
    text = (render_alertmanager_config(CATALOG, receiver_url=nowhere, bearer_token_file=None)
            if config == "generated" else _foreign_merged(tmp_path, nowhere))
    cfg = tmp_path / "alertmanager.yml"
    cfg.write_text(text)
    _, am = alertmanager_factory(cfg)

    now = datetime.now(UTC).isoformat()
    batch = [{"labels": labels, "startsAt": now} for c in CASES for labels in c.alerts]
    expected: dict[Labels, tuple[str, str]] = {}
    for c in CASES:
        for key, state in c.expected().items():
            assert key not in expected, f"label set used twice: {dict(key)}"
            expected[key] = (state, c.what)
    r = requests.post(f"{am}/api/v2/alerts", json=batch, timeout=30)
    assert r.status_code == 200, r.text

    deadline = time.monotonic() + 20
    wrong: list[str] = []
    while True:
        got = {Labels(a["labels"].items()): a["status"]["state"]
               for a in requests.get(f"{am}/api/v2/alerts", timeout=30).json()}
        wrong = [f"{what}: {dict(key)} is {got.get(key, 'missing')}, expected {state}"
                 for key, (state, what) in expected.items() if got.get(key) != state]
        if not wrong or time.monotonic() > deadline:
            break
        time.sleep(0.5)  # the inhibitor indexes new source alerts asynchronously
    assert not wrong, f"{len(wrong)} of {len(expected)} alerts in the wrong state:\n" + "\n".join(wrong[:40])
    print(f"{config}: {len(CASES)} cases, {len(expected)} alerts, "
          f"{sum(s == 'suppressed' for s, _ in expected.values())} suppressed")


def test_yaml_of_the_merged_config_keeps_the_foreign_inhibition(tmp_path):
    merged = yaml.safe_load(_foreign_merged(tmp_path, "http://127.0.0.1:1"))
    assert merged["inhibit_rules"][0]["source_matchers"] == ['severity="critical"']
