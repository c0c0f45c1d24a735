"""A small periodic worker: a daemon thread that runs one step, waits, and runs again until stopped.

Background jobs of the receiver (the dead man's switch, the digest scheduler, history upkeep) share
it: a failing step is logged and the loop goes on; `stop()` interrupts the wait at once.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Protocol

__all__ = ["Periodic", "Worker", "process_owner_id"]


class Worker(Protocol):
    """A background job of the receiver: started with it, stopped before its store closes."""

    def start(self) -> object: ...

    def stop(self) -> None: ...


def process_owner_id(random_chars: int = 6) -> str:
    """`host:pid:random`: who holds a lease (lanes, history jobs); the pid tells an operator which
    process, the random part tells a restarted process with the same pid from its predecessor."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:random_chars]}"


class Periodic:
    def __init__(self, name: str, step: Callable[[], object], delay: Callable[[], float],
                 log: logging.Logger | None = None) -> None:
        """`delay()` says how long to wait before each step (called again after every step)."""
        self.name = name
        self.step = step
        self.delay = delay
        self.log = log or logging.getLogger("d76.background")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Periodic:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"d76-{self.name}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(max(0.0, self.delay())):
            try:
                self.step()
            except Exception:  # a job's failure must not end the job
                self.log.exception(f"{self.name} failed")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
