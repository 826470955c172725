-- One sync per portal at a time, across processes and instances: the holder renews its lease
-- while it works; an expired lease (or one whose process is gone) can be taken over.
CREATE TABLE sync_leases (
    portal_id  BIGINT PRIMARY KEY,
    holder     TEXT   NOT NULL,
    run_id     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
