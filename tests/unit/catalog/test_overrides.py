"""Operator overrides: good ones move expression and text together; bad ones name the key."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from catalog import CatalogError, build_catalog, load_catalog, render_alertmanager_config, render_channel_map
from d76_cli.generate import command as generate


def _write(tmp_path: Path, data) -> Path:
    p = tmp_path / "overrides.yml"
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


def test_threshold_override_changes_expression_and_texts(tmp_path):
    cat = load_catalog(_write(tmp_path, {"alerts": {"RateLimitLow": {"threshold": 0.3},
                                                    "ExchangeLatencyHigh": {"threshold": 0.8, "for": "2m"},
                                                    "GlobalDailyLoss": {"threshold": 75000}}}))
    rl = cat.get("RateLimitLow")
    assert rl.expr == "d75_rate_limit_remaining_ratio < 0.3" and rl.threshold == 0.3
    assert "below 30%" in rl.description
    lat = cat.get("ExchangeLatencyHigh")
    assert lat.expr.endswith("> 0.8") and lat.for_ == "2m" and "800ms for 2m" in lat.description
    gl = cat.get("GlobalDailyLoss")
    assert gl.expr.endswith("> 75000") and "75,000 USD" in gl.summary
    # untouched alerts keep their defaults
    assert load_catalog().get("RateLimitLow").expr.endswith("< 0.2")


def test_severity_override_and_disable(tmp_path):
    cat = build_catalog({"alerts": {"RouteScoreLow": {"severity": "P3"}, "DataDiskLow": {"enabled": False}}})
    assert cat.get("RouteScoreLow").severity == "P3"
    assert "DataDiskLow" not in {a.name for a in cat.enabled_alerts}


def test_policy_override_reaches_alertmanager_and_channel_map():
    cat = build_catalog({"policy": {"severities": {"P2": {"group_wait": "2s", "share_per_minute": 7},
                                                   "P3": {"channels": ["email", "slack"]}},
                                    "runbook_base_url": "https://wiki.example/runbooks"}})
    am = yaml.safe_load(render_alertmanager_config(cat, receiver_url="http://127.0.0.1:1", bearer_token_file=None))
    p2 = next(r for r in am["route"]["routes"] if r["receiver"] == "d76-p2")
    assert p2["group_wait"] == "2s"
    cmap = yaml.safe_load(render_channel_map(cat))
    assert cmap["severities"]["P2"]["share_per_minute"] == 7
    assert cmap["severities"]["P3"]["channels"] == ["email", "slack"]
    assert cat.get("RateLimitLow").runbook_url == "https://wiki.example/runbooks/rate-limit-low"
    from webhook_receiver.notify.channel_map import parse_channel_map

    assert parse_channel_map(cmap).share("P2") == 7  # the receiver reads what the catalog writes


def test_override_files_of_earlier_versions_still_load():
    cat = build_catalog({"policy": {"severities": {"P1": {"telegram_budget_per_minute": 9},
                                                   "P3": {"channels": ["email_digest"]}},
                                    "telegram_budget_total_per_minute": 12}})
    assert cat.severity_policy["P1"].share_per_minute == 9
    assert cat.severity_policy["P3"].channels == ["email"]


def test_channels_come_from_the_receivers_registry():
    from catalog import CHANNELS
    from webhook_receiver.notify.channels import channel_names

    assert CHANNELS == channel_names()
    with pytest.raises(CatalogError, match="pager"):
        build_catalog({"policy": {"severities": {"P1": {"channels": ["pager"]}}}})


@pytest.mark.parametrize(
    "data,key,words",
    [
        ({"alerts": {"ExchangeFrozn": {"for": "1m"}}}, "alerts.ExchangeFrozn", "did you mean ExchangeFrozen"),
        ({"alerts": {"ExchangeLatencyHigh": {"for": "-5m"}}}, "alerts.ExchangeLatencyHigh.for", "negative"),
        (
            {"alerts": {"ExchangeLatencyHigh": {"for": "5 minutes"}}},
            "alerts.ExchangeLatencyHigh.for",
            "not a Prometheus duration",
        ),
        ({"alerts": {"ExchangeFrozen": {"severity": "P7"}}}, "alerts.ExchangeFrozen.severity", "P0, P1, P2, P3"),
        (
            {"alerts": {"ExchangeFrozen": {"threshold": 2}}},
            "alerts.ExchangeFrozen.threshold",
            "no adjustable threshold",
        ),
        ({"alerts": {"RateLimitLow": {"threshold": 1.5}}}, "alerts.RateLimitLow.threshold", "between 0 and 1"),
        ({"alerts": {"RateLimitLow": {"threshold": "low"}}}, "alerts.RateLimitLow.threshold", "not of type 'number'"),
        ({"alerts": {"RateLimitLow": {"treshold": 0.1}}}, "alerts.RateLimitLow.treshold", "unknown key"),
        ({"alerts": {"Watchdog": {"severity": "P1"}}}, "alerts.Watchdog", "heartbeat"),
        (
            {"policy": {"severities": {"P1": {"repeat_interval": "-1h"}}}},
            "policy.severities.P1.repeat_interval",
            "negative",
        ),
        (
            {"policy": {"severities": {"P1": {"channels": ["pager"]}}}},
            "policy.severities.P1.channels.0",
            "is not one of",
        ),
        ({"polcy": {}}, "polcy", "unknown key"),
    ],
)
def test_invalid_overrides_name_the_key(tmp_path, data, key, words):
    with pytest.raises(CatalogError) as e:
        load_catalog(_write(tmp_path, data))
    msg = str(e.value)
    assert f"{key}:" in msg and words in msg, msg


def test_unreadable_and_malformed_override_files(tmp_path):
    with pytest.raises(CatalogError, match="cannot read override file"):
        load_catalog(tmp_path / "missing.yml")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(_write(tmp_path, "alerts: [unclosed"))
    with pytest.raises(CatalogError, match="expected a mapping"):
        load_catalog(_write(tmp_path, "- just\n- a list\n"))


def test_cli_reports_bad_override_with_exit_2(tmp_path):
    p = _write(tmp_path, {"alerts": {"ExchangeFrozen": {"severity": "P7"}}})
    r = CliRunner().invoke(generate, ["--config", str(p), "--root", str(tmp_path / "out")])
    assert r.exit_code == 2
    assert "alerts.ExchangeFrozen.severity" in r.output
    assert not (tmp_path / "out").exists()


# -- every error at once -----------------------------------------------------------------------------
SEVERAL = """\
alerts:
  ExchangeFrozn: {for: 1m}
  ExchangeLatencyHigh: {for: -5m, threshold: -1}
  ExchangeFrozen: {severity: P7, threshold: 2}
  RateLimitLow: {treshold: 0.1, by: {exchange: {upbit: 1.5}}}
  OrderbookStale: {by: {symbol: {BTC: 3}, exchange: {upbit: fast}}}
policy:
  external_url: ftp://alerts.example.com
  polcy: 1
  severities:
    P1: {repeat_interval: "-1h"}
"""


def test_every_override_error_is_reported_at_once(tmp_path):
    with pytest.raises(CatalogError) as e:
        load_catalog(_write(tmp_path, SEVERAL))
    lines = e.value.errors
    assert str(e.value) == "\n".join(lines)
    expected = [
        ("alerts.ExchangeFrozn:", "did you mean ExchangeFrozen"),
        ("alerts.ExchangeLatencyHigh.for:", "negative"),
        ("alerts.ExchangeLatencyHigh.threshold:", "must not be negative"),
        ("alerts.ExchangeFrozen.severity:", "P0, P1, P2, P3"),
        ("alerts.ExchangeFrozen.threshold:", "no adjustable threshold"),
        ("alerts.RateLimitLow.treshold:", "unknown key"),
        ("alerts.RateLimitLow.by.exchange.upbit:", "between 0 and 1"),
        ("alerts.OrderbookStale.by:", "one label per alert"),
        ("alerts.OrderbookStale.by.symbol:", "unknown label for OrderbookStale (its labels: exchange)"),
        ("alerts.OrderbookStale.by.exchange.upbit:", "not of type 'number'"),
        ("policy.external_url:", "http(s) base URL"),
        ("policy.polcy:", "unknown key"),
        ("policy.severities.P1.repeat_interval:", "negative"),
    ]
    for key, words in expected:
        hits = [ln for ln in lines if f": {key}" in ln and words in ln]
        assert len(hits) == 1, (key, words, lines)
    assert len(lines) == len(expected), lines
    assert all(ln.startswith(f"{tmp_path / 'overrides.yml'}: ") for ln in lines)


def test_cli_prints_every_error_on_its_own_line(tmp_path):
    r = CliRunner().invoke(generate, ["--config", str(_write(tmp_path, SEVERAL)), "--root", str(tmp_path / "out")])
    assert r.exit_code == 2
    errs = [ln for ln in r.output.splitlines() if ln.startswith("error: ")]
    assert len(errs) == 13 and any("policy.external_url" in ln for ln in errs)
    assert not (tmp_path / "out").exists()


# -- policy.external_url ---------------------------------------------------------------------------
def test_external_url_sets_the_runbook_base_and_is_exposed():
    cat = build_catalog({"policy": {"external_url": "https://alerts.example.com/d76/"}})
    assert cat.external_url == "https://alerts.example.com/d76"
    assert cat.get("OrderbookStale").runbook_url == "https://alerts.example.com/d76/runbooks/orderbook-stale"
    assert cat.get("Watchdog").runbook_url == "https://alerts.example.com/d76/runbooks/watchdog"
    # an explicit runbook_base_url (a wiki) wins
    wiki = build_catalog({"policy": {"external_url": "http://10.0.0.5:9099",
                                     "runbook_base_url": "https://wiki.example/rb/"}})
    assert wiki.external_url == "http://10.0.0.5:9099"
    assert wiki.get("OrderbookStale").runbook_url == "https://wiki.example/rb/orderbook-stale"
    assert load_catalog().external_url is None


@pytest.mark.parametrize("url", ["alerts.example.com", "ftp://x.example", "https://", "https://x.example/?a=1",
                                 "https://x.example/#top", "http://x .example"])
def test_external_url_must_be_an_http_base_url(url):
    with pytest.raises(CatalogError, match=r"policy\.external_url: an http\(s\) base URL"):
        build_catalog({"policy": {"external_url": url}})


def test_reminders_and_escalation_reach_the_receivers_channel_map():
    from webhook_receiver.notify.channel_map import parse_channel_map

    chain = {"severities": ["P0"], "match": {"exchange": "upbit"}, "steps": [
        {"after": "30s", "telegram": {"chat": "-1002", "mention": ["4242", "@alice"]}},
        {"after": "2m", "webhook": {"url": "https://sms.example.com/hook"}, "slack": True}]}
    cat = build_catalog({"policy": {"severities": {"P0": {"remind_every": "20s"}, "P2": {"remind_every": "1h"}},
                                    "escalation": [chain]}})
    doc = yaml.safe_load(render_channel_map(cat))
    assert [doc["severities"][s]["remind_every"] for s in ("P0", "P1", "P2", "P3")] == ["20s", "30m", "1h", "never"]
    assert doc["escalation"] == [chain]
    cmap = parse_channel_map(doc)  # the receiver reads what the catalog writes
    assert cmap.remind_every == {"P0": 20.0, "P1": 1800.0, "P2": 3600.0}
    assert cmap.escalation.chains[0].steps[0].telegram.mentions == ("4242", "@alice")
    default = yaml.safe_load(render_channel_map(load_catalog()))
    assert default["escalation"] == [] and default["severities"]["P0"]["remind_every"] == "5m"


def test_bad_reminders_and_escalation_are_reported_with_the_rest(tmp_path):
    with pytest.raises(CatalogError) as e:
        load_catalog(_write(tmp_path, {"alerts": {"ExchangeFrozen": {"severity": "P7"}}, "policy": {
            "severities": {"P0": {"remind_every": "2s"}, "P1": {"remind_every": 30}},
            "escalation": [{"match": {"exchnage": "upbit"}, "steps": [{"after": "10m", "telegram": True}]},
                           {"steps": [{"after": "later", "webhook": {"url": "nope"}}]}]}}))
    lines = e.value.errors
    for key in ("alerts.ExchangeFrozen.severity:", "policy.severities.P0.remind_every: at least 5s",
                "policy.severities.P1.remind_every:", "policy.escalation[1].steps[0].after:",
                "policy.escalation[1].steps[0].webhook.url:"):
        assert any(f": {key}" in ln for ln in lines), (key, lines)
    ok = {"steps": [{"after": "10m", "telegram": True}]}
    with pytest.raises(CatalogError, match=r"policy.escalation\[1\].match.exchnage: no alert carries the label "
                                           r"'exchnage' \(did you mean exchange\?\)"):
        build_catalog({"policy": {"escalation": [ok, {"match": {"exchnage": "upbit"}, **ok}]}})
