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

The store is read directly: sqlite3 for SQLite, psql for Postgres. Writes RUN_DIR/check.json and
prints one summary line last. Exits 0 only when every check holds. Standard library only.
"""

import html
import json
import os
import re
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load import request  # noqa: E402

KEY = re.compile(r"^c[md]\d{4}$")


def html_to_text(s):
    """Miro HTML as the mapping reads it (src/mapping/values.rs, html_to_text)."""
    s = re.sub(r"<br\s*/?>", "\n", s, flags=re.I)
    s = re.sub(r"</(p|div|li)\s*>", "\n", s, flags=re.I)
    s = re.sub(r"<[^>]*>", "", s)
    return html.unescape(s).replace("\xa0", " ").strip("\n")


class Store:
    def __init__(self, cfg):
        self.kind = cfg["store"]
        self.cfg = cfg

    def query(self, sql):
        if self.kind == "sqlite":
            con = sqlite3.connect(f"file:{self.cfg['sqlite_path']}?mode=ro", uri=True, timeout=10)
            try:
                return [tuple(r) for r in con.execute(sql).fetchall()]
            finally:
                con.close()
        out = subprocess.run(
            ["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", self.cfg["postgres_url"], "-c", sql],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [tuple(line.split("\t")) for line in out.splitlines() if line]

    def count(self, sql):
        return int(self.query(sql)[0][0])


def boards(cfg):
    """(miro items, monday items) of the pair, each as {key: [item, ...]} with title and status."""
    miro_state = request(cfg["miro_url"], "GET", "/_sandbox/state")[1]
    monday_state = request(cfg["monday_url_root"], "GET", "/_sandbox/state")[1]
    miro, monday = {}, {}
    for b in miro_state["boards"]:
        if b["id"] != cfg["miro_board"]:
            continue
        for i in b["items"]:
            if i["type"] != "sticky_note":
                continue
            title = html_to_text(i["data"].get("content", ""))
            colour = i.get("style", {}).get("fillColor")
            item = {"id": i["id"], "title": title, "status": cfg["values"].get(colour, f"<unmapped {colour}>")}
            miro.setdefault(key_of(title), []).append(item)
    for b in monday_state["boards"]:
        if b["id"] != str(cfg["monday_board"]):
            continue
        for i in b["items"]:
            if i["state"] != "active":
                continue
            status = i["values"].get("status", {}).get("text") or ""
            item = {"id": i["id"], "title": i["name"], "status": status}
            monday.setdefault(key_of(i["name"]), []).append(item)
    return miro, monday


def key_of(title):
    first = title.split(" ", 1)[0]
    return first if KEY.match(first) else title


def differences(miro, monday):
    """What keeps the boards from being equal under the mapping, one line each."""
    out = []
    for key in sorted(set(miro) | set(monday)):
        a, b = miro.get(key, []), monday.get(key, [])
        if len(a) != 1 or len(b) != 1:
            out.append(f"{key!r}: {len(a)} on Miro {[i['id'] for i in a]}, {len(b)} on monday {[i['id'] for i in b]}")
            continue
        a, b = a[0], b[0]
        if a["title"] != b["title"]:
            out.append(f"{key!r}: title Miro {a['title']!r} ({a['id']}) != monday {b['title']!r} ({b['id']})")
        if a["status"] != b["status"]:
            out.append(f"{key!r}: status Miro {a['status']!r} ({a['id']}) != monday {b['status']!r} ({b['id']})")
    return out


def quiet(cfg, store):
    """What still moves, or an empty list."""
    waiting = []
    deliveries = request(cfg["monday_url_root"], "GET", "/_sandbox/webhooks")[1]
    pending = sum(1 for d in deliveries if d["status"] == "pending")
    if pending:
        waiting.append(f"{pending} sandbox monday deliveries pending")
    inbox = store.count("SELECT COUNT(*) FROM inbox WHERE status = 'pending'")
    if inbox:
        waiting.append(f"{inbox} inbox entries pending")
    outbox = store.count("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'in_flight')")
    if outbox:
        waiting.append(f"{outbox} outbox rows pending or in flight")
    miro, monday = boards(cfg)
    diff = differences(miro, monday)
    if diff:
        waiting.append(f"{len(diff)} items differ")
    return waiting


def main(run_dir):
    with open(os.path.join(run_dir, "load.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(run_dir, "load-result.json")) as f:
        load = json.load(f)
    store = Store(cfg)

    # Quiescence: conditions, with a deadline; never a bare sleep.
    start = time.monotonic()
    deadline = start + cfg["quiesce_seconds"]
    calm_since, calm_samples, waiting, last_print = None, 0, ["not checked yet"], 0.0
    while time.monotonic() < deadline:
        try:
            waiting = quiet(cfg, store)
        except (OSError, subprocess.CalledProcessError, sqlite3.Error) as e:
            waiting = [f"cannot read: {e}"]
        now = time.monotonic()
        if waiting:
            calm_since, calm_samples = None, 0
            if now - last_print >= 10:
                print(f"check: waiting ({now - start:.0f} s): {'; '.join(waiting)}", flush=True)
                last_print = now
        else:
            calm_since = calm_since or now
            calm_samples += 1
            if calm_samples >= 3 and now - calm_since >= cfg["stable_seconds"]:
                break
        time.sleep(1)
    settled = not waiting
    settle_s = round(time.monotonic() - start, 1)

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
    miro, monday = boards(cfg)
    sides = {"miro": miro, "monday": monday}
    created = {"miro": 0, "monday": 0}
    twins = {"miro": 0, "monday": 0}
    twin_problems = []
    for c in load["created"]:
        own, other = sides[c["side"]], sides["monday" if c["side"] == "miro" else "miro"]
        created[c["side"]] += 1
        n_own, n_other = len(own.get(c["key"], [])), len(other.get(c["key"], []))
        if n_own == 1 and n_other == 1:
            twins[c["side"]] += 1
        else:
            # An item whose key is gone from its own board lost its title: say what it is now.
            now = [i for items in own.values() for i in items if i["id"] == str(c["id"])]
            title = f", its title now {now[0]['title']!r}" if now and n_own == 0 else ""
            twin_problems.append(
                f"{c['key']} (made on {c['side']}, id {c['id']}): {n_own} on its board, {n_other} twins{title}"
            )
    diff = differences(miro, monday)
    equal = not diff
    sandbox = request(cfg["monday_url_root"], "GET", "/_sandbox/webhooks")[1]
    redelivered = sum(1 for d in sandbox if d["attempts"] > 1)
    dead = store.count("SELECT COUNT(*) FROM outbox WHERE status = 'dead'")
    links = store.count("SELECT COUNT(*) FROM links WHERE state = 'active'")
    kills = int(open(os.path.join(run_dir, "kills")).read().strip() or 0)

    ok = settled and not lost and not doubled and not load["unacked"] and not twin_problems and equal
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
        "created": created,
        "twins": twins,
        "twin_problems": twin_problems,
        "boards_equal": equal,
        "differences": diff,
        "items": {"miro": sum(map(len, miro.values())), "monday": sum(map(len, monday.values()))},
        "sandbox_deliveries": len(sandbox),
        "sandbox_redelivered": redelivered,
        "dead_letters": dead,
        "active_links": links,
        "load": load["stats"],
    }
    with open(os.path.join(run_dir, "check.json"), "w") as f:
        json.dump(result, f, indent=1)

    s = load["stats"]
    print(
        f"load: {s['miro_creates']} creates and {s['miro_edits']} edits on Miro, {s['monday_creates']} creates and "
        f"{s['monday_edits']} edits on monday ({s['people_errors']} refused or failed); {s['deliveries']} deliveries in "
        f"{s['delivery_attempts']} attempts, refused: {s['refused'] or 'none'}; longest wait for a 200 "
        f"{s['longest_wait_s']} s, most attempts {s['most_attempts']}"
    )
    print(f"sandbox monday webhooks: {len(sandbox)} deliveries, {redelivered} of them delivered again after an answer other than 200")
    print(f"settled: {'yes' if settled else 'NO'} after {settle_s} s" + ("" if settled else f" ({'; '.join(waiting)})"))
    print(f"deliveries answered 200: {len(acked)}; in the inbox: {found}; lost: {len(lost)}; doubled: {len(doubled)}; never answered 200: {len(load['unacked'])}")
    for t in lost[:20]:
        print(f"  LOST monday:{t}")
    for t in doubled[:20]:
        print(f"  DOUBLED monday:{t}")
    print(
        f"items created: {created['miro']} on Miro, {created['monday']} on monday; with exactly one twin: "
        f"{twins['miro']} and {twins['monday']}"
    )
    for p in twin_problems[:20]:
        print(f"  TWIN {p}")
    print(f"boards equal under the mapping: {'yes' if equal else 'NO'} ({result['items']['miro']} sticky notes, {result['items']['monday']} items; {links} active links; {dead} dead letters)")
    for d in diff[:20]:
        print(f"  DIFF {d}")
    print(
        f"chaos-kill {'PASS' if ok else 'FAIL'}: {cfg['store']}, seed {cfg['seed']}: {kills} kills survived; "
        f"{len(acked)} deliveries acknowledged, {found} in the inbox, {len(lost)} lost, {len(doubled)} doubled; "
        f"items created {created['miro']} on Miro / {created['monday']} on monday, "
        f"{twins['miro'] + twins['monday']}/{created['miro'] + created['monday']} with one twin; "
        f"boards equal: {'yes' if equal else 'no'}; settled in {settle_s} s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
