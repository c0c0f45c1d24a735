"""Versioned schema migrations, one SQL text per backend, recorded in `schema_migrations`.

Kept as Python strings (not package data files) so an installed wheel carries them. Append new
migrations at the end with the next version number; never edit an applied one.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Migration", "MIGRATIONS", "latest_version"]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    postgresql: str
    sqlite: str


_PG_0001 = """
CREATE TABLE alerts (
    id                BIGSERIAL PRIMARY KEY,
    fingerprint       TEXT NOT NULL,
    starts_at         TIMESTAMPTZ NOT NULL,
    alertname         TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
    severity          TEXT NOT NULL DEFAULT '',
    source            TEXT NOT NULL DEFAULT '',
    title             TEXT NOT NULL DEFAULT '',
    message           TEXT NOT NULL DEFAULT '',
    labels            JSONB NOT NULL DEFAULT '{}'::jsonb,
    annotations       JSONB NOT NULL DEFAULT '{}'::jsonb,
    metadata          JSONB NOT NULL DEFAULT '{}'::jsonb,
    "timestamp"       TIMESTAMPTZ NOT NULL,
    last_received_at  TIMESTAMPTZ NOT NULL,
    ends_at           TIMESTAMPTZ,
    receive_count     INTEGER NOT NULL DEFAULT 1,
    acknowledged      BOOLEAN NOT NULL DEFAULT FALSE,
    acknowledged_at   TIMESTAMPTZ,
    acknowledged_by   TEXT,
    ack_comment       TEXT,
    silenced_until    TIMESTAMPTZ,
    silence_id        TEXT,
    CONSTRAINT alerts_fingerprint_starts_at_key UNIQUE (fingerprint, starts_at)
);
CREATE INDEX alerts_starts_at_idx ON alerts (starts_at DESC, id DESC);
CREATE INDEX alerts_severity_starts_at_idx ON alerts (severity, starts_at DESC, id DESC);
CREATE INDEX alerts_source_starts_at_idx ON alerts (source, starts_at DESC);
CREATE INDEX alerts_open_idx ON alerts (status, acknowledged) WHERE status = 'firing';

CREATE TABLE webhook_payloads (
    id           BIGSERIAL PRIMARY KEY,
    received_at  TIMESTAMPTZ NOT NULL,
    group_key    TEXT NOT NULL DEFAULT '',
    receiver     TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    body         TEXT NOT NULL,
    alert_count  INTEGER NOT NULL
);
CREATE INDEX webhook_payloads_received_at_idx ON webhook_payloads (received_at);

CREATE TABLE notifications (
    id               BIGSERIAL PRIMARY KEY,
    alert_id         BIGINT REFERENCES alerts (id) ON DELETE CASCADE,
    channel          TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('firing', 'resolved', 'ack', 'summary', 'digest', 'deadman')),
    severity         TEXT,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'folded')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    locked_until     TIMESTAMPTZ,
    locked_by        TEXT,
    last_error       TEXT,
    message_id       TEXT,
    chat_id          TEXT,
    payload          JSONB NOT NULL DEFAULT '{}'::jsonb,
    dedupe_key       TEXT NOT NULL UNIQUE,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    sent_at          TIMESTAMPTZ
);
CREATE INDEX notifications_due_idx ON notifications (status, next_attempt_at);
CREATE INDEX notifications_alert_idx ON notifications (alert_id);
"""

# SQLite: times are UTC text in one fixed format (YYYY-MM-DDTHH:MM:SS.ffffffZ) so text order is
# time order; JSON is text; booleans are 0/1.
_SQLITE_0001 = """
CREATE TABLE alerts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint       TEXT NOT NULL,
    starts_at         TEXT NOT NULL,
    alertname         TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
    severity          TEXT NOT NULL DEFAULT '',
    source            TEXT NOT NULL DEFAULT '',
    title             TEXT NOT NULL DEFAULT '',
    message           TEXT NOT NULL DEFAULT '',
    labels            TEXT NOT NULL DEFAULT '{}',
    annotations       TEXT NOT NULL DEFAULT '{}',
    metadata          TEXT NOT NULL DEFAULT '{}',
    "timestamp"       TEXT NOT NULL,
    last_received_at  TEXT NOT NULL,
    ends_at           TEXT,
    receive_count     INTEGER NOT NULL DEFAULT 1,
    acknowledged      INTEGER NOT NULL DEFAULT 0,
    acknowledged_at   TEXT,
    acknowledged_by   TEXT,
    ack_comment       TEXT,
    silenced_until    TEXT,
    silence_id        TEXT,
    UNIQUE (fingerprint, starts_at)
);
CREATE INDEX alerts_starts_at_idx ON alerts (starts_at DESC, id DESC);
CREATE INDEX alerts_severity_starts_at_idx ON alerts (severity, starts_at DESC, id DESC);
CREATE INDEX alerts_source_starts_at_idx ON alerts (source, starts_at DESC);

CREATE TABLE webhook_payloads (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at  TEXT NOT NULL,
    group_key    TEXT NOT NULL DEFAULT '',
    receiver     TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    body         TEXT NOT NULL,
    alert_count  INTEGER NOT NULL
);
CREATE INDEX webhook_payloads_received_at_idx ON webhook_payloads (received_at);

CREATE TABLE notifications (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id         INTEGER REFERENCES alerts (id) ON DELETE CASCADE,
    channel          TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('firing', 'resolved', 'ack', 'summary', 'digest', 'deadman')),
    severity         TEXT,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'folded')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    locked_until     TEXT,
    locked_by        TEXT,
    last_error       TEXT,
    message_id       TEXT,
    chat_id          TEXT,
    payload          TEXT NOT NULL DEFAULT '{}',
    dedupe_key       TEXT NOT NULL UNIQUE,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    sent_at          TEXT
);
CREATE INDEX notifications_due_idx ON notifications (status, next_attempt_at);
CREATE INDEX notifications_alert_idx ON notifications (alert_id);
"""

# The dispatcher reads recent Telegram sends (the budget shared by several receivers) every few
# seconds: a range scan on sent_at instead of a scan of every notification ever sent. Rows queued
# as already sent (storm summaries) got no sent_at before this version: backfill it.
_0002 = """
UPDATE notifications SET sent_at = created_at WHERE status = 'sent' AND sent_at IS NULL;
CREATE INDEX notifications_sent_idx ON notifications (channel, status, sent_at);
"""

# Notifications are delivered lane by lane (one channel destination: a Telegram chat, a Slack
# webhook), by one receiver process at a time (`notify_lanes` lease), and several alerts can share one
# message (`messages`, referenced by `notifications.message_ref`). Kinds and statuses are checked in
# code (`webhook_receiver.notify.outbox`) so new kinds need no table rebuild.
_PG_0003 = """
ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_kind_check;
ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_status_check;
CREATE TABLE messages (
    id          BIGSERIAL PRIMARY KEY,
    channel     TEXT NOT NULL,
    destination TEXT NOT NULL,
    shape       TEXT NOT NULL,
    remote_ids  JSONB NOT NULL DEFAULT '[]'::jsonb,
    sent_at     TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX messages_lane_sent_idx ON messages (channel, destination, sent_at);
ALTER TABLE notifications ADD COLUMN destination TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN message_ref BIGINT REFERENCES messages (id) ON DELETE SET NULL;
CREATE INDEX notifications_lane_due_idx ON notifications (channel, destination, status, next_attempt_at);
CREATE INDEX notifications_message_ref_idx ON notifications (message_ref);
CREATE TABLE notify_lanes (
    channel     TEXT NOT NULL,
    destination TEXT NOT NULL,
    owner       TEXT,
    lease_until TIMESTAMPTZ,
    PRIMARY KEY (channel, destination)
);
"""

_SQLITE_0003 = """
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    channel     TEXT NOT NULL,
    destination TEXT NOT NULL,
    shape       TEXT NOT NULL,
    remote_ids  TEXT NOT NULL DEFAULT '[]',
    sent_at     TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX messages_lane_sent_idx ON messages (channel, destination, sent_at);
CREATE TABLE notifications_v3 (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id         INTEGER REFERENCES alerts (id) ON DELETE CASCADE,
    channel          TEXT NOT NULL,
    kind             TEXT NOT NULL,
    severity         TEXT,
    status           TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    locked_until     TEXT,
    locked_by        TEXT,
    last_error       TEXT,
    message_id       TEXT,
    chat_id          TEXT,
    payload          TEXT NOT NULL DEFAULT '{}',
    dedupe_key       TEXT NOT NULL UNIQUE,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    sent_at          TEXT,
    destination      TEXT NOT NULL DEFAULT '',
    message_ref      INTEGER REFERENCES messages (id) ON DELETE SET NULL
);
INSERT INTO notifications_v3 (id, alert_id, channel, kind, severity, status, attempts, next_attempt_at,
    locked_until, locked_by, last_error, message_id, chat_id, payload, dedupe_key, created_at,
    updated_at, sent_at)
SELECT id, alert_id, channel, kind, severity, status, attempts, next_attempt_at, locked_until,
    locked_by, last_error, message_id, chat_id, payload, dedupe_key, created_at, updated_at, sent_at
FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_v3 RENAME TO notifications;
CREATE INDEX notifications_due_idx ON notifications (status, next_attempt_at);
CREATE INDEX notifications_alert_idx ON notifications (alert_id);
CREATE INDEX notifications_sent_idx ON notifications (channel, status, sent_at);
CREATE INDEX notifications_lane_due_idx ON notifications (channel, destination, status, next_attempt_at);
CREATE INDEX notifications_message_ref_idx ON notifications (message_ref);
CREATE TABLE notify_lanes (
    channel     TEXT NOT NULL,
    destination TEXT NOT NULL,
    owner       TEXT,
    lease_until TEXT,
    PRIMARY KEY (channel, destination)
);
"""

# History an incident review can rely on (issue 14):
# - alerts.reconciled_at: set when the history reconciler resolved the alert because Alertmanager no
#   longer had it (silenced/inhibited alerts get no resolve webhook; a resolve can be lost);
#   am_last_seen_at: when Alertmanager last listed it; silenced_at: when a silence was set from the
#   receiver; origin: 'webhook', or 'alertmanager' for an alert first stored from Alertmanager's API
#   because it was suppressed from the start (receive_count stays 0 until a webhook brings it).
# - suppressed_episodes: one row per continuous period an alert was silenced (cause = silence id,
#   with who created it and why) or inhibited (cause = the inhibiting alert's fingerprint, linked
#   to its stored occurrence). At most one open episode per (alert, kind, cause).
# - history_leases: one receiver process at a time runs each history job (reconcile, prune).
# - indexes for retention (notifications without an alert, messages: by age) and, on SQLite, for
#   the reconciler's read of the firing alerts (PostgreSQL has alerts_open_idx since version 1).
_PG_0004 = """
ALTER TABLE alerts ADD COLUMN reconciled_at TIMESTAMPTZ;
ALTER TABLE alerts ADD COLUMN am_last_seen_at TIMESTAMPTZ;
ALTER TABLE alerts ADD COLUMN silenced_at TIMESTAMPTZ;
ALTER TABLE alerts ADD COLUMN origin TEXT NOT NULL DEFAULT 'webhook';
CREATE TABLE suppressed_episodes (
    id                  BIGSERIAL PRIMARY KEY,
    alert_id            BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    kind                TEXT NOT NULL CHECK (kind IN ('silenced', 'inhibited')),
    cause               TEXT NOT NULL,
    silence_created_by  TEXT,
    silence_comment     TEXT,
    silence_starts_at   TIMESTAMPTZ,
    silence_ends_at     TIMESTAMPTZ,
    inhibiting_alert_id BIGINT REFERENCES alerts (id) ON DELETE SET NULL,
    inhibiting_alertname TEXT,
    inhibiting_labels   JSONB,
    started_at          TIMESTAMPTZ NOT NULL,
    ended_at            TIMESTAMPTZ
);
CREATE UNIQUE INDEX suppressed_episodes_open_key ON suppressed_episodes (alert_id, kind, cause)
    WHERE ended_at IS NULL;
CREATE INDEX suppressed_episodes_alert_idx ON suppressed_episodes (alert_id);
CREATE INDEX suppressed_episodes_started_idx ON suppressed_episodes (started_at);
CREATE INDEX suppressed_episodes_inhibiting_idx ON suppressed_episodes (inhibiting_alert_id);
CREATE TABLE history_leases (
    name        TEXT PRIMARY KEY,
    owner       TEXT,
    lease_until TIMESTAMPTZ
);
CREATE INDEX notifications_orphan_created_idx ON notifications (created_at) WHERE alert_id IS NULL;
CREATE INDEX messages_sent_idx ON messages (sent_at);
"""

_SQLITE_0004 = """
ALTER TABLE alerts ADD COLUMN reconciled_at TEXT;
ALTER TABLE alerts ADD COLUMN am_last_seen_at TEXT;
ALTER TABLE alerts ADD COLUMN silenced_at TEXT;
ALTER TABLE alerts ADD COLUMN origin TEXT NOT NULL DEFAULT 'webhook';
CREATE INDEX alerts_firing_idx ON alerts (status) WHERE status = 'firing';
CREATE TABLE suppressed_episodes (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id            INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    kind                TEXT NOT NULL CHECK (kind IN ('silenced', 'inhibited')),
    cause               TEXT NOT NULL,
    silence_created_by  TEXT,
    silence_comment     TEXT,
    silence_starts_at   TEXT,
    silence_ends_at     TEXT,
    inhibiting_alert_id INTEGER REFERENCES alerts (id) ON DELETE SET NULL,
    inhibiting_alertname TEXT,
    inhibiting_labels   TEXT,
    started_at          TEXT NOT NULL,
    ended_at            TEXT
);
CREATE UNIQUE INDEX suppressed_episodes_open_key ON suppressed_episodes (alert_id, kind, cause)
    WHERE ended_at IS NULL;
CREATE INDEX suppressed_episodes_alert_idx ON suppressed_episodes (alert_id);
CREATE INDEX suppressed_episodes_started_idx ON suppressed_episodes (started_at);
CREATE INDEX suppressed_episodes_inhibiting_idx ON suppressed_episodes (inhibiting_alert_id);
CREATE TABLE history_leases (
    name        TEXT PRIMARY KEY,
    owner       TEXT,
    lease_until TEXT
);
CREATE INDEX notifications_orphan_created_idx ON notifications (created_at) WHERE alert_id IS NULL;
CREATE INDEX messages_sent_idx ON messages (sent_at);
"""

# Maintenance windows (`/mute` from Telegram): the Alertmanager silence and who opened it, why, and
# who ended it. Answers to commands are looked up by the message they became (paged `/alerts`).
_PG_0005 = """
CREATE TABLE maintenance_windows (
    id          BIGSERIAL PRIMARY KEY,
    silence_id  TEXT NOT NULL,
    matchers    JSONB NOT NULL DEFAULT '[]'::jsonb,
    created_by  TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    starts_at   TIMESTAMPTZ NOT NULL,
    ends_at     TIMESTAMPTZ NOT NULL,
    ended_at    TIMESTAMPTZ,
    ended_by    TEXT
);
CREATE INDEX maintenance_windows_ends_idx ON maintenance_windows (ends_at);
CREATE INDEX maintenance_windows_silence_idx ON maintenance_windows (silence_id);
CREATE INDEX notifications_reply_message_idx ON notifications (chat_id, message_id) WHERE kind = 'reply';
"""

_SQLITE_0005 = """
CREATE TABLE maintenance_windows (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    silence_id  TEXT NOT NULL,
    matchers    TEXT NOT NULL DEFAULT '[]',
    created_by  TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    starts_at   TEXT NOT NULL,
    ends_at     TEXT NOT NULL,
    ended_at    TEXT,
    ended_by    TEXT
);
CREATE INDEX maintenance_windows_ends_idx ON maintenance_windows (ends_at);
CREATE INDEX maintenance_windows_silence_idx ON maintenance_windows (silence_id);
CREATE INDEX notifications_reply_message_idx ON notifications (chat_id, message_id) WHERE kind = 'reply';
"""

# On call and recurring maintenance (issue 18, items 4 and 5): overrides taken from the phone or the
# API (`oncall_overrides`: who, from, until, by whom); the silences watched so their natural expiry
# while their alerts still fire is told once (`silence_watch`, one row per silence, claimed by state);
# suppressed episodes of a new kind `muted` (a recurring window, cause = its name): the kinds are
# checked in code (`store.episodes.EPISODE_KINDS`), so the CHECK goes (SQLite: the table is rebuilt).
_PG_0006 = """
CREATE TABLE oncall_overrides (
    id          BIGSERIAL PRIMARY KEY,
    person      TEXT NOT NULL,
    starts_at   TIMESTAMPTZ NOT NULL,
    ends_at     TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX oncall_overrides_ends_idx ON oncall_overrides (ends_at);
CREATE TABLE silence_watch (
    silence_id     TEXT PRIMARY KEY,
    matchers       JSONB NOT NULL DEFAULT '[]'::jsonb,
    created_by     TEXT,
    comment        TEXT,
    ends_at        TIMESTAMPTZ NOT NULL,
    first_seen_at  TIMESTAMPTZ NOT NULL,
    state          TEXT NOT NULL DEFAULT 'active',
    settled_at     TIMESTAMPTZ,
    still_firing   INTEGER
);
CREATE INDEX silence_watch_active_idx ON silence_watch (state) WHERE state = 'active';
ALTER TABLE suppressed_episodes DROP CONSTRAINT IF EXISTS suppressed_episodes_kind_check;
"""

_SQLITE_0006 = """
CREATE TABLE oncall_overrides (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    person      TEXT NOT NULL,
    starts_at   TEXT NOT NULL,
    ends_at     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX oncall_overrides_ends_idx ON oncall_overrides (ends_at);
CREATE TABLE silence_watch (
    silence_id     TEXT PRIMARY KEY,
    matchers       TEXT NOT NULL DEFAULT '[]',
    created_by     TEXT,
    comment        TEXT,
    ends_at        TEXT NOT NULL,
    first_seen_at  TEXT NOT NULL,
    state          TEXT NOT NULL DEFAULT 'active',
    settled_at     TEXT,
    still_firing   INTEGER
);
CREATE INDEX silence_watch_active_idx ON silence_watch (state) WHERE state = 'active';
CREATE TABLE suppressed_episodes_v6 (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id            INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    kind                TEXT NOT NULL,
    cause               TEXT NOT NULL,
    silence_created_by  TEXT,
    silence_comment     TEXT,
    silence_starts_at   TEXT,
    silence_ends_at     TEXT,
    inhibiting_alert_id INTEGER REFERENCES alerts (id) ON DELETE SET NULL,
    inhibiting_alertname TEXT,
    inhibiting_labels   TEXT,
    started_at          TEXT NOT NULL,
    ended_at            TEXT
);
INSERT INTO suppressed_episodes_v6 SELECT id, alert_id, kind, cause, silence_created_by, silence_comment,
    silence_starts_at, silence_ends_at, inhibiting_alert_id, inhibiting_alertname, inhibiting_labels, started_at,
    ended_at FROM suppressed_episodes;
DROP TABLE suppressed_episodes;
ALTER TABLE suppressed_episodes_v6 RENAME TO suppressed_episodes;
CREATE UNIQUE INDEX suppressed_episodes_open_key ON suppressed_episodes (alert_id, kind, cause)
    WHERE ended_at IS NULL;
CREATE INDEX suppressed_episodes_alert_idx ON suppressed_episodes (alert_id);
CREATE INDEX suppressed_episodes_started_idx ON suppressed_episodes (started_at);
CREATE INDEX suppressed_episodes_inhibiting_idx ON suppressed_episodes (inhibiting_alert_id);
"""

# The watchman's own state (issue 19):
# - telegram_chat_migrations: a group upgraded to a supergroup answers 400 with
#   `migrate_to_chat_id`; the Telegram channel sends to the new chat from then on (the configured,
#   old id keeps naming the lane) and warns once (`warned_at`) to update the configuration.
# - telegram_poll_offsets: the next getUpdates offset of each bot (by its numeric id, the part of
#   the token before ':'), so whichever receiver takes the polling lease over (`history_leases`,
#   name `telegram-poll`) neither loses nor repeats updates.
# - channel_health: each receiver's view of a channel's calls (last success, the start and latest
#   failure of the current failing streak), reported every heartbeat interval; the heartbeat's
#   lease holder (`history_leases`, name `heartbeat`) reads every receiver's rows.
_PG_0007 = """
CREATE TABLE telegram_chat_migrations (
    old_chat_id TEXT PRIMARY KEY,
    new_chat_id TEXT NOT NULL,
    migrated_at TIMESTAMPTZ NOT NULL,
    warned_at   TIMESTAMPTZ
);
CREATE TABLE telegram_poll_offsets (
    bot_id      TEXT PRIMARY KEY,
    next_offset BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE TABLE channel_health (
    channel         TEXT NOT NULL,
    owner           TEXT NOT NULL,
    last_ok_at      TIMESTAMPTZ,
    failing_since   TIMESTAMPTZ,
    last_failure_at TIMESTAMPTZ,
    last_error      TEXT,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel, owner)
);
"""

_SQLITE_0007 = """
CREATE TABLE telegram_chat_migrations (
    old_chat_id TEXT PRIMARY KEY,
    new_chat_id TEXT NOT NULL,
    migrated_at TEXT NOT NULL,
    warned_at   TEXT
);
CREATE TABLE telegram_poll_offsets (
    bot_id      TEXT PRIMARY KEY,
    next_offset INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE TABLE channel_health (
    channel         TEXT NOT NULL,
    owner           TEXT NOT NULL,
    last_ok_at      TEXT,
    failing_since   TEXT,
    last_failure_at TEXT,
    last_error      TEXT,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (channel, owner)
);
"""

# Acknowledgement as ownership, reminders and escalation (issue 18): every ack, unack and comment is
# an event (who, when, what); every reminder and escalation step due is a row with its due time,
# written in the transaction of what caused it (the ingest, an unack) and claimed once by whichever
# receiver reaches it first. The alert row keeps the counts its messages show and the latest comment
# (`ack_comment` stays the acknowledgement's own).
_PG_0008 = """
ALTER TABLE alerts ADD COLUMN reminders_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN escalations_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN last_comment TEXT;
ALTER TABLE alerts ADD COLUMN last_comment_by TEXT;
CREATE TABLE alert_ack_events (
    id        BIGSERIAL PRIMARY KEY,
    alert_id  BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    action    TEXT NOT NULL,
    actor     TEXT NOT NULL,
    comment   TEXT,
    at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX alert_ack_events_alert_idx ON alert_ack_events (alert_id, id);
CREATE TABLE alert_followups (
    id          BIGSERIAL PRIMARY KEY,
    alert_id    BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    chain       INTEGER NOT NULL DEFAULT 0,
    step        INTEGER NOT NULL,
    round       INTEGER NOT NULL DEFAULT 0,
    due_at      TIMESTAMPTZ NOT NULL,
    status      TEXT NOT NULL DEFAULT 'due',
    outcome     TEXT,
    detail      JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX alert_followups_key ON alert_followups (alert_id, kind, chain, step, round);
CREATE INDEX alert_followups_due_idx ON alert_followups (due_at) WHERE status = 'due';
"""

_SQLITE_0008 = """
ALTER TABLE alerts ADD COLUMN reminders_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN escalations_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN last_comment TEXT;
ALTER TABLE alerts ADD COLUMN last_comment_by TEXT;
CREATE TABLE alert_ack_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id  INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    action    TEXT NOT NULL,
    actor     TEXT NOT NULL,
    comment   TEXT,
    at        TEXT NOT NULL
);
CREATE INDEX alert_ack_events_alert_idx ON alert_ack_events (alert_id, id);
CREATE TABLE alert_followups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id    INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    chain       INTEGER NOT NULL DEFAULT 0,
    step        INTEGER NOT NULL,
    round       INTEGER NOT NULL DEFAULT 0,
    due_at      TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'due',
    outcome     TEXT,
    detail      TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX alert_followups_key ON alert_followups (alert_id, kind, chain, step, round);
CREATE INDEX alert_followups_due_idx ON alert_followups (due_at) WHERE status = 'due';
"""

# history by activity: alerts that ended at or after a window's start (the firing ones have their own
# partial index); an index on (status, ends_at) would not help the OR the queries use
_0009 = """
CREATE INDEX alerts_ends_at_idx ON alerts (ends_at);
"""

MIGRATIONS: list[Migration] = [
    Migration(1, "alerts, webhook_payloads, notifications", _PG_0001, _SQLITE_0001),
    Migration(2, "notifications sent_at index", _0002, _0002),
    Migration(3, "delivery lanes, shared messages, open kinds", _PG_0003, _SQLITE_0003),
    Migration(4, "history: reconciliation marks, suppressed episodes, job leases", _PG_0004, _SQLITE_0004),
    Migration(5, "maintenance windows, command answers by message", _PG_0005, _SQLITE_0005),
    Migration(6, "on-call overrides, watched silences, muted episodes", _PG_0006, _SQLITE_0006),
    Migration(7, "telegram chat migrations and poll offsets, channel health", _PG_0007, _SQLITE_0007),
    Migration(8, "ownership: ack events, reminders and escalation steps due", _PG_0008, _SQLITE_0008),
    Migration(9, "alerts by end time (history by activity)", _0009, _0009),
]


def latest_version() -> int:
    return MIGRATIONS[-1].version
