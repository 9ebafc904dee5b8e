# What scripts/chaos-kill.sh and scripts/fault-storm.sh share, sourced by both (not run): the
# release build, the run directory and its cleanup, free ports, `boardsync sandbox` as a process
# of its own with the seeded boards, the run's store (a SQLite file, or a fresh Postgres database
# with Redis under a key prefix of its own), the mappings file and load.json, and starting the
# daemon. The caller sets, before sourcing:
#
#   NAME     its name in messages (chaos-kill, fault-storm)
#   STORE    sqlite or postgres
#   SEED     the run's seed (load.json carries it to the load and the checks)
#
# then calls chaos_prepare, chaos_start_sandbox, chaos_make_store, chaos_write_config (which reads
# LOAD_RATE, LOAD_CREATE_SHARE, LOAD_DELIVERERS, LOAD_DELIVERY_RATE and QUIESCE_SECONDS) and
# start_daemon, and sets LOAD_PID when it starts scripts/chaos/load.py. On exit, whatever the
# cause, every process started here is stopped, the Postgres database dropped and the Redis keys
# removed; the run directory is removed after a passing run (unless KEEP=1) and kept, with its
# path printed, after a failed one. KEPT_NOTE says what it holds.

# $1 is the usage line; the rest are the script's arguments, the first of them the store (sqlite,
# the default, or postgres). Sets STORE, and SEED: the environment's, or a new one.
chaos_store_and_seed() {
  local usage=$1
  STORE=${2:-sqlite}
  case "$STORE" in
    sqlite | postgres) ;;
    *) echo "usage: $usage" >&2; exit 2 ;;
  esac
  SEED=${SEED:-$(python3 -c 'import random; print(random.getrandbits(32))')}
}

SANDBOX_PID= DAEMON_PID= LOAD_PID= DB= REDIS_PREFIX= WORK=
KEPT_NOTE=${KEPT_NOTE:-logs, load and checks}

# One release build, beside other builds on a small machine: niced, in a target directory of its
# own. The run directory gets a copy of the binary, so that a build during the run does not change
# what runs. $1 names the run directory (boardsync-$1.XXXXXX).
chaos_prepare() {
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/boardsync-target-chaos}
  nice -n 10 cargo build --release --quiet --bin boardsync
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/boardsync-$1.XXXXXX")
  cp "$CARGO_TARGET_DIR/release/boardsync" "$WORK/boardsync"
  BIN=$WORK/boardsync
  trap chaos_cleanup EXIT
  trap 'exit 130' INT TERM
  # Three free ports (a command substitution, so that the sockets are closed before they are used).
  local ports
  ports=$(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
ports = [s.getsockname()[1] for s in socks]
for s in socks: s.close()
print(*ports)')
  read -r MIRO_PORT MONDAY_PORT DAEMON_PORT <<<"$ports"
}

chaos_cleanup() {
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
    echo "$NAME: $KEPT_NOTE kept in $WORK (daemon.N.log: one per start of the daemon)" >&2
  fi
  exit "$rc"
}

fail() { echo "$NAME: $*" >&2; exit 1; }

# The sandbox keeps its state in memory, so it lives apart from the daemon and outlives its deaths.
# monday retries a delivery that got no 200 every 2 s, so redeliveries land during the run.
chaos_start_sandbox() {
  "$BIN" sandbox --miro-listen "127.0.0.1:$MIRO_PORT" --monday-listen "127.0.0.1:$MONDAY_PORT" \
    --seed mappings/sandbox-seed.json --webhook-retry-interval 2 >"$WORK/sandbox.log" 2>&1 &
  SANDBOX_PID=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$MIRO_PORT/_sandbox/state" >/dev/null 2>&1 &&
      curl -fsS "http://127.0.0.1:$MONDAY_PORT/_sandbox/state" >/dev/null 2>&1 && break
    kill -0 "$SANDBOX_PID" 2>/dev/null || fail "the sandbox did not start: $(tail -5 "$WORK/sandbox.log")"
    sleep 0.1
  done
}

# A SQLite file in the run directory, or a fresh Postgres database and a Redis key prefix.
chaos_make_store() {
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
}

# The daemon's mappings file and the load's and the checks' load.json.
chaos_write_config() {
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
  "rate": $LOAD_RATE, "create_share": $LOAD_CREATE_SHARE,
  "deliverers": $LOAD_DELIVERERS, "delivery_rate": $LOAD_DELIVERY_RATE, "timeout": 10, "drain_seconds": 120,
  "quiesce_seconds": $QUIESCE_SECONDS, "stable_seconds": 6
}
JSON
}

STARTS=0
# Starts the daemon (its log: daemon.N.log, N counting starts) and waits for /healthz.
start_daemon() {
  STARTS=$((STARTS + 1))
  local log="$WORK/daemon.$STARTS.log"
  RUST_LOG=${RUST_LOG:-info} "$BIN" run --config "$WORK/chaos.toml" >"$log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 600); do
    curl -fsS --max-time 1 "http://127.0.0.1:$DAEMON_PORT/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon exited at start $STARTS: $(tail -5 "$log")"
    sleep 0.1
  done
  fail "the daemon did not answer /healthz within 60 s of start $STARTS (log: $log)"
}
