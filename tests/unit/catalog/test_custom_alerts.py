"""The operator's own alerts and texts in the override file: generated like the built-in ones, errors by key."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from catalog import CatalogError, build_catalog, generated_files, load_catalog
from catalog.render_existing import fragment_doc, merge_fragment, our_route_matchers
from d76_cli.generate import command as generate

VAR = {
    "name": "VarLimitBreached", "expr": "my_bot_var_usd > {threshold}", "threshold": 50_000, "for": "1m",
    "severity": "P1", "source": "my_bot", "summary": "VaR over {threshold_text}",
    "description": "Value at risk of {label:desk} is {value}.", "action": "The bot halves position sizes.",
    "unit": "usd", "labels": {"team": "risk"}, "runbook": "The book may lose more than the limit today.",
    "test": {"series": 'my_bot_var_usd{desk="main"}', "silent_at": 50_000, "fires_at": 60_000},
}
OWN = {"sources": ["my_bot"], "alerts": [VAR, {"name": "ExchangeFrozen", "action": "Call {label:exchange}'s desk."}]}


def _files(overrides: dict) -> dict[str, str]:
    return generated_files(build_catalog(overrides, source="ov.yml"))


def _rules(files: dict[str, str], fname: str) -> list[dict]:
    return [r for g in yaml.safe_load(files[f"prometheus/rules/{fname}"])["groups"] for r in g["rules"]]


def test_an_own_alert_gets_everything_a_built_in_one_gets() -> None:
    files = _files(OWN)
    rule = _rules(files, "d75-my-bot.yml")[0]
    assert rule["alert"] == "VarLimitBreached" and rule["expr"] == "my_bot_var_usd > 50000" and rule["for"] == "1m"
    assert rule["labels"] == {"team": "risk", "severity": "P1", "source": "my_bot"}
    ann = rule["annotations"]
    assert ann["summary"] == "VaR over 50,000 USD" and ann["action"] == "The bot halves position sizes."
    assert ann["threshold"] == "50000" and "{{ $labels.desk }}" in ann["description"]
    assert json.loads(ann["graph"]) == [{"title": "VarLimitBreached", "expr": "my_bot_var_usd", "unit": "usd",
                                         "threshold": 50000.0, "states": None}]
    tests = yaml.safe_load(files["prometheus/tests/d75-my-bot_test.yml"])["tests"]
    assert [t["name"] for t in tests] == ["VarLimitBreached: loads, silent without its series",
                                          "VarLimitBreached: silent at test.silent_at",
                                          "VarLimitBreached: fires at test.fires_at after 1m"]
    fires = tests[2]
    assert fires["input_series"][0]["series"] == 'my_bot_var_usd{desk="main"}'
    assert fires["alert_rule_test"] == [{"eval_time": "45s", "alertname": "VarLimitBreached", "exp_alerts": []}]
    assert 'team="risk",severity="P1",source="my_bot"' in fires["promql_expr_test"][0]["expr"]
    page = files["webhook_receiver/runbook_pages/var-limit-breached.md"]
    assert "The book may lose more than the limit today." in page and "## What to do now" in page
    index = files["webhook_receiver/runbook_pages/README.md"]
    assert "[VarLimitBreached](var-limit-breached.md) | P1 | my_bot" in index
    board = json.loads(files["grafana/dashboards/d76-overview.json"])
    row = next(i for i, p in enumerate(board["panels"]) if p["type"] == "row")
    assert board["panels"][row]["title"] == "Your alerts (override file)"
    panel = board["panels"][row + 1]
    assert panel["title"] == "VarLimitBreached (P1)" and panel["targets"][0]["expr"] == "my_bot_var_usd"
    assert panel["fieldConfig"]["defaults"]["unit"] == "currencyUSD"
    assert [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, 50000.0]


def test_text_overrides_of_a_built_in_alert() -> None:
    cat = build_catalog(OWN)
    frozen = cat.get("ExchangeFrozen")
    assert frozen.action == "Call {{ $labels.exchange }}'s desk." and frozen.own_texts
    assert frozen.description.startswith("The health monitor froze")     # what was not overridden stays
    files = _files(OWN)
    tests = yaml.safe_load(files["prometheus/tests/d75-exchange-health_test.yml"])["tests"]
    fires = next(t for t in tests if t["name"].startswith("ExchangeFrozen: fires"))
    assert fires["alert_rule_test"][0]["exp_alerts"][0]["exp_annotations"]["action"] == "Call upbit's desk."
    # a text the test renderer cannot reproduce: the test checks the alert fires with its labels instead
    odd = build_catalog({"alerts": {"ExchangeFrozen": {"summary": "{{ $labels.exchange | sortByLabel }}"}}})
    odd_tests = yaml.safe_load(generated_files(odd)["prometheus/tests/d75-exchange-health_test.yml"])["tests"]
    odd_fires = next(t for t in odd_tests if t["name"].startswith("ExchangeFrozen: fires"))
    assert 'alertname="ExchangeFrozen",alertstate="firing"' in odd_fires["promql_expr_test"][0]["expr"]


def test_the_list_and_the_mapping_form_are_the_same() -> None:
    mapping = {"sources": ["my_bot"], "alerts": {"VarLimitBreached": {k: v for k, v in VAR.items() if k != "name"}}}
    assert _files(mapping) == _files({"sources": ["my_bot"], "alerts": [VAR]})


def test_a_comparison_with_a_number_is_the_threshold_and_no_test_is_a_note() -> None:
    cat = build_catalog({"alerts": [{"name": "OrdersStuck", "expr": "my_bot_open_orders >= 10", "severity": "P2",
                                     "source": "system", "summary": "Orders stuck", "description": "{value} open.",
                                     "action": "Cancel them."}]}, source="ov.yml")
    a = cat.get("OrdersStuck")
    assert a.threshold == 10 and a.comparison == ">=" and a.source == "system"
    assert cat.notes == ("ov.yml: alerts.OrdersStuck: no test: its promtool scaffold only checks that the rule "
                         "loads and stays silent without its series (add test: {series, silent_at, fires_at} to "
                         "check that it fires)",)
    other = build_catalog({"alerts": {"Odd": {"expr": "absent(my_bot_up)", "severity": "P3", "source": "system",
                                              "summary": "s", "description": "d", "action": "a"}}})
    assert json.loads(other.get("Odd").graph)[0]["expr"] == "ALERTS{alertname='Odd',alertstate='firing'}"
    tests = yaml.safe_load(generated_files(other)["prometheus/tests/d75-system_test.yml"])["tests"]
    assert not [t for t in tests if t["name"].startswith("Odd")]   # absent() fires without series by design


@pytest.mark.parametrize("overrides, key, words", [
    ({"alerts": {"Var": {"expr": "x > 1"}}}, "alerts.Var.action", "required for an alert of your own"),
    ({"alerts": {"Var": {**VAR, "source": "my_bott"}}, "sources": ["my_bot"]}, "alerts.Var.source",
     "did you mean my_bot"),
    ({"alerts": {"Var": {**VAR, "source": "nowhere"}}}, "alerts.Var.source", "declared in the top-level sources"),
    ({"alerts": {"Var": {**VAR, "expr": "d75_exchange_latency_seconds > 1", "source": "system"}}},
     "alerts.Var.expr", "unknown metric d75_exchange_latency_seconds"),
    ({"alerts": {"Var": {**VAR, "threshold": None, "source": "system"}}}, "alerts.Var.threshold",
     "not of type 'number'"),
    ({"alerts": {"Var": {**{k: v for k, v in VAR.items() if k != "threshold"}, "source": "system"}}},
     "alerts.Var.expr", "{threshold} but the alert has no threshold"),
    ({"alerts": {"Var": {**VAR, "labels": {"severity": "P0"}, "source": "system"}}}, "alerts.Var.labels.severity",
     "set by the catalog"),
    ({"alerts": {"Var": {**VAR, "unit": "dollars", "source": "system"}}}, "alerts.Var.unit", "is not one of"),
    ({"alerts": {"Var": {**VAR, "test": {"series": "x", "silent_at": {"a": 1}, "fires_at": 2}, "source": "system"}}},
     "alerts.Var.test.silent_at", "one value"),
    ({"alerts": {"Var": {**VAR, "test": {"fires_at": 2}, "source": "system"}}}, "alerts.Var.test",
     "'silent_at' is a required property"),
    ({"alerts": {"Var": {**VAR, "by": {"desk": {"a": 1}}, "source": "system"}}}, "alerts.Var.by", "built-in alerts"),
    ({"alerts": {"Bad-Name": {**VAR, "source": "system"}}}, "alerts.Bad-Name", "an alert name is"),
    ({"alerts": {"ExchangeFrozen": {"expr": "up == 0"}}}, "alerts.ExchangeFrozen.expr", "built-in alert"),
    ({"alerts": {"ExchangeFrozen": {"summary": "{threshold_text}"}}}, "alerts.ExchangeFrozen.summary",
     "no threshold"),
    ({"alerts": {"ExchangeFrozen": {"action": ""}}}, "alerts.ExchangeFrozen.action", "should be non-empty"),
    ({"alerts": {"ExchangeFrozn": {"action": "x"}}}, "alerts.ExchangeFrozn", "did you mean ExchangeFrozen"),
    ({"alerts": [{"expr": "x"}]}, "alerts[0].name", "needs a name"),
    ({"alerts": [VAR, VAR], "sources": ["my_bot"]}, "alerts[1].name", "is also alerts[0]"),
    ({"sources": ["My Bot"]}, "sources[0]", "lower-case name"),
])
def test_errors_name_their_key(overrides: dict, key: str, words: str) -> None:
    with pytest.raises(CatalogError) as e:
        build_catalog(overrides, source="ov.yml")
    assert any(f"ov.yml: {key}:" in line and words in line for line in e.value.errors), e.value.errors


def test_every_error_of_own_alerts_at_once() -> None:
    bad = {"alerts": {"A": {"expr": "x > {threshold}", "severity": "P9", "source": "nope", "summary": "s",
                            "description": "{limit:Nothing}", "action": "a"}}}
    with pytest.raises(CatalogError) as e:
        build_catalog(bad, source="ov.yml")
    keys = sorted(line.split(": ")[1] for line in e.value.errors)
    assert keys == ["alerts.A.description", "alerts.A.expr", "alerts.A.severity", "alerts.A.source"], e.value.errors


def test_for_existing_routes_and_merges_declared_sources() -> None:
    cat = build_catalog(OWN)
    ours = our_route_matchers(cat)
    assert ours[0].endswith('|system|pipeline|my_bot"')
    frag = fragment_doc(cat, receiver_url="http://r:9099", bearer_token_file=None)
    assert frag["route"]["matchers"] == ours
    foreign = {"route": {"receiver": "x"}, "receivers": [{"name": "x"}], "inhibit_rules": []}
    once = merge_fragment(foreign, frag)
    twice = merge_fragment(once, frag)   # merging again replaces what the first merge added
    assert twice["inhibit_rules"] == once["inhibit_rules"] and len(twice["route"]["routes"]) == 1


def test_cli_prints_the_notes_and_writes_the_own_rule_file(tmp_path: Path) -> None:
    ov = tmp_path / "ov.yml"
    ov.write_text(yaml.safe_dump({"alerts": {"OrdersStuck": {
        "expr": "my_bot_open_orders > 10", "severity": "P2", "source": "system", "summary": "Orders stuck",
        "description": "{value} open.", "action": "Cancel them."}}}))
    r = CliRunner().invoke(generate, ["--config", str(ov), "--root", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert "note: " in r.output and "alerts.OrdersStuck: no test" in r.output
    assert "OrdersStuck" in (tmp_path / "out/prometheus/rules/d75-system.yml").read_text()
    assert load_catalog(ov).get("OrdersStuck").custom is not None
