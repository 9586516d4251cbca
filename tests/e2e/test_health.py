#!/usr/bin/python3
"""End-to-end: hm-health with the real broker, hm-auth and hm-edge, real
WebSocket clients (python3-websockets), a Majordomo "notify" worker written
here in Python (python3-zmq + python3-msgpack, MDP/0.1 as proto/SPEC.md
section 3) that records the notify.create requests it gets, and a kill -9 of
hm-health in the middle of a burst.

    python3 tests/e2e/test_health.py           the tests
    python3 tests/e2e/test_health.py bench N [W]  readings stored and published
                                                  per second (N readings, W worker
                                                  sockets in hm-health)
"""
import asyncio
import json
import os
import sqlite3
import sys
import threading
import time
import uuid

import msgpack
import websockets
import zmq

import hmtest
from hmtest import EdgeStack, Stack, arun, check, eq, wait_for

SEED_BP = {"metric": "blood_pressure", "value": 120, "unit": "mmHg",
           "timestamp": "2024-01-01T00:00:00Z"}


# ---- the bus from Python ------------------------------------------------------

def envelope(type_, data=None, user_id=None, id_=None):
    """A packed bus envelope (proto/SPEC.md section 1)."""
    env = {"v": 1, "type": type_, "id": id_ or str(uuid.uuid4()),
           "ts": int(time.time() * 1000), "data": data}
    if user_id is not None:
        env["user_id"] = user_id
    return msgpack.packb(env, use_bin_type=True)


class NotifyWorker(threading.Thread):
    """A Majordomo worker for service "notify": records each notify.create
    and answers ack {id, seq, created} (created false for an idempotency key
    seen before, as hm-notify does)."""

    def __init__(self, endpoint, heartbeat=0.25):
        super().__init__(daemon=True)
        self.endpoint, self.heartbeat = endpoint, heartbeat
        self.requests, self.keys = [], {}
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def run(self):
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(self.endpoint)
        sock.send_multipart([b"", b"MDPW01", b"\x01", b"notify"])
        beat = time.monotonic() + self.heartbeat
        while not self.halt.is_set():
            if sock.poll(50):
                f = sock.recv_multipart()
                if f[2] == b"\x02":
                    sock.send_multipart([b"", b"MDPW01", b"\x03", f[3], b"",
                                         self._answer(msgpack.unpackb(f[5], raw=False))])
                elif f[2] == b"\x05":  # the broker forgot us: register again
                    sock.send_multipart([b"", b"MDPW01", b"\x01", b"notify"])
            if time.monotonic() >= beat:
                sock.send_multipart([b"", b"MDPW01", b"\x04"])
                beat = time.monotonic() + self.heartbeat
        sock.close()

    def _answer(self, req):
        with self.lock:
            self.requests.append(req)
            key = (req.get("data") or {}).get("idempotency_key") or req["id"]
            created = key not in self.keys
            if created:
                self.keys[key] = req
        return msgpack.packb({"v": 1, "type": "ack", "id": req["id"],
                              "ts": int(time.time() * 1000),
                              "data": {"id": key, "seq": len(self.keys), "created": created}},
                             use_bin_type=True)

    def distinct(self):
        with self.lock:
            return dict(self.keys)

    def stop(self):
        self.halt.set()
        self.join(5)


class Client:
    """A Majordomo client (DEALER) for many requests in flight."""

    def __init__(self, endpoint):
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.sndhwm = self.sock.rcvhwm = 0
        self.sock.connect(endpoint)

    def send(self, service, body):
        self.sock.send_multipart([b"", b"MDPC01", service.encode(), body])

    def recv(self, timeout_ms):
        """The next reply envelope (a dict) or None."""
        if not self.sock.poll(timeout_ms):
            return None
        f = self.sock.recv_multipart()
        return msgpack.unpackb(f[3], raw=False)

    def close(self):
        self.sock.close()


def start_health(st, *extra):
    """Starts hm-health (data in the test dir) and waits until it serves."""
    p = st.start("hm-health", st.bus_flags() + ["--data-dir", st.dir, "--heartbeat-ms", "250"]
                 + list(extra))
    wait_for(lambda: "event=started" in open(p.log, errors="replace").read(), 15,
             "hm-health started")
    wait_for(lambda: st.hm_bus("--timeout", "0.5", "--retries", "0", "req", "mmi.service",
                               "health")[0] == 0, 15, "hm-health registered")
    return p


def bus_req(st, data, verb="health.device_reading", user_id=None):
    """A request to service health through hm-bus; returns (rc, reply)."""
    env = {"type": verb, "data": data}
    if user_id is not None:
        env["user_id"] = user_id
    rc, out, err = st.hm_bus("req", "health", json.dumps(env))
    check(rc in (0, 1), "hm-bus req: %s" % err)
    return rc, json.loads(out)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + "Z"


# ---- WebSocket helpers --------------------------------------------------------
# hm-health publishes a reading before it answers, so the event often arrives
# before the ack: messages read while waiting for something else are kept in
# a backlog per connection, never dropped.



def backlog(ws):
    if not hasattr(ws, "hm_backlog"):
        ws.hm_backlog = []
    return ws.hm_backlog


async def expect(ws, pred, what, timeout=5):
    """The first message (backlog first) for which pred is true."""
    kept = backlog(ws)
    for i, m in enumerate(kept):
        if pred(m):
            return kept.pop(i)
    deadline = time.monotonic() + timeout * hmtest.SLOW
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("timed out waiting for %s; saw %r" % (what, kept[-5:]))
        m = json.loads(await asyncio.wait_for(ws.recv(), left))
        if pred(m):
            return m
        kept.append(m)


async def expect_type(ws, type_, timeout=5):
    return await expect(ws, lambda m: m.get("type") == type_, "type %r" % type_, timeout)


async def login(st, token, path="/ws/health"):
    ws = await websockets.connect(st.url(path))
    hmtest.OPEN.append(ws)
    await expect_type(ws, "welcome")
    await ws.send(json.dumps({"type": "authenticate", "token": token}))
    await expect_type(ws, "authenticated")
    return ws


async def ask(ws, msg, cid, timeout=5):
    """Sends msg with correlation id cid; returns the answer to it."""
    msg = dict(msg, correlation_id=cid)
    await ws.send(json.dumps(msg))
    return await expect(ws, lambda m: m.get("correlation_id") == cid
                        and m.get("type") != "heartbeat", "answer to %s" % cid, timeout)


async def reading(ws, data, cid):
    ack = await ask(ws, {"type": "health_update", "data": data}, cid)
    eq(ack["type"], "ack", "reading %s acknowledged (%r)" % (cid, ack))
    return ack["data"]


async def quiet(ws, seconds):
    """The backlog and everything that arrives within seconds."""
    got, ws.hm_backlog = backlog(ws), []
    deadline = time.monotonic() + seconds * hmtest.SLOW
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return got
        try:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
        except asyncio.TimeoutError:
            return got


async def in_thread(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


# ---- tests --------------------------------------------------------------------

def test_update_reaches_other_connections_and_linked_clinician():
    """A client's health_update (the seed's shape, verbatim) and a device
    reading from the bus reach every connection of the patient and a linked
    clinician who subscribed to the patient's stream, with one seq."""
    with EdgeStack() as st:
        start_health(st)
        pid, doc = st.user("Pat"), st.user("Doc", "clinician")
        st.auth_cli("link", str(doc), str(pid))

        async def client():
            a = await login(st, st.token(pid))
            b = await login(st, st.token(pid), "/ws/combined")
            await ask(b, {"type": "subscribe", "subscription": "health_updates"}, "sb")
            d = await login(st, st.token(doc))
            sub = await ask(d, {"type": "subscribe", "subscription": "health_updates",
                                "user_id": pid}, "sd")
            eq(sub["type"], "subscribed", "clinician subscribed to the patient (%r)" % sub)
            await asyncio.sleep(0.3)  # the edge's bus subscriptions reach the broker
            ack = await ask(a, {"type": "health_update", "data": SEED_BP}, "r1")  # the seed's
            eq(ack["type"], "ack", "seed-shaped health_update acknowledged (%r)" % ack)
            r = ack["data"]
            eq((r["seq"], r["metric"], r["value"], r["unit"], r["source"]),
               (1, "blood_pressure", 120, "mmHg", "client"), "the stored reading")
            for ws, who in ((a, "sender"), (b, "other connection"), (d, "clinician")):
                upd = await expect_type(ws, "health_update")
                eq((upd["seq"], upd["user_id"], upd["data"]["id"], upd["data"]["value"]),
                   (1, pid, r["id"], 120), "the %s gets the reading" % who)
                eq(upd["data"]["timestamp"], "2024-01-01T00:00:00.000Z", "reading time")
            rc, rep = await in_thread(bus_req, st, {
                "user_id": pid, "device_id": "cuff-1", "metric": "blood_pressure",
                "systolic": 118, "diastolic": 76, "unit": "mmHg"})
            eq((rc, rep["type"], rep["data"]["seq"]), (0, "ack", 2), "device reading stored")
            for ws, who in ((a, "patient"), (b, "other connection"), (d, "clinician")):
                upd = await expect_type(ws, "health_update")
                eq((upd["seq"], upd["data"]["source"], upd["data"]["device_id"],
                    upd["data"]["diastolic"]), (2, "device", "cuff-1", 76),
                   "the %s gets the device reading" % who)
        arun(client())


def test_unlinked_clinician_is_refused():
    with EdgeStack() as st:
        start_health(st)
        pid = st.user("Pat")
        stranger, carer = st.user("Stranger", "clinician"), st.user("Carer", "caregiver")
        st.auth_cli("link", str(carer), str(pid))

        async def client():
            p = await login(st, st.token(pid))
            await reading(p, {"metric": "heart_rate", "value": 70}, "r1")
            x = await login(st, st.token(stranger))
            err = await ask(x, {"type": "subscribe", "subscription": "health_updates",
                                "user_id": pid}, "s1")
            eq((err["type"], err.get("code")), ("error", "forbidden"), "subscribe refused")
            err = await ask(x, {"type": "health_sync", "data": {"user_id": pid}}, "q1")
            eq(err.get("code"), "forbidden", "health_sync of another patient refused")
            err = await ask(x, {"type": "set_threshold", "data": {
                "user_id": pid, "metric": "heart_rate", "high": 100}}, "t1")
            eq(err.get("code"), "forbidden", "thresholds of another patient refused")
            c = await login(st, st.token(carer))
            ok = await ask(c, {"type": "health_sync", "data": {"user_id": pid}}, "q2")
            eq((ok["type"], len(ok["data"]["readings"])), ("ack", 1), "linked caregiver reads")
            err = await ask(c, {"type": "set_threshold", "data": {
                "user_id": pid, "metric": "heart_rate", "high": 100}}, "t2")
            eq(err.get("code"), "forbidden", "a caregiver only reads")
            err = await ask(p, {"type": "health_update", "data": {
                "user_id": stranger, "metric": "heart_rate", "value": 70}}, "r2")
            eq(err.get("code"), "forbidden", "a reading for someone else")
        arun(client())


def test_every_validation_error_code():
    future = iso(time.time() + 3600)
    cases = [
        ({"metric": "mood", "value": 3}, "unknown_metric"),
        ({"metric": "heart_rate", "value": 70, "unit": "mmHg"}, "invalid_unit"),
        ({"metric": "glucose", "value": 90, "unit": "g/L"}, "invalid_unit"),
        ({"metric": "heart_rate", "value": 400}, "out_of_range"),
        ({"metric": "spo2", "value": 101, "unit": "%"}, "out_of_range"),
        ({"metric": "temperature", "value": 120, "unit": "F"}, "out_of_range"),
        ({"metric": "blood_pressure", "systolic": 80, "diastolic": 95}, "out_of_range"),
        ({"metric": "heart_rate", "value": 70, "timestamp": future}, "future_timestamp"),
        ({"metric": "heart_rate"}, "missing_field"),
        ({"value": 70}, "missing_field"),
        ({"metric": "heart_rate", "value": "70"}, "invalid_field"),
        ({"metric": "heart_rate", "value": 70, "timestamp": "yesterday"}, "invalid_field"),
        ({"metric": "steps", "value": 10.5}, "invalid_field"),
    ]
    with EdgeStack() as st:
        start_health(st)
        pid = st.user("Pat")

        async def client():
            ws = await login(st, st.token(pid))
            for i, (data, code) in enumerate(cases):
                err = await ask(ws, {"type": "health_update", "data": data}, "v%d" % i)
                eq((err["type"], err.get("code")), ("error", code), "error for %r" % data)
                check(err.get("message"), "with a message")
            sync = await ask(ws, {"type": "health_sync", "data": {}}, "s")
            eq(sync["data"]["readings"], [], "nothing refused was stored")
            for data, code in [({"metric": "spo2", "value": 97}, "missing_field"),
                               ({"user_id": pid, "metric": "spo2", "value": 40},
                                "out_of_range"),
                               ({"user_id": pid, "metric": "spo2", "value": 97,
                                 "device_id": ""}, "invalid_field")]:
                rc, rep = await in_thread(bus_req, st, data)
                eq((rc, rep["data"]["code"]), (1, code), "device reading %r" % data)
        arun(client())


HR_SEQUENCE = [100, 125, 118, 130, 113, 126, 112, 155, 147, 140, 152, 100, 30]
HR_EXPECTED = [("high", "warning", "alert", 120), ("high", "info", "normal", 120),
               ("high", "critical", "alert", 150), ("high", "info", "normal", 120),
               ("low", "warning", "alert", 40)]


def test_thresholds_with_hysteresis_and_notify():
    """Heart rates hovering around the thresholds (high 120, critical 150,
    low 40, margin 5, cooldown 15 min) give exactly the expected alerts, on
    the stream and as notify.create requests. hm-notify is down at first:
    readings are acknowledged at once all the same, and the notifications
    arrive once a notify worker registers."""
    with EdgeStack() as st:
        start_health(st, "--notify-timeout-ms", "300", "--notify-retry-max-ms", "600")
        pid, doc = st.user("Pat"), st.user("Doc", "clinician")
        st.auth_cli("link", str(doc), str(pid))
        notify = NotifyWorker(st.bus["requests"])

        async def client():
            ws = await login(st, st.token(pid))
            d = await login(st, st.token(doc))
            await ask(d, {"type": "subscribe", "subscription": "health_updates",
                          "user_id": pid}, "sd")
            await asyncio.sleep(0.3)
            acks = []
            for i, v in enumerate(HR_SEQUENCE):
                t0 = time.monotonic()
                acks.append(await reading(ws, {"metric": "heart_rate", "value": v,
                                               "unit": "bpm"}, "hr%d" % i))
                check(time.monotonic() - t0 < 1.0 * hmtest.SLOW, "no stall without hm-notify")
            got = [m for m in await quiet(ws, 1.0) if m["type"] == "health_alert"]
            alerts = [(a["data"]["direction"], a["data"]["severity"], a["data"]["state"],
                       a["data"]["threshold"]) for a in got]
            eq(alerts, HR_EXPECTED, "alerts on the stream")
            by_reading = {a["data"]["reading_id"]: a["seq"] for a in got}
            for i in (1, 4, 7, 11, 12):
                eq(by_reading[acks[i]["id"]], acks[i]["seq"] + 1,
                   "the alert of reading %d follows it in the stream" % i)
            clinician_alerts = [m for m in await quiet(d, 0.3) if m["type"] == "health_alert"]
            eq(len(clinician_alerts), 5, "the linked clinician's subscription gets them too")
            notify.start()
            wait_for(lambda: len(notify.distinct()) == 5, 15, "five notifications")
            keys = notify.distinct()
            eq(sorted(keys), sorted(a["data"]["id"] for a in got), "one per alert (by key)")
            prio = [keys[a["data"]["id"]]["data"]["priority"] for a in got]
            eq(prio, ["high", "low", "critical", "low", "high"], "priority from severity")
            for a in got:
                n = keys[a["data"]["id"]]["data"]
                eq((n["type"], n["user_id"], n["title"]),
                   ("health_alert", pid, a["data"]["title"]), "notify.create data")
            # a linked clinician lowers the patient's high threshold
            thr = await ask(d, {"type": "set_threshold", "data": {
                "user_id": pid, "metric": "heart_rate", "high": 100}}, "t1")
            eq(thr["type"], "ack", "set by a linked clinician (%r)" % thr)
            eq((thr["data"]["thresholds"]["heart_rate"]["high"],
                thr["data"]["thresholds"]["heart_rate"]["source"]), (100, "user"), "override")
            await reading(ws, {"metric": "heart_rate", "value": 105}, "hr-x")
            a = await expect_type(ws, "health_alert")
            eq((a["data"]["direction"], a["data"]["severity"], a["data"]["threshold"]),
               ("high", "warning", 100), "the override is in force")
            wait_for(lambda: len(notify.distinct()) == 6, 10, "its notification")
        try:
            arun(client())
        finally:
            notify.stop()
        # the alert state is durable: after a restart a value in the same
        # (high, announced) episode raises nothing
        for p in st.procs:
            if p.args[0].endswith("hm-health"):
                eq(st.stop(p), 0, "hm-health exits cleanly on SIGTERM")
        start_health(st)
        rc, rep = bus_req(st, {"user_id": pid, "metric": "heart_rate", "value": 107})
        eq(rc, 0, "reading after restart")
        rc, rep = bus_req(st, {"user_id": pid, "since_seq": rep["data"]["seq"]}, "health.replay")
        eq(rep["data"]["events"], [], "no new alert for the same episode")


def test_sync_after_disconnect_returns_what_was_missed():
    with EdgeStack() as st:
        start_health(st)
        pid = st.user("Pat")
        t0 = int(time.time()) - 600

        async def client():
            a = await login(st, st.token(pid))
            for i in range(3):
                await reading(a, {"metric": "heart_rate", "value": 60 + i,
                                  "timestamp": iso(t0 + i)}, "a%d" % i)
            seen = [(await expect_type(a, "health_update"))["seq"] for _ in range(3)]
            eq(seen, [1, 2, 3], "live while connected")
            await a.close()
            for i in range(3, 7):  # while the client is away: a device and another client
                if i % 2:
                    rc, _ = await in_thread(bus_req, st, {
                        "user_id": pid, "metric": "heart_rate", "value": 60 + i,
                        "timestamp": iso(t0 + i)})
                    eq(rc, 0, "device reading")
                else:
                    other = await login(st, st.token(pid))
                    await reading(other, {"metric": "heart_rate", "value": 60 + i,
                                          "timestamp": iso(t0 + i)}, "o%d" % i)
                    await other.close()
            b = await login(st, st.token(pid))
            sync = (await ask(b, {"type": "health_sync", "data": {"since_seq": 3}}, "s1"))["data"]
            eq([(r["seq"], r["value"]) for r in sync["readings"]],
               [(4, 63), (5, 64), (6, 65), (7, 66)], "exactly the missed readings")
            eq(sync["more"], False, "all of them")
            page = (await ask(b, {"type": "health_sync", "data": {"since_seq": 3, "limit": 3}},
                              "s2"))["data"]
            eq(([r["seq"] for r in page["readings"]], page["more"], page["next_seq"]),
               ([4, 5, 6], True, 6), "first page")
            page = (await ask(b, {"type": "health_sync", "data": {"since_seq": 6, "limit": 3}},
                              "s3"))["data"]
            eq(([r["seq"] for r in page["readings"]], page["more"]), ([7], False), "last page")
            since = (await ask(b, {"type": "health_sync", "data": {"since": iso(t0 + 5)}},
                               "s4"))["data"]
            eq([r["value"] for r in since["readings"]], [65, 66], "since a time")
            # resume: subscribe with since_seq, the edge replays from hm-health
            c = await login(st, st.token(pid), "/ws/combined")
            await ask(c, {"type": "subscribe", "subscription": "health_updates",
                          "since_seq": 3}, "r")
            got = [m for m in await quiet(c, 1.0) if m["type"] == "health_update"]
            eq([(m["seq"], m["data"]["value"]) for m in got],
               [(4, 63), (5, 64), (6, 65), (7, 66)], "replayed once each, in order")
        arun(client())


def test_sigkill_during_burst_loses_nothing_acknowledged():
    """kill -9 of hm-health while a burst of readings is in flight: every
    reading acknowledged before the kill is in the database after the
    restart; the unacknowledged ones, sent again with the same request ids,
    are stored once each (nothing lost, nothing doubled)."""
    n_total = 3000
    with Stack() as st:
        st.broker()
        p = start_health(st)
        client = Client(st.bus["requests"])
        reqs = {}
        for i in range(n_total):
            rid = str(uuid.uuid4())
            reqs[rid] = envelope("health.device_reading", {
                "user_id": 1 + i % 7, "metric": "steps", "value": i}, id_=rid)
        order = list(reqs)
        acked, sent, killed = {}, 0, False
        deadline = time.monotonic() + 60 * hmtest.SLOW
        while len(acked) < n_total // 2 and time.monotonic() < deadline:
            while sent < n_total and sent - len(acked) < 200:
                client.send("health", reqs[order[sent]])
                sent += 1
            rep = client.recv(1000)
            if rep and rep["type"] == "ack":
                acked[rep["id"]] = rep["data"]
        st.kill(p)  # SIGKILL, with ~200 requests in flight
        killed = True
        while True:  # replies already on their way count as acknowledged
            rep = client.recv(300)
            if not rep:
                break
            if rep["type"] == "ack":
                acked[rep["id"]] = rep["data"]
        check(killed and len(acked) >= n_total // 2, "half the burst acknowledged before")
        before = dict(acked)
        start_health(st)
        db = sqlite3.connect(os.path.join(st.dir, "health.db"))
        rows = {r[0]: (r[1], r[2], r[3]) for r in db.execute(
            "SELECT req_id, user_id, seq, id FROM events WHERE type = 'health_update'")}
        missing = [rid for rid, d in before.items()
                   if rows.get(rid) != (d["user_id"], d["seq"], d["id"])]
        eq(missing, [], "acknowledged readings missing after kill -9")
        # the rest (and 50 acknowledged ones), again with the same ids, until
        # all are acknowledged
        pending = (set(order) - set(acked)) | set(list(before)[:50])
        again = {}
        deadline = time.monotonic() + 60 * hmtest.SLOW
        while pending and time.monotonic() < deadline:
            for rid in list(pending)[:500]:
                client.send("health", reqs[rid])
            t_end = time.monotonic() + 2
            while pending and time.monotonic() < t_end:
                rep = client.recv(200)
                if rep and rep["type"] == "ack" and rep["id"] in pending:
                    again[rep["id"]] = rep["data"]
                    pending.discard(rep["id"])
        eq(len(pending), 0, "every reading acknowledged in the end")
        count = db.execute("SELECT count(*) FROM events").fetchone()[0]
        eq(count, n_total, "stored once each")
        for uid in range(1, 8):
            seqs = [r[0] for r in db.execute(
                "SELECT seq FROM events WHERE user_id = ? ORDER BY seq", (uid,))]
            eq(seqs, list(range(1, len(seqs) + 1)), "user %d's seqs without gaps" % uid)
        for rid in list(before)[:50]:
            eq((again[rid]["seq"], again[rid]["id"]), (before[rid]["seq"], before[rid]["id"]),
               "a retry is answered with the stored reading")
        db.close()
        client.close()


# ---- throughput (not a test) -------------------------------------------------------

def bench(n, inflight=500, users=100, workers=32):
    """Readings stored (acknowledged) and published (received by a
    subscriber) per second, through the broker, with `inflight` requests
    outstanding."""
    with Stack() as st:
        st.broker()
        p = start_health(st, "--workers", str(workers))
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.rcvhwm = 0
        sub.connect(st.bus["events_out"])
        sub.setsockopt(zmq.SUBSCRIBE, b"u.")
        time.sleep(0.5)
        client = Client(st.bus["requests"])
        bodies = [envelope("health.device_reading", {"user_id": 1 + i % users,
                                                     "metric": "heart_rate",
                                                     "value": 60 + i % 40})
                  for i in range(n)]
        sent = acked = events = 0
        t0 = time.monotonic()
        t_ack = t_ev = t0
        poller = zmq.Poller()
        poller.register(client.sock, zmq.POLLIN)
        poller.register(sub, zmq.POLLIN)
        while (acked < n or events < n) and time.monotonic() - t0 < 300:
            while sent < n and sent - acked < inflight:
                client.send("health", bodies[sent])
                sent += 1
            for s, _ in poller.poll(1000):
                while True:
                    try:
                        f = s.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    if s is sub:
                        events += 1
                        t_ev = time.monotonic()
                    else:
                        acked += 1
                        t_ack = time.monotonic()
        with open("/proc/%d/stat" % p.pid) as f:  # CPU seconds hm-health used
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        eq(st.stop(p), 0, "hm-health exits cleanly on SIGTERM")
        stats = [line for line in open(p.log) if "event=stats" in line][-1]
        avg = float(stats.split("avg_batch=")[1].split()[0])
        print(json.dumps({"bench": "health.device_reading", "readings": n, "inflight": inflight,
                          "users": users, "workers": workers, "acked": acked, "published": events,
                          "stored_per_s": round(acked / (t_ack - t0)),
                          "published_per_s": round(events / (t_ev - t0)),
                          "avg_batch": avg, "hm_health_cpu_us_per_reading":
                          round(cpu * 1e6 / n, 1)}))
        client.close()
        sub.close()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "bench":
        bench(int(sys.argv[2]) if len(sys.argv) > 2 else 50000,
              workers=int(sys.argv[3]) if len(sys.argv) > 3 else 32)
        sys.exit(0)
    hmtest.main([test_update_reaches_other_connections_and_linked_clinician,
                 test_unlinked_clinician_is_refused, test_every_validation_error_code,
                 test_thresholds_with_hysteresis_and_notify,
                 test_sync_after_disconnect_returns_what_was_missed,
                 test_sigkill_during_burst_loses_nothing_acknowledged])
