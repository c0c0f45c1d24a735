"""Group commit: the webhook payloads of concurrent requests stored in one transaction.

Why: a durable commit waits for the disk (fsync; with a synchronous standby, for the standby too),
and one transaction per payload pays that wait, and the BEGIN, lock, read and COMMIT round trips,
for every single-alert payload. A writer thread takes every payload queued while the previous
transaction committed and stores them together (`AlertStore.ingest_many`): one commit makes them
all durable. Each request waits for the commit of its batch and only then is answered 200: nothing
is acknowledged before it is durable, exactly as with one transaction each.

Failures: an outage (`StorageUnavailable`) fails every request of the batch (503; Alertmanager
retries), and since the batch is one transaction none of it is stored, not even in part. Any other
error (a value the database refuses in one payload: 400) is not the others' fault: the batch is
rolled back and each of its payloads is stored again alone, so each request gets its own answer.

No waiting for company: a payload that arrives while a writer is idle is stored at once (a batch
of one); batches form only while a commit is in flight, so a quiet receiver answers as fast as
before and a busy one commits less often.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import datetime

from ..errors import StorageUnavailable
from ..payload import WebhookPayload
from .base import AlertStore, IngestJob, IngestResult
from .changes import IngestHook, no_hook

__all__ = ["GroupCommit"]

log = logging.getLogger("webhook_receiver.store.group_commit")

MAX_BATCH_ALERTS = 5000  # a batch stops growing past this many alerts (a big payload is a batch alone)
# Two writers: while one batch waits for its commit (the disk), the next is already being built and
# sent, so the CPU work of one overlaps the fsync of the other. More buys nothing on this design's
# target (one receiver process, GIL-bound) and only adds connections.
WRITERS = 2


class _Pending:
    __slots__ = ("job", "done", "result", "error")

    def __init__(self, job: IngestJob) -> None:
        self.job = job
        self.done = threading.Event()
        self.result: IngestResult | None = None
        self.error: BaseException | None = None


class GroupCommit:
    """`submit(payload, hook)` from any number of threads; `writers` writer threads store what they
    submit in batches of at most `max_batch` payloads (1: one transaction each, as `store.ingest`, in
    the request's own thread). Batches of different writers are separate transactions: payloads
    sharing a fingerprint serialise on its lock exactly as concurrent requests did before."""

    def __init__(self, store: AlertStore, max_batch: int = 64, writers: int = WRITERS) -> None:
        self.store = store
        self.max_batch = max(1, max_batch)
        self.writers = max(1, writers)
        self._queue: deque[_Pending] = deque()
        self._cv = threading.Condition()
        self._closed = False
        self._threads: list[threading.Thread] = []
        self.batches = 0  # batches committed as one transaction so far, and their payloads (tests, benchmarks)
        self.payloads = 0

    def submit(self, payload: WebhookPayload, hook: IngestHook | None = None, now: datetime | None = None
               ) -> IngestResult:
        """Store the payload (with its hook, in its batch's transaction); returns once it is committed,
        or raises what storing it raised. Never returns before the commit."""
        if self.max_batch == 1:
            return self.store.ingest(payload, hook, now)
        pending = _Pending(IngestJob(payload, hook or no_hook, now))
        with self._cv:
            if self._closed:
                raise StorageUnavailable("the receiver is shutting down")
            if not self._threads:
                self._threads = [threading.Thread(target=self._run, name=f"d76-group-commit-{i}", daemon=True)
                                 for i in range(self.writers)]
                for t in self._threads:
                    t.start()
            self._queue.append(pending)
            self._cv.notify()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    def close(self, timeout: float = 10.0) -> None:
        """Store what is queued, then stop the writer; later submits get StorageUnavailable."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
            threads = list(self._threads)
        for t in threads:
            t.join(timeout)

    # ---- the writer ----------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if not self._queue:
                    return  # closed and drained
                batch = self._take()
            if self._store(batch):
                with self._cv:
                    self.batches += 1
                    self.payloads += len(batch)

    def _take(self) -> list[_Pending]:
        batch = [self._queue.popleft()]
        alerts = len(batch[0].job.payload.alerts)
        while self._queue and len(batch) < self.max_batch:
            more = len(self._queue[0].job.payload.alerts)
            if alerts + more > MAX_BATCH_ALERTS:
                break
            batch.append(self._queue.popleft())
            alerts += more
        return batch

    def _store(self, batch: list[_Pending]) -> bool:
        """Store the batch and tell each of its requests; True when it was committed as one."""
        try:
            results = self.store.ingest_many([p.job for p in batch])
        except StorageUnavailable as exc:
            for p in batch:  # one transaction: none of them is stored
                p.error = StorageUnavailable(str(exc))  # one exception each: each is raised in its own thread
                p.error.__cause__ = exc
                p.done.set()
            return False
        except BaseException as exc:  # noqa: BLE001 - whatever it is, every waiting request is told
            if len(batch) == 1:
                batch[0].error = exc
                batch[0].done.set()
                return False
            log.info("a batch of payloads failed; storing them one by one",
                     extra={"fields": {"payloads": len(batch), "error": type(exc).__name__}})
            for p in batch:
                try:
                    p.result = self.store.ingest(p.job.payload, p.job.hook, p.job.now)
                except BaseException as one:
                    p.error = one
                p.done.set()
            return False
        for p, r in zip(batch, results):
            p.result = r
            p.done.set()
        return True
