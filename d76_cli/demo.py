"""`d76 demo`: the whole pipeline, live, in about two minutes, with no account.

Brings the local stack up (simulator, Prometheus, Alertmanager, receiver), walks the simulator
through three incidents, shows each alert as the receiver stores and relays it (Telegram messages are
printed when no bot token is set; the graphs that follow P0/P1 pages are saved as PNG files next to
the demo's state, and their paths printed), asks `/status` as an operator would from the phone,
acknowledges one alert, returns to calm until everything resolves, prints the history and where to
look, and stops the stack (unless --keep).
"""
from __future__ import annotations

import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import click
import yaml

import vocabulary
from vocabulary import WATCHDOG, NotificationStatus

if TYPE_CHECKING:
    import requests

__all__ = ["command", "INCIDENTS", "DemoStack", "print_history"]


class DemoStack(Protocol):
    """What the demo uses of the running stack (``local_stack``'s ``Stack``)."""

    logs: Path

    def url(self, piece: str) -> str: ...

    def api(self, method: str, path: str, receiver: str = "receiver", **kw: Any) -> requests.Response: ...

    def scenario(self, name: str, target: str | None = None) -> dict[str, Any]: ...

    def logs_of(self, piece: str) -> Path: ...


@dataclass(frozen=True)
class Incident:
    scenario: str
    alertname: str
    story: str


# 429s first: their one-minute `increase()` window starts emptying while the others play
INCIDENTS = (
    Incident("http-429-burst", "RateLimitHttp429", "upbit starts answering HTTP 429 (too many requests)"),
    Incident("exchange-frozen", "ExchangeFrozen", "upbit's market data freezes"),
    Incident("global-daily-loss", "GlobalDailyLoss", "losses across exchanges pass the global daily limit"),
)

# keep the demo short: quick P1/P2 flushes so resolves show up promptly (the shipped config is slower)
DEMO_OVERRIDES = {"policy": {"severities": {
    "P1": {"group_wait": "2s", "group_interval": "5s"},
    "P2": {"group_wait": "5s", "group_interval": "10s"},
    "P3": {"group_wait": "10s", "group_interval": "30s"}}}}


class DemoFailed(RuntimeError):
    pass


class LogTail:
    """Print the receiver's dry-run Telegram messages as they are written to its log."""

    def __init__(self, path: Path) -> None:
        self.path, self.pos = path, 0

    def new_messages(self) -> list[str]:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                f.seek(self.pos)
                text = f.read()
                self.pos = f.tell()
        except OSError:
            return []
        out, block = [], None
        for line in text.splitlines():
            if line.startswith("[telegram dry-run]"):
                block = [line]
            elif block is not None:
                if line == "---":
                    out.append("\n".join(block))
                    block = None
                else:
                    block.append(line)
        if block is not None:  # incomplete block: read it again next time
            self.pos -= len(("\n".join(block) + "\n").encode())
        return out


def _ask(stack: DemoStack, secret: str, text: str) -> None:
    """Send a command as the operator's phone would: a Telegram update to the receiver's webhook.
    The answer goes through the outbox like every message (printed in a dry run)."""
    import os

    import requests

    chat = os.environ.get("TELEGRAM_CHAT_ID") or "console"
    users = [u for u in os.environ.get("TELEGRAM_ALLOWED_USER_IDS", "").split(",") if u.strip().isdigit()]
    update = {
        "update_id": int(time.time()),
        "message": {
            "message_id": int(time.time()) % 100000,
            "date": int(time.time()),
            "text": text,
            "chat": {"id": int(chat) if chat.lstrip("-").isdigit() else chat, "type": "supergroup"},
            "from": {
                "id": int(users[0]) if users else 1,
                "is_bot": False,
                "first_name": "demo",
                "username": "demo-operator",
            },
        },
    }
    r = requests.post(f"{stack.url('receiver')}/telegram/webhook", json=update, timeout=10,
                      headers={"X-Telegram-Bot-Api-Secret-Token": secret})
    r.raise_for_status()


def _alerts(stack: DemoStack, since: str) -> list[dict[str, Any]]:
    r = stack.api("GET", "/api/alerts", params={"since": since, "limit": 200})
    r.raise_for_status()
    return r.json()["alerts"]


def _telegram_state(stack: DemoStack, alert_id: int) -> str:
    r = stack.api("GET", f"/api/alerts/{alert_id}")
    if not r.ok:
        return "?"
    ds = [d for d in r.json()["alert"].get("deliveries", []) if d["channel"] == "telegram"]
    if not ds:
        return "-"
    marks = {NotificationStatus.SENT: "✓", NotificationStatus.FAILED: "✗", NotificationStatus.FOLDED: "+counted"}
    return " ".join(f"{d['kind']}{marks.get(d['status'], '…')}" for d in ds)


def _table(rows: list[dict[str, Any]], told: dict[int, str]) -> Any:
    from rich.table import Table

    t = Table(title="alerts in the receiver's history", expand=False)
    for col in ("id", "sev", "alertname", "where", "status", "telegram", "ack"):
        t.add_column(col, no_wrap=col in ("alertname", "status"))
    for a in sorted(rows, key=lambda a: a["id"]):
        labels = a.get("labels") or {}
        where = next((labels[k] for k in vocabulary.IDENTIFYING_LABELS if k != "tier" and labels.get(k)), "")
        t.add_row(str(a["id"]), a["severity"], a["alertname"], where, a["status"],
                  told[a["id"]], a.get("acknowledged_by") or "")
    return t


def _told(stack: DemoStack, rows: list[dict[str, Any]]) -> dict[int, str]:
    """What Telegram was told of each alert (see `_telegram_state`), by alert id."""
    return {a["id"]: _telegram_state(stack, a["id"]) for a in rows}


def print_history(console: Any, stack: DemoStack) -> None:
    """The receiver's whole history as a table, as `d76 history` shows it (or why it cannot)."""
    console.rule("[bold]history (d76 history)")
    try:
        rows = [a for a in _alerts(stack, "1970-01-01T00:00:00Z") if a["alertname"] != WATCHDOG]  # the heartbeat
        console.print(_table(rows, _told(stack, rows)))
    except Exception as exc:  # noqa: BLE001 - the stack may be what failed
        console.print(f"(history unavailable: {exc})")


def run_demo(stack: DemoStack, console: Any, timeout: float, secret: str = "") -> list[dict[str, Any]]:
    from rich.live import Live
    from rich.markup import escape

    since = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    tail = LogTail(stack.logs_of("receiver"))
    seen: dict[str, dict[str, Any]] = {}
    printed: list[str] = []

    def relevant() -> list[dict[str, Any]]:
        return [a for a in _alerts(stack, since) if a["alertname"] != WATCHDOG]

    def wait(pred, what: str, live: Live) -> list[dict[str, Any]]:
        """Poll until `pred(rows, told)`: the alerts, and what Telegram was told of each (read once
        per poll, for the table and the predicate)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = relevant()
            told = _told(stack, rows)
            for msg in tail.new_messages():
                printed.append(msg)
                live.console.print(escape(msg), style="dim")
            live.update(_table(rows, told))
            if pred(rows, told):
                return rows
            if time.monotonic() > deadline:
                raise DemoFailed(f"{what} did not happen within {timeout:.0f}s; see the logs in {stack.logs}")
            time.sleep(0.5)

    with Live(_table([], {}), console=console, refresh_per_second=4) as live:
        for inc in INCIDENTS:
            live.console.rule(f"[bold]incident: {inc.story}")
            stack.scenario(inc.scenario)

            def arrived(rows, told, name=inc.alertname):
                hits = [a for a in rows if a["alertname"] == name and a["status"] == "firing"]
                return bool(hits) and "firing✓" in told[hits[0]["id"]]

            rows = wait(arrived, f"{inc.alertname} notification", live)
            seen[inc.alertname] = next(a for a in rows if a["alertname"] == inc.alertname)
        frozen = seen["ExchangeFrozen"]
        if secret:
            live.console.rule("[bold]the operator asks from the phone: /status")
            _ask(stack, secret, "/status")
            wait(lambda rows, told: any("Pipeline status" in m for m in printed), "the /status answer", live)
        live.console.rule("[bold]an operator acknowledges the frozen exchange")
        r = stack.api("POST", f"/api/alerts/{frozen['id']}/ack",
                      json={"by": "demo-operator", "comment": "failing over upbit"})
        r.raise_for_status()
        live.console.rule("[bold]back to calm: everything resolves")
        stack.scenario("calm")
        names = {i.alertname for i in INCIDENTS}
        # resolved in history (by Alertmanager's webhook or the history reconciler) and told on Telegram
        def resolved(rows, told) -> bool:
            done = [a["status"] == "resolved" and ("resolved✓" in told[a["id"]] or "resolved+counted" in told[a["id"]])
                    for a in rows if a["alertname"] in names]
            return all(done) and names <= {a["alertname"] for a in rows}

        return wait(resolved, "resolution of every incident", live)


@click.command(name="demo")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".d76/demo"),
              show_default=True)
@click.option("--keep", is_flag=True, help="Leave the stack running at the end (`d76 stack down --state-dir ...`).")
@click.option("--timeout", type=float, default=150.0, show_default=True, help="Seconds to wait for each step.")
@click.option("--free-ports", is_flag=True, help="Pick free ports instead of the defaults ("
              f"{vocabulary.EXPORTER_PORT}, {vocabulary.PROMETHEUS_PORT}, {vocabulary.ALERTMANAGER_PORT}, "
              f"{vocabulary.RECEIVER_PORT}).")
def command(state_dir: Path, keep: bool, timeout: float, free_ports: bool) -> None:
    """Run the whole stack with the simulator and walk through incidents."""
    from rich.console import Console

    from catalog import CatalogError
    from local_stack.processes import free_port
    from local_stack.runner import Stack, StackConfig, StartupError

    console = Console()
    state_dir.mkdir(parents=True, exist_ok=True)
    override = state_dir / "demo-overrides.yml"
    override.write_text(yaml.safe_dump(DEMO_OVERRIDES, sort_keys=False))
    graphs = (state_dir / "graphs").resolve()
    secret = secrets.token_urlsafe(24)
    cfg = StackConfig(state_dir=state_dir, catalog_override=override,
                      receiver_env={"DEADMAN_TIMEOUT_SECONDS": "600",
                                    # the operator's commands arrive by webhook in the demo (see _ask)
                                    "TELEGRAM_WEBHOOK_SECRET": secret,
                                    "TELEGRAM_POLLING": "true" if _has_telegram() else "false",
                                    # dry run: graphs are saved here instead of being sent
                                    "TELEGRAM_DRY_RUN_DIR": str(graphs)})
    if free_ports:
        cfg.exporter_port, cfg.prometheus_port, cfg.alertmanager_port, cfg.receiver_port = (
            free_port(), free_port(), free_port(), free_port())
    # graphs in the page: the receiver asks this Prometheus for the alert's last 30 minutes
    cfg.receiver_env["PROMETHEUS_URL"] = f"http://{vocabulary.HOST}:{cfg.prometheus_port}"
    stack = Stack(cfg)
    console.rule("[bold]D76 demo: bot simulator -> Prometheus -> Alertmanager -> receiver -> Telegram")
    dry = "printed here (dry run)" if not _has_telegram() else "sent to your Telegram chat"
    console.print(f"Telegram messages are {dry}.")
    with console.status("starting the stack ..."):
        try:
            stack.up()
        except (StartupError, CatalogError) as exc:
            console.print(f"[red]could not start the stack:[/red] {exc}")
            sys.exit(1)
    for line in stack.iter_status_lines():
        console.print("  " + line)
    for line in stack.look_lines():  # the pages are open while the demo runs (the token file signs in)
        console.print("  " + line, markup=False, highlight=False, soft_wrap=True)
    ok = False
    try:
        run_demo(stack, console, timeout, secret)
        ok = True
    except DemoFailed as exc:
        console.print(f"[red]demo failed:[/red] {exc}")
    finally:
        print_history(console, stack)
        if keep:  # the pages, Prometheus' and Alertmanager's own (stopped with the stack otherwise)
            for line in stack.look_lines():
                console.print(line, markup=False, highlight=False, soft_wrap=True)
            console.print(f"Receiver API  {stack.url('receiver')}/api/alerts  (Authorization: Bearer "
                          f"$(cat {stack.state}/alertmanager/receiver_token))", markup=False, soft_wrap=True)
        console.print(f"Logs          {stack.logs}")
        pngs = sorted(graphs.glob("*.png")) if graphs.is_dir() else []
        if pngs:
            console.print(f"Graphs        {len(pngs)} PNG file(s) the bot would have sent after its pages:")
            for p in pngs:
                console.print(f"              {p}", markup=False)
        if keep:
            console.print(f"The stack keeps running; stop it with: d76 stack down --state-dir {state_dir}")
        else:
            stack.down()
            console.print("stack stopped (use --keep to leave it running, with its pages)")
    sys.exit(0 if ok else 1)


def _has_telegram() -> bool:
    import os

    return bool(os.environ.get("TELEGRAM_BOT_TOKEN") and os.environ.get("TELEGRAM_CHAT_ID"))
