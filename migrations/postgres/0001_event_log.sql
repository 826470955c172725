-- The event log: the source of truth. Append-only; `position` is the global order.
-- Times are epoch milliseconds (HubSpot's own resolution), payloads JSON text
-- (stored verbatim, identical on both backends).
CREATE TABLE events (
    position      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id     TEXT   NOT NULL,
    stream_type   TEXT   NOT NULL,
    sequence      BIGINT NOT NULL,
    event_type    TEXT   NOT NULL,
    event_version TEXT   NOT NULL,
    payload       TEXT   NOT NULL,
    metadata      TEXT   NOT NULL,
    occurred_at   BIGINT NOT NULL,
    recorded_at   BIGINT NOT NULL,
    UNIQUE (stream_id, sequence)
);

-- Idempotency: one row per delivered message, keyed by a caller-given hash.
CREATE TABLE inbox (
    dedup_key   BYTEA  PRIMARY KEY,
    recorded_at BIGINT NOT NULL
);
