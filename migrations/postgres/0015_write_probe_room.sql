-- The readiness probe rewrites this value too, so it proves room for a real append (a full disk
-- can still take a one-row write into space the log already holds). EXTERNAL: stored as is,
-- not compressed to nothing.
ALTER TABLE write_probe ADD COLUMN room BYTEA;
ALTER TABLE write_probe ALTER COLUMN room SET STORAGE EXTERNAL;
