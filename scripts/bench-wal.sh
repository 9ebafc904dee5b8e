#!/usr/bin/env bash
# The WAL benchmark (by hand, not in CI): signed, distinct monday webhooks at a steady rate to
# `boardsync run` on SQLite for a minute, sampling the size of the write-ahead log every 100 ms.
# Prints wrk's req/s and latency and the WAL's largest size, so a change to checkpointing can be
# judged on both. Needs wrk (apt-get install wrk) and python3. docs/reliability.md has ours.
#   DURATION  seconds of load (60)
#   DELAY_MS  pause between requests per connection (10: about 1,000 requests/s on 10 connections)
#   ROLE      the daemon's role (all: the processor reads the inbox beside the writer, as in use)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-60}
DELAY_MS=${DELAY_MS:-10}
ROLE=${ROLE:-all}
PORT=${PORT:-18081}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin boardsync
BIN=$CARGO_TARGET_DIR/release/boardsync
WORK=$(mktemp -d)
SECRET=bench-signing-secret
PUBLIC=https://boardsync.example.com
trap 'kill $PID $SAMPLER 2>/dev/null || true; rm -rf "$WORK"' EXIT

BENCH_JWT=$(python3 scripts/bench-jwt.py "$SECRET" "$PUBLIC/webhooks/monday")
export BENCH_JWT BENCH_RUN=1 BENCH_DELAY_MS=$DELAY_MS
BENCH_NOW=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
export BENCH_NOW

# The deliveries' board belongs to a pair, so with ROLE=all the processor takes each change
# (and fails to reach the APIs, which is beside the point: it reads and writes the store).
cat > "$WORK/bench.toml" <<TOML
[daemon]
listen = "127.0.0.1:$PORT"
public_url = "$PUBLIC"
database_url = "sqlite://$WORK/bench.db"
[miro]
token = "t"
api_url = "http://127.0.0.1:9/"
[monday]
token = "t"
signing_secret = "$SECRET"
api_url = "http://127.0.0.1:9/"
[[pair]]
name = "bench"
miro_board = "uXjVbench0="
monday_board = 7786783342
fields.title = { miro = "data.content", monday = "name" }
TOML
RUST_LOG=${DAEMON_LOG:-error} "$BIN" run --role "$ROLE" --config "$WORK/bench.toml" &
PID=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# The largest WAL seen, in bytes, written to $WORK/wal-max when the sampler is stopped.
(
  max=0
  trap 'echo $max > "$WORK/wal-max"; exit 0' TERM
  while :; do
    size=$(stat -c %s "$WORK/bench.db-wal" 2>/dev/null || echo 0)
    (( size > max )) && max=$size
    sleep 0.1
  done
) &
SAMPLER=$!

echo "### boardsync run --role $ROLE, SQLite: ${DURATION}s, 10 connections, ${DELAY_MS} ms between requests"
wrk -t2 -c10 -d"${DURATION}s" --latency -s scripts/ingest.lua "http://127.0.0.1:$PORT/webhooks/monday" |
  grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors"
kill -TERM $SAMPLER
wait $SAMPLER 2>/dev/null || true
echo "WAL largest: $(( $(cat "$WORK/wal-max") / 1024 )) KiB; at the end: $(( $(stat -c %s "$WORK/bench.db-wal" 2>/dev/null || echo 0) / 1024 )) KiB"
echo "database: $(( $(stat -c %s "$WORK/bench.db") / 1024 )) KiB"
echo "events stored: $(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from inbox').fetchone()[0])" "$WORK/bench.db")"
