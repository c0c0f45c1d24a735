"""Waiting for something a background thread or another process does."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["until"]

T = TypeVar("T")


def until(predicate: Callable[[], T], timeout: float = 10.0, every: float = 0.02, what: str = "condition",
          explain: Callable[[], object] | None = None) -> T:
    """The first truthy value of `predicate()`, asked every `every` seconds; fails the test after
    `timeout` seconds (the message ends with `explain()`, what was seen instead, when given)."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        assert time.monotonic() < deadline, f"{what} not met in {timeout} s" + (f"; {explain()}" if explain else "")
        time.sleep(every)
