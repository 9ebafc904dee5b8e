"""What the checks of scripts/chaos-kill.sh (check.py) and scripts/fault-storm.sh (storm.py)
share: the run's store read directly, both boards as the mapping sees them, waiting for the run to
settle, and whether every created item has exactly one twin.

- `Store(cfg)`: queries on the run's store (sqlite3 for SQLite, psql for Postgres).
- `boards(cfg)`: the pair's sticky notes and monday items, keyed by the key a created item's title
  starts with; `differences(miro, monday)`: what keeps them from being equal under the mapping.
- `wait_settled(cfg, store, label)`: waits (until `quiesce_seconds` have passed) for every sandbox
  monday delivery to be answered, nothing pending in the inbox or the outbox, and both boards equal
  under the mapping, three samples in a row over at least `stable_seconds`.
- `twins(created, miro, monday)`: each item a person created, on its own board once and with
  exactly one twin on the other; `converged(cfg, created)` reads the boards and says both (for
  check.json), `print_converged` prints it, `print_settled` how the waiting ended;
  `people_line(stats)` says what the load's people did; `read_json` and `write_json` read and
  write a file of the run directory.

Standard library only.
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


def wait_settled(cfg, store, label):
    """(settled, seconds taken, what still moved at the deadline): conditions, with a deadline,
    never a bare sleep. Prints what it waits for every 10 s, each line starting with `label`."""
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
                print(f"{label}: waiting ({now - start:.0f} s): {'; '.join(waiting)}", flush=True)
                last_print = now
        else:
            calm_since = calm_since or now
            calm_samples += 1
            if calm_samples >= 3 and now - calm_since >= cfg["stable_seconds"]:
                break
        time.sleep(1)
    return not waiting, round(time.monotonic() - start, 1), waiting


def twins(created_items, miro, monday):
    """({side: created}, {side: with exactly one twin}, [a line per item without]) for the
    load's `created` list, against the boards as `boards` reads them."""
    sides = {"miro": miro, "monday": monday}
    created = {"miro": 0, "monday": 0}
    with_twin = {"miro": 0, "monday": 0}
    problems = []
    for c in created_items:
        own, other = sides[c["side"]], sides["monday" if c["side"] == "miro" else "miro"]
        created[c["side"]] += 1
        n_own, n_other = len(own.get(c["key"], [])), len(other.get(c["key"], []))
        if n_own == 1 and n_other == 1:
            with_twin[c["side"]] += 1
        else:
            # An item whose key is gone from its own board lost its title: say what it is now.
            now = [i for items in own.values() for i in items if i["id"] == str(c["id"])]
            title = f", its title now {now[0]['title']!r}" if now and n_own == 0 else ""
            problems.append(f"{c['key']} (made on {c['side']}, id {c['id']}): {n_own} on its board, {n_other} twins{title}")
    return created, with_twin, problems


def converged(cfg, created_items):
    """The boards as they are now: twins of the items the load created, and what differs."""
    miro, monday = boards(cfg)
    created, with_twin, problems = twins(created_items, miro, monday)
    diff = differences(miro, monday)
    return {
        "created": created,
        "twins": with_twin,
        "twin_problems": problems,
        "boards_equal": not diff,
        "differences": diff,
        "items": {"miro": sum(map(len, miro.values())), "monday": sum(map(len, monday.values()))},
    }


def print_settled(settled, settle_s, waiting):
    print(f"settled: {'yes' if settled else 'NO'} after {settle_s} s" + ("" if settled else f" ({'; '.join(waiting)})"))


def print_converged(conv, note=""):
    """The twins and the boards, with at most 20 lines of each problem; `note` ends the boards' line."""
    created, with_twin = conv["created"], conv["twins"]
    print(
        f"items created: {created['miro']} on Miro, {created['monday']} on monday; with exactly one twin: "
        f"{with_twin['miro']} and {with_twin['monday']}"
    )
    for p in conv["twin_problems"][:20]:
        print(f"  TWIN {p}")
    items = conv["items"]
    print(
        f"boards equal under the mapping: {'yes' if conv['boards_equal'] else 'NO'} "
        f"({items['miro']} sticky notes, {items['monday']} items{note})"
    )
    for d in conv["differences"][:20]:
        print(f"  DIFF {d}")


def people_line(stats):
    """What the load's people did, from load-result.json's `stats`."""
    return (
        f"load: {stats['miro_creates']} creates and {stats['miro_edits']} edits on Miro, {stats['monday_creates']} "
        f"creates and {stats['monday_edits']} edits on monday ({stats['people_errors']} refused or failed)"
    )


def read_json(run_dir, name):
    with open(os.path.join(run_dir, name)) as f:
        return json.load(f)


def write_json(run_dir, name, value):
    with open(os.path.join(run_dir, name), "w") as f:
        json.dump(value, f, indent=1)
