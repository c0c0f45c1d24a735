"""`d76 generate --for-existing`: the Alertmanager fragment and merging it into a foreign config."""
from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from catalog import CatalogError, build_catalog, load_catalog
from catalog.render_existing import (
    OUR_RECEIVERS,
    OUR_ROUTE_MATCHERS,
    fragment_doc,
    merge_fragment,
    render_existing_rule_files,
)
from d76_cli.generate import command as generate
from tests.support import paths

REPO = paths.REPO
FOREIGN = yaml.safe_load((REPO / "tests/fixtures/foreign/alertmanager.yml").read_text())
CAT = load_catalog()


def _fragment(cat=CAT):
    return fragment_doc(cat, receiver_url="http://10.1.2.3:9099", bearer_token_file="/etc/am/d76_token")


def test_fragment_is_our_full_config_as_a_subtree():
    frag = _fragment()
    ours = yaml.safe_load((REPO / "alertmanager/alertmanager.yml").read_text())
    route = frag["route"]
    assert route["matchers"] == OUR_ROUTE_MATCHERS and route["continue"] is False
    assert route["routes"] == ours["route"]["routes"]
    assert route["group_by"] == ours["route"]["group_by"] and route["receiver"] == "d76-p2"
    assert [r["name"] for r in frag["receivers"]] == OUR_RECEIVERS
    for r in frag["receivers"]:
        hook = r["webhook_configs"][0]
        assert hook["url"] == "http://10.1.2.3:9099/webhook/alertmanager"
        assert hook["http_config"]["authorization"]["credentials_file"] == "/etc/am/d76_token"
    assert len(frag["inhibit_rules"]) == len(ours["inhibit_rules"])
    for mine, theirs in zip(frag["inhibit_rules"], ours["inhibit_rules"]):
        assert mine["equal"] == theirs["equal"]
        assert mine["source_matchers"] == theirs["source_matchers"] + OUR_ROUTE_MATCHERS
        assert mine["target_matchers"] == theirs["target_matchers"] + OUR_ROUTE_MATCHERS


def test_merge_keeps_the_foreign_config_and_puts_our_subtree_first():
    merged = merge_fragment(FOREIGN, _fragment())
    assert merged["global"] == FOREIGN["global"]
    assert merged["route"]["receiver"] == "ops-default"
    assert merged["route"]["routes"][0] == _fragment()["route"]
    assert merged["route"]["routes"][1:] == FOREIGN["route"]["routes"]
    assert [r["name"] for r in merged["receivers"]] == [r["name"] for r in FOREIGN["receivers"]] + OUR_RECEIVERS
    assert merged["inhibit_rules"][0] == FOREIGN["inhibit_rules"][0]
    assert FOREIGN["route"]["routes"][0]["receiver"] == "ops-pager"  # the input is not modified


def test_merging_again_replaces_the_earlier_merge():
    once = merge_fragment(FOREIGN, _fragment())
    moved = _fragment(build_catalog({"policy": {"severities": {"P1": {"repeat_interval": "2h"}}}}))
    twice = merge_fragment(once, moved)
    assert len(twice["route"]["routes"]) == len(once["route"]["routes"])
    assert len(twice["receivers"]) == len(once["receivers"])
    assert len(twice["inhibit_rules"]) == len(once["inhibit_rules"])
    p1 = next(r for r in twice["route"]["routes"][0]["routes"] if r["receiver"] == "d76-p1")
    assert p1["repeat_interval"] == "2h"
    assert merge_fragment(once, _fragment()) == once


@pytest.mark.parametrize("foreign", [None, [], {"receivers": []}, {"route": {}, "receivers": {}}])
def test_merge_refuses_what_is_not_an_alertmanager_config(foreign):
    with pytest.raises(CatalogError):
        merge_fragment(foreign, _fragment())


def test_rule_files_for_an_existing_prometheus_set_the_group_interval():
    for text in render_existing_rule_files(CAT).values():
        for g in yaml.safe_load(text)["groups"]:
            assert g["interval"] == CAT.settings.evaluation_interval


def test_cli_writes_the_set_and_refuses_a_bad_merge_target(tmp_path):
    out = tmp_path / "d76"
    r = CliRunner().invoke(generate, ["--for-existing", str(out), "--receiver-url", "http://10.1.2.3:9099",
                                      "--token-file", "/etc/am/d76_token", "--bot-target", "10.1.2.4:9876"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (out / "rules").iterdir()) == sorted(render_existing_rule_files(CAT))
    scrape = yaml.safe_load((out / "prometheus-scrape.yml").read_text())
    assert scrape[0]["job_name"] == "d75" and scrape[0]["static_configs"][0]["targets"] == ["10.1.2.4:9876"]
    assert yaml.safe_load((out / "alertmanager-fragment.yml").read_text()) == _fragment()
    assert not (out / "alertmanager.merged.yml").exists()
    bad = tmp_path / "bad.yml"
    bad.write_text("receivers: []\n")
    r = CliRunner().invoke(generate, ["--for-existing", str(out), "--merge-with", str(bad)])
    assert r.exit_code == 2 and "no top-level `route`" in r.output
    r = CliRunner().invoke(generate, ["--merge-with", str(bad)])
    assert r.exit_code == 2 and "go with --for-existing" in r.output


def test_receiver_url_defaults_to_the_external_url(tmp_path):
    ov = tmp_path / "ov.yml"
    ov.write_text("policy: {external_url: 'https://alerts.example.com'}\n")
    r = CliRunner().invoke(generate, ["--config", str(ov), "--for-existing", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert "no --token-file" in r.output
    frag = yaml.safe_load((tmp_path / "out/alertmanager-fragment.yml").read_text())
    assert frag["receivers"][0]["webhook_configs"][0]["url"] == "https://alerts.example.com/webhook/alertmanager"
    assert "http_config" not in frag["receivers"][0]["webhook_configs"][0]
