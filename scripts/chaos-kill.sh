#!/usr/bin/env bash
# kill -9 under load (by hand, not in CI; issue 18 part 1). Runs `boardsync sandbox` as a process
# of its own with seeded boards, `boardsync run` against it, and a steady load: people creating and
# editing sticky notes and items on both boards, and signed monday deliveries POSTed straight to
# the daemon, each retried until it gets a 200 (as monday does). Kills the daemon with SIGKILL
# KILLS times at random moments and starts it again each time. Then it stops the load, waits for
# the run to settle (with a deadline), and checks: every delivery answered 200 is in the inbox
# exactly once, every item created has exactly one twin, and both boards are equal under the
# mapping. Exits 0 only when all hold; a failed run's logs and store stay in the directory printed.
#
#   scripts/chaos-kill.sh [sqlite|postgres] [KILLS]      (default: sqlite, 10 kills)
#
# SEED=N repeats a run's kill gaps and load choices (the timing of a run is the machine's own).
# Postgres mode creates a fresh database on 127.0.0.1:5432 (trust auth, user postgres) and drops it
# at the end, and uses Redis on 127.0.0.1:6379 under a key prefix of its own, deleted at the end.
# KEEP=1 keeps the run directory of a passing run too. Needs bash, python3 (3.11, standard library
# only), curl, and psql and redis-cli for Postgres. Figures: docs/reliability.md, "kill -9 under load".
set -euo pipefail
cd "$(dirname "$0")/.."

STORE=${1:-sqlite}
KILLS=${2:-10}
case "$STORE" in
  sqlite | postgres) ;;
  *) echo "usage: scripts/chaos-kill.sh [sqlite|postgres] [KILLS]" >&2; exit 2 ;;
esac
[[ "$KILLS" =~ ^[0-9]+$ ]] || { echo "KILLS must be a number" >&2; exit 2; }
SEED=${SEED:-$(python3 -c 'import random; print(random.getrandbits(32))')}
# Seconds the daemon runs between two kills: uniform in [GAP_MIN, GAP_MAX].
GAP_MIN=${GAP_MIN:-1.5}
GAP_MAX=${GAP_MAX:-6}
# How long the run may take to settle after the load stops. A write the killed dispatcher had
# claimed waits out its 60 s claim before a new daemon takes it, so this is well above a minute.
QUIESCE_SECONDS=${QUIESCE_SECONDS:-300}
echo "chaos-kill: $STORE, $KILLS kills, seed $SEED (SEED=$SEED scripts/chaos-kill.sh $STORE $KILLS repeats it)"

# One release build, beside other builds on a small machine: niced, in a target directory of its own.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/boardsync-target-chaos}
nice -n 10 cargo build --release --quiet --bin boardsync
WORK=$(mktemp -d "${TMPDIR:-/tmp}/boardsync-chaos.XXXXXX")
# Run a copy, so that a build during the run does not change what runs.
cp "$CARGO_TARGET_DIR/release/boardsync" "$WORK/boardsync"
BIN=$WORK/boardsync

SANDBOX_PID= DAEMON_PID= LOAD_PID= DB= REDIS_PREFIX=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null || true
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DAEMON_PID" 2>/dev/null || true
  fi
  [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "$DB" ]; then
    if [ "$rc" -ne 0 ] && command -v pg_dump >/dev/null; then
      pg_dump -h 127.0.0.1 -U postgres "$DB" >"$WORK/store.sql" 2>/dev/null || true
    fi
    psql -X -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true
  fi
  if [ -n "$REDIS_PREFIX" ]; then
    redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "$REDIS_PREFIX:*" |
      xargs -r redis-cli -h 127.0.0.1 -p 6379 DEL >/dev/null 2>&1 || true
  fi
  if [ "$rc" -eq 0 ] && [ -z "${KEEP:-}" ]; then
    rm -rf "$WORK"
  else
    rm -f "$WORK/boardsync"
    echo "chaos-kill: logs, load and checks kept in $WORK (daemon.N.log: one per start of the daemon)" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "chaos-kill: $*" >&2; exit 1; }

# Three free ports (a command substitution, so that the sockets are closed before they are used).
PORTS=$(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
ports = [s.getsockname()[1] for s in socks]
for s in socks: s.close()
print(*ports)')
read -r MIRO_PORT MONDAY_PORT DAEMON_PORT <<<"$PORTS"

# The sandbox keeps its state in memory, so it lives apart from the daemon and outlives its deaths.
# monday retries a delivery that got no 200 every 2 s, so redeliveries land during the run.
"$BIN" sandbox --miro-listen "127.0.0.1:$MIRO_PORT" --monday-listen "127.0.0.1:$MONDAY_PORT" \
  --seed mappings/sandbox-seed.json --webhook-retry-interval 2 >"$WORK/sandbox.log" 2>&1 &
SANDBOX_PID=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$MIRO_PORT/_sandbox/state" >/dev/null 2>&1 &&
    curl -fsS "http://127.0.0.1:$MONDAY_PORT/_sandbox/state" >/dev/null 2>&1 && break
  kill -0 "$SANDBOX_PID" 2>/dev/null || fail "the sandbox did not start: $(tail -5 "$WORK/sandbox.log")"
  sleep 0.1
done

REDIS_LINES=
if [ "$STORE" = sqlite ]; then
  DATABASE_URL_RUN="sqlite://$WORK/chaos.db"
else
  DB="boardsync_chaos_$$_$RANDOM"
  psql -X -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $DB" >/dev/null ||
    fail "cannot create a database on 127.0.0.1:5432 as postgres"
  DATABASE_URL_RUN="postgres://postgres@127.0.0.1:5432/$DB"
  REDIS_PREFIX="boardsync-chaos-$$"
  REDIS_LINES="redis_url = \"redis://127.0.0.1:6379\""
fi
# The file's values, not the environment's, are the run's.
unset DATABASE_URL REDIS_URL BOARDSYNC_LISTEN BOARDSYNC_CONFIG

# mappings/sandbox.toml at these ports, plus the personal-token path secret, the seeded items
# linked at first start, and idle Miro scans at most 5 s apart (so the run settles sooner).
cat >"$WORK/chaos.toml" <<TOML
[daemon]
listen = "127.0.0.1:$DAEMON_PORT"
public_url = "http://127.0.0.1:$DAEMON_PORT"
database_url = "$DATABASE_URL_RUN"
$REDIS_LINES

[miro]
token = "sandbox-app-boardsync"
client_secret = "sandbox-secret"
api_url = "http://127.0.0.1:$MIRO_PORT"
webhooks = true

[monday]
token = "sandbox-app-boardsync"
signing_secret = "sandbox-secret"
webhook_secret = "chaos-path-secret"
api_url = "http://127.0.0.1:$MONDAY_PORT/v2"

[ingress]
redis_prefix = "${REDIS_PREFIX:-boardsync}"

[poller]
max_interval = "5s"

[[pair]]
name = "Chaos"
miro_board = "uXjVSandbx1="
monday_board = 1000000001
monday_group = "topics"
sync_existing = true

  [pair.fields]
  title  = { miro = "data.content", monday = "name" }
  status = { miro = "style.fillColor", monday = "status", values = { light_green = "Done", red = "Stuck", light_yellow = "Working on it" } }
TOML

cat >"$WORK/load.json" <<JSON
{
  "seed": $SEED, "store": "$STORE",
  "sqlite_path": "$WORK/chaos.db", "postgres_url": "${DATABASE_URL_RUN}",
  "miro_url": "http://127.0.0.1:$MIRO_PORT", "monday_url": "http://127.0.0.1:$MONDAY_PORT/v2",
  "monday_url_root": "http://127.0.0.1:$MONDAY_PORT",
  "daemon_url": "http://127.0.0.1:$DAEMON_PORT", "public_url": "http://127.0.0.1:$DAEMON_PORT",
  "signing_secret": "sandbox-secret", "webhook_secret": "chaos-path-secret",
  "miro_board": "uXjVSandbx1=", "monday_board": 1000000001, "monday_group": "topics",
  "values": {"light_green": "Done", "red": "Stuck", "light_yellow": "Working on it"},
  "miro_people": ["alice", "carol"], "monday_people": ["bob", "dave"], "reporter": "erin",
  "rate": ${RATE:-1.0}, "create_share": 0.3,
  "deliverers": 8, "delivery_rate": ${DELIVERY_RATE:-6.0}, "timeout": 10, "drain_seconds": 120,
  "quiesce_seconds": $QUIESCE_SECONDS, "stable_seconds": 6
}
JSON

STARTS=0
# Starts the daemon and waits for /healthz; prints how long that took.
start_daemon() {
  STARTS=$((STARTS + 1))
  local t0=$SECONDS log="$WORK/daemon.$STARTS.log"
  RUST_LOG=${RUST_LOG:-info} "$BIN" run --config "$WORK/chaos.toml" >"$log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 600); do
    curl -fsS --max-time 1 "http://127.0.0.1:$DAEMON_PORT/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon exited at start $STARTS: $(tail -5 "$log")"
    sleep 0.1
  done
  fail "the daemon did not answer /healthz within 60 s of start $STARTS (log: $log)"
}

start_daemon
echo "chaos-kill: sandbox on :$MIRO_PORT (Miro) and :$MONDAY_PORT (monday), daemon on :$DAEMON_PORT, run directory $WORK"
python3 scripts/chaos/load.py "$WORK" 2>"$WORK/load.log" &
LOAD_PID=$!

# The moments: the daemon's uptime before each kill, drawn from the seed; one more stretch of load
# after the last restart, so that the last daemon takes load too.
read -r -a GAPS < <(python3 -c "import random; r = random.Random($SEED)
print(*(f'{r.uniform($GAP_MIN, $GAP_MAX):.2f}' for _ in range($KILLS + 1)))")
echo 0 >"$WORK/kills"
RUN_START=$SECONDS
for ((i = 1; i <= KILLS; i++)); do
  sleep "${GAPS[$((i - 1))]}"
  kill -0 "$LOAD_PID" 2>/dev/null || fail "the load generator stopped: $(tail -5 "$WORK/load.log")"
  kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died by itself before kill $i (log: $WORK/daemon.$STARTS.log)"
  kill -9 "$DAEMON_PID"
  wait "$DAEMON_PID" 2>/dev/null || true
  echo "$i" >"$WORK/kills"
  t0=$(date +%s.%N)
  start_daemon
  echo "kill $i/$KILLS after ${GAPS[$((i - 1))]} s up; back on /healthz in $(python3 -c "import time; print(f'{time.time() - $t0:.2f}')") s"
done
sleep "${GAPS[$KILLS]}"
echo "chaos-kill: load stopped after $((SECONDS - RUN_START)) s; waiting for the retried deliveries and for the run to settle"
touch "$WORK/stop"
wait "$LOAD_PID" || fail "the load generator failed: $(tail -5 "$WORK/load.log")"
LOAD_PID=
[ -s "$WORK/load.log" ] && echo "chaos-kill: the load's notes: $(wc -l <"$WORK/load.log") lines in $WORK/load.log"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died by itself (log: $WORK/daemon.$STARTS.log)"

python3 scripts/chaos/check.py "$WORK"
