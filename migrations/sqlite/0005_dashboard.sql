-- What the dashboard sets and reads. Keep in step with migrations/postgres/0005_dashboard.sql.

-- Pairs a person paused: their inbox entries and outbox rows wait (still received, still
-- durable) until the pair is resumed.
CREATE TABLE paused_pairs (
    pair    TEXT PRIMARY KEY NOT NULL,
    since   INTEGER NOT NULL
);

-- The pair page lists a pair's history newest first, and finds an item's changes by its id.
CREATE INDEX history_pair_id ON history (pair, id);
CREATE INDEX history_pair_item ON history (pair, item);
-- Lag: the oldest change of a pair still waiting.
CREATE INDEX inbox_pair_pending ON inbox (pair, received_at) WHERE status = 'pending';
