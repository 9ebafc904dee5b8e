-- The sync engine's tables. Keep in step with migrations/sqlite/0002_sync.sql.

-- Fields both sides changed since the last sync, with both values and which won.
CREATE TABLE conflicts (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    pair       TEXT NOT NULL,
    link_id    BIGINT,
    item       TEXT NOT NULL,
    field      TEXT NOT NULL,
    winner     TEXT NOT NULL,
    won        TEXT NOT NULL,
    lost       TEXT NOT NULL,
    miro_ts    BIGINT NOT NULL,
    monday_ts  BIGINT NOT NULL
);
CREATE INDEX conflicts_pair_at ON conflicts (pair, at);

-- The inbox is processed in order per item; this finds an item's pending entries.
CREATE INDEX inbox_item ON inbox (pair, item_id, status);
