"""The checks of scripts/chaos-kill.sh, once the load has stopped.

    python3 scripts/chaos/check.py RUN_DIR

Waits (until RUN_DIR/load.json's `quiesce_seconds` have passed) for the run to settle: every
sandbox monday delivery answered, nothing pending in the inbox or the outbox, and both boards
equal under the mapping, three samples in a row over at least `stable_seconds`. Then checks and
prints:

- every delivery the load got a 200 for is in the inbox (its `monday:<triggerUuid>` dedupe key),
  exactly once;
- every item a person created is on its own board once and has exactly one twin on the other
  (found by the key its title starts with, which edits keep);
- both boards hold the same items, with equal titles and statuses under the mapping's values.

The store is read directly, and the run waited for, by settle.py (shared with
scripts/fault-storm.sh). Writes RUN_DIR/check.json and prints one summary line last. Exits 0 only when every check holds. Standard library only.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load import request  # noqa: E402
from settle import Store, converged, print_converged, print_settled, people_line, read_json, wait_settled, write_json  # noqa: E402


def main(run_dir):
    cfg = read_json(run_dir, "load.json")
    load = read_json(run_dir, "load-result.json")
    store = Store(cfg)

    # Quiescence: conditions, with a deadline; never a bare sleep.
    settled, settle_s, waiting = wait_settled(cfg, store, "check")

    # Deliveries answered 200 against the inbox.
    acked = load["acked"]
    in_inbox = {}
    for key, n in store.query("SELECT dedupe_key, COUNT(*) FROM inbox WHERE dedupe_key LIKE 'monday:%' GROUP BY dedupe_key"):
        in_inbox[key.removeprefix("monday:")] = int(n)
    found = sum(1 for t in acked if in_inbox.get(t, 0) >= 1)
    lost = [t for t in acked if in_inbox.get(t, 0) == 0]
    doubled = [t for t in acked if in_inbox.get(t, 0) > 1]
    acked_twice = len(acked) - len(set(acked))

    # Created items and their twins.
    conv = converged(cfg, load["created"])
    created, with_twin, equal = conv["created"], conv["twins"], conv["boards_equal"]
    sandbox = request(cfg["monday_url_root"], "GET", "/_sandbox/webhooks")[1]
    redelivered = sum(1 for d in sandbox if d["attempts"] > 1)
    dead = store.count("SELECT COUNT(*) FROM outbox WHERE status = 'dead'")
    links = store.count("SELECT COUNT(*) FROM links WHERE state = 'active'")
    kills = int(open(os.path.join(run_dir, "kills")).read().strip() or 0)

    ok = settled and not lost and not doubled and not load["unacked"] and not conv["twin_problems"] and equal
    result = {
        "ok": ok,
        "settled": settled,
        "settle_seconds": settle_s,
        "still_moving": waiting,
        "kills": kills,
        "deliveries_sent": load["stats"]["deliveries"],
        "acked": len(acked),
        "in_inbox": found,
        "lost": lost,
        "doubled": doubled,
        "acked_twice": acked_twice,
        "unacked": load["unacked"],
        **conv,
        "sandbox_deliveries": len(sandbox),
        "sandbox_redelivered": redelivered,
        "dead_letters": dead,
        "active_links": links,
        "load": load["stats"],
    }
    write_json(run_dir, "check.json", result)

    s = load["stats"]
    print(
        f"{people_line(s)}; {s['deliveries']} deliveries in {s['delivery_attempts']} attempts, refused: {s['refused'] or 'none'}; longest wait for a 200 "
        f"{s['longest_wait_s']} s, most attempts {s['most_attempts']}"
    )
    print(f"sandbox monday webhooks: {len(sandbox)} deliveries, {redelivered} of them delivered again after an answer other than 200")
    print_settled(settled, settle_s, waiting)
    print(f"deliveries answered 200: {len(acked)}; in the inbox: {found}; lost: {len(lost)}; doubled: {len(doubled)}; never answered 200: {len(load['unacked'])}")
    for t in lost[:20]:
        print(f"  LOST monday:{t}")
    for t in doubled[:20]:
        print(f"  DOUBLED monday:{t}")
    print_converged(conv, f"; {links} active links; {dead} dead letters")
    print(
        f"chaos-kill {'PASS' if ok else 'FAIL'}: {cfg['store']}, seed {cfg['seed']}: {kills} kills survived; "
        f"{len(acked)} deliveries acknowledged, {found} in the inbox, {len(lost)} lost, {len(doubled)} doubled; "
        f"items created {created['miro']} on Miro / {created['monday']} on monday, "
        f"{with_twin['miro'] + with_twin['monday']}/{created['miro'] + created['monday']} with one twin; "
        f"boards equal: {'yes' if equal else 'no'}; settled in {settle_s} s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
