-- Readiness: `/readyz` writes its row here, so that "ready" means the store can commit a write
-- (a full disk or a stuck write lock fails it), not only answer a read. Keep in step with
-- migrations/sqlite/0006_readiness.sql.
CREATE TABLE readiness (
    probe       TEXT PRIMARY KEY NOT NULL,
    checked_at  BIGINT NOT NULL
);
