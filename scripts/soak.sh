#!/usr/bin/env bash
# Runs the random-workload convergence test N times with random seeds (by hand, not in CI: CI runs
# the fixed seeds of tests/seeds/convergence.txt). Prints every failing seed, then a count; exits 1
# when any seed failed. Add each failing seed to tests/seeds/convergence.txt.
#   scripts/soak.sh N [sqlite|postgres]      (default: 100 runs on SQLite)
# The Postgres runs need the local server (127.0.0.1:5432, trust auth), as the tests do.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-100}
STORE=${2:-sqlite}
case "$STORE" in
  sqlite | postgres) ;;
  *) echo "usage: scripts/soak.sh N [sqlite|postgres]" >&2; exit 2 ;;
esac
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
# Build the test binary once, optimised as the daemon ships (a debug build spends most of each run
# on its own slowness, which only tells how a starved machine behaves); each run is then the binary
# alone.
BIN=$(cargo test --release --test engine --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "engine" and m.get("executable"):
        print(m["executable"])')
[ -x "$BIN" ] || { echo "could not build the engine test binary" >&2; exit 1; }
# Soak a copy, so that building again while a long soak runs does not change what it runs.
LOGS=$(mktemp -d)
cp "$BIN" "$LOGS/sync-test"
BIN="$LOGS/sync-test"

TEST="sync::${STORE}_boards_converge_under_a_random_workload_with_faults"
failed=0
start=$SECONDS
for ((i = 1; i <= RUNS; i++)); do
  seed=$(python3 -c 'import random; print(random.getrandbits(63))')
  if BOARDSYNC_SEED=$seed "$BIN" --exact "$TEST" >"$LOGS/$seed.log" 2>&1; then
    rm -f "$LOGS/$seed.log"
    echo "run $i/$RUNS ok: seed $seed ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    echo "FAILED seed $seed ($STORE, run $i; log: $LOGS/$seed.log)"
  fi
done
rm -f "$BIN"
echo "soak: $((RUNS - failed)) passed, $failed failed ($STORE, $RUNS random seeds, $((SECONDS - start)) s)"
[ "$failed" -eq 0 ]
