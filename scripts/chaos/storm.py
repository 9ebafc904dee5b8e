"""The storm of scripts/fault-storm.sh: sandbox fault rules on both APIs for the daemon's calls,
their counts, and the checks once the storm and the load have stopped.

    python3 scripts/chaos/storm.py start RUN_DIR   # wait for the daemon's start-up, then set the rules
    python3 scripts/chaos/storm.py status RUN_DIR  # one line: faults so far, the daemon's backlog
    python3 scripts/chaos/storm.py stop RUN_DIR    # read the counts into RUN_DIR/faults.json, clear the rules
    python3 scripts/chaos/storm.py check RUN_DIR   # wait for the run to settle, then the checks

The rules (MIX) hold `FAULT_SHARE` of the daemon's calls to each API: 429s, 500s, 503s,
timeouts (never answered; the daemon's client gives up after 20 s) and slow answers. Only the
daemon's token is faulted (`"user": "boardsync"`): the people's edits are the load, not what is
tested, and a faulted edit would only be an edit that did not happen. The sandbox tries the rules
in order and the first that fires applies, so each rule's probability is its share of what the
rules before it left. The fault seed is the run's (load.json's `seed`) on Miro and that plus one
on monday.

`check` waits for the run to settle (settle.py), then checks and prints:

- the boards are equal under the mapping, and every item a person created is on its own board
  once with exactly one twin on the other;
- no dead letters: every fault injected is transient, and nothing the load does is refused for
  good, so any outbox row with status `dead` fails the run (each is printed with its last error);
- no 429 drawn beyond those injected: in each API's request log, no response with status 429 and
  no `fault`;
- how many faults of each kind each API injected (`GET /_sandbox/faults` as the storm ended) and
  how many calls the daemon and the people made to each API, during the storm and in all.

A timed-out call never reaches the request log (the sandbox logs a request when it answers, and
the daemon hangs up first), so the daemon's calls are its logged calls plus the timeouts. The
sandbox logs a faulted call without its user; the rules fault only the daemon's calls, so a call
with a fault is the daemon's. Writes RUN_DIR/check.json and prints one summary line last. Exits 0
only when every check holds. Standard library only.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load import request  # noqa: E402
from settle import Store, converged, print_converged, print_settled, people_line, read_json, wait_settled, write_json  # noqa: E402

# The daemon's user in the sandbox (its token is sandbox-app-boardsync, lib.sh).
DAEMON_USER = "boardsync"
# The share of the daemon's calls to each API that get a fault.
FAULT_SHARE = float(os.environ.get("FAULT_SHARE", "0.2"))
# How long a slow answer takes: well under the daemon's 20 s timeout.
SLOW_MS = 3000
# Each kind's part of the faults, in the order the rules are tried.
MIX = [("http_429", 0.25), ("http_500", 0.15), ("http_503", 0.2), ("timeout", 0.1), ("slow", 0.3)]
# `[sync] max_attempts` (lib.sh's mappings file leaves the default).
MAX_ATTEMPTS = 10
# How long the daemon may take to finish its start-up (webhooks made on both sides) before the storm.
START_SECONDS = 120


def apis(cfg):
    """(name, control base URL) of both APIs."""
    return [("miro", cfg["miro_url"]), ("monday", cfg["monday_url_root"])]


def rules():
    """The sandbox rules that give each kind its part of FAULT_SHARE, tried in order."""
    out, left = [], 1.0
    for kind, part in MIX:
        share = FAULT_SHARE * part
        rule = {"kind": kind, "probability": round(share / left, 6), "user": DAEMON_USER}
        if kind == "slow":
            rule["ms"] = SLOW_MS
        out.append(rule)
        left -= share
    return out


def get(base, path):
    status, body = request(base, "GET", path, timeout=60)
    if status != 200:
        raise RuntimeError(f"GET {base}{path} answered {status}: {str(body)[:200]}")
    return body


def set_rules(base, body):
    status, answer = request(base, "POST", "/_sandbox/faults", body)
    if status != 200:
        raise RuntimeError(f"POST {base}/_sandbox/faults answered {status}: {str(answer)[:200]}")
    return answer


def last_seq(base):
    log = get(base, "/_sandbox/requests")
    return log[-1]["seq"] if log else 0


def started(cfg):
    """What the daemon's start-up still lacks, or an empty list: its webhooks on both sides and no
    start-up problem left."""
    missing = []
    miro = get(cfg["miro_url"], "/_sandbox/state")
    if not miro.get("subscriptions"):
        missing.append("no Miro board subscription")
    monday = get(cfg["monday_url_root"], "/_sandbox/state")
    if not monday.get("webhooks"):
        missing.append("no monday webhook")
    status = get(cfg["daemon_url"], "/api/status")
    if status["problems"]:
        missing.append(f"start-up problems: {status['problems']}")
    return missing


def start(run_dir):
    cfg = read_json(run_dir, "load.json")
    t0 = time.monotonic()
    missing = ["not checked yet"]
    while time.monotonic() - t0 < START_SECONDS:
        try:
            missing = started(cfg)
        except (OSError, RuntimeError, KeyError, ValueError) as e:
            missing = [f"cannot read: {e}"]
        if not missing:
            break
        time.sleep(0.5)
    if missing:
        print(f"storm: the daemon's start-up did not finish within {START_SECONDS} s: {'; '.join(missing)}")
        return 1
    storm = {"minutes": float(os.environ.get("STORM_MINUTES", "0")), "rules": rules(), "start_seq": {}, "seeds": {}}
    for i, (name, base) in enumerate(apis(cfg)):
        storm["seeds"][name] = cfg["seed"] + i
        storm["start_seq"][name] = last_seq(base)
        set_rules(base, {"seed": storm["seeds"][name], "rules": storm["rules"]})
    write_json(run_dir, "storm.json", storm)
    kinds = ", ".join(f"{k} {FAULT_SHARE * p:.0%}" for k, p in MIX)
    print(
        f"storm: the daemon's webhooks made on both sides after {time.monotonic() - t0:.1f} s; faults on, "
        f"{FAULT_SHARE:.0%} of the daemon's calls to each API ({kinds}; slow = {SLOW_MS} ms), "
        f"fault seeds {storm['seeds']['miro']} (Miro) and {storm['seeds']['monday']} (monday)",
        flush=True,
    )
    return 0


def injected_line(reports):
    return "; ".join(
        f"{name} " + (", ".join(f"{k} {n}" for k, n in sorted(r["injected"].items())) or "none")
        for name, r in reports.items()
    )


def status(run_dir):
    cfg = read_json(run_dir, "load.json")
    reports = {name: get(base, "/_sandbox/faults") for name, base in apis(cfg)}
    pair = get(cfg["daemon_url"], "/api/status")["pairs"][0]
    print(
        f"storm: faults so far: {injected_line(reports)}; the daemon's outbox backlog {pair['outbox_backlog']}, "
        f"dead letters {pair['dead_letters']}, pair {pair['state']['level']}",
        flush=True,
    )
    return 0


def stop(run_dir):
    cfg = read_json(run_dir, "load.json")
    # The counts first: setting rules starts them again from zero.
    reports = {name: get(base, "/_sandbox/faults") for name, base in apis(cfg)}
    for _, base in apis(cfg):
        set_rules(base, {"rules": []})
    ended = {name: last_seq(base) for name, base in apis(cfg)}
    write_json(run_dir, "faults.json", {"reports": reports, "end_seq": ended})
    print(f"storm: faults off; injected: {injected_line(reports)}", flush=True)
    return 0


def calls(log, start_seq, end_seq, timeouts):
    """The daemon's and the people's calls in a request log, during the storm and in all, and the
    429s drawn without a fault, by user."""
    out = {"daemon": 0, "people": 0, "daemon_in_storm": 0, "people_in_storm": 0, "faulted": 0, "undrawn_429": {}}
    for r in log:
        who = "daemon" if r["fault"] is not None or r["user"] == DAEMON_USER else "people"
        out[who] += 1
        if start_seq < r["seq"] <= end_seq:
            out[f"{who}_in_storm"] += 1
        if r["fault"] is not None:
            out["faulted"] += 1
        if r["status"] == 429 and r["fault"] is None:
            user = r["user"] or "?"
            out["undrawn_429"][user] = out["undrawn_429"].get(user, 0) + 1
    # Timed-out calls are not in the log (see the module's comment).
    out["daemon"] += timeouts
    out["daemon_in_storm"] += timeouts
    return out


def check(run_dir):
    cfg = read_json(run_dir, "load.json")
    load = read_json(run_dir, "load-result.json")
    storm = read_json(run_dir, "storm.json")
    faults = read_json(run_dir, "faults.json")
    store = Store(cfg)

    settled, settle_s, waiting = wait_settled(cfg, store, "settle")

    conv = converged(cfg, load["created"])
    created, with_twin, equal = conv["created"], conv["twins"], conv["boards_equal"]
    dead = store.query("SELECT id, target, operation, attempts, last_error FROM outbox WHERE status = 'dead' ORDER BY id")
    outbox_rows = store.count("SELECT COUNT(*) FROM outbox")
    retried = store.count("SELECT COUNT(*) FROM outbox WHERE attempts > 1")
    most_attempts = store.count("SELECT COALESCE(MAX(attempts), 0) FROM outbox")

    per_api = {}
    for name, base in apis(cfg):
        log = get(base, "/_sandbox/requests")
        write_json(run_dir, f"requests.{name}.json", log)
        injected = faults["reports"][name]["injected"]
        c = calls(log, storm["start_seq"][name], faults["end_seq"][name], injected.get("timeout", 0))
        c["injected"] = injected
        c["faults"] = sum(injected.values())
        c["share"] = round(c["faults"] / c["daemon_in_storm"], 3) if c["daemon_in_storm"] else None
        per_api[name] = c
    undrawn = {name: sum(c["undrawn_429"].values()) for name, c in per_api.items()}

    ok = settled and equal and not conv["twin_problems"] and not dead and not any(undrawn.values())
    minutes = f"{storm['minutes']:g}"
    result = {
        "ok": ok,
        "store": cfg["store"],
        "seed": cfg["seed"],
        "minutes": minutes,
        "rules": storm["rules"],
        "settled": settled,
        "settle_seconds": settle_s,
        "still_moving": waiting,
        **conv,
        "dead_letters": [list(map(str, d)) for d in dead],
        "outbox_rows": outbox_rows,
        "outbox_retried": retried,
        "most_attempts": most_attempts,
        "apis": per_api,
        "undrawn_429": undrawn,
        "load": load["stats"],
    }
    write_json(run_dir, "check.json", result)

    print(people_line(load["stats"]))
    for name, c in per_api.items():
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(c["injected"].items())) or "none"
        share = f"{c['share']:.1%}" if c["share"] is not None else "n/a"
        print(
            f"{name}: faults injected {c['faults']} ({kinds}), {share} of the daemon's {c['daemon_in_storm']} calls "
            f"during the storm; calls in all: the daemon {c['daemon']} (timeouts included), the people {c['people']}; "
            f"429s without a fault: {undrawn[name]}" + (f" {c['undrawn_429']}" if undrawn[name] else "")
        )
    print_settled(settled, settle_s, waiting)
    print_converged(conv)
    print(
        f"dead letters: {len(dead)} of {outbox_rows} outbox rows; {retried} rows needed more than one attempt, "
        f"the most {most_attempts} (a row is dead after {MAX_ATTEMPTS})"
    )
    for row_id, target, operation, attempts, error in dead[:20]:
        print(f"  DEAD #{row_id} {operation} to {target} after {attempts} attempts: {error}")
    total = {k: per_api["miro"]["injected"].get(k, 0) + per_api["monday"]["injected"].get(k, 0) for k, _ in MIX}
    print(
        f"fault-storm {'PASS' if ok else 'FAIL'}: {cfg['store']}, seed {cfg['seed']}, {minutes} min: "
        f"faults injected {sum(total.values())} ({', '.join(f'{k} {n}' for k, n in total.items())}) in "
        f"{per_api['miro']['daemon_in_storm']} Miro and {per_api['monday']['daemon_in_storm']} monday calls of the daemon; "
        f"settled in {settle_s} s; boards equal: {'yes' if equal else 'no'}; "
        f"{with_twin['miro'] + with_twin['monday']}/{created['miro'] + created['monday']} with one twin; "
        f"dead letters {len(dead)}; 429s without a fault {undrawn['miro']} (Miro) / {undrawn['monday']} (monday)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    commands = {"start": start, "status": status, "stop": stop, "check": check}
    if len(sys.argv) != 3 or sys.argv[1] not in commands:
        print(f"usage: storm.py {'|'.join(commands)} RUN_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(commands[sys.argv[1]](sys.argv[2]))
