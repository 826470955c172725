-- One row that readiness rewrites to prove the database takes durable writes (GET /readyz).
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at BIGINT NOT NULL
);
