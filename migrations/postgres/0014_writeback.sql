-- What write-back last wrote to HubSpot per record: the next pass writes only what differs.
-- Not derived from the log (it is what HubSpot was told); a row is written only after its
-- batch was accepted, so an interrupted pass resumes with the records it had not written.
CREATE TABLE writeback_values (
    portal_id   BIGINT NOT NULL,
    object_type TEXT   NOT NULL,
    object_id   BIGINT NOT NULL,
    score       TEXT   NOT NULL,
    band        TEXT   NOT NULL,
    trend_30d   TEXT   NOT NULL,
    top_risk    TEXT   NOT NULL,
    written_at  BIGINT NOT NULL,
    PRIMARY KEY (portal_id, object_type, object_id)
);
