-- Current scores, materialized for listing and summaries (derived: rebuilt from the log).
-- score_tenths is the score times ten (the score has one decimal), exact and sortable.
CREATE TABLE customer_scores (
    portal_id      BIGINT NOT NULL,
    customer_id    BIGINT NOT NULL,
    email          TEXT   NOT NULL,
    name           TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    score_tenths   BIGINT,
    band           TEXT,
    coverage       TEXT   NOT NULL,
    config_version BIGINT NOT NULL,
    scored_at      BIGINT NOT NULL,
    PRIMARY KEY (portal_id, customer_id)
);
CREATE INDEX customer_scores_by_score ON customer_scores (portal_id, score_tenths, customer_id);
CREATE INDEX customer_scores_by_name ON customer_scores (portal_id, name, customer_id);
