"""`d76 simulate`: serve a simulated D75 bot's metrics and a scenario control endpoint.

    d76 simulate --scenario calm --listen 127.0.0.1:9876

Prints one line telling where /metrics and /scenario are, then runs until SIGTERM or SIGINT
(exit 0). ``SIGUSR1`` steps to the next scenario; ``POST /scenario`` switches to a named one.
"""
from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import click

from simulator.scenarios import SCENARIO_NAMES
from vocabulary import EXPORTER_PORT, HOST

__all__ = ["command", "parse_listen"]


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port_s = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, e.g. {HOST}:{EXPORTER_PORT}")
    try:
        port = int(port_s)
    except ValueError:
        raise ValueError(f"port {port_s!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError("port must be within 0..65535 (0 picks a free one)")
    return host.strip("[]"), port


def _listen(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, int]:
    try:
        return parse_listen(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("simulate")
@click.option("--scenario", default="calm", show_default=True, type=click.Choice(SCENARIO_NAMES),
              help="Scenario to start with (see GET /scenario for descriptions).")
@click.option("--target", default=None, help="Exchange, route or symbol the scenario hits (default: the first).")
@click.option("--listen", default=f"{HOST}:{EXPORTER_PORT}", show_default=True, callback=_listen,
              help="HOST:PORT for /metrics and /scenario (port 0: a free one).")
@click.option("--exchanges", default=7, show_default=True, type=click.IntRange(2, 200))
@click.option("--routes", default=12, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--symbols", default=4, show_default=True, type=click.IntRange(1, 1000))
@click.option("--tick", default=0.5, show_default=True, type=click.FloatRange(0.01, 60),
              help="Seconds between publications.")
@click.option("--seed", default=None, type=int, help="Random seed (reproducible walks).")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="Directory whose disk the free-ratio metric watches (default: current directory).")
@click.option("--log-level", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def command(scenario: str, target: str | None, listen: tuple[str, int], exchanges: int, routes: int,
            symbols: int, tick: float, seed: int | None, data_dir: str | None, log_level: str) -> None:
    """Serve a simulated D75 bot's metrics, with named incident scenarios."""
    from prometheus_client import disable_created_metrics

    from exporter.metrics import D75Metrics
    from exporter.serve import serve_in_thread
    from simulator.app import make_simulator_app
    from simulator.engine import BadTarget, Simulator, SimulatorConfig
    from webhook_receiver.logs import configure_logging

    configure_logging(log_level)
    # `*_created` series double a counter's exposition and no rule uses them (a real bot may
    # choose the same; it is process-wide, so only this CLI process decides it here)
    disable_created_metrics()
    try:
        config = SimulatorConfig(exchanges=exchanges, routes=routes, symbols=symbols, tick=tick, seed=seed)
        sim = Simulator(D75Metrics(data_dir=data_dir), config, scenario=scenario, target=target)
    except BadTarget as exc:
        raise click.BadParameter(str(exc), param_hint="--target") from None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None

    host, port = listen
    try:
        server = serve_in_thread(make_simulator_app(sim), host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sim.start()

    stop = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_step(signum: int, frame: FrameType | None) -> None:
        # switch outside the signal handler: the handler may interrupt a thread holding the lock
        threading.Thread(target=_step, args=(sim,), daemon=True).start()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGUSR1, on_step)

    click.echo(f"d76 simulate: scenario {sim.scenario}; metrics at {server.url}/metrics, "
               f"scenario control at {server.url}/scenario (GET, POST; SIGUSR1 steps)", err=False)
    sys.stdout.flush()
    while not stop.wait(1.0):
        pass
    sim.stop()
    server.stop()


def _step(sim: object) -> None:
    name = sim.next_scenario()  # type: ignore[attr-defined]
    click.echo(f"d76 simulate: scenario {name}", err=True)
