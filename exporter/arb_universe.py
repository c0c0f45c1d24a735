"""Hooks for the D75 arb universe: how many routes are tradable (``active``) or skipped (``skip``).

    universe = ArbUniverseHooks(metrics)
    universe.on_counts(active=42, skip=3)
    universe.on_states({"upbit-binance-BTC": "active", "upbit-okx-ETH": "skip"})
"""
from __future__ import annotations

from collections.abc import Mapping

from ._hooks import Hooks, count, label_value
from .metrics import D75Metrics

__all__ = ["ArbUniverseHooks", "ROUTE_STATES"]

ROUTE_STATES = ("active", "skip")


class ArbUniverseHooks(Hooks):
    """What the universe reports after each re-evaluation: the number of routes per state."""

    component = "arb_universe"
    hook_methods = ("on_counts", "on_states")

    def __init__(self, metrics: D75Metrics | None) -> None:
        super().__init__(metrics)
        self._routes = self._shared("universe_routes", "state")

    def _publish(self, active: int, skip: int) -> None:
        values = (count(active), count(skip))
        for state, value in zip(ROUTE_STATES, values):
            child = self._routes.get(state)
            if child is None:
                child = self._routes.child(state, (state,))
            child.set(value)

    def on_counts(self, active: int, skip: int) -> None:
        """Both counts at once, so the two series always describe the same evaluation."""
        try:
            self._publish(active, skip)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_counts", exc)

    def on_states(self, states: Mapping[str, object]) -> None:
        """Counts from a route -> state mapping (state ``active``/``skip`` or an enum of those names)."""
        try:
            active = skip = 0
            for state in states.values():
                s = label_value(state).lower()
                if s == "active":
                    active += 1
                elif s == "skip":
                    skip += 1
                else:
                    raise ValueError(f"unknown route state {s!r}")
            self._publish(active, skip)
        except Exception as exc:  # noqa: BLE001
            self._fail("on_states", exc)
