#!/usr/bin/env bash
# The ingest benchmark (by hand, not in CI): signed, distinct monday webhooks over loopback to
#   (a) boardsync --role ingest on SQLite, (b) the same on Postgres + Redis, and
#   (c) a bare axum handler that answers 200 without work (the ceiling),
# each at saturation and at a fixed ~1,000 requests/s. Needs wrk (apt-get install wrk), python3,
# and the local Postgres and Redis. Results go to standard output; docs/benchmarks.md has ours.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15}
PORT=${PORT:-18080}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
# BENCH_BIN and BENCH_BARE measure binaries built elsewhere (another commit's, back to back).
if [ -z "${BENCH_BIN:-}" ]; then
  cargo build --release --quiet --bin boardsync --example bare_ack
fi
BIN=${BENCH_BIN:-$CARGO_TARGET_DIR/release/boardsync}
BARE=${BENCH_BARE:-$CARGO_TARGET_DIR/release/examples/bare_ack}
WORK=$(mktemp -d)
SECRET=bench-signing-secret
PUBLIC=https://boardsync.example.com

BENCH_JWT=$(python3 scripts/bench-jwt.py "$SECRET" "$PUBLIC/webhooks/monday")
export BENCH_JWT
BENCH_NOW=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
export BENCH_NOW

RUN=0
run() { # NAME URL (each wrk run sends triggerUuids no earlier run sent)
  export BENCH_RUN=$((RUN += 1))
  echo "### $1: saturation (wrk -t2 -c64 -d${DURATION}s)"
  wrk -t2 -c64 -d"${DURATION}s" --latency -s scripts/ingest.lua "$2" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors"
  echo "### $1: ~1,000 requests/s (wrk -t2 -c10, 10 ms between requests per connection)"
  export BENCH_RUN=$((RUN += 1))
  BENCH_DELAY_MS=10 wrk -t2 -c10 -d"${DURATION}s" --latency -s scripts/ingest.lua "$2" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors"
}

wait_port() { for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return; sleep 0.1; done; echo "daemon did not start" >&2; exit 1; }

daemon() { # DATABASE_URL [REDIS_URL]
  cat > "$WORK/bench.toml" <<TOML
[daemon]
listen = "127.0.0.1:$PORT"
public_url = "$PUBLIC"
database_url = "$1"
${2:+redis_url = \"$2\"}
[ingress]
# Keys of this run only: earlier runs' keys in Redis would answer these events as duplicates.
redis_prefix = "bench-$$-$(date +%s)"
[miro]
token = "t"
[monday]
token = "t"
signing_secret = "$SECRET"
TOML
  RUST_LOG=warn "$BIN" run --role ingest --config "$WORK/bench.toml" &
  PID=$!
  wait_port
}

"$BARE" "127.0.0.1:$PORT" & PID=$!
sleep 0.5
run "bare axum handler" "http://127.0.0.1:$PORT/webhooks/monday"
kill $PID; wait $PID 2>/dev/null || true

daemon "sqlite://$WORK/bench.db"
run "boardsync --role ingest, SQLite" "http://127.0.0.1:$PORT/webhooks/monday"
echo "events stored: $(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from inbox').fetchone()[0])" "$WORK/bench.db")"
kill $PID; wait $PID 2>/dev/null || true

psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS boardsync_bench" postgres
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE boardsync_bench" postgres
daemon "postgres://postgres@127.0.0.1:5432/boardsync_bench" "redis://127.0.0.1:6379"
run "boardsync --role ingest, Postgres + Redis" "http://127.0.0.1:$PORT/webhooks/monday"
echo "events stored: $(psql -tA -h 127.0.0.1 -U postgres -c 'select count(*) from inbox' boardsync_bench)"
kill $PID; wait $PID 2>/dev/null || true
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS boardsync_bench" postgres
rm -rf "$WORK"
