-- boardsync store, PostgreSQL flavour. Times are Unix milliseconds (UTC); JSON is stored as TEXT.
-- Keep in step with migrations/sqlite/0001_init.sql: the same tables, columns and indexes.

-- One row per event the daemon has accepted, until `[ingress] dedupe_ttl` has passed. The unique
-- key is what makes deliveries idempotent: a repeat finds its key and is answered as a duplicate.
CREATE TABLE dedupe_keys (
    key         TEXT PRIMARY KEY NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX dedupe_keys_expiry ON dedupe_keys (expires_at);

-- Normalised changes from every source, durable before a webhook is acknowledged.
CREATE TABLE inbox (
    id            BIGSERIAL PRIMARY KEY,
    dedupe_key    TEXT NOT NULL UNIQUE,
    source        TEXT NOT NULL,
    pair          TEXT,
    board_id      TEXT NOT NULL,
    item_id       TEXT,
    kind          TEXT NOT NULL,
    change        TEXT NOT NULL,
    raw_body      BYTEA,
    source_ts     BIGINT,
    received_at   BIGINT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending',
    outcome       TEXT,
    processed_at  BIGINT,
    error         TEXT
);
CREATE INDEX inbox_pending ON inbox (status, id);

-- A Miro item and a monday item kept in step, with the last synced value of each field.
CREATE TABLE links (
    id              BIGSERIAL PRIMARY KEY,
    pair            TEXT NOT NULL,
    miro_item_id    TEXT NOT NULL,
    monday_item_id  TEXT NOT NULL,
    miro_type       TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'active',
    fields          TEXT NOT NULL DEFAULT '{}',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (pair, miro_item_id),
    UNIQUE (pair, monday_item_id)
);

-- Writes to make on Miro or monday. Rows are never deleted while pending or dead.
CREATE TABLE outbox (
    id               BIGSERIAL PRIMARY KEY,
    pair             TEXT NOT NULL,
    target           TEXT NOT NULL,
    target_item      TEXT,
    link_id          BIGINT,
    operation        TEXT NOT NULL,
    payload          TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    status           TEXT NOT NULL DEFAULT 'pending',
    attempts         BIGINT NOT NULL DEFAULT 0,
    due_at           BIGINT NOT NULL,
    claimed_until    BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    finished_at      BIGINT
);
CREATE INDEX outbox_due ON outbox (status, due_at);
CREATE INDEX outbox_target ON outbox (target, target_item, status);

-- Poller positions: a content-logs cursor, a reconciler page, the last completed scan.
CREATE TABLE cursors (
    name        TEXT PRIMARY KEY NOT NULL,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- What a poller last saw of each item, to diff the next scan against.
CREATE TABLE snapshots (
    pair        TEXT NOT NULL,
    side        TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    version     TEXT NOT NULL,
    data        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (pair, side, item_id)
);

-- What the daemon did with each change, for the dashboard.
CREATE TABLE history (
    id        BIGSERIAL PRIMARY KEY,
    at        BIGINT NOT NULL,
    pair      TEXT NOT NULL,
    origin    TEXT NOT NULL,
    item      TEXT NOT NULL,
    title     TEXT,
    outcome   TEXT NOT NULL,
    detail    TEXT
);
CREATE INDEX history_pair_at ON history (pair, at);
