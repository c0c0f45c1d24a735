"""Graphs in the page: a PNG of the series that explain the alert over the last 30 minutes.

After a P0/P1 page went out alone, the lane queues a `graph` row (status `rendering`, invisible to
the lanes). `GraphRenderer`, a small thread of its own, claims such rows, asks Prometheus for the
series (`/api/v1/query_range`), renders them with matplotlib (Agg backend, `Figure` objects only: no
pyplot state shared between threads) and hands the PNG back (`Outbox.graph_ready`): the row joins its
lane, which sends it as a reply to the page. Prometheus down, no data, or a rendering error: the row
fails and `d76_notifications_graph_failures_total{reason}` counts it. The text page never waits.

What is drawn:

- The alert's `graph` annotation (written by the catalog, `catalog.texts.Graph`): a JSON list of
  `{"title", "expr", "unit": "s"|"ratio"|"usd"|"", "threshold": number|null, "states": {"0": "HEALTHY",
  ...}|null}`, the series that explain the alert (ExchangeFrozen: the orderbook age, the REST latency and
  the health state). Each is its own panel, one above the other on a shared time axis, with its
  threshold as a dashed line and its unit on the axis (durations, percentages, USD with separators); a
  state metric (`states`) is drawn as steps with the states' names on the axis. Panels whose query
  returns nothing are left out; when none has data the graph fails `no_data`.
- Without the annotation (an alert of another rule file, an older catalog): the alert's own expression
  from its generatorURL (`g0.expr=`). A rule's expression is usually a comparison (`max by (exchange)
  (latency) > 2`), which returns nothing while the condition is false; the graph plots its left side so
  the line is continuous, and draws the threshold (the alert's `threshold` annotation, else the
  comparison's number). The alert's own series (same identifying labels) is drawn bold; a few others of
  the same expression stay thin and grey for context.
"""
from __future__ import annotations

import html
import io
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from vocabulary import PLUMBING_LABELS

from .model import AlertView

__all__ = ["GraphError", "GraphRenderer", "Series", "GraphSpec", "Panel", "expr_from_generator_url",
           "split_comparison", "fetch_range", "fetch_window", "render_png", "render_panels_png", "panels_figure",
           "graph_caption", "panels_caption", "alert_threshold", "parse_graph_annotation", "format_unit",
           "PNG_SIGNATURE", "MAX_PANELS"]

log = logging.getLogger("d76.notify.graphs")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SERIES = 12
MAX_PANELS = 4  # a phone shows four panels one above the other; more are left out
UNITS = ("s", "ratio", "usd", "")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)\s*(?:bool\s+)?(" + _NUMBER + r")\s*$")


class GraphError(Exception):
    """Why a graph could not be made; `reason` labels the failure counter."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    times: list[float]
    values: list[float]


@dataclass(frozen=True)
class GraphSpec:
    """One series that explains an alert, from the `graph` annotation."""

    title: str
    expr: str
    unit: str = ""
    threshold: float | None = None
    states: Mapping[int, str] | None = None  # value -> name, for a state metric


@dataclass(frozen=True)
class Panel:
    """A spec with what Prometheus answered for it."""

    spec: GraphSpec
    series: list[Series]


def _finite(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _states(v: object) -> dict[int, str] | None:
    if not isinstance(v, Mapping) or not v:
        return None
    out: dict[int, str] = {}
    for k, name in v.items():
        try:
            value = int(str(k))
        except ValueError:
            return None
        if not isinstance(name, str) or not name.strip():
            return None
        out[value] = name.strip()[:24]
    return dict(sorted(out.items()))


def parse_graph_annotation(text: str | None) -> list[GraphSpec]:
    """The `graph` annotation's entries, at most `MAX_PANELS`; [] when it is absent or not what the catalog
    writes (the graph then falls back to the alert's own expression). Entries without an expression are
    skipped; an unknown unit is drawn as a plain number; a threshold that is not a finite number is none."""
    if not text or not text.strip():
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return []
    if not isinstance(data, list):
        return []
    out: list[GraphSpec] = []
    for entry in data:
        if not isinstance(entry, Mapping):
            continue
        expr = entry.get("expr")
        if not isinstance(expr, str) or not expr.strip():
            continue
        title = entry.get("title")
        unit = entry.get("unit")
        out.append(GraphSpec(title=(title if isinstance(title, str) and title.strip() else expr).strip()[:100],
                             expr=expr.strip(), unit=unit if unit in UNITS else "",
                             threshold=_finite(entry.get("threshold")), states=_states(entry.get("states"))))
        if len(out) == MAX_PANELS:
            break
    return out


def format_unit(value: float, unit: str) -> str:
    """A number on an axis or a threshold's label, in the unit's words: `2.5s`, `3m 20s`, `12%`, `55,000 USD`."""
    if unit == "s":
        a = abs(value)
        sign = "-" if value < 0 else ""
        if a == 0:
            return "0s"
        if a < 1:
            return f"{sign}{a * 1000:.3g}ms"
        if a < 60:
            return f"{sign}{a:.3g}s"
        if a < 3600:
            m, sec = divmod(round(a), 60)
            return f"{sign}{m}m" + (f" {sec}s" if sec else "")
        if a < 86400:
            h, rem = divmod(round(a), 3600)
            return f"{sign}{h}h" + (f" {rem // 60}m" if rem // 60 else "")
        return f"{sign}{a / 86400:.3g}d"
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    if unit == "usd":
        return f"{value:,.0f} USD"
    return f"{value:.4g}"


_AXIS_LABELS = {"s": "duration", "ratio": "percent", "usd": "USD", "": ""}


def expr_from_generator_url(url: str | None) -> str | None:
    """The PromQL of `.../graph?g0.expr=...&g0.tab=1` (Prometheus' link for a rule), or None."""
    if not url:
        return None
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return None
    exprs = query.get("g0.expr") or []
    expr = exprs[0].strip() if exprs else ""
    return expr or None


def split_comparison(expr: str) -> tuple[str, float | None]:
    """(left side, number) of an expression ending in a top-level comparison with a number;
    (expr, None) otherwise."""
    m = _COMPARISON.search(expr)
    if not m:
        return expr, None
    left = expr[: m.start()].rstrip()
    depth = 0
    for ch in left:  # the comparison must be at the top level: balanced brackets on its left
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth < 0:
            return expr, None
    if depth != 0 or not left or left.endswith("(") or re.search(r"\s(and|or|unless)\s", left):
        return expr, None
    try:
        return left, float(m.group(2))
    except ValueError:
        return expr, None


def alert_threshold(alert: AlertView, fallback: float | None = None) -> float | None:
    raw = alert.annotations.get("threshold")
    try:
        v = float(raw) if raw not in (None, "") else None
    except ValueError:
        v = None
    if v is None or math.isnan(v) or math.isinf(v):
        return fallback
    return v


def fetch_range(session: requests.Session, prometheus_url: str, expr: str, start: datetime, end: datetime,
                timeout: float, points: int = 240) -> list[Series]:
    """`/api/v1/query_range` of `expr` between start and end (about `points` samples per series)."""
    step = max(1.0, (end - start).total_seconds() / points)
    try:
        resp = session.get(f"{prometheus_url.rstrip('/')}/api/v1/query_range", timeout=timeout, params={
            "query": expr, "start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}", "step": f"{step:g}"})
    except requests.RequestException as exc:
        raise GraphError("prometheus", f"Prometheus unreachable ({type(exc).__name__})") from None
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
        err = body.get("error") if isinstance(body, dict) else None
        raise GraphError("prometheus", f"Prometheus answered {resp.status_code}: {str(err or '')[:200]}")
    result = (body.get("data") or {}).get("result") or []
    out = []
    for s in result if isinstance(result, list) else []:
        times, values = [], []
        for pair in s.get("values") or []:
            try:
                t, v = float(pair[0]), float(pair[1])
            except (TypeError, ValueError, IndexError):
                continue
            if math.isfinite(v):
                times.append(t)
                values.append(v)
        if times:
            out.append(Series({str(k): str(v) for k, v in (s.get("metric") or {}).items()}, times, values))
    return out


def fetch_window(session: requests.Session, prometheus_url: str, expr: str, start: datetime, end: datetime,
                 timeout: float, points: int = 240) -> list[Series]:
    """`fetch_range` over the window; when every series is younger than the window (a bot, or a stack,
    started minutes ago) a second query over the span that has data, so a young series is drawn from
    many samples rather than the one or two the window's step leaves it."""
    series = fetch_range(session, prometheus_url, expr, start, end, timeout, points)
    step = max(1.0, (end - start).total_seconds() / points)
    first = min((s.times[0] for s in series if s.times), default=None)
    if first is None or first <= start.timestamp() + 4 * step:
        return series
    young = datetime.fromtimestamp(max(start.timestamp(), first - step), UTC)
    return fetch_range(session, prometheus_url, expr, young, end, timeout, points) or series


def _is_own(series: Series, alert: AlertView) -> bool:
    return all(alert.labels.get(k) == v for k, v in series.labels.items() if k != "__name__")


def render_png(series: Sequence[Series], alert: AlertView, *, threshold: float | None, start: datetime,
               end: datetime, expr: str) -> bytes:
    """The graph as PNG bytes (800x360)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure

    own = [s for s in series if _is_own(s, alert)] or list(series[:1])
    others = [s for s in series if s not in own][: MAX_SERIES - len(own)]
    fig = Figure(figsize=(8, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)

    def when(ts: Sequence[float]) -> list[datetime]:
        return [datetime.fromtimestamp(t, UTC) for t in ts]

    # the x axis takes datetimes (matplotlib's date units, which pick the time ticks); its type hints
    # know floats only, hence the `type: ignore[arg-type]` on the calls that pass datetimes
    for s in others:
        ax.plot(when(s.times), s.values, color="#b0b0b0", linewidth=0.9)  # type: ignore[arg-type]
    few = max((len(s.times) for s in own), default=0) < 30
    for s in own:
        label = ", ".join(f"{k}={v}" for k, v in sorted(s.labels.items())
                          if k != "__name__" and k not in PLUMBING_LABELS)[:60] or alert.alertname
        ax.plot(when(s.times), s.values, color="#1f5fbf", linewidth=2.0, label=label,  # type: ignore[arg-type]
                marker="o" if few else None, markersize=3)
    if threshold is not None:
        ax.axhline(threshold, color="#d62728", linestyle="--", linewidth=1.4, label=f"threshold {threshold:g}")
    # a series younger than the window (a fresh exporter): show the span that has data
    first = min((s.times[0] for s in series if s.times), default=start.timestamp())
    left = start
    if first > start.timestamp() + 60:
        pad = max(5.0, (end.timestamp() - first) * 0.1)
        left = max(start, datetime.fromtimestamp(first - pad, UTC))
    if alert.starts_at and left <= alert.starts_at <= end:
        ax.axvline(alert.starts_at, color="#ff7f0e", linewidth=1.0, linestyle=":",  # type: ignore[arg-type]
                   label="fired")
    ax.set_xlim(left, end)  # type: ignore[arg-type]
    short = (end - left).total_seconds() < 600
    # matplotlib.dates carries no type hints
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M:%S" if short else "%H:%M", tz=UTC))  # type: ignore[no-untyped-call]
    ax.grid(True, alpha=0.3)
    title = f"[{alert.severity}] {alert.alertname}  {alert.identity(50)}"
    ax.set_title(title[:100], fontsize=10, loc="left")
    ax.set_xlabel("UTC", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, loc="best")
    fig.text(0.99, 0.01, expr[:110], fontsize=6, ha="right", va="bottom", color="#666666")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _series_label(s: Series, alert: AlertView) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(s.labels.items())
                     if k != "__name__" and k not in PLUMBING_LABELS)[:60] or alert.alertname


def _when(ts: Sequence[float]) -> list[datetime]:
    return [datetime.fromtimestamp(t, UTC) for t in ts]


def _left_edge(series: Sequence[Series], start: datetime, end: datetime) -> datetime:
    """A series younger than the window (a fresh exporter): show the span that has data."""
    first = min((s.times[0] for s in series if s.times), default=start.timestamp())
    if first > start.timestamp() + 60:
        pad = max(5.0, (end.timestamp() - first) * 0.1)
        return max(start, datetime.fromtimestamp(first - pad, UTC))
    return start


def panels_figure(panels: Sequence[Panel], alert: AlertView, *, start: datetime, end: datetime) -> Any:
    """The matplotlib `Figure` of the annotation's panels, one above the other on a shared time axis:
    each with its title, its series (a state metric as steps, its states' names on the axis), its
    threshold dashed, its unit on the axis, and the time the alert fired dotted."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter

    n = len(panels)
    fig = Figure(figsize=(8, 1.0 + 2.2 * n), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    left = _left_edge([s for p in panels for s in p.series], start, end)
    few = max((len(s.times) for p in panels for s in p.series), default=0) < 30
    for ax, panel in zip(axes, panels, strict=True):
        spec = panel.spec
        series = panel.series[:MAX_SERIES]
        for i, s in enumerate(series):
            color = "#1f5fbf" if i == 0 else "#7f7f7f"
            ax.plot(_when(s.times), s.values, color=color, linewidth=2.0 if i == 0 else 1.0,
                    label=_series_label(s, alert) if len(series) > 1 else None,
                    drawstyle="steps-post" if spec.states else "default",
                    marker="o" if few else None, markersize=3)
        if spec.states:
            values = sorted(spec.states)
            ax.yaxis.set_major_locator(FixedLocator(values))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos, st=spec.states: st.get(int(round(v)), "")))
            ax.set_ylim(min(values) - 0.5, max(values) + 0.5)
        else:
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos, unit=spec.unit: format_unit(v, unit)))
            ax.set_ylabel(_AXIS_LABELS.get(spec.unit, ""), fontsize=8)
        if spec.threshold is not None:
            thr = spec.states.get(int(spec.threshold), format_unit(spec.threshold, spec.unit)) if spec.states \
                else format_unit(spec.threshold, spec.unit)
            ax.axhline(spec.threshold, color="#d62728", linestyle="--", linewidth=1.4, label=f"threshold {thr}")
        if alert.starts_at and left <= alert.starts_at <= end:
            ax.axvline(alert.starts_at, color="#ff7f0e", linewidth=1.0, linestyle=":",
                       label="fired")
        ax.set_title(spec.title, fontsize=9, loc="left")
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_xlim(left, end)
    short = (end - left).total_seconds() < 600
    # matplotlib.dates carries no type hints
    axes[-1].xaxis.set_major_formatter(DateFormatter("%H:%M:%S" if short else "%H:%M", tz=UTC))  # type: ignore[no-untyped-call]
    axes[-1].set_xlabel("UTC", fontsize=8)
    fig.suptitle(f"[{alert.severity}] {alert.title}"[:100], fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def render_panels_png(panels: Sequence[Panel], alert: AlertView, *, start: datetime, end: datetime) -> bytes:
    """`panels_figure` as PNG bytes (800 wide, 320 + 220 per panel high)."""
    buf = io.BytesIO()
    panels_figure(panels, alert, start=start, end=end).savefig(buf, format="png")
    return buf.getvalue()


def panels_caption(panels: Sequence[Panel], alert: AlertView, window: timedelta) -> str:
    bits = [f"📈 <b>{html.escape(alert.alertname)}</b> {html.escape(alert.identity(60))}",
            f"last {int(window.total_seconds() // 60)}m", html.escape(", ".join(p.spec.title for p in panels)[:200])]
    if alert.value:
        bits.append(f"now {html.escape(alert.value[:40])}")
    if alert.id is not None:
        bits.append(f"#{int(alert.id)}")
    return " · ".join(bits)


def graph_caption(alert: AlertView, threshold: float | None, window: timedelta) -> str:
    bits = [f"📈 <b>{html.escape(alert.alertname)}</b> {html.escape(alert.identity(60))}",
            f"last {int(window.total_seconds() // 60)}m"]
    if threshold is not None:
        bits.append(f"threshold {threshold:g}")
    if alert.value:
        bits.append(f"now {html.escape(alert.value[:40])}")
    if alert.id is not None:
        bits.append(f"#{int(alert.id)}")
    return " · ".join(bits)


class GraphRenderer:
    """The thread that makes graphs: claims `rendering` rows, renders, hands them to their lane."""

    def __init__(self, store: Any, outbox: Any, prometheus_url: str, *, metrics: Any = None,
                 worker_id: str = "graphs", window_seconds: float = 1800.0, timeout: float = 5.0,
                 on_ready: Callable[[], None] | None = None, poll_seconds: float = 2.0,
                 session: requests.Session | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.outbox = outbox
        self.prometheus_url = prometheus_url
        self.metrics = metrics
        self.worker_id = worker_id
        self.window = timedelta(seconds=window_seconds)
        self.timeout = timeout
        self.on_ready = on_ready
        self.poll_seconds = poll_seconds
        self.now = now
        self._session = session or requests.Session()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def make(self, alert: AlertView) -> tuple[bytes, str]:
        """(PNG, caption) for one alert, or GraphError: the series its `graph` annotation names, else its
        own expression."""
        specs = parse_graph_annotation(alert.annotations.get("graph"))
        end = self.now()
        start = end - self.window
        if specs:
            return self._make_panels(alert, specs, start, end)
        expr = expr_from_generator_url(alert.generator_url)
        if not expr:
            raise GraphError("no_data", "the alert carries no expression (generatorURL)")
        left, number = split_comparison(expr)
        threshold = alert_threshold(alert, number)
        series = fetch_window(self._session, self.prometheus_url, left, start, end, self.timeout)
        if not series:
            raise GraphError("no_data", "Prometheus has no samples of the expression in the window")
        try:
            png = render_png(series, alert, threshold=threshold, start=start, end=end, expr=left)
        except Exception as exc:  # matplotlib: any failure is a missing graph, never a missing page
            raise GraphError("render", f"rendering failed: {type(exc).__name__}: {str(exc)[:200]}") from None
        if not png.startswith(PNG_SIGNATURE):
            raise GraphError("render", "rendering produced no PNG")
        return png, graph_caption(alert, threshold, self.window)

    def _make_panels(self, alert: AlertView, specs: Sequence[GraphSpec], start: datetime,
                     end: datetime) -> tuple[bytes, str]:
        panels = []
        for spec in specs:  # one query each; a spec Prometheus refuses fails the graph (a catalog bug)
            series = fetch_window(self._session, self.prometheus_url, spec.expr, start, end, self.timeout)
            if series:
                panels.append(Panel(spec, series))
        if not panels:
            raise GraphError("no_data", "Prometheus has no samples of the alert's graph series in the window")
        try:
            png = render_panels_png(panels, alert, start=start, end=end)
        except Exception as exc:  # matplotlib: any failure is a missing graph, never a missing page
            raise GraphError("render", f"rendering failed: {type(exc).__name__}: {str(exc)[:200]}") from None
        if not png.startswith(PNG_SIGNATURE):
            raise GraphError("render", "rendering produced no PNG")
        return png, panels_caption(panels, alert, self.window)

    def run_once(self) -> int:
        rows = self.outbox.claim_renders(self.worker_id, lease_s=max(30.0, self.timeout * 4))
        for row in rows:
            self._one(row)
        return len(rows)

    def _one(self, row: dict[str, Any]) -> None:
        raw = self.store.get_alert(int(row["alert_id"])) if row.get("alert_id") is not None else None
        try:
            if raw is None:
                raise GraphError("no_data", "the alert is no longer in the history")
            png, caption = self.make(AlertView.from_row(raw))
        except GraphError as exc:
            self.outbox.fail([int(row["id"])], f"graph: {exc}")
            if self.metrics is not None:
                self.metrics.graph_failures.labels(exc.reason).inc()
            log.warning("graph skipped", extra={"fields": {"alert_id": row.get("alert_id"), "reason": exc.reason,
                                                           "error": str(exc)}})
            return
        self.outbox.graph_ready(int(row["id"]), png, caption)
        log.info("graph ready", extra={"fields": {"alert_id": row.get("alert_id"), "bytes": len(png)}})
        if self.on_ready is not None:
            self.on_ready()

    # the thread ------------------------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def start(self) -> GraphRenderer:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="d76-graphs", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                while self.run_once() and not self._stop.is_set():
                    pass
            except Exception:  # storage down, a bug: the pages go on; try again later
                log.warning("graph renderer pass failed", exc_info=True)
            self._wake.wait(self.poll_seconds)
