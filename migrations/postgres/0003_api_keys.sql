-- API keys: only the SHA-256 of each key is stored; the key itself is shown once at creation.
CREATE TABLE api_keys (
    id         TEXT   PRIMARY KEY,
    portal_id  BIGINT NOT NULL,
    name       TEXT   NOT NULL,
    key_hash   BYTEA  NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
