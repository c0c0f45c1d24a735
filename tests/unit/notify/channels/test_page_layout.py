"""What a page says, in every channel: the action right under the title, identifying labels only (no
`instance`/`job` unless nothing else tells two alerts apart), values in words as the catalog wrote them,
and the annotations written for the receiver (`graph`, `threshold`) never printed."""
from __future__ import annotations

import json

from tests.support.fakes.telegram import parse_telegram_html
from webhook_receiver.notify.channels.discord import discord_payload
from webhook_receiver.notify.channels.email import build_digest, render_text
from webhook_receiver.notify.channels.slack import slack_payload
from webhook_receiver.notify.channels.telegram.format import render_alert, render_packed, render_resolved
from webhook_receiver.notify.model import AlertView, Notice

ACTION = ("The bot halted trading on upbit. Check its websocket feed and status page; trading resumes by itself "
          "once the orderbook moves again and the monitor reports HEALTHY.")
NOW = "Now: status FROZEN · REST latency 2.5s · error ratio 12% · orderbook age 3m 20s"
GRAPH = json.dumps([{"title": "upbit orderbook age", "expr": "time() - d75_exchange_orderbook_last_update_timestamp_"
                     "seconds{exchange='upbit'}", "unit": "s", "threshold": 10, "states": None}])


def frozen(**labels: str) -> AlertView:
    """ExchangeFrozen as the catalog's texts render it at fire time."""
    return AlertView.from_row({
        "id": 12, "alertname": "ExchangeFrozen", "severity": "P0", "source": "exchange_health", "status": "firing",
        "labels": {"alertname": "ExchangeFrozen", "exchange": "upbit", "instance": "127.0.0.1:9876", "job": "d75",
                   "severity": "P0", "source": "exchange_health", **labels},
        "annotations": {"summary": "upbit is FROZEN", "action": ACTION, "value": "FROZEN", "threshold": "3",
                        "description": "The health monitor froze upbit: its data is not moving.\n" + NOW,
                        "runbook_url": "http://127.0.0.1:9099/runbooks/exchange-frozen", "graph": GRAPH},
        "metadata": {"generatorURL": "http://127.0.0.1:9090/graph?g0.expr=d75_exchange_health_status+%3D%3D+3"},
        "starts_at": "2026-12-04T23:00:00Z",
    })


def exporter_down() -> AlertView:
    return AlertView.from_row({
        "id": 13, "alertname": "ExporterDown", "severity": "P0", "source": "system", "status": "firing",
        "labels": {"alertname": "ExporterDown", "instance": "10.0.0.7:9876", "job": "d75"},
        "annotations": {"summary": "D75 exporter 10.0.0.7:9876 is down", "action": "Check the bot's process."},
    })


def test_telegram_page_reads_like_the_seeds_layout() -> None:
    lines = parse_telegram_html(render_alert(frozen())).splitlines()
    assert lines[0] == "🚨 [P0] upbit is FROZEN"
    assert lines[1] == f"👉 Action: {ACTION}"                  # what to do, right under the title
    assert lines[2] == "exchange: upbit · value: FROZEN"       # what is on fire, its state by name
    assert NOW in lines                                        # latency, error ratio, orderbook age together
    assert "alert: ExchangeFrozen · source: exchange_health · id: 12" in lines
    text = "\n".join(lines)
    assert "instance" not in text and "job" not in text and "127.0.0.1:9876" not in text
    assert "orderbook_last_update" not in text and "graph:" not in text and "threshold" not in text


def test_telegram_page_shows_instance_when_it_is_all_that_tells_alerts_apart() -> None:
    text = parse_telegram_html(render_alert(exporter_down()))
    assert text.splitlines()[2] == "instance: 10.0.0.7:9876"  # which bot: not its job
    assert text.splitlines()[1] == "👉 Action: Check the bot's process."


def test_other_labels_than_plumbing_stay() -> None:
    text = parse_telegram_html(render_alert(frozen(category="order", team="risk")))
    assert "exchange: upbit · category: order · team: risk · value: FROZEN" in text


def test_the_on_call_mention_follows_the_action() -> None:
    lines = parse_telegram_html(render_alert(frozen(), oncall="alice")).splitlines()
    assert lines[1].startswith("👉 Action:") and lines[2] == "📟 on call: alice"


def test_resolved_page_drops_the_action_and_keeps_the_context() -> None:
    a = AlertView.from_row({**_row(frozen()), "status": "resolved", "ends_at": "2026-12-04T23:03:20Z"})
    text = parse_telegram_html(render_resolved(a))
    assert text.startswith("✅ RESOLVED [P0] upbit is FROZEN") and "Action" not in text
    assert NOW in text and "after 3m 20s" in text and "instance" not in text


def test_packed_lines_name_identifying_labels_only() -> None:
    text, n = render_packed([Notice("firing", frozen()), Notice("firing", exporter_down())])
    visible = parse_telegram_html(text)
    assert n == 2 and "upbit — FROZEN" in visible and "127.0.0.1:9876" not in visible


def test_slack_action_under_the_header_and_no_plumbing() -> None:
    blocks = slack_payload(frozen())["blocks"]
    assert blocks[0]["type"] == "header" and blocks[1]["text"]["text"] == f"👉 *Action*: {ACTION}"
    dumped = json.dumps(blocks, ensure_ascii=False)
    assert "upbit" in dumped and NOW in dumped
    assert "127.0.0.1:9876" not in dumped and "*job*" not in dumped and "orderbook_last_update" not in dumped
    assert "*threshold*" not in dumped


def test_discord_action_first_in_the_description_and_no_plumbing() -> None:
    embed = discord_payload(frozen())["embeds"][0]
    assert embed["description"].startswith(f"👉 **Action**: {ACTION}\n\n") and NOW in embed["description"]
    names = [f["name"] for f in embed["fields"]]
    assert "exchange" in names and "value" in names
    assert not {"instance", "job", "graph", "threshold", "action"} & set(names)


def test_digest_lists_identifying_labels_only() -> None:
    from datetime import UTC, datetime

    a = AlertView.from_row({**_row(frozen()), "severity": "P3"})
    text = render_text(build_digest([a, exporter_down()], datetime(2026, 12, 4, tzinfo=UTC),
                                    datetime(2026, 12, 5, tzinfo=UTC)))
    assert "(exchange=upbit)" in text and "(instance=10.0.0.7:9876)" in text


def _row(a: AlertView) -> dict:
    return {"id": a.id, "alertname": a.alertname, "severity": a.severity, "source": a.source, "status": a.status,
            "labels": a.labels, "annotations": a.annotations, "metadata": a.metadata,
            "starts_at": a.starts_at.isoformat() if a.starts_at else None}
