"""Texts in words and units, the action line, the context asked at fire time and the graph annotation.

The Go template interpreter (`catalog.gotemplate`) renders what the generated promtool tests expect;
promtool then checks it against Prometheus' own rendering (tests/integration/catalog). Here: the
interpreter against Prometheus' documented outputs, its robustness, and what every built-in alert
carries.
"""
from __future__ import annotations

import json
import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog import load_catalog, render_promtool_tests, render_rule_files
from catalog.gotemplate import Sample, TemplateError, humanize_duration, humanize_percentage, render
from catalog.render_promtool_tests import render_go_template
from catalog.texts import GRAPH_UNITS, HEALTH_STATES, format_value, static_value, value_template
from vocabulary import PIPELINE_SOURCE

CATALOG = load_catalog()


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (0.12, "120ms"), (2.5, "2.5s"), (59.99, "59.99s"), (200, "3m 20s"), (3600, "1h 0m 0s"),
    (90061, "1d 1h 1m 1s"), (-200, "-3m 20s"), (0.000_5, "500us"),
])
def test_humanize_duration_as_prometheus_writes_it(seconds: float, text: str) -> None:
    assert humanize_duration(seconds) == text


def test_values_in_words_and_units() -> None:
    assert humanize_percentage(0.12) == "12%" and humanize_percentage(0.125) == "12.5%"
    assert render(value_template("usd"), {}, 55_000.0) == "55,000 USD"
    assert render(value_template("usd"), {}, -1_234_567.4) == "-1,234,567 USD"
    assert render(value_template("seconds"), {}, 200.0) == "3m 20s"
    assert render(value_template("ratio"), {}, 0.12) == "12%"
    assert render(value_template("status", HEALTH_STATES), {}, 3.0) == "FROZEN"
    assert render(value_template("status", HEALTH_STATES), {}, 7.0) == "7"       # unknown: the number
    assert static_value(10_000, "usd") == "10,000 USD" and static_value(0.2, "ratio") == "20%"
    assert static_value(0.5, "seconds") == "500ms"


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(10**17), max_value=10**17))
def test_usd_separators_match_python(x: int) -> None:
    """The reReplaceAll chain (no arithmetic in Go templates) puts the commas where Python does."""
    v = float(x)   # the value Prometheus has: a float64
    assert render(format_value("$value", "usd"), {}, v) == f"{v:,.0f} USD" == static_value(v, "usd")


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-1e7, max_value=1e7, allow_nan=False))
def test_durations_of_thresholds_and_values_agree(x: float) -> None:
    assert render(format_value("$value", "seconds"), {}, x) == static_value(x, "seconds")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}$.| ()\"`abcdefqiwthnlrvu0123456789-:=,")), max_size=60))
def test_the_interpreter_renders_or_refuses_clearly(text: str) -> None:
    """Any input either renders or raises TemplateError: never another exception."""
    try:
        out = render(text, {"exchange": "upbit"}, 1.5, {}, strict=False)
    except TemplateError:
        return
    assert isinstance(out, str)


def test_control_structures_variables_and_queries() -> None:
    q = {'lat{exchange="upbit"}': [Sample({"exchange": "upbit"}, 2.5)], "none": []}
    text = ('{{ with printf "lat{exchange=%q}" $labels.exchange | query }}{{ . | first | value | humanizeDuration }}'
            '{{ else }}?{{ end }}|{{ with query "none" }}x{{ else }}nothing{{ end }}|'
            '{{ $s := $value }}{{ if eq $s 1.0 }}one{{ else if eq $s 1.5 }}one and a half{{ else }}?{{ end }}|'
            '{{ range query `lat{exchange="upbit"}` }}{{ .Labels.exchange }}={{ .Value }}{{ end }}|'
            '{{ $labels.missing }}|{{ "x" | toUpper }}|{{ 12345.0 | humanize }}')
    assert render(text, {"exchange": "upbit"}, 1.5, q) == "2.5s|nothing|one and a half|upbit=2.5||X|12.35k"
    with pytest.raises(TemplateError, match="no expected result"):
        render('{{ query "unknown" }}', {}, 1.0, q)
    with pytest.raises(TemplateError, match="not supported"):
        render("{{ $value | sortByLabel }}", {}, 1.0)
    with pytest.raises(TemplateError, match="incompatible types"):
        render("{{ if eq $value 3 }}x{{ end }}", {}, 3.0)   # Go: a float64 never equals an int constant


# -- what every built-in alert carries -------------------------------------------------------------------
def _firing_annotations() -> dict[str, list[dict[str, str]]]:
    """alertname -> the annotations its generated promtool tests expect when it fires."""
    rules = render_rule_files(CATALOG)
    out: dict[str, list[dict[str, str]]] = {}
    for text in render_promtool_tests(CATALOG, rules).values():
        for test in yaml.safe_load(text)["tests"]:
            for check in test.get("alert_rule_test", []):
                for alert in check["exp_alerts"]:
                    out.setdefault(check["alertname"], []).append(alert["exp_annotations"])
    return out


FIRING = _firing_annotations()


def test_every_alert_but_the_watchdog_says_what_to_do() -> None:
    for a in CATALOG.alerts:
        if a.name == "Watchdog":
            assert not a.action
            continue
        assert a.action.strip() and "\n" not in a.action, a.name
        for ann in FIRING[a.name]:
            assert ann["action"].strip() and "{{" not in ann["action"], a.name


def test_texts_name_alerts_by_identifying_labels_only() -> None:
    for a in CATALOG.alerts:
        if a.name == "ExporterDown":     # two bots' exporters are told apart by instance
            assert "$labels.instance" in a.summary
            continue
        if a.source == PIPELINE_SOURCE and "instance" in a.labels:
            continue                     # which receiver, Alertmanager or Prometheus: told apart by instance
        for text in (a.summary, a.action):
            assert "$labels.instance" not in text and "$labels.job" not in text, a.name


def test_graph_annotations_follow_the_contract() -> None:
    for a in CATALOG.alerts:
        if a.name == "Watchdog":
            continue
        for ann in FIRING[a.name]:
            entries = json.loads(ann["graph"])
            assert entries and isinstance(entries, list), a.name
            for e in entries:
                assert set(e) == {"title", "expr", "unit", "threshold", "states"}, a.name
                assert e["unit"] in {"", *GRAPH_UNITS.values()} and e["expr"] and e["title"], a.name
                assert e["threshold"] is None or isinstance(e["threshold"], (int, float)), a.name
                assert e["states"] is None or all(k.isdigit() for k in e["states"]), a.name
                assert "{{" not in e["expr"] and "<no value>" not in e["expr"], a.name


def test_frozen_page_has_words_context_and_the_series_that_explain_it() -> None:
    ann = next(x for x in FIRING["ExchangeFrozen"] if "orderbook age" in x["description"])
    assert ann["summary"] == "upbit is FROZEN" and ann["value"] == "FROZEN"
    assert ann["description"].endswith(
        "Now: status FROZEN · REST latency 2.5s · error ratio 12% · orderbook age 3m 20s")
    assert ann["action"].startswith("The bot halted trading on upbit.")
    graph = json.loads(ann["graph"])
    assert [g["title"] for g in graph] == ["upbit orderbook age", "upbit REST latency", "upbit health"]
    assert [g["threshold"] for g in graph] == [10, 2.0, None]   # OrderbookStale's and ExchangeLatencyCritical's
    assert graph[2]["states"] == {"0": "HEALTHY", "1": "DEGRADED", "2": "DOWN", "3": "FROZEN"}


def test_context_degrades_to_the_value_alone() -> None:
    sustained = FIRING["ExchangeDownSustained"][0]      # its test feeds no latency, errors or orderbook
    assert sustained["description"].endswith("\nNow: status DOWN")


def test_risk_alerts_show_the_limit_and_the_value_in_words() -> None:
    block = FIRING["RiskGuardExchangeBlock"][0]
    assert block["summary"] == "Risk guard BLOCK (exchange upbit)" and block["value"] == "BLOCK"
    assert "Now: state BLOCK · daily loss 12,000 USD (limit 10,000 USD) · exchange DEGRADED · lowest rate-limit " \
           "bucket 15% (limit 20%)" in block["description"]
    assert FIRING["GlobalDailyLoss"][0]["description"].endswith("Now: loss 60,000 USD")
    assert "Now: bucket left 19% · tokens left 228/1200" in FIRING["RateLimitLow"][0]["description"]


def test_guard_states_alert_at_their_tiers_severity() -> None:
    sev = {a.name: a.severity for a in CATALOG.alerts if a.name.startswith("RiskGuard")}
    assert sev == {
        "RiskGuardGlobalBlock": "P0", "RiskGuardGlobalDegrade": "P1", "RiskGuardGlobalCooldown": "P1",
        "RiskGuardExchangeBlock": "P1", "RiskGuardExchangeDegrade": "P2", "RiskGuardExchangeCooldown": "P2",
        "RiskGuardRouteBlock": "P2", "RiskGuardRouteDegrade": "P2", "RiskGuardRouteCooldown": "P2",
        "RiskGuardSymbolBlock": "P2", "RiskGuardSymbolDegrade": "P2", "RiskGuardSymbolCooldown": "P2",
    }
    assert CATALOG.get("RiskGuardExchangeDegrade").expr == \
        'label_replace(d75_riskguard_state{tier="exchange"} == 1, "exchange", "$1", "scope", "(.+)")'
    cooldown = FIRING["RiskGuardRouteCooldown"][0]["description"]   # hundreds of routes: limits, no queries
    assert "Its limits: a loss streak of 3, a score under 50, a spread over 500 bps." in cooldown
    assert cooldown.endswith("\nNow: state COOLDOWN")


def test_a_test_rendering_refuses_what_it_cannot_reproduce() -> None:
    from catalog import CatalogError

    with pytest.raises(CatalogError, match="not supported by the test renderer"):
        render_go_template("{{ $value | sortByLabel }}", {}, 1.0)
    assert math.isclose(float(render_go_template("{{ $value }}", {}, 0.25)), 0.25)
