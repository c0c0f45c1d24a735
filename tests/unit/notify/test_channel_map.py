"""Routing to chats and forum topics: the channel map's routes (from the catalog), their validation
(every error names its key), the rows the planner queues, and packing that never mixes topics."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from catalog import CatalogError
from catalog.build import build_catalog
from catalog.render_alertmanager import render_channel_map
from tests.support.notify_doubles import RecordingOutbox
from webhook_receiver.notify.channel_map import DEFAULT_CHANNEL_MAP, Destination, parse_channel_map
from webhook_receiver.notify.channels.base import ChannelLimits
from webhook_receiver.notify.channels.telegram import ConsoleTelegram, TelegramChannel
from webhook_receiver.notify.model import AlertView
from webhook_receiver.notify.pacing import Shares
from webhook_receiver.notify.planner import NotifyPlanner
from webhook_receiver.notify.scheduling import Item, plan_slot
from webhook_receiver.store.changes import AlertChange

ONCALL, MAIN = "-1002000000001", "-1001"
ROUTES = [
    {"severities": ["P0"], "chat": ONCALL},
    {"severities": ["P1", "P2"], "topic_label": "exchange", "topics": {"upbit": 11, "binance": 12}, "thread": 10},
]


def cmap(routes=ROUTES, **sev_extra):
    sev = {
        s: {"channels": ["telegram"], "share_per_minute": 5, **sev_extra.get(s, {})} for s in ("P0", "P1", "P2", "P3")
    }
    return parse_channel_map({"severities": sev, "telegram": {"routes": routes}}, "test")


def test_routes_pick_chats_topics_and_quietness() -> None:
    m = cmap()
    assert m.telegram_destinations("P0", {"exchange": "upbit"}, MAIN) == [Destination(ONCALL, None, False)]
    assert m.telegram_destinations("P1", {"exchange": "upbit"}, MAIN) == [Destination(MAIN, 11, False)]
    assert m.telegram_destinations("P2", {"exchange": "binance"}, MAIN) == [Destination(MAIN, 12, True)]
    assert m.telegram_destinations("P1", {"exchange": "kraken"}, MAIN) == [Destination(MAIN, 10, False)]
    assert m.telegram_destinations("P1", {"route": "a-b-BTC"}, MAIN) == [Destination(MAIN, 10, False)]
    assert m.telegram_destinations("P3", {}, MAIN) == [Destination(MAIN, None, True)]  # no route: default chat
    assert m.telegram_chats(MAIN) == (MAIN, ONCALL)
    loud_p2 = cmap(P2={"quiet": False})
    assert loud_p2.telegram_destinations("P2", {"exchange": "upbit"}, MAIN)[0].quiet is False


def test_continue_sends_to_several_chats_once_each() -> None:
    m = cmap([{"severities": ["P0"], "chat": ONCALL, "continue": True},
              {"match": {"exchange": "upbit"}, "chat": ONCALL, "thread": 5, "continue": True},
              {"quiet": True}])
    assert m.telegram_destinations("P0", {"exchange": "upbit"}, MAIN) == [
        Destination(ONCALL, None, False), Destination(MAIN, None, True)]


def test_default_map_routes_everything_to_the_default_chat() -> None:
    assert DEFAULT_CHANNEL_MAP.telegram_destinations("P2", {"exchange": "x"}, MAIN) == [Destination(MAIN, None, True)]
    assert DEFAULT_CHANNEL_MAP.telegram_destinations("P0", {}, MAIN) == [Destination(MAIN, None, False)]


@pytest.mark.parametrize(
    "routes, key",
    [
        (
            [{"severities": ["P1"], "topic_label": "exchange", "topics": {"upbit": "eleven"}}],
            "telegram.routes[0].topics.upbit",
        ),
        ([{}, {"topics": {"upbit": 11}}], "telegram.routes[1].topics: needs topic_label"),
        ([{"topic_label": "exchange"}], "telegram.routes[0].topic_label: needs topics"),
        ([{"chat": "my group"}], "telegram.routes[0].chat"),
        ([{"severities": ["P5"]}], "telegram.routes[0].severities"),
        ([{"thread": 0}], "telegram.routes[0].thread"),
        ([{"thread": True}], "telegram.routes[0].thread"),
        ([{"topic": 3}], "telegram.routes[0].topic: unknown key"),
        ([{"match": {"exchange": 3}}], "telegram.routes[0].match.exchange"),
        ([{"quiet": "yes"}], "telegram.routes[0].quiet"),
        ({"severities": ["P0"]}, "telegram.routes: expected a list"),
    ],
)
def test_bad_routes_are_refused_naming_the_key(routes, key) -> None:
    with pytest.raises(ValueError) as info:
        cmap(routes)
    assert key in str(info.value) and str(info.value).startswith("test: ")


def test_unknown_top_level_and_quiet_types_are_refused() -> None:
    with pytest.raises(ValueError, match="routing: unknown key"):
        parse_channel_map({"severities": {}, "routing": {}}, "m")
    with pytest.raises(ValueError, match="severities.P2.quiet"):
        parse_channel_map({"severities": {"P2": {"channels": [], "quiet": "no"}}}, "m")


def test_catalog_routes_render_into_the_channel_map() -> None:
    cat = build_catalog({"policy": {"severities": {"P1": {"quiet": True}}, "telegram": {"routes": ROUTES}}})
    m = parse_channel_map(yaml.safe_load(render_channel_map(cat)), "generated")
    assert m.telegram_destinations("P1", {"exchange": "binance"}, MAIN) == [Destination(MAIN, 12, True)]
    assert m.telegram_destinations("P0", {}, MAIN) == [Destination(ONCALL, None, False)]
    assert m.quiet == frozenset({"P1", "P2", "P3"})
    shipped = parse_channel_map(yaml.safe_load(render_channel_map(build_catalog(None))), "shipped")
    assert shipped.telegram_routes == () and shipped.quiet == frozenset({"P2", "P3"})


def test_catalog_route_errors_name_the_key_and_the_label() -> None:
    with pytest.raises(CatalogError) as info:
        build_catalog({"policy": {"telegram": {"routes": [
            {"topic_label": "exhange", "topics": {"upbit": 11}}, {"thread": -3}], "chats": {}}}})
    text = str(info.value)
    assert "policy.telegram.chats: unknown key" in text
    assert "policy.telegram.routes[1].thread" in text
    with pytest.raises(CatalogError) as info:
        build_catalog({"policy": {"telegram": {"routes": [{"topic_label": "exhange", "topics": {"upbit": 11}}]}}})
    assert "policy.telegram.routes[0].topic_label: no alert carries the label 'exhange' (did you mean exchange?)" \
        in str(info.value)


def test_planner_rows_carry_chat_topic_and_quietness() -> None:
    tg = TelegramChannel(ConsoleTelegram(), MAIN, ChannelLimits())
    tg.use_channel_map(cmap())
    out = RecordingOutbox()
    planner = NotifyPlanner(out, {"telegram": tg}, cmap())
    now = datetime.now(UTC)
    changes = [AlertChange(alert_id=i, kind="new", fingerprint=f"f{i}", starts_at=now, status="firing", alertname=n,
                           severity=sev, source="exchange_health", labels=labels)
               for i, (n, sev, labels) in enumerate([("ExchangeFrozen", "P0", {"exchange": "upbit"}),
                                                     ("ExchangeDown", "P1", {"exchange": "upbit"}),
                                                     ("ExchangeDegraded", "P2", {"exchange": "binance"})], 1)]
    planner(None, changes, None)
    got = [(r["destination"], r["payload"].get("thread_id"), r["payload"].get("quiet", False)) for r in out.rows]
    assert got == [(ONCALL, None, False), (MAIN, 11, False), (MAIN, 12, True)]
    assert len({r["dedupe_key"] for r in out.rows}) == 3


_ids = iter(range(1, 10**9))


def item(sev: str = "P1", kind: str = "firing", thread: int | None = None, name: str = "ExchangeDown") -> Item:
    rid = next(_ids)
    payload = {"thread_id": thread} if thread is not None else {}
    alert = AlertView.from_row({"id": rid, "alertname": name, "severity": sev, "labels": {"exchange": f"ex{rid}"}})
    return Item({"id": rid, "alert_id": rid, "kind": kind, "severity": sev, "payload": payload}, alert)


def plan(items):
    return plan_slot(items, can_edit=True, shares=Shares({"P0": 10, "P1": 5, "P2": 3, "P3": 1}))


def test_a_packed_message_holds_one_topic() -> None:
    binance = [item(thread=12) for _ in range(4)]
    upbit = [item(thread=11) for _ in range(3)]
    p, _ = plan(upbit + binance)  # the oldest row of the leading severity decides: binance's
    assert p.shape == "packed" and {i.thread for i in p.items} == {12} and len(p.items) == 4
    p, _ = plan(upbit + [item(sev="P2", thread=12) for _ in range(5)])
    assert {i.thread for i in p.items} == {11} and len(p.items) == 3


def test_p0_first_whatever_its_topic_and_then_answers() -> None:
    waiting = [item(thread=11) for _ in range(3)] + [item(sev="P0", thread=None, name="ExchangeFrozen")]
    p, _ = plan(waiting)
    assert p.shape == "single" and p.items[0].severity == "P0" and p.urgent
    two_p0 = [item(sev="P0", thread=11, name="ExchangeFrozen"), item(sev="P0", thread=12, name="ExchangeFrozen"),
              item(sev="P1", thread=11)]
    p, _ = plan(two_p0)  # one P0 per topic: each goes alone, in full, the oldest first
    assert p.shape == "single" and p.items[0] is two_p0[0]
    p, _ = plan(two_p0 + [item(sev="P0", thread=11, name="ExchangeFrozen")])
    assert p.shape == "packed" and [i.thread for i in p.items] == [11, 11, 11] and p.items[0].severity == "P0"
    reply = Item({"id": next(_ids), "alert_id": None, "kind": "reply", "severity": None,
                  "payload": {"text": "ok", "thread_id": 12}}, None)
    p, _ = plan([item(thread=11), item(thread=11), reply])
    assert p.shape == "single" and p.items[0] is reply and p.urgent
    graph = item(kind="graph", thread=11)
    p, _ = plan([graph, item(sev="P2", thread=12)])
    assert p.items[0].kind == "firing"  # pages before graphs
    p, _ = plan([graph])
    assert p.shape == "single" and p.items[0] is graph


def test_a_bad_channel_map_stops_the_receiver_at_start_naming_the_key(tmp_path) -> None:
    from webhook_receiver.app import create_app
    from webhook_receiver.settings import SettingsError, load_settings

    bad = tmp_path / "channel_map.yml"
    bad.write_text(yaml.safe_dump({"severities": {"P1": {"channels": ["telegram"]}}, "telegram": {"routes": [
        {"severities": ["P1"], "topic_label": "exchange", "topics": {"upbit": "eleven"}}]}}))
    with pytest.raises(SettingsError, match=r"CHANNEL_MAP_FILE.*telegram\.routes\[0\]\.topics\.upbit"):
        create_app(load_settings(env={"DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}", "NOTIFICATIONS_ENABLED": "true",
                                      "CHANNEL_MAP_FILE": str(bad), "DEADMAN_ENABLED": "false"}))
