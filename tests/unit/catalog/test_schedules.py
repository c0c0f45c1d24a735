"""`policy.oncall` and `policy.maintenance` in the override file: every problem reported at once naming
its key, carried into the receiver's channel map (read back the same), and the windows rendered into
alertmanager.yml (`time_intervals`, routes muted per severity) and the fragment for an existing
Alertmanager."""
from __future__ import annotations

import pytest
import yaml

from catalog import CatalogError, build_catalog, render_alertmanager_config, render_channel_map
from catalog.render_existing import fragment_doc, merge_fragment
from tests.support import paths
from webhook_receiver.notify.channel_map import parse_channel_map

POLICY = {
    "oncall": {
        "people": {"alice": {"telegram": "4242", "email": "alice@example.com"}, "bob": {"telegram": "@bob"}},
        "rotation": {"order": ["alice", "bob"], "handoff": "mon 09:00", "timezone": "Asia/Seoul", "length": "1w"},
        "overrides": [{"who": "bob", "from": "2026-12-24T00:00:00+09:00", "until": "2026-12-27T00:00:00+09:00"}],
    },
    "maintenance": [{"name": "upbit-weekly", "match": {"exchange": "upbit"}, "weekdays": ["thursday"],
                     "times": ["10:00-10:30"], "timezone": "Asia/Seoul"},
                    {"name": "night-p3", "match": {"severity": "P3"}, "times": ["00:00-06:00"]}],
}


def _am(cat) -> dict:
    return yaml.safe_load(render_alertmanager_config(cat, receiver_url="http://127.0.0.1:9099", bearer_token_file=None))


def test_the_channel_map_carries_both_and_reads_them_back() -> None:
    cat = build_catalog({"policy": POLICY})
    cmap = parse_channel_map(yaml.safe_load(render_channel_map(cat)))
    assert list(cmap.oncall.people) == ["alice", "bob"] and cmap.oncall.rotation is not None
    assert cmap.oncall.rotation.describe() == "alice → bob, handing over monday 09:00 Asia/Seoul, every 1w"
    assert [w.name for w in cmap.maintenance.windows] == ["upbit-weekly", "night-p3"]
    assert cmap.maintenance.windows[0].describe() == "thu 10:00-10:30 Asia/Seoul"
    plain = yaml.safe_load(render_channel_map(build_catalog()))
    assert "oncall" not in plain and "maintenance" not in plain  # unchanged without them


def test_windows_become_time_intervals_and_muted_child_routes_of_each_severity() -> None:
    doc = _am(build_catalog({"policy": POLICY}))
    assert [t["name"] for t in doc["time_intervals"]] == ["d76-upbit-weekly", "d76-night-p3"]
    routes = doc["route"]["routes"]
    assert routes[0]["receiver"] == "d76-watchdog" and "routes" not in routes[0]  # the heartbeat is never muted
    by_sev = {r["matchers"][0]: r for r in routes[1:5]}
    p0 = by_sev['severity="P0"']["routes"]
    assert p0 == [{"matchers": ['exchange="upbit"'], "mute_time_intervals": ["d76-upbit-weekly"]}]
    p3 = by_sev['severity="P3"']["routes"]
    assert p3 == [{"matchers": ['exchange="upbit"'], "mute_time_intervals": ["d76-upbit-weekly"],
                   "routes": [{"matchers": ['severity="P3"'],
                               "mute_time_intervals": ["d76-upbit-weekly", "d76-night-p3"]}]},
                  {"matchers": ['severity="P3"'], "mute_time_intervals": ["d76-night-p3"]}]
    # alerts without one of our severities (the root's receiver) are muted by the exchange window
    assert routes[5:] == [{"matchers": ['exchange="upbit"'], "mute_time_intervals": ["d76-upbit-weekly"]}]
    assert "time_intervals" not in _am(build_catalog())


def test_the_fragment_for_an_existing_alertmanager_carries_the_intervals() -> None:
    cat = build_catalog({"policy": POLICY})
    frag = fragment_doc(cat, receiver_url="http://10.1.2.3:9099", bearer_token_file=None)
    assert [t["name"] for t in frag["time_intervals"]] == ["d76-upbit-weekly", "d76-night-p3"]
    foreign = yaml.safe_load((paths.REPO / "tests/fixtures/foreign/alertmanager.yml").read_text())
    foreign["time_intervals"] = [{"name": "office-hours", "time_intervals": [{"weekdays": ["monday:friday"]}]},
                                 {"name": "d76-gone", "time_intervals": [{"weekdays": ["sunday"]}]}]
    merged = merge_fragment(foreign, frag)
    assert [t["name"] for t in merged["time_intervals"]] == ["office-hours", "d76-upbit-weekly", "d76-night-p3"]


def test_every_problem_at_once_each_naming_its_key() -> None:
    with pytest.raises(CatalogError) as err:
        build_catalog({"policy": {
            "oncall": {"people": {"alice": {"telegram": "al"}}, "rotation": {"order": ["zed"], "handoff": "9",
                                                                             "length": "1w"}, "pager": True},
            "maintenance": [{"name": "m", "match": {"exchang": "upbit"}, "times": ["10-11"]}, "oops"],
        }})
    assert err.value.errors == [
        "overrides: policy.maintenance[0].match.exchang: no alert carries the label 'exchang' (did you mean exchange?)",
        "overrides: policy.maintenance[0].times[0]: a range HH:MM-HH:MM like \"10:00-10:30\", got '10-11'",
        "overrides: policy.maintenance[1]: expected a mapping (name, match, weekdays, times, timezone), got str",
        "overrides: policy.oncall.pager: unknown key (allowed here: overrides, people, rotation)",
        "overrides: policy.oncall.people.alice.telegram: a Telegram user id (digits, like \"4242\") or an @username, "
        "got 'al'",
        "overrides: policy.oncall.rotation.handoff: a weekday and a time like \"mon 09:00\", or a time like "
        "\"09:00\", got '9'",
        "overrides: policy.oncall.rotation.order[0]: 'zed' is not in people (alice)",
    ]
    with pytest.raises(CatalogError) as err:
        build_catalog({"policy": {"oncall": [], "maintenance": {"name": "x"}}})
    assert err.value.errors == ["overrides: policy.maintenance: {'name': 'x'} is not of type 'array'",
                                "overrides: policy.oncall: [] is not of type 'object'"]
