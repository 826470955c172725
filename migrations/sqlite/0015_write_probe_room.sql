-- The readiness probe rewrites this blob too, so it proves room for a real append (a full disk
-- can still take a one-row write into space the log already holds).
ALTER TABLE write_probe ADD COLUMN room BLOB;
