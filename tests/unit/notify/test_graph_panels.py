"""Graphs that explain: the series the `graph` annotation names, each its own panel with its threshold
and unit, a state metric as steps with its states' names; the annotation's parser never raises; the
renderer asks Prometheus (a fake range-query answer here) for those series, not the alert's own
expression, and falls back to it when the annotation is absent. The picture's structure is checked on
matplotlib's objects, not on pixels."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.fakes.telegram import check_png
from webhook_receiver.notify.graphs import (
    MAX_PANELS,
    UNITS,
    GraphError,
    GraphRenderer,
    GraphSpec,
    Panel,
    Series,
    format_unit,
    panels_figure,
    parse_graph_annotation,
)
from webhook_receiver.notify.model import AlertView

END = datetime(2026, 12, 4, 23, 30, tzinfo=UTC)
START = END - timedelta(minutes=30)
TIMES = [START.timestamp() + 10 * i for i in range(181)]
STATES = {"0": "HEALTHY", "1": "DEGRADED", "2": "DOWN", "3": "FROZEN"}
AGE = "time() - d75_exchange_orderbook_last_update_timestamp_seconds{exchange='upbit',instance='bot:9876'}"
LATENCY = "d75_exchange_rest_latency_seconds{exchange='upbit',instance='bot:9876'}"
HEALTH = "d75_exchange_health_status{exchange='upbit',instance='bot:9876'}"
# the annotation as Prometheus renders the catalog's ExchangeFrozen (prometheus/rules/d75-exchange-health.yml)
FROZEN_GRAPH = json.dumps([
    {"title": "upbit orderbook age", "expr": AGE, "unit": "s", "threshold": 10, "states": None},
    {"title": "upbit REST latency", "expr": LATENCY, "unit": "s", "threshold": 2.0, "states": None},
    {"title": "upbit health", "expr": HEALTH, "unit": "", "threshold": None, "states": STATES},
])


def frozen_alert(graph: str | None = FROZEN_GRAPH) -> AlertView:
    return AlertView.from_row({
        "id": 12, "alertname": "ExchangeFrozen", "severity": "P0", "status": "firing",
        "labels": {"exchange": "upbit", "instance": "bot:9876", "job": "d75"},
        "annotations": {"summary": "upbit is FROZEN", "value": "FROZEN",
                        **({"graph": graph} if graph is not None else {})},
        "metadata": {"generatorURL": "http://prom:9090/graph?g0.expr=d75_exchange_health_status+%3D%3D+3&g0.tab=1"},
        "starts_at": (END - timedelta(minutes=5)).isoformat(),
    })


def test_the_catalog_annotation_parses_into_its_panels() -> None:
    specs = parse_graph_annotation(FROZEN_GRAPH)
    assert [(s.title, s.expr, s.unit, s.threshold) for s in specs] == [
        ("upbit orderbook age", AGE, "s", 10.0), ("upbit REST latency", LATENCY, "s", 2.0),
        ("upbit health", HEALTH, "", None)]
    assert specs[2].states == {0: "HEALTHY", 1: "DEGRADED", 2: "DOWN", 3: "FROZEN"}


def test_what_is_not_the_catalog_format_falls_back() -> None:
    for text in (None, "", "not json", "{}", "[1, 2]", '[{"title": "no expr"}]', '{"expr": "up"}'):
        assert parse_graph_annotation(text) == []
    odd = parse_graph_annotation(json.dumps([{"expr": "up", "unit": "furlongs", "threshold": "2",
                                              "states": {"x": "A"}}, {"expr": " "}]))
    assert odd == [GraphSpec(title="up", expr="up", unit="", threshold=None, states=None)]
    many = parse_graph_annotation(json.dumps([{"expr": f"up{i}"} for i in range(9)]))
    assert len(many) == MAX_PANELS


_json = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                         st.sampled_from(["title", "expr", "unit", "threshold", "states", "0", "1", "x"]),
                         inner, max_size=6), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), _json.map(lambda v: json.dumps(v, allow_nan=True))))
def test_any_annotation_parses_to_sane_specs_or_nothing(text: str) -> None:
    specs = parse_graph_annotation(text)
    assert len(specs) <= MAX_PANELS
    for s in specs:
        assert s.expr.strip() and s.title and s.unit in UNITS
        assert s.threshold is None or (isinstance(s.threshold, float) and abs(s.threshold) < float("inf"))
        assert s.states is None or all(isinstance(k, int) and v for k, v in s.states.items())


def test_units_in_words() -> None:
    assert [format_unit(v, "s") for v in (0, 0.12, 2.5, 200, 3600, 5400)] == [
        "0s", "120ms", "2.5s", "3m 20s", "1h", "1h 30m"]
    assert format_unit(0.12, "ratio") == "12%" and format_unit(55_000, "usd") == "55,000 USD"
    assert format_unit(42, "") == "42"


def _frozen_panels() -> list[Panel]:
    specs = parse_graph_annotation(FROZEN_GRAPH)
    age = [0.3 if i < 150 else (i - 150) * 10.0 for i in range(181)]
    latency = [0.1 if i < 140 else 2.5 for i in range(181)]
    health = [0.0] * 130 + [1.0] * 10 + [2.0] * 12 + [3.0] * 29
    return [Panel(spec, [Series({"exchange": "upbit"}, TIMES, values)])
            for spec, values in zip(specs, (age, latency, health), strict=True)]


def test_each_series_its_panel_with_threshold_unit_and_states_as_steps() -> None:
    fig = panels_figure(_frozen_panels(), frozen_alert(), start=START, end=END)
    age, latency, health = fig.axes
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["upbit orderbook age", "upbit REST latency",
                                                              "upbit health"]
    # thresholds as dashed lines at their value, labelled in the unit's words
    for ax, value, label in ((age, 10.0, "threshold 10s"), (latency, 2.0, "threshold 2s")):
        dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert len(dashed) == 1 and list(dashed[0].get_ydata()) == [value, value]
        assert label in [t.get_text() for t in ax.get_legend().get_texts()]
    assert not [line for line in health.get_lines() if line.get_linestyle() == "--"]
    # durations on the axis, in words
    formatter = age.yaxis.get_major_formatter()
    assert formatter(200, 0) == "3m 20s" and age.get_ylabel() == "duration"
    assert latency.yaxis.get_major_formatter()(0.5, 0) == "500ms"
    # the state metric: its names on the axis, drawn as steps
    fig.canvas.draw()
    assert [t.get_text() for t in health.get_yticklabels()] == ["HEALTHY", "DEGRADED", "DOWN", "FROZEN"]
    state_line = health.get_lines()[0]
    assert state_line.get_drawstyle() == "steps-post"
    assert age.get_lines()[0].get_drawstyle() == "default"
    # one shared time axis, UTC, the firing time dotted on every panel
    assert fig.axes[-1].get_xlabel() == "UTC"
    assert all(any(line.get_linestyle() == ":" for line in ax.get_lines()) for ax in fig.axes)


def test_ratio_and_usd_axes() -> None:
    specs = [GraphSpec("error ratio", "x", "ratio", 0.1), GraphSpec("daily loss", "y", "usd", 50_000.0)]
    panels = [Panel(specs[0], [Series({}, TIMES, [0.01] * 181)]), Panel(specs[1], [Series({}, TIMES, [1e4] * 181)])]
    ratio, usd = panels_figure(panels, frozen_alert(), start=START, end=END).axes
    assert ratio.yaxis.get_major_formatter()(0.12, 0) == "12%" and ratio.get_ylabel() == "percent"
    assert usd.yaxis.get_major_formatter()(55_000, 0) == "55,000 USD" and usd.get_ylabel() == "USD"
    assert "threshold 50,000 USD" in [t.get_text() for t in usd.get_legend().get_texts()]


class FakePrometheus(requests.adapters.BaseAdapter):
    """Answers `/api/v1/query_range` from a table of expression -> values (an absent one: no series)."""

    def __init__(self, answers: dict[str, list[float]]) -> None:
        super().__init__()
        self.answers = answers
        self.asked: list[str] = []

    def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:
        query = parse_qs(urlsplit(request.url or "").query)["query"][0]
        self.asked.append(query)
        values = self.answers.get(query)
        result = [] if values is None else [{"metric": {"exchange": "upbit"},
                                             "values": [[t, str(v)] for t, v in zip(TIMES, values, strict=False)]}]
        resp = requests.Response()
        resp.status_code = 200
        resp._content = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}}).encode()
        resp.headers["Content-Type"] = "application/json"
        resp.url = request.url or ""
        return resp

    def close(self) -> None:
        return None


def _renderer(answers: dict[str, list[float]]) -> tuple[GraphRenderer, FakePrometheus]:
    fake = FakePrometheus(answers)
    session = requests.Session()
    session.mount("http://", fake)
    return GraphRenderer(store=None, outbox=None, prometheus_url="http://prom:9090", session=session,
                         now=lambda: END), fake


def test_the_renderer_draws_the_annotation_series_not_the_rule_expression() -> None:
    renderer, fake = _renderer({AGE: [1.0] * 181, LATENCY: [2.5] * 181, HEALTH: [3.0] * 181})
    png, caption = renderer.make(frozen_alert())
    assert fake.asked == [AGE, LATENCY, HEALTH]
    assert check_png(png) == (800, 760)  # three panels
    assert "upbit orderbook age, upbit REST latency, upbit health" in caption and "now FROZEN" in caption


def test_panels_without_data_are_left_out_and_none_at_all_fails() -> None:
    renderer, fake = _renderer({HEALTH: [3.0] * 181})
    png, caption = renderer.make(frozen_alert())
    assert check_png(png) == (800, 320) and "upbit health" in caption and "orderbook" not in caption
    empty, _ = _renderer({})
    try:
        empty.make(frozen_alert())
    except GraphError as exc:
        assert exc.reason == "no_data"
    else:
        raise AssertionError("a graph without data was made")


def test_without_the_annotation_the_alert_expression_is_drawn() -> None:
    renderer, fake = _renderer({"d75_exchange_health_status": [3.0] * 181})
    png, caption = renderer.make(frozen_alert(graph=None))
    assert fake.asked == ["d75_exchange_health_status"] and check_png(png) == (800, 360)
    assert "threshold 3" in caption


class YoungSeries(requests.adapters.BaseAdapter):
    """A series born `age` seconds before END, sampled every step the query asks for."""

    def __init__(self, age: float) -> None:
        super().__init__()
        self.born = END.timestamp() - age
        self.asked: list[tuple[float, float]] = []

    def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:
        q = {k: v[0] for k, v in parse_qs(urlsplit(request.url or "").query).items()}
        start, end, step = float(q["start"]), float(q["end"]), float(q["step"])
        self.asked.append((start, step))
        n = int((end - start) // step) + 1
        times = [start + i * step for i in range(n) if start + i * step >= self.born]
        resp = requests.Response()
        resp.status_code = 200
        resp._content = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {}, "values": [[t, "1"] for t in times]}] if times else []}}).encode()
        return resp

    def close(self) -> None:
        return None


def test_a_series_younger_than_the_window_is_asked_again_over_its_span() -> None:
    from webhook_receiver.notify.graphs import fetch_window

    young = YoungSeries(age=120)
    session = requests.Session()
    session.mount("http://", young)
    [series] = fetch_window(session, "http://prom:9090", "up", START, END, 5.0)
    assert len(young.asked) == 2 and young.asked[0] == (START.timestamp(), 7.5)
    assert young.asked[1][0] >= END.timestamp() - 130 and young.asked[1][1] == 1.0
    assert len(series.values) >= 100  # drawn from many samples, not the 16 of the window's step
    old = YoungSeries(age=3600)
    session.mount("http://", old)
    fetch_window(session, "http://prom:9090", "up", START, END, 5.0)
    assert len(old.asked) == 1  # as old as the window: one query
