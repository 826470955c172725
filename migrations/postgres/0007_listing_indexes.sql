-- The listing sorts by these exact expressions (unscored rows last in both orders); indexes on
-- them let a page read 50 rows instead of sorting the whole portal.
DROP INDEX customer_scores_by_score;
CREATE INDEX customer_scores_by_score_desc
    ON customer_scores (portal_id, (COALESCE(score_tenths, -1)), customer_id);
CREATE INDEX customer_scores_by_score_asc
    ON customer_scores (portal_id, (CASE WHEN score_tenths IS NULL THEN 10000 ELSE score_tenths END), customer_id);
