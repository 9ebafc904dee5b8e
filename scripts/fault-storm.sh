#!/usr/bin/env bash
# Fault storm (by hand, not in CI; issue 18 part 3). Runs `boardsync sandbox` as a process of its
# own with seeded boards, `boardsync run` against it (never killed), and a steady load: people
# creating sticky notes and items and editing titles and statuses on both boards through the
# sandbox APIs. Once the daemon has made its webhooks, it sets sandbox fault rules on both APIs so
# that 20% of the daemon's calls get a fault (429s, 500s, 503s, timeouts and slow answers; the
# mix is in scripts/chaos/storm.py) for MINUTES minutes, printing the faults so far each minute.
# Then it clears the rules, stops the load, waits for the run to settle (on conditions, with a
# deadline), and checks: the boards are equal under the mapping and every item created has exactly
# one twin; no dead letters; no 429 drawn beyond those injected (the sandbox's request logs).
# It prints the faults injected by kind and the calls each side made. Exits 0 only when all hold;
# a failed run's logs, request logs and store stay in the directory printed.
#
#   scripts/fault-storm.sh [sqlite|postgres] [MINUTES]      (default: sqlite, 10 minutes)
#
# SEED=N repeats a run's load choices and fault draws (which call draws which fault still follows
# the run's timing). RATE sets the people's pace (default 0.5: each person acts about once a
# second), FAULT_SHARE the share of the daemon's calls faulted (0.2), QUIESCE_SECONDS how long the
# run may take to settle (300). Postgres mode creates a fresh database on 127.0.0.1:5432 (trust
# auth, user postgres) and drops it at the end, and uses Redis on 127.0.0.1:6379 under a key prefix
# of its own, deleted at the end. KEEP=1 keeps the run directory of a passing run too. Needs bash,
# python3 (3.11, standard library only), curl, and psql and redis-cli for Postgres. What it shares
# with scripts/chaos-kill.sh is in scripts/chaos/ (lib.sh, load.py, settle.py).
# Figures: docs/reliability.md, "Fault storms".
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=fault-storm KEPT_NOTE="logs, load, request logs and checks"
source scripts/chaos/lib.sh
chaos_store_and_seed "scripts/fault-storm.sh [sqlite|postgres] [MINUTES]" "$@"
MINUTES=${2:-10}
[[ "$MINUTES" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "MINUTES must be a number" >&2; exit 2; }
STORM_SECONDS=$(python3 -c "print(round($MINUTES * 60))")
# Writes held back by injected 429s wait up to a minute for the window the answer names, and
# retries back off, so the run may take minutes to settle after the storm.
QUIESCE_SECONDS=${QUIESCE_SECONDS:-300}
export STORM_MINUTES=$MINUTES
echo "fault-storm: $STORE, $MINUTES min of faults, seed $SEED (SEED=$SEED scripts/fault-storm.sh $STORE $MINUTES repeats it)"

# The people's pace and creates (a tenth of their actions) keep the boards at a few hundred
# items over ten minutes; no direct deliveries: the daemon gets the sandbox's own webhooks.
LOAD_RATE=${RATE:-0.5} LOAD_CREATE_SHARE=0.1 LOAD_DELIVERERS=0 LOAD_DELIVERY_RATE=1
chaos_prepare storm
chaos_start_sandbox
chaos_make_store
chaos_write_config

start_daemon
echo "fault-storm: sandbox on :$MIRO_PORT (Miro) and :$MONDAY_PORT (monday), daemon on :$DAEMON_PORT, run directory $WORK"
python3 scripts/chaos/load.py "$WORK" 2>"$WORK/load.log" &
LOAD_PID=$!

python3 scripts/chaos/storm.py start "$WORK" || fail "the storm did not start"
STORM_START=$SECONDS
NEXT_STATUS=$((SECONDS + 60))
# The storm's length is the one fixed wait here; each 5 s the load and the daemon must still run.
while ((SECONDS - STORM_START < STORM_SECONDS)); do
  LEFT=$((STORM_SECONDS - (SECONDS - STORM_START)))
  sleep $((LEFT < 5 ? LEFT : 5))
  kill -0 "$LOAD_PID" 2>/dev/null || fail "the load generator stopped: $(tail -5 "$WORK/load.log")"
  kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died during the storm (log: $WORK/daemon.$STARTS.log)"
  if ((SECONDS >= NEXT_STATUS)); then
    echo "fault-storm: $(((SECONDS - STORM_START) / 60)) of $MINUTES min"
    python3 scripts/chaos/storm.py status "$WORK" || true
    NEXT_STATUS=$((NEXT_STATUS + 60))
  fi
done
python3 scripts/chaos/storm.py stop "$WORK" || fail "the faults could not be cleared"
touch "$WORK/stop"
wait "$LOAD_PID" || fail "the load generator failed: $(tail -5 "$WORK/load.log")"
LOAD_PID=
echo "fault-storm: load stopped after $((SECONDS - STORM_START)) s of storm; waiting for the run to settle"
[ -s "$WORK/load.log" ] && echo "fault-storm: the load's notes: $(wc -l <"$WORK/load.log") lines in $WORK/load.log"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died by itself (log: $WORK/daemon.$STARTS.log)"

python3 scripts/chaos/storm.py check "$WORK"
