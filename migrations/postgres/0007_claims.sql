-- Claims name their dispatcher, which renews them while it works: a dispatcher that died (kill -9,
-- a lost machine) stops renewing, and its rows are taken up by another once the short claim
-- lapses, while a slow call of a live one never loses its rows. Keep in step with
-- migrations/sqlite/0007_claims.sql.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
CREATE INDEX outbox_claims ON outbox (claimed_by) WHERE status = 'in_flight';
