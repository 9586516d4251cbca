#!/usr/bin/python3
"""Faults under load: the real stack (hm-broker, hm-auth, hm-health, hm-chat
with an OpenAI-compatible backend (tests/e2e/fake_llm.py), hm-notify,
hm-scheduler and two hm-edge processes) under a steady load of real
WebSocket clients spread over both edges, while each process in turn is
killed with SIGKILL and restarted by this script's launcher; then one
service's disk fills up (a small tmpfs under hm-health's database) and
empties again.

Every client keeps a ledger of what the server acknowledged (readings
stored, chat messages, notification acks, reminders) and of what it received
(stream events by seq). At the end the ledgers are compared with the sqlite
databases (opened read-only): nothing acknowledged is lost, nothing is
stored twice, every stream was delivered whole (no gap, after a resume with
since_seq too), and each patient message got exactly one assistant reply.
Recovery times (kill -> first successful request, kill -> every client
served again) are printed as a table and written as JSON (HM_FAULT_REPORT,
default ./fault-report.json); they are reported, not asserted.

    test_fault.py            short form (about a minute)
    test_fault.py --long     (or HM_FAULT_LONG=1) more users, three rounds of
                             kills, longer steady phases
HM_TEST_SLOW stretches every wait (sanitizer builds)."""
import asyncio
import datetime
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import msgpack  # noqa: E402
import websockets  # noqa: E402
import zmq  # noqa: E402

import hmtest  # noqa: E402
from fake_llm import FakeLLM  # noqa: E402
from hmtest import SECRET, SLOW, Stack, check, free_port, wait_for  # noqa: E402

LONG = "--long" in sys.argv or os.environ.get("HM_FAULT_LONG", "") not in ("", "0")
N_PATIENTS = 12 if LONG else 6
N_CLINICIANS = 4 if LONG else 2
ROUNDS = 3 if LONG else 1
STEADY_S = 6.0 if LONG else 1.5        # load between two faults (scaled by SLOW)
WARMUP_S = 4.0 if LONG else 2.0
HANG_S = 40.0                           # hang guard per wait (scaled by SLOW)
KILL_ORDER = ["health", "chat", "notify", "auth", "scheduler", "broker", "edge"]
RETRYABLE = {"service_unavailable", "timeout", "internal_error", "rate_limited"}
REPORT = os.environ.get("HM_FAULT_REPORT", os.path.join(os.getcwd(), "fault-report.json"))


def now():
    return time.monotonic()


def iso_ms(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000.0, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


class ConnLost(Exception):
    """The connection closed before the reply came: the outcome is unknown."""


class Stats:
    """Everything the run counts, shared by the clients and the driver."""

    def __init__(self):
        self.success = []       # (t_reply, service, client, t_sent)
        self.retries = 0        # requests sent again after a retryable error or a lost reply
        self.errors = {}        # code -> count (retryable errors seen)
        self.unexpected = []    # non-retryable errors: each one fails the test
        self.reconnects = 0
        self.connects = 0
        self.auth_refused = {}  # code -> count, authentication refused while reconnecting
        self.closes = {}        # close code -> count
        self.resends = 0        # notifications without seq seen again (re-sends): by id
        self.raw_dups = 0       # seq-carrying events received twice (dropped by the client)
        self.resume_gaps = []   # (client, stream, since, first seq after) on a resume
        self.live_gaps = []     # (client, stream, expected, got) on a live connection
        self.resyncs = 0
        self.edge_retries = 0   # requests the edges sent again to the services (their metric)
        self.uncertain = 0      # replies lost with their connection: outcome read from the stream
        self.phase = "warmup"   # what the driver is doing (labels the gaps)

    def ok(self, service, client, t_sent):
        self.success.append((now(), service, client, t_sent))

    def err(self, code):
        self.errors[code] = self.errors.get(code, 0) + 1


S = Stats()


# ---- the launcher ---------------------------------------------------------------

class Fleet(Stack):
    """Every process of the stack, by name; kill -9 and restart like a
    supervisor would (same arguments, same data)."""

    def __init__(self, llm_url):
        super().__init__()
        self.spec = {}
        self.cur = {}
        self.health_dir = os.path.join(self.dir, "health")
        os.makedirs(self.health_dir)
        self.mounted = False
        self.edge_ports = [free_port(), free_port()]
        hb = ["--heartbeat-ms", "250"]
        data = ["--data-dir", self.dir]
        self.spec["broker"] = ("hm-broker", self.bus_flags() + hb)
        self.spec["auth"] = ("hm-auth", self.bus_flags() + data + hb + ["--jwt-secret", SECRET])
        self.spec["health"] = ("hm-health", self.bus_flags() + hb + [
            "--data-dir", self.health_dir])
        self.spec["chat"] = ("hm-chat", self.bus_flags() + data + hb + [
            "--assistant", "openai", "--openai-url", llm_url, "--openai-key", "sk-fault-test",
            "--openai-model", "fault-model"])
        self.spec["notify"] = ("hm-notify", self.bus_flags() + data + hb + [
            "--flush-delay-ms", "100", "--resend-base-ms", "1500"])
        self.spec["scheduler"] = ("hm-scheduler", self.bus_flags() + data + hb)
        for i, port in enumerate(self.edge_ports):
            self.spec["edge%d" % i] = ("hm-edge", self.bus_flags() + [
                "--port", str(port), "--edge-id", "edge-%d" % i, "--bus-heartbeat-ms", "250",
                "--heartbeat-ms", "5000"])
        self.starts = {}

    def launch(self, name):
        binary, args = self.spec[name]
        n = self.starts.get(name, 0)
        self.starts[name] = n + 1
        p = self.start(binary, args, log=os.path.join(self.dir, "%s.%d.log" % (name, n)))
        self.cur[name] = p
        return p

    def kill9(self, name):
        p = self.cur[name]
        check(p.poll() is None, "%s was running before its kill (exit %r)" % (name, p.returncode))
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10 * SLOW)

    def alive(self):
        """Names of processes that died on their own."""
        return [n for n, p in self.cur.items() if p.poll() is not None]

    def registered(self, service):
        return self.hm_bus("--timeout", "0.5", "--retries", "0", "req", "mmi.service",
                           service)[0] == 0

    def started(self, name):
        return "event=started" in open(self.cur[name].log, errors="replace").read()

    def auth_cli(self, *args):
        rc, out, err = self.run("hm-auth", self.bus_flags() + ["--data-dir", self.dir,
                                                               "--jwt-secret", SECRET]
                                + list(args))
        check(rc == 0, "hm-auth %s failed: %s" % (" ".join(args), err))
        return out.strip()

    def db(self, name):
        path = os.path.join(self.health_dir if name == "health" else self.dir, name + ".db")
        return sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
                p.wait()
        self.unmount()
        super().stop_all()

    def edge_metric(self, idx, name):
        """A counter from an edge's /metrics (admin token), or 0 when the
        edge does not answer."""
        import urllib.request
        req = urllib.request.Request("http://127.0.0.1:%d/metrics" % self.edge_ports[idx],
                                     headers={"Authorization": "Bearer " + self.admin_token})
        try:
            with urllib.request.urlopen(req, timeout=5 * SLOW) as r:
                for line in r.read().decode().splitlines():
                    if line.startswith(name + " ") or line.startswith(name + "{"):
                        return int(float(line.split()[-1]))
        except OSError:
            pass
        return 0

    def unmount(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.health_dir], capture_output=True)
            self.mounted = False


# ---- a client ---------------------------------------------------------------------

STREAMS = ("health_updates", "chat", "notifications")
STREAM_OF = {"health_update": "health_updates", "health_alert": "health_updates",
             "chat_message": "chat", "notification": "notifications"}


class Client:
    """One user's app: a /ws/combined connection kept open (reconnecting to
    either edge with backoff and resuming every stream with since_seq), a
    ledger of acknowledged work and of received events."""

    def __init__(self, fleet, name, uid, token, role, edge):
        self.fleet, self.name, self.uid, self.token, self.role = fleet, name, uid, token, role
        self.edge = edge                   # index of the edge it uses now
        self.ws = None
        self.live = asyncio.Event()
        self.pending = {}                  # cid -> future
        self.sub_cids = {}                 # subscribe cid -> stream (resume errors come on it)
        self.seen = {s: {} for s in STREAMS}   # stream -> seq -> id
        self.resume_from = {}              # stream -> since_seq of the subscribe in flight
        self.stop = False
        self.conn_no = 0
        # ledgers
        self.readings = {}                 # timestamp -> (id, seq)
        self.chats = {}                    # text -> (message_id, conversation_id)
        self.conv = None                   # the patient's conversation with the assistant
        self.notes = {}                    # notification id -> seq (None: seen only as re-send)
        self.acked = set()                 # notification ids whose ack was acknowledged
        self.acking = set()
        self.reminders = {}                # name -> reminder id
        self.by_ts = {}                    # reading timestamp seen on the stream -> (id, seq)
        self.by_text = {}                  # chat text seen on the stream -> message_id

    # -- connection -------------------------------------------------------------
    def contiguous(self, stream):
        seqs = self.seen[stream]
        n = 0
        while (n + 1) in seqs:
            n += 1
        return n

    async def run(self):
        delay = 0.1
        while not self.stop:
            try:
                await self._session()
                delay = 0.1
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException,
                    ConnLost) as e:
                if isinstance(e, websockets.exceptions.ConnectionClosed):
                    code = e.rcvd.code if getattr(e, "rcvd", None) else 1006
                    S.closes[code] = S.closes.get(code, 0) + 1
            self.live.clear()
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(ConnLost())
                    fut.exception()   # whoever waited for it has its answer
            self.pending.clear()
            if self.stop:
                break
            S.reconnects += 1
            self.edge = (self.edge + 1) % 2      # the other edge first
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, 2.0)

    async def _session(self):
        url = "ws://127.0.0.1:%d/ws/combined" % self.fleet.edge_ports[self.edge]
        ws = await asyncio.wait_for(websockets.connect(url, close_timeout=1, max_queue=None),
                                    5 * SLOW)
        self.ws = ws
        self.conn_no += 1
        reader = asyncio.ensure_future(self._read(ws))
        try:
            rep = await self._call({"type": "authenticate", "token": self.token}, 15 * SLOW)
            if rep.get("type") != "authenticated":
                code = rep.get("code", "?")
                S.auth_refused[code] = S.auth_refused.get(code, 0) + 1
                await ws.close()
                raise ConnLost()
            S.ok("auth", self.name, None)
            S.connects += 1
            for stream in STREAMS:
                await self._subscribe(stream)
            self.live.set()
            await reader
        finally:
            reader.cancel()
            self.ws = None
            await ws.close()

    async def _subscribe(self, stream):
        since = self.contiguous(stream)
        cid = "sub-%s" % uuid.uuid4()
        self.sub_cids[cid] = stream
        self.resume_from[stream] = since
        rep = await self._call({"type": "subscribe", "subscription": stream, "since_seq": since,
                                "correlation_id": cid}, 15 * SLOW)
        if rep.get("type") != "subscribed":
            S.err("subscribe:" + str(rep.get("code")))
            raise ConnLost()

    async def _call(self, msg, timeout):
        cid = msg.setdefault("correlation_id", str(uuid.uuid4()))
        fut = asyncio.get_event_loop().create_future()
        self.pending[cid] = fut
        await self.ws.send(json.dumps(msg))
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.pending.pop(cid, None)

    async def _read(self, ws):
        async for raw in ws:
            m = json.loads(raw)
            cid = m.get("correlation_id")
            t = m.get("type")
            if cid in self.pending and t not in STREAM_OF:
                fut = self.pending.pop(cid)
                if not fut.done():
                    fut.set_result(m)
                continue
            if t == "error" and cid in self.sub_cids:
                # The replay of a resume failed (its service was down): follow
                # the stream again from what is whole.
                S.err(m.get("code", "?"))
                asyncio.ensure_future(self.resync(self.sub_cids[cid]))
                continue
            if t in STREAM_OF:
                self._event(m)

    def _event(self, m):
        stream = STREAM_OF[m["type"]]
        if m["type"] == "notification":
            n = m.get("notification") or {}
            nid = n.get("id")
            if "seq" not in m:
                S.resends += 1
                self.notes.setdefault(nid, None)
                self._ack_soon(nid)
                return
            key = nid
            self._ack_soon(nid)
        elif m["type"] == "chat_message":
            key = m["data"]["message_id"]
            self.by_text[m["data"]["message"]] = (key, m["data"]["conversation_id"])
        else:
            key = m["data"]["id"]
            if m["type"] == "health_update":
                self.by_ts[m["data"]["timestamp"]] = (key, m["seq"])
        seq = m.get("seq")
        if seq is None:
            return
        seen = self.seen[stream]
        resumed = stream in self.resume_from
        if resumed:
            since = self.resume_from.pop(stream)
            if seq > since + 1:
                S.resume_gaps.append((self.name, stream, since, seq, S.phase))
        if seq in seen:
            S.raw_dups += 1
            if seen[seq] != key:
                S.unexpected.append((self.name, stream, "seq %d carried %s and %s"
                                     % (seq, seen[seq], key), None))
            return
        top = max(seen) if seen else 0
        if not resumed and seq > top + 1:
            S.live_gaps.append((self.name, stream, top + 1, seq, S.phase))
            asyncio.ensure_future(self.resync(stream))
        seen[seq] = key
        if m["type"] == "notification":
            self.notes[key] = seq

    async def resync(self, stream):
        """Follows a stream again from its last whole seq (a gap was seen,
        or a resume's replay failed)."""
        S.resyncs += 1
        for _ in range(100):
            if self.stop:
                return
            await asyncio.sleep(0.3)
            try:
                await asyncio.wait_for(self.live.wait(), HANG_S * SLOW)
                await self._call({"type": "unsubscribe", "subscription": stream}, 15 * SLOW)
                await self._subscribe(stream)
                return
            except (ConnLost, asyncio.TimeoutError, websockets.exceptions.WebSocketException,
                    AttributeError):
                pass   # the reconnect resumes it anyway

    # -- requests ------------------------------------------------------------------
    async def request(self, service, type_, data):
        """Sends a request once it is live; returns the reply. Raises ConnLost
        when the connection dies before the reply."""
        await asyncio.wait_for(self.live.wait(), HANG_S * SLOW)
        t0 = now()
        try:
            rep = await self._call({"type": type_, "data": data}, 20 * SLOW)
        except (websockets.exceptions.WebSocketException, AttributeError):
            raise ConnLost()
        except asyncio.TimeoutError:
            S.err("client_timeout")
            raise ConnLost()
        if rep.get("type") == "error":
            code = rep.get("code", "?")
            if code not in RETRYABLE:
                S.unexpected.append((self.name, type_, code, rep.get("message")))
            S.err(code)
        else:
            S.ok(service, self.name, t0)
        return rep

    async def settled(self):
        """After a lost reply: wait until live again and the streams resumed."""
        await asyncio.wait_for(self.live.wait(), HANG_S * SLOW)
        await asyncio.sleep(1.0 * SLOW)

    async def reliably(self, service, type_, data, stored=None):
        """A request until it is acknowledged: retries after retryable
        errors; after a lost reply asks stored() (what the streams show)
        before sending again. Returns the reply data, or what stored()
        found."""
        delay = 0.2
        while True:
            try:
                rep = await self.request(service, type_, data)
                if rep.get("type") != "error":
                    return rep.get("data")
                if rep.get("code") not in RETRYABLE:
                    return None
            except ConnLost:
                S.uncertain += 1
                if stored:
                    await self.settled()
                    try:
                        got = await stored()
                    except ConnLost:
                        got = None
                    if got is not None:
                        return got
            S.retries += 1
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, 2.0)

    def _ack_soon(self, nid):
        if nid and nid not in self.acked and nid not in self.acking:
            self.acking.add(nid)
            asyncio.ensure_future(self._ack(nid))

    async def _ack(self, nid):
        rep = await self.reliably("notify", "ack", {"id": nid})
        self.acking.discard(nid)
        if rep is not None:
            self.acked.add(nid)

    # -- the load -----------------------------------------------------------------
    async def readings_loop(self, idx, running):
        base = int(time.time() * 1000) - 40 * 60 * 1000 + idx * 100000
        i = 0
        while running():
            ts = iso_ms(base + i)
            data = {"metric": "heart_rate", "value": 60 + i % 40, "unit": "bpm",
                    "timestamp": ts}

            async def stored(ts=ts):
                return self.by_ts.get(ts) and {"id": self.by_ts[ts][0], "seq": self.by_ts[ts][1]}
            rep = await self.reliably("health", "health_update", data, stored)
            check(rep is not None, "%s: reading refused" % self.name)
            self.readings[ts] = (rep["id"], rep["seq"])
            i += 1
            await asyncio.sleep(0.12)

    async def chat_loop(self, idx, running, convs):
        n = 0
        while running():
            if self.role == "patient":
                conv = self.conv
            else:
                owners = [c for c in convs if c.conv]
                conv = random.choice(owners).conv if owners else None
                if conv is None:
                    await asyncio.sleep(0.5)
                    continue
            text = "fault %s m%d %s" % (self.name, n, uuid.uuid4().hex[:8])
            data = {"message": text}
            if conv:
                data["conversation_id"] = conv

            async def stored(text=text):
                got = self.by_text.get(text)
                return got and {"message_id": got[0], "conversation_id": got[1]}
            rep = await self.reliably("chat", "chat_message", data, stored)
            check(rep is not None, "%s: chat message refused" % self.name)
            if self.role == "patient" and self.conv is None:
                self.conv = rep.get("conversation_id")
            self.chats[text] = (rep["message_id"], rep.get("conversation_id") or conv)
            n += 1
            await asyncio.sleep(1.2 if self.role == "patient" else 1.6)

    async def reminder_loop(self, idx, running):
        n = 0
        while running():
            name = "fault-%s-r%d-%s" % (self.name, n, uuid.uuid4().hex[:6])
            data = {"kind": "medication", "name": name, "tz": "UTC", "times": ["08:00"]}

            async def stored(name=name):
                rep = await self.request("scheduler", "reminder_list", {})
                if rep.get("type") == "error":
                    return None
                for r in rep["data"]["reminders"]:
                    if r.get("name") == name:
                        return {"reminder": r}
                return None
            rep = await self.reliably("scheduler", "reminder_create", data, stored)
            check(rep is not None, "%s: reminder refused" % self.name)
            self.reminders[name] = rep["reminder"]["id"]
            n += 1
            await asyncio.sleep(2.5)


async def churn(fleet, tokens, running):
    """New connections all the time (hm-auth's load): authenticate, close."""
    i = 0
    while running():
        i += 1
        port = fleet.edge_ports[i % 2]
        t0 = now()
        try:
            ws = await asyncio.wait_for(websockets.connect(
                "ws://127.0.0.1:%d/ws/combined" % port, close_timeout=1), 5 * SLOW)
            try:
                await ws.send(json.dumps({"type": "authenticate", "token": tokens[i % len(tokens)]}))
                while True:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 15 * SLOW))
                    if m.get("type") == "authenticated":
                        S.ok("auth", "churn", t0)
                        break
                    if m.get("type") == "error":
                        S.err("auth:" + m.get("code", "?"))
                        break
            finally:
                await ws.close()
        except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
            pass
        await asyncio.sleep(0.25)


# ---- notifications from a service (the bus, Majordomo) -----------------------------

class Notifier(threading.Thread):
    """Creates notifications as a service does: notify.create on the bus
    with an idempotency key, the same envelope id again after a silence or
    service_unavailable, until hm-notify acknowledges."""

    def __init__(self, endpoint, users):
        super().__init__(daemon=True)
        self.endpoint, self.users = endpoint, users
        self.halt = threading.Event()
        self.created = []          # (user_id, id, seq, key)
        self.error = None

    def run(self):
        try:
            self._run()
        except Exception as e:   # reported by the driver
            self.error = repr(e)

    def _run(self):
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(self.endpoint)
        n = 0
        prios = ["normal", "normal", "high", "low"]
        while not self.halt.is_set():
            uid = self.users[n % len(self.users)]
            key = "fault-n%d" % n
            env = {"v": 1, "type": "notify.create", "id": str(uuid.uuid4()), "user_id": 0,
                   "ts": int(time.time() * 1000),
                   "data": {"user_id": uid, "type": "system", "priority": prios[n % 4],
                            "title": "Fault test notice %d" % n, "message": "load",
                            "idempotency_key": key}}
            body = msgpack.packb(env, use_bin_type=True)
            t0 = now()
            wait = 1.0
            while True:
                try:
                    sock.send_multipart([b"", b"MDPC01", b"notify", body], zmq.NOBLOCK)
                except zmq.Again:
                    pass
                deadline = now() + wait * SLOW
                rep = None
                while now() < deadline and rep is None:
                    if sock.poll(50):
                        f = sock.recv_multipart()
                        r = msgpack.unpackb(f[3], raw=False)
                        if r.get("id") == env["id"]:
                            rep = r
                if rep and rep["type"] != "error":
                    d = rep["data"]
                    self.created.append((uid, d["id"], d["seq"], key))
                    S.ok("notify", "notifier", t0)
                    break
                S.retries += 1
                if rep:
                    code = (rep.get("data") or {}).get("code", "?")
                    S.err(code)
                    if code not in RETRYABLE:
                        S.unexpected.append(("notifier", "notify.create", code, None))
                        break
                    time.sleep(0.2)
                wait = min(wait * 2, 4.0)
                if self.halt.is_set() and now() - t0 > HANG_S * SLOW:
                    self.error = "notify.create %s never acknowledged" % key
                    return
            n += 1
            time.sleep(0.2)
        sock.close()


# ---- the driver -------------------------------------------------------------------

def recovery(t_kill, needs, start=0):
    """(first, whole): seconds from the kill to the first successful request
    sent after it that meets one of needs, and until every one of needs
    was met. A need is (service or None, client or None)."""
    first = None
    met = {}
    for t, svc, who, sent in S.success[start:]:
        if t < t_kill or (sent is not None and sent < t_kill):
            continue
        for need in needs:
            if need in met or (need[0] and need[0] != svc) or (need[1] and need[1] != who):
                continue
            met[need] = t
            first = t if first is None else min(first, t)
    if first is None or len(met) != len(needs):
        return (first - t_kill if first else None), None
    return first - t_kill, max(met.values()) - t_kill


async def wait_recovered(t_kill, needs, what="", start=0):
    deadline = now() + HANG_S * SLOW
    while now() < deadline:
        first, whole = recovery(t_kill, needs, start)
        if whole is not None:
            return first, whole
        await asyncio.sleep(0.05)
    first, _ = recovery(t_kill, needs, start)
    raise AssertionError("no recovery within %.0fs after %s (first success: %r)"
                         % (HANG_S * SLOW, what, first))


SERVICES = ["auth", "health", "chat", "notify", "scheduler"]


def needs_of(name, clients, affected=None):
    """What "whole again" means after name was killed: every client that
    uses the service served again (the broker: every service and every
    client; an edge: every client that was on it)."""
    pats = [c.name for c in clients if c.role == "patient"]
    alln = [c.name for c in clients]
    if name == "edge":
        return [(None, c) for c in affected]
    if name == "broker":
        return [(s, None) for s in SERVICES] + [(None, c) for c in alln]
    users = {"health": pats, "scheduler": pats, "chat": alln, "notify": alln + ["notifier"],
             "auth": ["churn"]}[name]
    return [(name, c) for c in users]


async def fault_phase(fleet, clients, name, rnd, results):
    edge = None
    proc = name
    if name == "edge":
        edge = (1 + rnd) % 2
        proc = "edge%d" % edge
    affected = None
    if edge is not None:
        affected = [c.name for c in clients if c.edge == edge and c.live.is_set()]
    counters = (S.retries, S.reconnects, dict(S.errors))
    start = max(0, len(S.success) - 50)
    if edge is not None:
        S.edge_retries += fleet.edge_metric(edge, "hm_edge_request_retries_total")
    t_kill = now()
    S.phase = "kill " + proc
    fleet.kill9(proc)
    fleet.launch(proc)               # the launcher restarts it at once
    first, whole = await wait_recovered(t_kill, needs_of(name, clients, affected),
                                        "killing " + proc, start)
    errs = {k: v - counters[2].get(k, 0) for k, v in S.errors.items()
            if v - counters[2].get(k, 0) > 0}
    results.append({"round": rnd + 1, "process": "hm-edge (edge-%d)" % edge if edge is not None
                    else "hm-" + name, "first_success_s": round(first, 3),
                    "whole_s": round(whole, 3), "retries": S.retries - counters[0],
                    "reconnects": S.reconnects - counters[1], "errors": errs,
                    "clients_moved": len(affected) if affected is not None else 0})
    S.phase = "after " + proc
    await asyncio.sleep(STEADY_S * SLOW)
    S.phase = "steady"


async def disk_full_phase(fleet, clients, results):
    """hm-health's database directory runs out of space while readings keep
    coming: callers get an error with a stable code, hm-health stays up, and
    takes readings again once space is back."""
    if not fleet.mounted:
        results.append({"process": "hm-health disk full", "skipped": "no tmpfs (not root?)"})
        return
    base = dict(S.errors)
    filler = os.path.join(fleet.health_dir, "filler")
    t_full = now()
    try:
        with open(filler, "wb", buffering=0) as f:
            while True:
                f.write(b"\0" * 65536)
    except OSError:
        pass   # full
    deadline = now() + HANG_S * SLOW
    codes = {}
    while now() < deadline:
        codes = {k: v - base.get(k, 0) for k, v in S.errors.items() if v - base.get(k, 0) > 0}
        if sum(codes.values()) >= 5:
            break
        # sqlite reuses WAL pages: keep the disk full as it frees some.
        try:
            with open(filler, "ab", buffering=0) as f:
                f.write(b"\0" * 65536)
        except OSError:
            pass
        await asyncio.sleep(0.1)
    t_err = now()
    check(sum(codes.values()) > 0, "no error while hm-health's disk was full")
    check(set(codes) <= RETRYABLE, "errors while the disk was full: %s" % codes)
    await asyncio.sleep(1.0 * SLOW)     # keep it full a little longer
    check(fleet.cur["health"].poll() is None, "hm-health died when its disk filled up (exit %r)"
          % fleet.cur["health"].returncode)
    codes = {k: v - base.get(k, 0) for k, v in S.errors.items() if v - base.get(k, 0) > 0}
    start = max(0, len(S.success) - 50)
    t_free = now()
    os.unlink(filler)
    first, whole = await wait_recovered(t_free, needs_of("health", clients),
                                        "space came back to hm-health", start)
    check(fleet.cur["health"].poll() is None, "hm-health is still the same process")
    results.append({"process": "hm-health disk full", "first_error_s": round(t_err - t_full, 3),
                    "errors": codes, "first_success_s": round(first, 3),
                    "whole_s": round(whole, 3), "note": "times from when space came back"})
    await asyncio.sleep(STEADY_S * SLOW)


def db_rows(fleet, name, sql, *args):
    with fleet.db(name) as db:
        return db.execute(sql, args).fetchall()


def compare(fleet, clients, notifier):
    """The ledgers against the databases. Returns (problems, totals)."""
    bad = []
    tot = {"readings": 0, "chat_messages": 0, "notifications": 0, "reminders": 0,
           "events_received": 0}
    # hm-health: every acknowledged reading stored once; the stream whole.
    for c in clients:
        if c.role != "patient":
            continue
        rows = db_rows(fleet, "health", "SELECT seq, id, type, data FROM events WHERE user_id = ?",
                       c.uid)
        by_id = {r[1]: r[0] for r in rows}
        for ts, (rid, seq) in c.readings.items():
            if by_id.get(rid) != seq:
                bad.append("%s: acknowledged reading %s (seq %s) not stored" % (c.name, rid, seq))
        stamps = {}
        for r in rows:
            if r[2] == "health_update":
                ts = json.loads(r[3]).get("timestamp")
                stamps[ts] = stamps.get(ts, 0) + 1
        dups = [t for t, n in stamps.items() if n > 1]
        if dups:
            bad.append("%s: %d readings stored twice" % (c.name, len(dups)))
        if len(c.readings) != sum(1 for r in rows if r[2] == "health_update"):
            bad.append("%s: %d readings acknowledged, %d stored"
                       % (c.name, len(c.readings), sum(1 for r in rows if r[2] == "health_update")))
        got = c.seen["health_updates"]
        want = {r[0]: r[1] for r in rows}
        if got != want:
            miss = sorted(set(want) - set(got))
            bad.append("%s: health stream differs: missing %s, extra %s"
                       % (c.name, miss[:10], sorted(set(got) - set(want))[:10]))
        tot["readings"] += len(c.readings)
    # hm-chat: acknowledged messages stored once, each patient message
    # answered once, every participant's stream whole.
    for c in clients:
        for text, (mid, conv) in c.chats.items():
            r = db_rows(fleet, "chat", "SELECT body, sender_id, conversation_id FROM messages "
                        "WHERE message_id = ?", mid)
            if not r or r[0][0] != text or r[0][1] != c.uid:
                bad.append("%s: acknowledged chat message %s not stored" % (c.name, mid))
        tot["chat_messages"] += len(c.chats)
        rows = db_rows(fleet, "chat", "SELECT seq, message_id FROM inbox WHERE user_id = ?", c.uid)
        want = dict(rows)
        got = c.seen["chat"]
        if got != want:
            bad.append("%s: chat stream differs: missing %s, extra %s"
                       % (c.name, sorted(set(want) - set(got))[:10],
                          sorted(set(got) - set(want))[:10]))
    twice = db_rows(fleet, "chat", "SELECT body, count(*) FROM messages WHERE sender != "
                    "'ai_assistant' GROUP BY body HAVING count(*) > 1")
    if twice:
        bad.append("%d chat messages stored twice" % len(twice))
    for c in clients:
        if c.role == "patient" and c.conv:
            n_user = db_rows(fleet, "chat", "SELECT count(*) FROM messages WHERE conversation_id"
                             " = ? AND sender = 'user'", c.conv)[0][0]
            n_ai = db_rows(fleet, "chat", "SELECT count(*) FROM messages WHERE conversation_id"
                           " = ? AND sender = 'ai_assistant'", c.conv)[0][0]
            if n_user != n_ai:
                bad.append("%s: %d messages, %d assistant replies" % (c.name, n_user, n_ai))
    # hm-notify: every acknowledged create stored with its seq, delivered,
    # acknowledged by the client and recorded as such.
    made = {}
    for uid, nid, seq, key in notifier.created:
        made.setdefault(uid, {})[nid] = seq
    for c in clients:
        rows = db_rows(fleet, "notify", "SELECT id, seq, status, acked_at FROM notifications "
                       "WHERE user_id = ?", c.uid)
        db = {r[0]: r for r in rows}
        for nid, seq in made.get(c.uid, {}).items():
            if nid not in db or db[nid][1] != seq:
                bad.append("%s: acknowledged notification %s (seq %d) not stored" % (c.name, nid,
                                                                                     seq))
        if len(db) != len(made.get(c.uid, {})):
            bad.append("%s: %d notifications created, %d stored" % (c.name,
                                                                     len(made.get(c.uid, {})),
                                                                     len(db)))
        want = {r[1]: r[0] for r in rows}
        got = c.seen["notifications"]
        if got != want:
            bad.append("%s: notification stream differs: missing %s, extra %s"
                       % (c.name, sorted(set(want) - set(got))[:10],
                          sorted(set(got) - set(want))[:10]))
        for nid in c.acked:
            if nid not in db or db[nid][3] is None:
                bad.append("%s: acknowledged ack of %s not recorded" % (c.name, nid))
        if set(c.acked) != set(db):
            bad.append("%s: %d notifications, %d acknowledged by the client"
                       % (c.name, len(db), len(c.acked)))
        tot["notifications"] += len(made.get(c.uid, {}))
    # hm-scheduler: acknowledged reminders stored once.
    for c in clients:
        rows = db_rows(fleet, "scheduler", "SELECT id, title FROM reminders WHERE user_id = ?",
                       c.uid)
        ids = {r[0] for r in rows}
        for name, rid in c.reminders.items():
            if rid not in ids:
                bad.append("%s: acknowledged reminder %s not stored" % (c.name, rid))
        if len(rows) != len(c.reminders):
            bad.append("%s: %d reminders acknowledged, %d stored" % (c.name, len(c.reminders),
                                                                    len(rows)))
        tot["reminders"] += len(c.reminders)
    # Each stream's events: distinct ids (nothing doubled under another seq).
    for c in clients:
        for stream, seqs in c.seen.items():
            tot["events_received"] += len(seqs)
            if len(set(seqs.values())) != len(seqs):
                bad.append("%s: %s delivered one event under two seqs" % (c.name, stream))
    return bad, tot


def settled(fleet, clients, notifier):
    """True when every client holds what the databases hold (streams whole,
    notifications acknowledged, assistant replies given)."""
    try:
        if db_rows(fleet, "chat", "SELECT count(*) FROM jobs")[0][0] != 0:
            return False
        bad, _ = compare(fleet, clients, notifier)
        return not bad
    except sqlite3.Error:
        return False


def integrity(fleet, name):
    with fleet.db(name) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def print_table(results, totals):
    print("\nRecovery per process killed (SIGKILL, restarted at once):")
    print("%-5s %-26s %10s %10s %8s %10s  %s" % ("round", "process", "first (s)", "whole (s)",
                                                 "retries", "reconnects", "errors"))
    for r in results:
        if "skipped" in r:
            print("%-5s %-26s skipped: %s" % ("", r["process"], r["skipped"]))
            continue
        print("%-5s %-26s %10.3f %10.3f %8s %10s  %s" % (
            r.get("round", ""), r["process"], r["first_success_s"], r["whole_s"],
            r.get("retries", ""), r.get("reconnects", ""),
            ",".join("%s=%d" % kv for kv in sorted(r["errors"].items()))))
    print("\nTotals: " + ", ".join("%s=%s" % kv for kv in totals.items()))


def test_faults_under_load():
    fake = FakeLLM()
    # hm-chat's keep-alive connections die with it: not an error here.
    fake.httpd.handle_error = lambda request, address: None
    fake.start()
    fleet = Fleet(fake.url)
    results = []
    report = {"long": LONG, "slow": SLOW, "rounds": ROUNDS, "patients": N_PATIENTS,
              "clinicians": N_CLINICIANS}
    try:
        with fleet:
            try:
                setup_and_drive(fleet, results, report)
            except BaseException:
                print(fleet.logs()[-30000:])
                raise
    finally:
        fake.stop()
        report["phases"] = results
        with open(REPORT, "w") as f:
            json.dump(report, f, indent=2)
        print("report: %s" % REPORT)


def setup_and_drive(fleet, results, report):
    if os.geteuid() == 0:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs",
                            fleet.health_dir], capture_output=True, text=True)
        fleet.mounted = r.returncode == 0
    for name in ["broker", "auth", "health", "chat", "notify", "scheduler"]:
        fleet.launch(name)
    for svc in ["auth", "health", "chat", "notify", "scheduler"]:
        wait_for(lambda: fleet.registered(svc), 15, "%s registered" % svc)
    for i in range(2):
        fleet.launch("edge%d" % i)
        wait_for(lambda: fleet.started("edge%d" % i), 15, "edge-%d started" % i)
    users = []
    for i in range(N_PATIENTS):
        users.append(("p%d" % i, int(fleet.auth_cli("user", "add", "--name", "Patient %d" % i,
                                                    "--role", "patient")), "patient"))
    for i in range(N_CLINICIANS):
        cid = int(fleet.auth_cli("user", "add", "--name", "Clinician %d" % i,
                                 "--role", "clinician"))
        users.append(("c%d" % i, cid, "clinician"))
    churners = [int(fleet.auth_cli("user", "add", "--name", "Churn %d" % i, "--role",
                                   "patient")) for i in range(4)]
    patients = [u for u in users if u[2] == "patient"]
    links = {}
    for k, (name, uid, role) in enumerate(u for u in users if u[2] == "clinician"):
        mine = patients[k % 2::2] if N_CLINICIANS > 1 else patients
        for _, pid, _ in mine:
            fleet.auth_cli("link", str(uid), str(pid))
        links[name] = [p[0] for p in mine]
    tokens = {uid: fleet.auth_cli("token", "--user", str(uid), "--ttl", "7200")
              for _, uid, _ in users}
    churn_tokens = [fleet.auth_cli("token", "--user", str(u), "--ttl", "7200")
                    for u in churners]
    admin = fleet.auth_cli("user", "add", "--name", "Admin", "--role", "admin")
    fleet.admin_token = fleet.auth_cli("token", "--user", admin, "--ttl", "7200")
    report.update(asyncio.run(drive(fleet, users, links, tokens, churn_tokens, results)))
    # Clean stop: SIGTERM must end every process with status 0 (and lets the
    # sanitizers check for leaks); edges first, the broker last.
    for name in reversed(list(fleet.cur)):
        rc = fleet.stop(fleet.cur[name])
        check(rc == 0, "%s exited with %r on SIGTERM" % (name, rc))
    for p in fleet.procs:
        text = open(p.log, errors="replace").read()
        for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            check(mark not in text, "%s in %s" % (mark, p.log))


async def drive(fleet, users, links, tokens, churn_tokens, results):
    clients = [Client(fleet, name, uid, tokens[uid], role, i % 2)
               for i, (name, uid, role) in enumerate(users)]
    loading = [True]

    def running():
        return loading[0]
    notifier = Notifier(fleet.bus["requests"], [c.uid for c in clients])
    conns = [asyncio.ensure_future(c.run()) for c in clients]
    for c in clients:
        await asyncio.wait_for(c.live.wait(), HANG_S * SLOW)
    notifier.start()
    patients = [c for c in clients if c.role == "patient"]
    load = [asyncio.ensure_future(churn(fleet, churn_tokens, running))]
    for i, c in enumerate(clients):
        if c.role == "patient":
            load.append(asyncio.ensure_future(c.readings_loop(i, running)))
            load.append(asyncio.ensure_future(c.reminder_loop(i, running)))
            load.append(asyncio.ensure_future(c.chat_loop(i, running, [])))
        else:
            mine = [p for p in patients if p.name in links[c.name]]
            load.append(asyncio.ensure_future(c.chat_loop(i, running, mine)))
    t_start = now()
    try:
        await asyncio.sleep(WARMUP_S * SLOW)
        for rnd in range(ROUNDS):
            for name in KILL_ORDER:
                died = fleet.alive()
                check(not died, "died on their own: %s" % died)
                await fault_phase(fleet, clients, name, rnd, results)
                for t in load:
                    if t.done() and t.exception():
                        raise t.exception()
        await disk_full_phase(fleet, clients, results)
        died = fleet.alive()
        check(not died, "died on their own: %s" % died)
    finally:
        loading[0] = False
        notifier.halt.set()
    t_load = now() - t_start
    await asyncio.wait_for(asyncio.gather(*load), HANG_S * SLOW)
    notifier.join(HANG_S * SLOW)
    check(not notifier.is_alive(), "the notifier stopped")
    check(notifier.error is None, "notifier: %s" % notifier.error)
    # Settle: what was stored reaches every client, every notification is
    # acknowledged, every owed assistant reply is given.
    deadline = now() + HANG_S * SLOW
    while now() < deadline and not settled(fleet, clients, notifier):
        await asyncio.sleep(0.25)
    bad, totals = compare(fleet, clients, notifier)
    S.edge_retries += sum(fleet.edge_metric(i, "hm_edge_request_retries_total") for i in range(2))
    for name in ("health", "chat", "notify", "scheduler", "auth"):
        ok = integrity(fleet, name)
        if ok != "ok":
            bad.append("%s.db integrity_check: %s" % (name, ok))
    for c in clients:
        c.stop = True
        if c.ws:
            await c.ws.close()
    await asyncio.wait_for(asyncio.gather(*conns, return_exceptions=True), 10 * SLOW)
    totals.update({"load_s": round(t_load, 1), "retries": S.retries,
                   "edge_retries": S.edge_retries,
                   "reconnects": S.reconnects, "uncertain_replies": S.uncertain,
                   "resends_by_id": S.resends, "dups_dropped_by_seq": S.raw_dups,
                   "resume_gaps": len(S.resume_gaps), "live_gaps": len(S.live_gaps),
                   "resyncs": S.resyncs, "lost": sum(1 for b in bad if "not stored" in b
                                                     or "missing" in b),
                   "dups_to_app": sum(1 for b in bad if "twice" in b or "two seqs" in b)})
    print_table(results, totals)
    print("errors seen (retried): %s" % json.dumps(S.errors, sort_keys=True))
    print("authentication refused while reconnecting: %s" % json.dumps(S.auth_refused))
    print("close codes: %s" % json.dumps({str(k): v for k, v in S.closes.items()}))
    if S.live_gaps:
        print("live gaps (client, stream, expected, got): %s" % S.live_gaps[:20])
    if S.resume_gaps:
        print("resume gaps (client, stream, since, got): %s" % S.resume_gaps[:20])
    out = {"totals": totals, "errors": S.errors, "auth_refused": S.auth_refused,
           "live_gaps": S.live_gaps, "resume_gaps": S.resume_gaps, "problems": bad,
           "unexpected_errors": S.unexpected}
    check(not S.unexpected, "non-retryable errors: %s" % S.unexpected[:10])
    check(not bad, "ledger vs databases:\n  " + "\n  ".join(bad[:40]))
    check(not S.resume_gaps, "a resume with since_seq left a gap: %s" % S.resume_gaps[:10])
    # Events published while the bus's subscriptions come back after a
    # broker restart can miss connections that stayed up. The edge replays
    # a jump in a health or chat stream itself (the client never sees it);
    # notification streams skip acked seqs by design, so a lost one shows
    # as a gap there and the client here heals it by subscribing again with
    # since_seq (the ledger check above proves nothing was lost for good).
    # Tolerated only there, unless HM_FAULT_STRICT=1.
    strict = os.environ.get("HM_FAULT_STRICT", "") not in ("", "0")
    known = [g for g in S.live_gaps if g[4] in ("kill broker", "after broker")
             and g[1] == "notifications"]
    if known and not strict:
        print("notification gaps right after the broker restart (healed by the client's "
              "resubscribe): %s" % known[:10])
    other = S.live_gaps if strict else [g for g in S.live_gaps if g not in known]
    check(not other, "events lost on a live connection: %s" % other[:10])
    return out


if __name__ == "__main__":
    hmtest.main([test_faults_under_load])
