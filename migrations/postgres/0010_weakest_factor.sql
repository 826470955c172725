-- The factor that costs each customer the most points (weight times what its value lacks of 1),
-- for the dashboard's at-risk list; null when none applies.
ALTER TABLE customer_scores ADD COLUMN weakest_factor TEXT;
