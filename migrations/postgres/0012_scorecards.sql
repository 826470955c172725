-- Scorecards (v2): each score names the scorecard that gave it, and accounts (companies) have
-- materialized scores of their own. Derived tables: rebuilt from the log.
ALTER TABLE customer_scores ADD COLUMN scorecard TEXT NOT NULL DEFAULT 'default';
CREATE TABLE company_scores (
    portal_id      BIGINT NOT NULL,
    company_id     BIGINT NOT NULL,
    domain         TEXT   NOT NULL,
    name           TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    score_tenths   BIGINT,
    band           TEXT,
    coverage       TEXT   NOT NULL,
    config_version BIGINT NOT NULL,
    scored_at      BIGINT NOT NULL,
    weakest_factor TEXT,
    scorecard      TEXT   NOT NULL,
    PRIMARY KEY (portal_id, company_id)
);
CREATE INDEX company_scores_by_score_desc
    ON company_scores (portal_id, (COALESCE(score_tenths, -1)), company_id);
CREATE INDEX company_scores_by_score_asc
    ON company_scores (portal_id, (CASE WHEN score_tenths IS NULL THEN 10000 ELSE score_tenths END), company_id);
CREATE INDEX company_scores_by_name ON company_scores (portal_id, name, company_id);
