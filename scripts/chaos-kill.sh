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
# What it shares with scripts/fault-storm.sh (the sandbox, the store, the daemon, the load, the
# waiting) is in scripts/chaos/: lib.sh, load.py, settle.py.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=chaos-kill
source scripts/chaos/lib.sh
chaos_store_and_seed "scripts/chaos-kill.sh [sqlite|postgres] [KILLS]" "$@"
KILLS=${2:-10}
[[ "$KILLS" =~ ^[0-9]+$ ]] || { echo "KILLS must be a number" >&2; exit 2; }
# Seconds the daemon runs between two kills: uniform in [GAP_MIN, GAP_MAX].
GAP_MIN=${GAP_MIN:-1.5}
GAP_MAX=${GAP_MAX:-6}
# How long the run may take to settle after the load stops. A write the killed dispatcher had
# claimed waits out its 60 s claim before a new daemon takes it, so this is well above a minute.
QUIESCE_SECONDS=${QUIESCE_SECONDS:-300}
echo "chaos-kill: $STORE, $KILLS kills, seed $SEED (SEED=$SEED scripts/chaos-kill.sh $STORE $KILLS repeats it)"

LOAD_RATE=${RATE:-1.0} LOAD_CREATE_SHARE=0.3 LOAD_DELIVERERS=8 LOAD_DELIVERY_RATE=${DELIVERY_RATE:-6.0}
chaos_prepare chaos
chaos_start_sandbox
chaos_make_store
chaos_write_config

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
