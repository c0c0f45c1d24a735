"""In-memory stand-ins for the notify parts a unit test does not exercise: the outbox the planner
fills and the reply queue the Telegram command handler answers through."""
from __future__ import annotations

from typing import Any

__all__ = ["RecordingOutbox", "RecordingReplies"]


class RecordingOutbox:
    """Keeps every row the planner enqueues (`rows`), in order."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def enqueue(self, tx: Any, rows: list[dict]) -> int:
        self.rows.extend(rows)
        return len(rows)


class RecordingReplies:
    """Keeps every reply queued (`queued`: chat, payload, dedupe key); knows no earlier query."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, dict, str]] = []

    def queue(self, chat_id: str, payload: dict, dedupe_key: str) -> None:
        self.queued.append((chat_id, payload, dedupe_key))

    def query_of(self, chat_id: str, message_id: int) -> dict | None:
        return None
