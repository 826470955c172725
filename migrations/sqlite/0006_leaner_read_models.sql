-- Nothing looks properties up by value; the index only slowed every write and replay.
DROP INDEX object_properties_by_value;
-- History is kept for the properties scoring reads over time (see HISTORY_PROPERTIES); the
-- rows of others are dropped here and come back only through the log.
DELETE FROM property_history WHERE name NOT IN
    ('hs_deal_stage_probability', 'dealstage', 'amount', 'lifecyclestage', 'hs_last_sales_activity_date');
