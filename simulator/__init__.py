"""A simulated D75 bot: every contract metric, calm values, and incident scenarios switched live.

    from simulator import Simulator, make_simulator_app

The demo, the tests, the benchmarks and `d76 simulate` use it in place of the real bot; the bot
itself never imports this package (it imports `exporter`).
"""
from __future__ import annotations

from .app import make_simulator_app
from .engine import BadTarget, Simulator
from .scenarios import SCENARIO_NAMES, SCENARIOS, UnknownScenario

__all__ = ["Simulator", "BadTarget", "make_simulator_app", "SCENARIOS", "SCENARIO_NAMES", "UnknownScenario"]
