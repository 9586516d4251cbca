#!/usr/bin/python3
"""End-to-end: beyond one machine. Hosts made with network namespaces on
this machine (netns.py): one for hm-broker and the services (hm-auth,
hm-health, hm-chat), two edge hosts (one hm-edge each, bound to the host's
own address, speaking to the broker across the LAN), and haproxy in TCP
mode in the root namespace in front of the edges, health-checking them.

A patient lands on edge A through haproxy and their linked clinician on edge
B. The patient's readings (their own, and a device gateway's through the
bus) reach the clinician; the clinician's chat messages reach the patient.
Then edge A's host is cut off the network (its switch port goes down; the
process keeps running). haproxy marks A down and closes the sessions it
held; the patient's client reconnects through haproxy, lands on B, resumes
both streams with since_seq and gets every reading and chat message
published while it was away: seqs contiguous with what it had, no gap, no
double.

Needs root (as CI runs it) and haproxy + iproute2 (scripts/bootstrap
installs them); without them the test fails and says why.

    python3 tests/e2e/test_scaleout.py
"""
import asyncio
import csv
import io
import json
import os
import socket
import subprocess
import threading
import time
import uuid

import msgpack
import websockets
import zmq

import hmtest
import netns
from hmtest import check, eq, wait_for

BUS_PORTS = {"events_in": 5550, "events_out": 5551, "requests": 5555}
EDGE_PORT = 8000
HEARTBEAT_MS = 1000  # the edges' application heartbeat (the client's silence guard: 2.5x)
EDGE_BEAT_MS = 250   # sys.edge beats; hm-auth drops a silent edge's sessions after EDGE_TIMEOUT_MS
EDGE_TIMEOUT_MS = 1500


# ---- the stack on the test LAN -------------------------------------------------

class LanStack(hmtest.Stack):
    """Processes on the hosts of a netns.Net, and haproxy in front of the
    edges. Stack.stop_all kills them; Net.teardown removes the network."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.bus = {k: "tcp://%s:%d" % (net.addr["bus"], p) for k, p in BUS_PORTS.items()}
        self.edge_procs = {}
        self.haproxy = None
        self.lb_port = None

    def flags_on(self, host):
        """Bus endpoint flags for a process on host: the broker's own host
        connects over its loopback, the others across the LAN."""
        a = "127.0.0.1" if host == "bus" else self.net.addr["bus"]
        return ["--events-in", "tcp://%s:%d" % (a, BUS_PORTS["events_in"]),
                "--events-out", "tcp://%s:%d" % (a, BUS_PORTS["events_out"]),
                "--requests", "tcp://%s:%d" % (a, BUS_PORTS["requests"])]

    def start_on(self, host, name, args):
        log = os.path.join(self.dir, "%s.%s.log" % (host, name))
        f = open(log, "ab")
        p = subprocess.Popen(self.net.exec_prefix(host) + [os.path.join(hmtest.BIN, name)] + args,
                             stdout=subprocess.PIPE, stderr=f, stdin=subprocess.DEVNULL)
        f.close()
        p.log = log
        self.procs.append(p)
        return p

    def run_on(self, host, name, args, timeout=20):
        r = subprocess.run(self.net.exec_prefix(host) + [os.path.join(hmtest.BIN, name)] + args,
                           capture_output=True, text=True, timeout=timeout * hmtest.SLOW)
        return r.returncode, r.stdout, r.stderr

    def bus_cli(self, *args, timeout=20):
        """hm-bus on the broker's host."""
        return self.run_on("bus", "hm-bus", self.flags_on("bus") + list(args), timeout)

    def service_up(self, name):
        return self.bus_cli("--timeout", "0.5", "--retries", "0", "req", "mmi.service",
                            name)[0] == 0

    def wait_started(self, p, what):
        wait_for(lambda: "event=started" in open(p.log, errors="replace").read()
                 or p.poll() is not None, 15, what + " started")
        check(p.poll() is None, "%s exited at start: %s" % (what, open(p.log).read()[-2000:]))

    # -- the broker's host --
    def start_bus_host(self):
        # The broker binds every interface of its host: the services reach it
        # over loopback, the edges over the LAN.
        binds = ["--events-in", "tcp://0.0.0.0:%d" % BUS_PORTS["events_in"],
                 "--events-out", "tcp://0.0.0.0:%d" % BUS_PORTS["events_out"],
                 "--requests", "tcp://0.0.0.0:%d" % BUS_PORTS["requests"]]
        self.wait_started(self.start_on("bus", "hm-broker", binds + ["--heartbeat-ms", "250"]),
                          "hm-broker")
        common = ["--data-dir", self.dir, "--heartbeat-ms", "250"]
        self.start_on("bus", "hm-auth", self.flags_on("bus") + self.auth_flags()
                      + ["--heartbeat-ms", "250", "--edge-timeout-ms", str(EDGE_TIMEOUT_MS)])
        self.start_on("bus", "hm-health", self.flags_on("bus") + common)
        self.start_on("bus", "hm-chat", self.flags_on("bus") + common)
        for svc in ("auth", "health", "chat"):
            wait_for(lambda: self.service_up(svc), 20, "%s registered with the broker" % svc)

    def auth_flags(self):
        return ["--data-dir", self.dir, "--jwt-secret", hmtest.SECRET]

    def auth_cli(self, *args):
        rc, out, err = self.run_on("bus", "hm-auth", self.flags_on("bus") + self.auth_flags()
                                   + list(args))
        if rc != 0:
            raise AssertionError("hm-auth %s failed: %s" % (" ".join(args), err))
        return out.strip()

    # -- the edge hosts --
    def start_edge(self, host):
        p = self.start_on(host, "hm-edge", self.flags_on(host) + [
            "--host", self.net.addr[host], "--port", str(EDGE_PORT), "--edge-id", host,
            "--bus-heartbeat-ms", "250", "--heartbeat-ms", str(HEARTBEAT_MS), "--ping-s", "1",
            "--edge-beat-ms", str(EDGE_BEAT_MS)])
        self.wait_started(p, "hm-edge on " + host)
        # its Majordomo worker registered across the LAN: the edge reaches the broker
        wait_for(lambda: self.service_up("edge." + host), 20, "edge.%s registered" % host)
        self.edge_procs[host] = p
        return p

    # -- the load balancer --
    def start_haproxy(self, edges):
        self.lb_port = hmtest.free_port()
        self.haproxy_sock = os.path.join(self.dir, "haproxy.sock")
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(haproxy_config(self.lb_port, self.haproxy_sock,
                                   [(h, self.net.addr[h], EDGE_PORT) for h in edges]))
        log = os.path.join(self.dir, "haproxy.log")
        lf = open(log, "ab")
        # -db: stay in the foreground (no daemon, no pidfile): this process is
        # the only haproxy the test runs, and Stack.stop_all kills it.
        p = subprocess.Popen([netns.find_tool("haproxy"), "-db", "-f", cfg],
                             stdout=subprocess.DEVNULL, stderr=lf, stdin=subprocess.DEVNULL)
        lf.close()
        p.log = log
        self.procs.append(p)
        self.haproxy = p
        wait_for(lambda: p.poll() is not None or all(
            s == "UP" for s in self.lb_status().values()) and len(self.lb_status()) == len(edges),
            15, "haproxy up with every edge UP")
        check(p.poll() is None, "haproxy exited: %s" % open(log).read()[-2000:])

    def lb_status(self):
        """{server: status} from haproxy's stats socket."""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(self.haproxy_sock)
                s.sendall(b"show stat\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            return {}
        text = data.decode(errors="replace").lstrip("# ")
        return {r["svname"]: r["status"].split()[0] for r in csv.DictReader(io.StringIO(text))
                if r.get("pxname") == "edges" and r.get("svname") not in ("BACKEND", "FRONTEND")}

    def url(self, path):
        return "ws://127.0.0.1:%d%s" % (self.lb_port, path)

    def sessions(self, user_id):
        """{conn_id: edge} of the user's sessions, from hm-auth (auth.sessions)."""
        rc, out, err = self.bus_cli("req", "auth", json.dumps(
            {"type": "auth.sessions", "data": {"user_id": user_id}}))
        eq(rc, 0, "auth.sessions (%s)" % err)
        return {s["conn_id"]: s["edge"] for s in json.loads(out)["data"]["sessions"]}


def haproxy_config(port, sock, servers):
    """TCP mode; HTTP health checks on the edges' /healthz every 200 ms, one
    failure marks a server down and closes the sessions it held (the clients
    learn at once and reconnect, to the edges that are left). A check's
    connect times out after min(timeout connect, inter), so a host that is
    gone is down within about 2 x inter; "timeout check" only bounds the wait
    for a live edge's HTTP answer and can be generous. Slow builds stretch
    both."""
    inter = int(200 * hmtest.SLOW)
    lines = [
        "global",
        "    log stderr format raw local0 info",
        "    stats socket %s mode 600 level admin" % sock,
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    option tcplog",
        "    timeout connect 500ms",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout check %dms" % int(1000 * hmtest.SLOW),
        "    retries 2",
        "    option redispatch",
        "",
        "frontend ws",
        "    bind 127.0.0.1:%d" % port,
        "    default_backend edges",
        "",
        "backend edges",
        "    balance roundrobin",
        "    option httpchk GET /healthz",
        "    http-check expect status 200",
        "    default-server inter %dms fall 1 rise 2 on-marked-down shutdown-sessions" % inter,
    ]
    lines += ["    server %s %s:%d check" % (name, addr, p) for name, addr, p in servers]
    return "\n".join(lines) + "\n"


# ---- a device gateway on the bus ---------------------------------------------------

class DeviceGateway(threading.Thread):
    """Sends health.device_reading for one patient to service "health" every
    `every` seconds, as a Majordomo client from the root namespace across
    the LAN; records (seq, monotonic time of the ack). A request without a
    reply in time is sent again with the same envelope id (hm-health stores
    it once)."""

    def __init__(self, endpoint, user_id, every=0.1):
        super().__init__(daemon=True)
        self.endpoint, self.user_id, self.every = endpoint, user_id, every
        self.acks = []
        self.error = None
        self.halt = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(self.endpoint)
        try:
            i = 0
            while not self.halt.is_set():
                rid = str(uuid.uuid4())
                body = msgpack.packb({"v": 1, "type": "health.device_reading", "id": rid,
                                      "ts": int(time.time() * 1000),
                                      "data": {"user_id": self.user_id, "device_id": "hr-strap",
                                               "metric": "heart_rate", "value": 70 + i % 10,
                                               "unit": "bpm"}}, use_bin_type=True)
                deadline = time.monotonic() + 10 * hmtest.SLOW
                rep = None
                while rep is None:
                    if time.monotonic() > deadline:
                        raise AssertionError("device reading %d: no reply" % i)
                    sock.send_multipart([b"", b"MDPC01", b"health", body])
                    if sock.poll(int(2000 * hmtest.SLOW)):
                        f = sock.recv_multipart()
                        env = msgpack.unpackb(f[3], raw=False)
                        if env.get("id") == rid:
                            rep = env
                if rep["type"] != "ack":
                    raise AssertionError("device reading refused: %r" % rep)
                with self.lock:
                    self.acks.append((rep["data"]["seq"], time.monotonic()))
                i += 1
                self.halt.wait(self.every)
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            sock.close()

    def seqs(self):
        with self.lock:
            return list(self.acks)

    def stop(self):
        self.halt.set()
        self.join(10 * hmtest.SLOW)
        check(self.error is None, "device gateway: %s" % self.error)


# ---- a WebSocket client that notices a dead connection ----------------------------

class Client:
    """One WebSocket connection through the load balancer. A reader task
    keeps every message; stream events are sorted by stream (health, chat).
    The connection counts as lost on a close/TCP error or when the server is
    silent for 2.5 heartbeat intervals (what hm-client.js does)."""

    def __init__(self, name):
        self.name = name
        self.msgs = []
        self.health, self.chat = [], []     # stream seqs, in arrival order
        self.chat_text = {}                 # chat seq -> message
        self.lost = None                    # why the connection ended
        self.lost_at = None
        self.changed = asyncio.Event()

    async def open(self, url, token):
        self.ws = await websockets.connect(url, open_timeout=5 * hmtest.SLOW,
                                           ping_interval=None, close_timeout=0.5)
        hmtest.OPEN.append(self.ws)
        welcome = json.loads(await asyncio.wait_for(self.ws.recv(), 5 * hmtest.SLOW))
        eq(welcome["type"], "welcome", "first message")
        self.conn_id = welcome["connection_id"]
        self.silence = 2.5 * max(1, welcome["data"]["heartbeat_interval"]) * hmtest.SLOW
        self.task = asyncio.ensure_future(self._read())
        rep = await self.request({"type": "authenticate", "token": token}, "auth")
        eq(rep["type"], "authenticated", "%s authenticated (%r)" % (self.name, rep))
        return self

    async def _read(self):
        try:
            while True:
                m = json.loads(await asyncio.wait_for(self.ws.recv(), self.silence))
                self.msgs.append(m)
                t = m.get("type")
                if t in ("health_update", "health_alert") and "seq" in m:
                    self.health.append(m["seq"])
                elif t == "chat_message" and "seq" in m:
                    self.chat.append(m["seq"])
                    self.chat_text[m["seq"]] = m["data"]["message"]
                self._poke()
        except asyncio.TimeoutError:
            self.lost = "server silent for %.1fs" % self.silence
            self.ws.transport.abort()
        except websockets.exceptions.ConnectionClosed as e:
            self.lost = "connection closed (code %s)" % e.code
        self.lost_at = time.monotonic()
        self._poke()

    def _poke(self):
        self.changed.set()
        self.changed = asyncio.Event()

    async def until(self, pred, timeout, what):
        deadline = time.monotonic() + timeout * hmtest.SLOW
        while True:
            v = pred()
            if v:
                return v
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%s: timed out after %.1fs waiting for %s; last messages %r"
                                     % (self.name, timeout * hmtest.SLOW, what,
                                        [m for m in self.msgs if m.get("type") != "heartbeat"]
                                        [-4:]))
            ev = self.changed
            try:
                await asyncio.wait_for(ev.wait(), min(left, 0.2))
            except asyncio.TimeoutError:
                pass

    async def request(self, msg, cid, timeout=5):
        """Sends msg with correlation id cid; the reply (not a heartbeat)."""
        await self.ws.send(json.dumps(dict(msg, correlation_id=cid)))
        return await self.until(lambda: next(
            (m for m in self.msgs
             if m.get("correlation_id") == cid and m.get("type") != "heartbeat"), None),
            timeout, "the reply to %s" % cid)


# ---- the test -----------------------------------------------------------------------

def test_edge_host_cut_off_patient_resumes_on_the_other_edge():
    netns.require(("ip", "haproxy"))
    net = netns.Net(["bus", "edge-a", "edge-b"])
    st = None
    try:
        net.up()
        st = LanStack(net)
        try:
            scenario(st, net)
        except BaseException:
            print(st.logs()[-12000:])
            raise
    finally:
        try:
            if st:
                st.stop_all()
        finally:
            net.teardown()


def scenario(st, net):
    st.start_bus_host()
    st.start_edge("edge-a")
    st.start_edge("edge-b")
    st.start_haproxy(["edge-a", "edge-b"])

    pid = int(st.auth_cli("user", "add", "--name", "Pat", "--role", "patient"))
    doc = int(st.auth_cli("user", "add", "--name", "Dr Lee", "--role", "clinician"))
    st.auth_cli("link", str(doc), str(pid))
    ptok = st.auth_cli("token", "--user", str(pid), "--ttl", "3600")
    dtok = st.auth_cli("token", "--user", str(doc), "--ttl", "3600")
    gateway = DeviceGateway("tcp://%s:%d" % (net.addr["bus"], BUS_PORTS["requests"]), pid)

    async def run():
        # -- in order through haproxy's round robin: the patient, then the clinician
        pat = await Client("patient").open(st.url("/ws/combined"), ptok)
        for sub in ("health_updates", "chat"):
            r = await pat.request({"type": "subscribe", "subscription": sub}, "s-" + sub)
            eq(r["type"], "subscribed", "patient subscribed to %s (%r)" % (sub, r))
        dr = await Client("clinician").open(st.url("/ws/combined"), dtok)
        r = await dr.request({"type": "subscribe", "subscription": "health_updates",
                              "user_id": pid}, "s-pat")
        eq(r["type"], "subscribed", "clinician follows the patient (%r)" % r)
        eq(st.sessions(pid), {pat.conn_id: "edge-a"}, "the patient landed on edge A")
        eq(st.sessions(doc), {dr.conn_id: "edge-b"}, "the clinician landed on edge B")
        await asyncio.sleep(0.3)  # the edges' bus subscriptions reach the broker

        # -- patient -> clinician: readings, across edges
        for i in range(3):
            a = await pat.request({"type": "health_update", "data": {
                "metric": "heart_rate", "value": 72 + i, "unit": "bpm"}}, "r%d" % i)
            eq((a["type"], a["data"]["seq"]), ("ack", i + 1), "reading %d stored" % i)
        await dr.until(lambda: dr.health[-3:] == [1, 2, 3], 5, "the readings on edge B")
        # -- clinician -> patient: a chat message, across edges
        a = await dr.request({"type": "chat_message", "data": {
            "patient_id": pid, "message": "Saw your readings, all fine"}}, "c1")
        eq(a["type"], "ack", "clinician's chat message (%r)" % a)
        conv = a["data"]["conversation_id"]
        await pat.until(lambda: pat.chat, 5, "the clinician's message on edge A")
        eq(pat.chat_text[pat.chat[0]], "Saw your readings, all fine", "chat text")
        # -- a device keeps sending the patient's readings through the bus
        gateway.start()
        await pat.until(lambda: len(pat.health) >= 6, 5, "device readings live")
        await dr.until(lambda: len(dr.health) >= 6, 5, "device readings live")

        # -- edge A's host is cut off the network
        t_cut = time.monotonic()
        net.cut("edge-a")
        # the clinician writes while the patient is away
        a = await dr.request({"type": "chat_message", "data": {
            "conversation_id": conv, "message": "Call me if it goes above 120"}}, "c2")
        eq(a["type"], "ack", "chat message during the outage (%r)" % a)
        await pat.until(lambda: pat.lost, 10, "the patient's client to notice the loss")
        t_lost = pat.lost_at
        pre_health, pre_chat = list(pat.health), list(pat.chat)
        eq(pre_health, list(range(1, len(pre_health) + 1)), "live before the cut, in order")

        # -- reconnect through haproxy and resume both streams; the first try
        # after hm-client.js's initial backoff (0.5 s), then doubling to 2 s
        delay, deadline = 0.5, time.monotonic() + 20 * hmtest.SLOW
        failed = []
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            try:
                pat2 = await Client("patient (resumed)").open(st.url("/ws/combined"), ptok)
                break
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException,
                    AssertionError) as e:
                failed.append("%.2fs: %r" % (time.monotonic() - t_cut, e))
                if time.monotonic() > deadline:
                    raise AssertionError("patient could not reconnect: %r" % failed)
        subs = [("health_updates", pre_health[-1]), ("chat", pre_chat[-1])]
        for sub, since in subs:
            r = await pat2.request({"type": "subscribe", "subscription": sub,
                                    "since_seq": since}, "r-" + sub)
            eq(r["type"], "subscribed", "resumed %s (%r)" % (sub, r))
        t_resumed = time.monotonic()
        eq(st.sessions(pid).get(pat2.conn_id), "edge-b", "the patient's new connection on B")
        check(st.edge_procs["edge-a"].poll() is None,
              "edge A still runs: the host was cut off, not crashed")
        lb = st.lb_status()
        eq((lb.get("edge-a"), lb.get("edge-b")), ("DOWN", "UP"), "haproxy's view of the edges")

        # -- hm-auth forgets the cut edge's sessions once its sys.edge beats stop
        await asyncio.get_running_loop().run_in_executor(None, lambda: wait_for(
            lambda: st.sessions(pid) == {pat2.conn_id: "edge-b"}, 15,
            "hm-auth to release the patient's session on the cut edge A"))
        t_released = time.monotonic()

        # -- let the device go on a little after the resume, then stop it
        first_after = len(gateway.seqs())
        await pat2.until(lambda: len(gateway.seqs()) >= first_after + 5, 10,
                         "more device readings after the resume")
        await asyncio.get_running_loop().run_in_executor(None, gateway.stop)
        last = gateway.seqs()[-1][0]
        await pat2.until(lambda: pat2.health and pat2.health[-1] >= last, 10,
                         "every reading up to seq %d on the resumed connection" % last)
        await pat2.until(lambda: pat2.chat, 10, "the chat message sent during the outage")
        await dr.until(lambda: dr.health and dr.health[-1] >= last, 10,
                       "every reading up to seq %d at the clinician" % last)
        await asyncio.sleep(0.3)  # nothing doubled arrives late

        # -- nothing missed, nothing doubled
        k = pre_health[-1]
        eq(pat2.health, list(range(k + 1, last + 1)),
           "the resumed stream continues at %d, contiguous to %d" % (k + 1, last))
        eq(pre_health + pat2.health, list(range(1, last + 1)), "the patient's whole stream")
        eq(dr.health, list(range(1, last + 1)), "the clinician's stream (on edge B throughout)")
        eq(pat2.chat, [pre_chat[-1] + 1], "the chat stream resumes with the next seq")
        eq(pat2.chat_text[pat2.chat[0]], "Call me if it goes above 120", "the missed message")
        # Readings stored (acknowledged) between the cut and the resume that the
        # old connection never got: they were published before the new
        # connection subscribed, so only the replay can have delivered them.
        # (A reading acknowledged just after the cut may have reached the old
        # connection before it: hm-health publishes before it answers.)
        away = [s for s, t in gateway.seqs() if t_cut <= t <= t_resumed and s > k]
        check(len(away) >= 2, "readings published while the patient was away (%r)" % away)
        check(set(away) <= set(pat2.health), "each of them delivered after the resume")
        before_resume = max(s for s, t in gateway.seqs() if t <= t_resumed)
        missed = [s for s in pat2.health if s <= before_resume]
        print("scaleout: cut -> loss noticed %.2fs (%s); cut -> resumed on edge-b %.2fs; "
              "%d health events delivered after the resume (seq %d..%d; %d published before "
              "it, %d of them while the patient was away) + %d chat message; gap=0 "
              "duplicates=0; cut -> hm-auth released edge A's session %.2fs; failed reconnects: %r"
              % (t_lost - t_cut, pat.lost, t_resumed - t_cut, len(pat2.health), k + 1, last,
                 len(missed), len(away), len(pat2.chat), t_released - t_cut, failed), flush=True)

    try:
        hmtest.arun(run())
    finally:
        if gateway.is_alive():
            gateway.halt.set()
            gateway.join(5)
    # nothing crashed on the way, and every process, the cut-off edge
    # included, exits cleanly on SIGTERM
    for p in st.procs:
        name = "haproxy" if p is st.haproxy else os.path.basename(p.args[4])
        check(p.poll() is None, "%s died during the test (rc %s)" % (name, p.returncode))
    for p in reversed(st.procs):
        if p is not st.haproxy:
            t0 = time.monotonic()
            rc = st.stop(p)
            print("  %s on %s: exit %s after SIGTERM in %.2fs" % (
                os.path.basename(p.args[4]), p.args[3], rc, time.monotonic() - t0))


if __name__ == "__main__":
    hmtest.main([test_edge_host_cut_off_patient_resumes_on_the_other_edge])
