-- What the retention job deletes, found without scanning whole tables. Keep in step with
-- migrations/sqlite/0003_retention.sql.

CREATE INDEX outbox_finished ON outbox (finished_at) WHERE status = 'done';
CREATE INDEX inbox_processed ON inbox (processed_at) WHERE status = 'done';
CREATE INDEX inbox_raw ON inbox (received_at) WHERE raw_body IS NOT NULL;
CREATE INDEX history_at ON history (at);
CREATE INDEX conflicts_at ON conflicts (at);
