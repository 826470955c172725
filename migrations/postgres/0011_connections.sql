-- Keys are for one portal's data or, with scope 'operator', for managing every portal's
-- connections and keys (an operator key's portal_id is 0 and reads no data).
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'portal';

-- Each connected portal's HubSpot tokens, sealed with AES-256-GCM (the portal id is the
-- associated data, so a sealed token moved to another row does not open). What happened to a
-- connection is in the log ({portal}/connection); only the secrets live here.
CREATE TABLE connection_tokens (
    portal_id     BIGINT PRIMARY KEY,
    access_token  TEXT   NOT NULL,
    refresh_token TEXT,
    expires_at    BIGINT,
    updated_at    BIGINT NOT NULL
);

-- OAuth install states: single use, short-lived; only their SHA-256 is kept.
CREATE TABLE oauth_states (
    state_hash BYTEA  PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
