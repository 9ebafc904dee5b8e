"""The load of scripts/chaos-kill.sh: people editing both sandbox boards, and signed monday
deliveries POSTed straight to the daemon, retried until they get a 200, as monday does.

    python3 scripts/chaos/load.py RUN_DIR

RUN_DIR/load.json says where everything is (written by chaos-kill.sh). The load runs until
RUN_DIR/stop exists; then it makes no new edit or delivery, keeps retrying the deliveries not yet
answered 200 (for at most `drain_seconds`), and writes RUN_DIR/load-result.json:

- `created`: every item a person created, `{"key", "side", "id"}`; its title starts with the key,
  which no edit changes, so its twin is found on the other board by the key alone;
- `acked`: every triggerUuid answered 200; `unacked`: those still without one at the end;
- counts of edits, delivery attempts, refusals by kind, and the longest wait for a 200.

A delivery reports a real monday item as it stands (its name, or its status, with the item's
`updated_at` as the trigger time): what a second subscription or a late retry would say. It
carries a triggerUuid of its own, so every one is a distinct event for the inbox.

Standard library only.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse
import uuid
from datetime import datetime

WORDS = (
    "plan ship fix test write review merge deploy design measure sketch price draft check "
    "release sort name tidy pair rank"
).split()


class Stop(Exception):
    pass


def request(base, method, path, body=None, headers=None, timeout=10.0):
    """(status, parsed JSON or text); raises OSError on connection errors and timeouts."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, u.path.rstrip("/") + path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode(errors="replace")
    finally:
        conn.close()


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def jwt(secret, audience):
    """A monday app JWT, HS256, for `audience` (the exact receiver URL)."""
    now = int(time.time())
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64url(
        json.dumps({"aud": audience, "iat": now, "exp": now + 300, "accountId": 1, "userId": 1}).encode()
    )
    sig = b64url(hmac.new(secret.encode(), head + b"." + claims, hashlib.sha256).digest())
    return (head + b"." + claims + b"." + sig).decode()


def epoch(iso):
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class Load:
    def __init__(self, run_dir):
        self.dir = run_dir
        with open(os.path.join(run_dir, "load.json")) as f:
            self.cfg = json.load(f)
        self.rng_lock = threading.Lock()
        self.rng = random.Random(self.cfg["seed"])
        self.lock = threading.Lock()
        self.created = []
        self.counter = {"m": 0, "d": 0}
        self.stats = {
            "miro_creates": 0,
            "miro_edits": 0,
            "monday_creates": 0,
            "monday_edits": 0,
            "people_errors": 0,
            "deliveries": 0,
            "delivery_attempts": 0,
            "refused": {},
            "longest_wait_s": 0.0,
            "most_attempts": 0,
        }
        self.acked = []
        self.unacked = set()  # deliveries sent and not yet answered 200
        self.drain_deadline = float("inf")
        self.stopping = threading.Event()
        self.monday_items = []  # (id, name, group, status value, updated_at), refreshed
        self.labels = {}
        # The mapping's values table: Miro colour -> monday label.
        self.values = self.cfg["values"]

    # --- helpers -------------------------------------------------------------------------

    def rand(self):
        with self.rng_lock:
            return random.Random(self.rng.getrandbits(64))

    def stopped(self):
        return os.path.exists(os.path.join(self.dir, "stop"))

    def bump(self, key, n=1):
        with self.lock:
            self.stats[key] += n

    def new_key(self, side):
        with self.lock:
            self.counter[side] += 1
            return f"c{side}{self.counter[side]:04d}"

    def title(self, key, rng):
        return f"{key} {rng.choice(WORDS)} {rng.choice(WORDS)} {rng.randrange(1000)}"

    def monday_gql(self, token, query):
        status, body = request(
            self.cfg["monday_url"],
            "POST",
            "",
            {"query": query},
            {"Authorization": token, "API-Version": "2026-10"},
        )
        if status != 200 or not isinstance(body, dict) or body.get("errors"):
            raise RuntimeError(f"monday answered {status}: {str(body)[:200]}")
        return body["data"]

    def sandbox_state(self, base):
        status, body = request(base, "GET", "/_sandbox/state")
        if status != 200:
            raise RuntimeError(f"sandbox state: {status}")
        return body

    # --- people on Miro ----------------------------------------------------------------------

    def miro_person(self, token):
        rng = self.rand()
        board = urllib.parse.quote(self.cfg["miro_board"], safe="")
        auth = {"Authorization": f"Bearer {token}"}
        colours = list(self.values)
        while not self.stopped():
            time.sleep(rng.uniform(0.2, 0.8) / self.cfg["rate"])
            try:
                if rng.random() < self.cfg["create_share"]:
                    key = self.new_key("m")
                    status, body = request(
                        self.cfg["miro_url"],
                        "POST",
                        f"/v2/boards/{board}/sticky_notes",
                        {
                            "data": {"content": f"<p>{self.title(key, rng)}</p>"},
                            "style": {"fillColor": rng.choice(colours)},
                            "position": {"x": rng.randrange(-2000, 2000), "y": rng.randrange(-2000, 2000)},
                        },
                        auth,
                    )
                    if status != 201:
                        raise RuntimeError(f"Miro create answered {status}: {str(body)[:200]}")
                    with self.lock:
                        self.created.append({"key": key, "side": "miro", "id": body["id"]})
                    self.bump("miro_creates")
                    continue
                state = self.sandbox_state(self.cfg["miro_url"])
                items = [
                    i
                    for b in state["boards"]
                    if b["id"] == self.cfg["miro_board"]
                    for i in b["items"]
                    if i["type"] == "sticky_note"
                ]
                if not items:
                    continue
                item = rng.choice(items)
                text = item["data"].get("content", "")
                key = text.removeprefix("<p>").split(" ", 1)[0]
                if rng.random() < 0.5 and key.startswith(("cm", "cd")):
                    patch = {"data": {"content": f"<p>{self.title(key, rng)}</p>"}}
                else:
                    patch = {"style": {"fillColor": rng.choice(colours)}}
                status, body = request(
                    self.cfg["miro_url"], "PATCH", f"/v2/boards/{board}/sticky_notes/{item['id']}", patch, auth
                )
                if status != 200:
                    raise RuntimeError(f"Miro edit answered {status}: {str(body)[:200]}")
                self.bump("miro_edits")
            except (OSError, RuntimeError, KeyError, ValueError) as e:
                self.bump("people_errors")
                print(f"load: Miro person {token}: {e}", file=sys.stderr)

    # --- people on monday --------------------------------------------------------------------

    def monday_person(self, token):
        rng = self.rand()
        board = self.cfg["monday_board"]
        group = self.cfg["monday_group"]
        labels = list(self.values.values())
        while not self.stopped():
            time.sleep(rng.uniform(0.2, 0.8) / self.cfg["rate"])
            try:
                if rng.random() < self.cfg["create_share"]:
                    key = self.new_key("d")
                    values = json.dumps({"status": {"label": rng.choice(labels)}})
                    data = self.monday_gql(
                        token,
                        f"mutation {{ create_item(board_id: {board}, group_id: {json.dumps(group)}, "
                        f"item_name: {json.dumps(self.title(key, rng))}, column_values: {json.dumps(values)}) {{ id }} }}",
                    )
                    with self.lock:
                        self.created.append({"key": key, "side": "monday", "id": data["create_item"]["id"]})
                    self.bump("monday_creates")
                    continue
                items = self.monday_items
                if not items:
                    continue
                item = rng.choice(items)
                key = item["name"].split(" ", 1)[0]
                if rng.random() < 0.5 and key.startswith(("cm", "cd")):
                    values = {"name": self.title(key, rng)}
                else:
                    values = {"status": {"label": rng.choice(labels)}}
                self.monday_gql(
                    token,
                    f"mutation {{ change_multiple_column_values(board_id: {board}, item_id: {item['id']}, "
                    f"column_values: {json.dumps(json.dumps(values))}) {{ id }} }}",
                )
                self.bump("monday_edits")
            except (OSError, RuntimeError, KeyError, ValueError) as e:
                self.bump("people_errors")
                print(f"load: monday person {token}: {e}", file=sys.stderr)

    def watch_monday(self):
        """Keeps a copy of the monday board's items for the people and the deliveries to pick from."""
        while not self.stopping.is_set():
            try:
                state = self.sandbox_state(self.cfg["monday_url_root"])
                for b in state["boards"]:
                    if b["id"] == str(self.cfg["monday_board"]):
                        for c in b["columns"]:
                            if c["id"] == "status":
                                self.labels = {text: int(i) for i, text in c["labels"].items()}
                        self.monday_items = [i for i in b["items"] if i["state"] == "active"]
            except (OSError, RuntimeError, KeyError, ValueError) as e:
                print(f"load: reading the monday board: {e}", file=sys.stderr)
            self.stopping.wait(0.5)

    # --- signed deliveries straight to the daemon --------------------------------------------

    def delivery(self, rng):
        """A report of a real item as it stands, with a triggerUuid of its own."""
        item = rng.choice(self.monday_items)
        trigger = uuid.uuid4().hex
        common = {
            "app": "monday",
            "triggerTime": item["updated_at"],
            "subscriptionId": 0,
            "isRetry": False,
            "userId": self.cfg["reporter_user_id"],
            "originalTriggerUuid": None,
            "triggerUuid": trigger,
            "boardId": int(self.cfg["monday_board"]),
            "groupId": item["group"],
            "pulseId": int(item["id"]),
        }
        status = item["values"].get("status", {}).get("text") or ""
        if rng.random() < 0.5 or not status:
            event = dict(common, type="update_name", value={"name": item["name"]}, previousValue={"name": item["name"]})
        else:
            label = {"index": self.labels.get(status, -1), "text": status, "style": {}, "is_done": status == "Done"}
            event = dict(
                common,
                type="update_column_value",
                pulseName=item["name"],
                columnId="status",
                columnType="color",
                columnTitle="Status",
                value={"label": label, "post_id": None},
                previousValue=None,
                changedAt=epoch(item["updated_at"]),
                isTopGroup=True,
            )
        return trigger, json.dumps({"event": event}).encode()

    def deliver(self, rng, trigger, body):
        """POSTs until a 200, as monday does (its retries are minutes apart; these are quicker)."""
        daemon = self.cfg["daemon_url"]
        secret_path = rng.random() < 0.5
        path = f"/webhooks/monday/{self.cfg['webhook_secret']}" if secret_path else "/webhooks/monday"
        first = time.monotonic()
        attempts = 0
        wait = 0.2
        while True:
            if time.monotonic() > self.drain_deadline:
                return False
            attempts += 1
            headers = {}
            if not secret_path:
                headers["Authorization"] = jwt(self.cfg["signing_secret"], self.cfg["public_url"] + path)
            try:
                status, answer = request(daemon, "POST", path, body, headers, timeout=self.cfg["timeout"])
                kind = str(status)
            except OSError as e:
                status, kind = None, type(e).__name__
            self.bump("delivery_attempts")
            if status == 200:
                waited = time.monotonic() - first
                with self.lock:
                    self.acked.append(trigger)
                    self.stats["longest_wait_s"] = max(self.stats["longest_wait_s"], round(waited, 3))
                    self.stats["most_attempts"] = max(self.stats["most_attempts"], attempts)
                return True
            with self.lock:
                self.stats["refused"][kind] = self.stats["refused"].get(kind, 0) + 1
            if status is not None and 400 <= status < 500:
                # A refusal for good (a bad signature, a malformed body) is the generator's bug.
                print(f"load: delivery {trigger} refused with {status}: {str(answer)[:200]}", file=sys.stderr)
            time.sleep(wait)
            wait = min(wait * 2, 2.0)

    def deliverer(self):
        rng = self.rand()
        while True:
            if self.stopped():
                return
            time.sleep(rng.uniform(0.5, 1.5) / self.cfg["delivery_rate"])
            if not self.monday_items:
                continue
            trigger, body = self.delivery(rng)
            with self.lock:
                self.stats["deliveries"] += 1
                self.unacked.add(trigger)
            if self.deliver(rng, trigger, body):
                with self.lock:
                    self.unacked.discard(trigger)

    # --- the run -----------------------------------------------------------------------------

    def run(self):
        me = self.monday_gql(f"sandbox-{self.cfg['reporter']}", "query { me { id } }")
        self.cfg["reporter_user_id"] = int(me["me"]["id"])
        threads = [threading.Thread(target=self.watch_monday, daemon=True)]
        for name in self.cfg["miro_people"]:
            threads.append(threading.Thread(target=self.miro_person, args=(f"sandbox-{name}",), daemon=True))
        for name in self.cfg["monday_people"]:
            threads.append(threading.Thread(target=self.monday_person, args=(f"sandbox-{name}",), daemon=True))
        deliverers = [threading.Thread(target=self.deliverer, daemon=True) for _ in range(self.cfg["deliverers"])]
        for t in threads + deliverers:
            t.start()
        while not self.stopped():
            time.sleep(0.2)
        self.drain_deadline = time.monotonic() + self.cfg["drain_seconds"]
        for t in deliverers + threads[1:]:
            t.join(timeout=max(0.0, self.drain_deadline - time.monotonic()) + self.cfg["timeout"] + 5)
        self.stopping.set()
        with self.lock:
            result = {
                "created": self.created,
                "acked": self.acked,
                "unacked": sorted(self.unacked),
                "stats": self.stats,
            }
        tmp = os.path.join(self.dir, "load-result.json.tmp")
        with open(tmp, "w") as f:
            json.dump(result, f)
        os.replace(tmp, os.path.join(self.dir, "load-result.json"))


if __name__ == "__main__":
    Load(sys.argv[1]).run()
