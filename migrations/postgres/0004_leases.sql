-- Leases: work that one replica at a time does (the processor; later, each board's pollers).
-- A replica holds a lease until it expires unless it renews it. Keep in step with
-- migrations/sqlite/0004_leases.sql.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY NOT NULL,
    holder      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
