-- The event log: the source of truth. Append-only; `position` is the global order.
-- Times are epoch milliseconds (HubSpot's own resolution), payloads JSON text.
CREATE TABLE events (
    position      INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id     TEXT    NOT NULL,
    stream_type   TEXT    NOT NULL,
    sequence      INTEGER NOT NULL,
    event_type    TEXT    NOT NULL,
    event_version TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    metadata      TEXT    NOT NULL,
    occurred_at   INTEGER NOT NULL,
    recorded_at   INTEGER NOT NULL,
    UNIQUE (stream_id, sequence)
);

-- Idempotency: one row per delivered message, keyed by a caller-given hash.
CREATE TABLE inbox (
    dedup_key   BLOB    PRIMARY KEY,
    recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
