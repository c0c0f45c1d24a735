"""Graphs in the page, the pure parts: the expression from the generatorURL, its left side and
threshold, and a real PNG from matplotlib (checked chunk by chunk as the fake Bot API does)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.fakes.telegram import check_png
from webhook_receiver.notify.graphs import (
    Series,
    alert_threshold,
    expr_from_generator_url,
    graph_caption,
    render_png,
    split_comparison,
)
from webhook_receiver.notify.model import AlertView


def test_expression_from_prometheus_link() -> None:
    url = "http://prom:9090/graph?g0.expr=d75_exchange_rest_latency_seconds+%3E+2&g0.tab=1"
    assert expr_from_generator_url(url) == "d75_exchange_rest_latency_seconds > 2"
    assert expr_from_generator_url("http://prom:9090/graph") is None
    assert expr_from_generator_url(None) is None and expr_from_generator_url("::not a url[") is None


def test_left_side_of_the_comparison_is_plotted() -> None:
    assert split_comparison("d75_route_score < 50") == ("d75_route_score", 50.0)
    assert split_comparison("-sum by (job) (d75_daily_pnl_usd) > 50000") == (
        "-sum by (job) (d75_daily_pnl_usd)",
        50000.0,
    )
    assert split_comparison("increase(x[1m]) > bool 0") == ("increase(x[1m])", 0.0)
    assert split_comparison("x >= 1e3") == ("x", 1000.0)
    for whole in ("vector(1)", "label_replace(x == 3, \"a\", \"$1\", \"b\", \"(.+)\")", "a > 1 and b > 2",
                  "max(x > 1)"):
        assert split_comparison(whole) == (whole, None)


def test_threshold_annotation_wins_over_the_expression() -> None:
    a = AlertView.from_row({"alertname": "X", "annotations": {"threshold": "0.5"}})
    assert alert_threshold(a, 2.0) == 0.5
    assert alert_threshold(AlertView.from_row({"alertname": "X", "annotations": {"threshold": "n/a"}}), 2.0) == 2.0
    assert alert_threshold(AlertView.from_row({"alertname": "X", "annotations": {"threshold": "nan"}}), None) is None


def test_render_makes_a_real_png_with_the_alert_series_first() -> None:
    end = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    start = end - timedelta(minutes=30)
    alert = AlertView.from_row({"id": 7, "alertname": "ExchangeLatencyHigh", "severity": "P0",
                                "labels": {"exchange": "upbit", "job": "d75"},
                                "annotations": {"threshold": "2", "value": "3.1 s"},
                                "starts_at": (end - timedelta(minutes=4)).isoformat()})
    ts = [start.timestamp() + 10 * i for i in range(181)]
    series = [Series({"exchange": "binance", "job": "d75"}, ts, [0.2] * 181),
              Series({"exchange": "upbit", "job": "d75"}, ts, [0.1 if i < 150 else 3.1 for i in range(181)])]
    png = render_png(series, alert, threshold=2.0, start=start, end=end, expr="d75_exchange_rest_latency_seconds")
    assert check_png(png) == (800, 360)
    caption = graph_caption(alert, 2.0, timedelta(minutes=30))
    assert caption == "📈 <b>ExchangeLatencyHigh</b> upbit · last 30m · threshold 2 · now 3.1 s · #7"
