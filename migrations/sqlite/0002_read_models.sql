-- Read models: derived from the event log, rebuildable at any time (`healthscore projections rebuild`).

-- Each projector's position in the log, written in the same transaction as its read models.
CREATE TABLE projector_checkpoints (
    projector  TEXT   PRIMARY KEY,
    position   BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Contacts, companies and deals. Existence resolves by the latest create/delete/restore stamp.
CREATE TABLE crm_objects (
    portal_id    BIGINT NOT NULL,
    object_type  TEXT   NOT NULL,
    object_id    BIGINT NOT NULL,
    deleted      INTEGER NOT NULL,
    existence_at BIGINT,
    merged_into  BIGINT,
    erased       INTEGER NOT NULL,
    created_at   BIGINT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (portal_id, object_type, object_id)
);

-- Current property values: latest occurred_at wins, a tie goes to the later log position.
CREATE TABLE object_properties (
    portal_id   BIGINT NOT NULL,
    object_type TEXT   NOT NULL,
    object_id   BIGINT NOT NULL,
    name        TEXT   NOT NULL,
    value       TEXT   NOT NULL,
    occurred_at BIGINT NOT NULL,
    position    BIGINT NOT NULL,
    PRIMARY KEY (portal_id, object_type, object_id, name)
);
CREATE INDEX object_properties_by_value ON object_properties (portal_id, object_type, name, value);

-- Every property change (deal probability history, as-of reads). One row per event and name.
CREATE TABLE property_history (
    position    BIGINT NOT NULL,
    name        TEXT   NOT NULL,
    portal_id   BIGINT NOT NULL,
    object_type TEXT   NOT NULL,
    object_id   BIGINT NOT NULL,
    value       TEXT   NOT NULL,
    occurred_at BIGINT NOT NULL,
    PRIMARY KEY (position, name)
);
CREATE INDEX property_history_by_object ON property_history (portal_id, object_type, object_id, name, occurred_at);

-- Associations, one row per direction so either end can be queried by its key.
CREATE TABLE associations (
    portal_id   BIGINT NOT NULL,
    from_type   TEXT   NOT NULL,
    from_id     BIGINT NOT NULL,
    to_type     TEXT   NOT NULL,
    to_id       BIGINT NOT NULL,
    present     INTEGER NOT NULL,
    occurred_at BIGINT NOT NULL,
    PRIMARY KEY (portal_id, from_type, from_id, to_type, to_id)
);

-- When each object was touched (creation, property change, association change, restore):
-- distinct (object, occurred_at) pairs, the input of activity_frequency.
CREATE TABLE object_activity (
    portal_id   BIGINT NOT NULL,
    object_type TEXT   NOT NULL,
    object_id   BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    PRIMARY KEY (portal_id, object_type, object_id, occurred_at)
);
