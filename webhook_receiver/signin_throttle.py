"""How many wrong tokens one client may paste into the pages' sign-in form: a few a minute
(RECEIVER_SIGNIN_TRIES_PER_MINUTE, default 5), then the form answers 429 with Retry-After until the
oldest of them is a minute old.

Per receiver process and per client address (`request.remote_addr`: behind a reverse proxy every
phone shares the proxy's address, so a stranger guessing makes everyone wait a minute; the token is
still never guessed). The table is bounded: past `max_clients` the client heard from least recently
is forgotten.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["SignInThrottle", "WINDOW_SECONDS"]

WINDOW_SECONDS = 60.0


class SignInThrottle:
    def __init__(self, tries_per_minute: int, *, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.tries = tries_per_minute
        self.max_clients = max_clients
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        seen = self._failures.get(client)
        if seen is None:
            return deque()
        while seen and now - seen[0] >= WINDOW_SECONDS:
            seen.popleft()
        if not seen:
            del self._failures[client]
        return seen

    def retry_after(self, client: str) -> int | None:
        """Seconds this client must wait before trying again, or None when it may try now."""
        with self._lock:
            now = self.clock()
            seen = self._recent(client, now)
            if len(seen) < self.tries:
                return None
            return max(1, int(WINDOW_SECONDS - (now - seen[0]) + 0.999))

    def failed(self, client: str) -> None:
        """Count one wrong token from this client."""
        with self._lock:
            now = self.clock()
            seen = self._recent(client, now)
            seen.append(now)
            self._failures[client] = seen
            self._failures.move_to_end(client)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
