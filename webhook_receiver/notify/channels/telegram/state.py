"""What the Telegram channel keeps in the receiver's database, so every replica knows it and it
survives a restart: chats that became supergroups, the getUpdates offset, the polling lease.

- `TelegramState`: the SQL (tables of schema version 7: `telegram_chat_migrations`,
  `telegram_poll_offsets`; the polling lease is a `history_leases` row named `telegram-poll`, taken
  with the history jobs' lease code).
- `ChatMoves`: old chat id -> the chat it became, in memory, backed by `TelegramState` when there is
  one (a channel built without a store, in unit tests or a dry run, keeps them in memory only).

A move is learnt from a 400 answering `migrate_to_chat_id` (or the service message announcing it);
the configured id keeps naming the lane (pacing, the outbox's destination), the channel translates
it at each call. Storage errors are the caller's to handle (`StorageUnavailable`).
"""
from __future__ import annotations

import logging
import threading

from ....store.base import AlertStore
from ....store.episodes import HistoryTables

__all__ = ["TelegramState", "ChatMoves", "POLL_LEASE"]

log = logging.getLogger("d76.notify.telegram")
POLL_LEASE = "telegram-poll"


class TelegramState:
    def __init__(self, store: AlertStore) -> None:
        self.store = store
        self.d = store.dialect
        self._leases = HistoryTables(store)

    # chats that became supergroups ----------------------------------------------------------------
    def moves(self) -> dict[str, str]:
        with self.store.transaction(write=False) as tx:
            rows = tx.fetchall("SELECT old_chat_id, new_chat_id FROM telegram_chat_migrations")
        return {str(r["old_chat_id"]): str(r["new_chat_id"]) for r in rows}

    def record_move(self, old: str, new: str) -> None:
        with self.store.transaction() as tx:
            tx.execute(
                "INSERT INTO telegram_chat_migrations (old_chat_id, new_chat_id, migrated_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (old_chat_id) DO UPDATE SET new_chat_id = excluded.new_chat_id "
                "WHERE telegram_chat_migrations.new_chat_id <> excluded.new_chat_id",
                (old, new, self.d.time_in(tx.now)))

    def claim_warning(self, old: str) -> bool:
        """True for exactly one caller (of every replica): the one that tells the chat."""
        with self.store.transaction() as tx:
            row = tx.fetchone("UPDATE telegram_chat_migrations SET warned_at = %s WHERE old_chat_id = %s "
                              "AND warned_at IS NULL RETURNING old_chat_id", (self.d.time_in(tx.now), old))
        return row is not None

    # long polling ---------------------------------------------------------------------------------------
    def poll_offset(self, bot_id: str) -> int | None:
        with self.store.transaction(write=False) as tx:
            row = tx.fetchone("SELECT next_offset FROM telegram_poll_offsets WHERE bot_id = %s", (bot_id,))
        return int(row["next_offset"]) if row is not None else None

    def save_offset(self, bot_id: str, offset: int) -> None:
        """Record the next offset; never moves it back (a late write of an old poller)."""
        with self.store.transaction() as tx:
            tx.execute(
                "INSERT INTO telegram_poll_offsets (bot_id, next_offset, updated_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (bot_id) DO UPDATE SET next_offset = excluded.next_offset, "
                "updated_at = excluded.updated_at WHERE telegram_poll_offsets.next_offset < excluded.next_offset",
                (bot_id, int(offset), self.d.time_in(tx.now)))

    def acquire_poll_lease(self, owner: str, seconds: float) -> bool:
        return bool(self._leases.acquire_lease(POLL_LEASE, owner, seconds))

    def release_poll_lease(self, owner: str) -> None:
        self._leases.release_lease(POLL_LEASE, owner)


class ChatMoves:
    """Which chat a configured chat id has become. Thread-safe; the database (when given) is read
    once, lazily, and written when a move is learnt; a storage failure leaves the move in memory."""

    MAX_HOPS = 5  # a supergroup does not migrate again; a loop in bad data must not hang a lane

    def __init__(self, state: TelegramState | None = None) -> None:
        self.state = state
        self._moves: dict[str, str] = {}
        self._loaded = state is None
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self._loaded or self.state is None:
            return
        try:
            stored = self.state.moves()
        except Exception as exc:  # storage down: translate what this process knows, read again later
            log.warning("telegram chat migrations unavailable", extra={"fields": {"error": type(exc).__name__}})
            return
        with self._lock:
            for old, new in stored.items():
                self._moves.setdefault(old, new)
            self._loaded = True

    def current(self, chat: str) -> str:
        """The chat to call for `chat` (itself unless it moved)."""
        self._load()
        with self._lock:
            for _ in range(self.MAX_HOPS):
                nxt = self._moves.get(chat)
                if nxt is None or nxt == chat:
                    break
                chat = nxt
        return chat

    def original(self, chat: str) -> str | None:
        """The configured chat that became `chat` (following a chain of moves back), or None when no
        chat moved there."""
        self._load()
        with self._lock:
            reverse = {new: old for old, new in self._moves.items()}
        found = None
        for _ in range(self.MAX_HOPS):
            prev = reverse.get(chat)
            if prev is None:
                break
            found = chat = prev
        return found

    def learn(self, old: str, new: str) -> bool:
        """Record that `old` became `new`; True the first time this process learns it."""
        with self._lock:
            if self._moves.get(old) == new or old == new:
                return False
            self._moves[old] = new
        if self.state is not None:
            try:
                self.state.record_move(old, new)
            except Exception as exc:
                log.warning("telegram chat migration not stored", extra={"fields": {"error": type(exc).__name__}})
        return True

    def claim_warning(self, old: str) -> bool:
        """Whether this process tells the chat about the move (once among every replica; without a
        database, once per process)."""
        if self.state is None:
            return True
        try:
            return self.state.claim_warning(old)
        except Exception:
            return False
