"""Per-label thresholds (`by:`): one rule per special value plus the default rule excluding them,
texts with the threshold that applied, promtool tests per value, runbooks and dashboard lines."""
from __future__ import annotations

import pytest
import yaml

from catalog import CatalogError, build_catalog, render_promtool_tests, render_rule_files, render_runbooks
from catalog.dashboards import build_dashboards
from catalog.dashboards.thresholds import legend_regex
from catalog.promql import add_matcher, eq_matcher, not_in_matcher

OV = {"alerts": {
    "ExchangeLatencyHigh": {"threshold": 0.5, "by": {"exchange": {"upbit": 1.5, "bithumb": 1.0}}},
    "ExchangeLatencyCritical": {"by": {"exchange": {"upbit": 1.0}}},
    "RouteScoreDrop": {"by": {"route": {"upbit-binance-BTC": 0.5, "a.b-c": 0.4}}},
    "SymbolExposureHigh": {"by": {"symbol": {"BTC": 0.7}}},
    "RateLimitLow": {"by": {"category": {"order": 0.3}}},
}}
CAT = build_catalog(OV)


def _rules(cat, name):
    out = []
    for text in render_rule_files(cat).values():
        out += [r for g in yaml.safe_load(text)["groups"] for r in g["rules"] if r["alert"] == name]
    return out


def test_one_rule_per_special_value_and_a_default_that_excludes_them():
    rules = _rules(CAT, "ExchangeLatencyHigh")
    assert [r["expr"] for r in rules] == [
        'd75_exchange_rest_latency_seconds{exchange!~"upbit|bithumb"} > 0.5',
        'd75_exchange_rest_latency_seconds{exchange="upbit"} > 1.5',
        'd75_exchange_rest_latency_seconds{exchange="bithumb"} > 1',
    ]
    # durations as Prometheus' humanizeDuration writes them (0.5 s is "500ms")
    assert ["over 500ms" in r["annotations"]["description"] for r in rules] == [True, False, False]
    assert "over 1.5s" in rules[1]["annotations"]["description"]
    assert "over 1s" in rules[2]["annotations"]["description"]
    assert {r["for"] for r in rules} == {"5m"} and len({r["annotations"]["runbook_url"] for r in rules}) == 1
    assert all(r["labels"] == {"severity": "P2", "source": "exchange_health"} for r in rules)
    a = CAT.get("ExchangeLatencyHigh")
    assert a.by_label == "exchange" and a.threshold_for("exchange", "upbit") == 1.5
    assert a.threshold_for("exchange", "binance") == 0.5


def test_the_matcher_goes_on_every_selector_carrying_the_label_and_values_are_escaped():
    drop = _rules(CAT, "RouteScoreDrop")
    assert drop[0]["expr"] == ('d75_route_score{route!~"upbit-binance-BTC|a\\\\.b-c"} / '
                               'max_over_time(d75_route_score{route!~"upbit-binance-BTC|a\\\\.b-c"}[1m]) < 0.7')
    assert drop[2]["expr"].startswith(
        'd75_route_score{route="a.b-c"} / max_over_time(d75_route_score{route="a.b-c"}[1m])'
    )
    exposure = _rules(CAT, "SymbolExposureHigh")
    assert exposure[1]["expr"] == ('d75_exposure_usd{symbol="BTC"} / on (job, instance) group_left () '
                                   'd75_capital_usd > 0.7')  # capital has no symbol label: untouched
    rl = _rules(CAT, "RateLimitLow")
    assert rl[1]["expr"] == 'd75_rate_limit_remaining_ratio{category="order"} < 0.3'


def test_add_matcher_leaves_strings_and_foreign_metrics_alone():
    expr = (
        'label_replace(d75_riskguard_state{tier="exchange"} == 3, "d75_exchange_health_status", "$1", "scope", "(.+)")'
    )
    out, n = add_matcher(expr, "scope", eq_matcher("scope", "upbit"))
    assert n == 1 and out.startswith('label_replace(d75_riskguard_state{tier="exchange", scope="upbit"} == 3, '
                                     '"d75_exchange_health_status"')
    assert add_matcher("up == 0", "exchange", eq_matcher("exchange", "x")) == ("up == 0", 0)
    assert not_in_matcher("route", ["a+b", "c|d"]) == 'route!~"a\\\\+b|c\\\\|d"'


@pytest.mark.parametrize(
    "alerts,key,words",
    [
        ({"ExchangeFrozen": {"by": {"exchange": {"upbit": 1}}}}, "alerts.ExchangeFrozen.by", "no adjustable threshold"),
        (
            {"GlobalDailyLoss": {"by": {"exchange": {"upbit": 1}}}},
            "alerts.GlobalDailyLoss.by.exchange",
            "it has no identifying labels",
        ),
        (
            {"ExchangeLatencyHigh": {"by": {"symbol": {"BTC": 1}}}},
            "alerts.ExchangeLatencyHigh.by.symbol",
            "unknown label",
        ),
        (
            {"ExchangeLatencyHigh": {"by": {"exchange": {"upbit": "slow"}}}},
            "alerts.ExchangeLatencyHigh.by.exchange.upbit",
            "not of type 'number'",
        ),
        (
            {"ExchangeLatencyHigh": {"by": {"exchange": {"upbit": -1}}}},
            "alerts.ExchangeLatencyHigh.by.exchange.upbit",
            "must not be negative",
        ),
        (
            {"ExchangeLatencyHigh": {"by": {"exchange": {}}}},
            "alerts.ExchangeLatencyHigh.by.exchange",
            "at least one value",
        ),
        (
            {"ExchangeLatencyHigh": {"by": {"exchange": {'up"bit': 1}}}},
            'alerts.ExchangeLatencyHigh.by.exchange.up"bit',
            "without quotes",
        ),
        (
            {"ExchangeLatencyHigh": {"by": {"exchange": [1]}}},
            "alerts.ExchangeLatencyHigh.by.exchange",
            "not of type 'object'",
        ),
    ],
)
def test_bad_per_label_thresholds_name_the_key(alerts, key, words):
    with pytest.raises(CatalogError) as e:
        build_catalog({"alerts": alerts})
    assert any(f"{key}:" in ln and words in ln for ln in e.value.errors), e.value.errors


def test_promtool_tests_cover_each_special_value_and_the_default():
    rules = render_rule_files(CAT)
    doc = yaml.safe_load(render_promtool_tests(CAT, rules)["d75-exchange-health_test.yml"])
    names = [t["name"] for t in doc["tests"] if t["name"].startswith("ExchangeLatencyHigh:")]
    for value in ("upbit", "bithumb"):
        assert sum(f"(exchange={value}, own threshold)" in n for n in names) == 3
        assert f"ExchangeLatencyHigh: {value} silent at its own threshold, other past the default" in names
        assert f"ExchangeLatencyHigh: {value} past its own threshold, other silent at the default" in names
    assert sum("(exchange=other, default threshold)" in n for n in names) == 3
    fires = next(t for t in doc["tests"] if t["name"] == "ExchangeLatencyHigh: fires at 1.6 after 5m "
                                                        "(exchange=upbit, own threshold)")
    assert 'exchange="upbit"' in fires["input_series"][0]["series"]
    exp = fires["alert_rule_test"][-1]["exp_alerts"][0]
    assert exp["exp_labels"]["exchange"] == "upbit" and "over 1.5s" in exp["exp_annotations"]["description"]


def test_runbook_lists_the_per_label_thresholds():
    page = render_runbooks(CAT)["webhook_receiver/runbook_pages/exchange-latency-high.md"]
    assert "**threshold**: > 0.5 (default)" in page
    assert "**threshold for exchange=upbit**: > 1.5" in page
    assert 'd75_exchange_rest_latency_seconds{exchange="bithumb"} > 1' in page


def test_dashboard_lines_follow_per_label_thresholds():
    panel = next(p for p in build_dashboards(CAT)["overview"]["panels"] if p["title"] == "REST latency")
    defaults = [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert defaults == [None, 0.3, 0.5, 2.0]
    by = {o["matcher"]["options"]: [s["value"] for s in o["properties"][0]["value"]["steps"]]
          for o in panel["fieldConfig"]["overrides"]}
    assert by == {"^upbit$": [None, 0.3, 1.0, 1.5], "^bithumb$": [None, 0.3, 1.0, 2.0]}
    assert all(o["matcher"]["id"] == "byRegexp" for o in panel["fieldConfig"]["overrides"])
    plain = next(p for p in build_dashboards(build_catalog())["overview"]["panels"] if p["title"] == "REST latency")
    assert plain["fieldConfig"]["overrides"] == []


def test_legend_regex():
    assert legend_regex("{{exchange}} {{category}}", "category", "order") == "^.* order$"
    assert legend_regex("spread bps {{route}}", "route", "a.b-c") == "^spread bps a\\.b-c$"
    assert legend_regex("total", "route", "x") is None
