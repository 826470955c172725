-- Nothing reads these two read models: property history and activity are served by the
-- scoring index, which folds them from the log. Writing them cost every projector step about
-- half its B-tree writes (a history row and its second index per scored property change, an
-- activity row per activity). The log still holds every fact they held.
DROP TABLE property_history;
DROP TABLE object_activity;
