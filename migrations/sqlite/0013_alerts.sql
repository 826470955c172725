-- Alerts as the alerter last folded them from their streams: derived, rebuilt from the log.
-- `sequence` is the stream's last folded event, so a lagging instance never overwrites a newer
-- state with an older one.
CREATE TABLE alerts (
    alert_id        TEXT   PRIMARY KEY,
    portal_id       BIGINT NOT NULL,
    stream_id       TEXT   NOT NULL,
    rule_id         TEXT   NOT NULL,
    destination_id  TEXT   NOT NULL,
    alert_type      TEXT   NOT NULL,
    subject_type    TEXT   NOT NULL,
    subject_id      BIGINT NOT NULL,
    state           TEXT   NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    changed_at      BIGINT NOT NULL,
    raised_at       BIGINT NOT NULL,
    delivered_at    BIGINT,
    sequence        BIGINT NOT NULL
);
CREATE INDEX alerts_due ON alerts (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX alerts_by_portal ON alerts (portal_id, raised_at, alert_id);
