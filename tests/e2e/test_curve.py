#!/usr/bin/python3
"""End-to-end: CURVE on the bus. Keys from hm-keys (what scripts/keys runs),
a broker that serves CURVE with an allow-list, real clients on loopback.

Authorized processes publish, subscribe, request and serve (hm-bus,
hm-test-worker, hm-auth, hm-edge with a WebSocket client); a process with no
key, with a key missing from the allow-list, or with the wrong server key can
do none of it, and the broker counts and names each refusal. A raw TCP peer
speaking plaintext ZMTP is turned away at the handshake."""
import json
import os
import selectors
import shutil
import socket
import subprocess
import tempfile
import time

import hmtest
from hmtest import BIN, SLOW, EdgeStack, Stack, arun, check, eq, main, recv_type, wait_for

KEYS = None  # the key directory of this run (made once, removed at exit)
CLIENTS = ("edge", "auth", "bus", "worker", "intruder")


def make_keys():
    """broker + clients with hm-keys; intruder's key is taken out of the
    allow-list, so it is a valid key the broker does not know."""
    d = tempfile.mkdtemp(prefix="hm-curve-keys-")
    r = subprocess.run([os.path.join(BIN, "hm-keys"), "--keys-dir", d, "broker"] + list(CLIENTS),
                       capture_output=True, text=True, timeout=20 * SLOW)
    eq(r.returncode, 0, "hm-keys exit code (%s)" % r.stderr)
    os.remove(os.path.join(d, "clients", "intruder.cert"))
    return d


def key(name):
    return os.path.join(KEYS, name)


def client_flags(name, server="broker.cert"):
    return ["--curve-cert", key(name + ".cert_secret"), "--curve-server-key", key(server)]


def broker_flags():
    return ["--curve-cert", key("broker.cert_secret"), "--curve-clients", key("clients")]


def intruders():
    """The three ways to be refused: (label, flags, reasons the broker may
    log). A plaintext libzmq client sees the mismatch too and may hang up
    first, which the broker sees as a handshake cut short."""
    return [
        ("no key", [], ("not_curve", "handshake")),
        ("key not in the allow-list", client_flags("intruder"), ("not_authorized",)),
        ("wrong server key", client_flags("bus", server="intruder.cert"), ("bad_key",)),
    ]


class CurveStack(Stack):
    """A Stack whose broker serves CURVE; hm_bus() runs as the authorized
    "bus" client unless told otherwise."""

    def broker(self, *extra):
        return super().broker(*(broker_flags() + list(extra)))

    def hm_bus(self, *args, flags=None, **kw):
        return super().hm_bus(*((client_flags("bus") if flags is None else flags) + list(args)),
                              **kw)

    def bus_proc(self, flags, *args):
        return self.start("hm-bus", self.bus_flags() + flags + list(args))

    def denied(self):
        """The broker's count of refused handshakes (mmi.stats, asked with a key)."""
        rc, out, err = self.hm_bus("--timeout", "2", "req", "mmi.stats", '{"type":"stats"}')
        eq(rc, 0, "mmi.stats (%s)" % err)
        return json.loads(out)["data"]["curve_denied"]

    def broker_log(self):
        with open(self.procs[0].log, errors="replace") as f:
            return f.read()


class CurveEdgeStack(EdgeStack):
    """EdgeStack with CURVE: hm-auth, hm-edge and hm-bus each use their own key."""

    def broker(self, *extra):
        return Stack.broker(self, *(broker_flags() + list(extra)))

    def auth_flags(self):
        return super().auth_flags() + client_flags("auth")

    def hm_bus(self, *args, **kw):
        return super().hm_bus(*(client_flags("bus") + list(args)), **kw)


def publish_until_seen(st, sub, topic, data, timeout=10):
    """Publishes (authorized) every 200 ms until sub prints an event with this
    data (PUB/SUB joins late); returns every line sub printed meanwhile."""
    sel = selectors.DefaultSelector()
    sel.register(sub.stdout, selectors.EVENT_READ)
    seen = []
    deadline = time.monotonic() + timeout * SLOW
    try:
        while time.monotonic() < deadline:
            rc, _, err = st.hm_bus("--linger-ms", "50", "pub", topic,
                                   json.dumps({"type": "health_update", "data": data}))
            eq(rc, 0, "authorized pub (%s)" % err)
            while sel.select(timeout=0.2):
                line = sub.stdout.readline()
                if not line:
                    raise AssertionError("subscriber exited")
                seen.append(json.loads(line))
                if seen[-1]["data"] == data:
                    return seen
    finally:
        sel.close()
    raise AssertionError("subscriber never saw %r; saw %r" % (data, seen[-5:]))


def start_worker(st, flags):
    st.start("hm-test-worker", st.bus_flags() + flags + ["--service", "echo", "--name", "w1",
                                                         "--heartbeat-ms", "250"])
    wait_for(lambda: st.hm_bus("--timeout", "0.5", "--retries", "0", "req", "mmi.service",
                               "echo")[0] == 0, 15, "the worker registered over CURVE")


# ---- authorized processes ------------------------------------------------


def test_authorized_pub_sub_and_request():
    with CurveStack() as st:
        st.broker()
        sub = st.bus_proc(client_flags("bus"), "sub", "u.1.health")
        seen = publish_until_seen(st, sub, "u.1.health", {"n": 1})
        eq(seen[-1]["topic"], "u.1.health", "topic over CURVE")
        start_worker(st, client_flags("worker"))
        rc, out, err = st.hm_bus("--timeout", "2", "req", "echo",
                                 json.dumps({"type": "echo", "data": {"hello": "curve"}}))
        eq(rc, 0, "authorized request (%s)" % err)
        eq(json.loads(out)["data"]["echo"], {"hello": "curve"}, "reply through the broker")
        eq(st.denied(), 0, "nothing refused")
        check("event=started" in st.broker_log() and "curve=on" in st.broker_log(),
              "the broker says CURVE is on")
        # Clean exits (under ASan: no leak) of the worker and the broker.
        for p in reversed(st.procs):
            eq(st.stop(p), 0, "%s exits cleanly on SIGTERM" % p.args[0])


def test_edge_client_over_curve():
    """A WebSocket client authenticates (edge -> hm-auth request over CURVE)
    and receives an event published with a key (edge SUB over CURVE)."""
    with CurveEdgeStack(edge_args=client_flags("edge")) as st:
        uid = st.user("Pat")
        tok = st.token(uid)

        async def client():
            import websockets
            ws = await websockets.connect(st.url("/ws/health"))
            hmtest.OPEN.append(ws)
            await recv_type(ws, "welcome")
            await ws.send(json.dumps({"type": "authenticate", "token": tok}))
            eq((await recv_type(ws, "authenticated"))["user_id"], uid, "authenticated")
            await ws.send(json.dumps({"type": "subscribe", "subscription": "health_updates"}))
            await recv_type(ws, "subscribed")
            st.publish("u.%d.health" % uid, {"type": "health_update", "user_id": uid, "seq": 1,
                                             "data": {"metric": "heart_rate", "value": 61}})
            upd = await recv_type(ws, "health_update")
            eq(upd["data"]["value"], 61, "event reached the client")
        arun(client())


# ---- refused processes ---------------------------------------------------


def check_refused(label, flags, reasons):
    with CurveStack() as st:
        st.broker()
        start_worker(st, client_flags("worker"))
        good = st.bus_proc(client_flags("bus"), "sub", "u.1.health")
        publish_until_seen(st, good, "u.1.health", {"sync": 1})

        # Publish: the intruder's event never arrives, although a later
        # authorized event does.
        before = st.denied()
        rc, _, err = st.hm_bus("--linger-ms", "1000", "pub", "u.1.health",
                               json.dumps({"type": "health_update", "data": {"from": "intruder"}}),
                               flags=flags)
        eq(rc, 0, "%s: a PUB cannot tell (%s)" % (label, err))
        wait_for(lambda: st.denied() > before, 10, "%s: the broker refused the publisher" % label)
        seen = publish_until_seen(st, good, "u.1.health", {"after": 1})
        check(all(e["data"] != {"from": "intruder"} for e in seen),
              "%s: the intruder's event was delivered: %r" % (label, seen))

        # Subscribe: authorized events flow, the intruder receives none.
        before = st.denied()
        bad = st.bus_proc(flags, "sub", "u.1.health")
        wait_for(lambda: st.denied() > before, 10, "%s: the broker refused the subscriber" % label)
        for i in range(3):
            publish_until_seen(st, good, "u.1.health", {"flow": i})
        check(bad.poll() is None, "%s: the refused subscriber is still waiting" % label)
        st.stop(bad)
        eq(bad.stdout.read(), b"", "%s: the refused subscriber printed nothing" % label)

        # Request: no reply (timeout, exit 3); an authorized one still works.
        before = st.denied()
        rc, out, _ = st.hm_bus("--timeout", "1", "--retries", "0", "req", "echo",
                               '{"type":"echo","data":{"k":1}}', flags=flags)
        eq(rc, 3, "%s: request timed out" % label)
        eq(out, "", "%s: no reply printed" % label)
        wait_for(lambda: st.denied() > before, 10, "%s: the broker refused the requester" % label)
        rc, _, err = st.hm_bus("--timeout", "2", "req", "echo", '{"type":"echo"}')
        eq(rc, 0, "authorized request after the intruder (%s)" % err)

        log = st.broker_log()
        check(any("event=curve_denied" in line and "reason=%s " % r in line
                  for line in log.splitlines() for r in reasons),
              "%s: the broker logs the refusal with reason in %r" % (label, reasons))
        for name in ("bus", "intruder", "broker"):
            secret = open(key(name + ".cert_secret")).read().split("secret-key = ")[1][1:41]
            check(secret not in log, "no secret key in the broker's log")


def test_no_key_is_refused():
    check_refused(*intruders()[0])


def test_key_not_in_allow_list_is_refused():
    check_refused(*intruders()[1])


def test_wrong_server_key_is_refused():
    check_refused(*intruders()[2])


# ---- plaintext ZMTP and configuration --------------------------------------


def zmtp_null_greeting():
    """A ZMTP 3.0 greeting (RFC 23) for the NULL mechanism, as a client."""
    return (b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + b"\0"
            + b"\0" * 31)


def zmtp_server_greeting(s):
    """Sends the first 11 bytes of a client greeting (signature, version 3),
    so the server sends its whole greeting; returns those 64 bytes."""
    s.sendall(zmtp_null_greeting()[:11])
    greeting = b""
    while len(greeting) < 64:
        chunk = s.recv(64 - len(greeting))
        if not chunk:
            break
        greeting += chunk
    return greeting


def zmtp_exchange(endpoint):
    """Speaks plaintext ZMTP to endpoint: greeting, then a NULL READY.
    Returns (server greeting, bytes received after our greeting until the
    server closed)."""
    host, port = endpoint[len("tcp://"):].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5 * SLOW) as s:
        greeting = zmtp_server_greeting(s)
        meta = b"\x0bSocket-Type" + len(b"DEALER").to_bytes(4, "big") + b"DEALER"
        body = b"\x05READY" + meta
        after = b""
        try:
            s.sendall(zmtp_null_greeting()[11:] + bytes([0x04, len(body)]) + body)
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                after += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass
        except socket.timeout:
            raise AssertionError("the broker kept a plaintext peer connected")
        return greeting, after


def test_plaintext_zmtp_peer_is_turned_away():
    # Control: the same bytes to a broker without CURVE get a NULL greeting
    # and a READY back.
    with Stack() as st:
        st.broker()
        wait_for(lambda: st.hm_bus("req", "mmi.service", "x")[0] != 2, 10, "plain broker up")
        host, port = st.bus["requests"][len("tcp://"):].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5 * SLOW) as s:
            eq(zmtp_server_greeting(s)[12:16], b"NULL", "a plain broker offers NULL")
            s.sendall(zmtp_null_greeting()[11:])
            check(b"READY" in s.recv(4096), "a plain broker sends READY")
    with CurveStack() as st:
        st.broker()
        before = st.denied()
        for name in ("events_in", "events_out", "requests"):
            greeting, after = zmtp_exchange(st.bus[name])
            eq(len(greeting), 64, "%s: the server greets" % name)
            eq(greeting[12:17], b"CURVE", "%s: the broker only offers CURVE" % name)
            check(b"READY" not in after, "%s: no READY for a plaintext peer: %r" % (name, after))
        wait_for(lambda: st.denied() >= before + 3, 10, "three refusals counted")
        eq(st.stop(st.procs[0]), 0, "the broker exits cleanly after refusing peers")
        log = st.broker_log()
        for name in ("events_in", "events_out", "requests"):
            check("socket=%s reason=not_curve" % name in log,
                  "the broker logs the plaintext peer on %s" % name)


def test_bad_configuration_exits_2():
    with Stack() as st:
        cases = [
            ("hm-broker", ["--curve-cert", key("broker.cert_secret")], "curve_clients"),
            ("hm-broker", ["--curve-clients", key("clients")], "curve_cert"),
            ("hm-broker", broker_flags()[:2] + ["--curve-clients", key("nowhere")],
             "curve_clients_unreadable"),
            ("hm-test-worker", ["--curve-cert", key("worker.cert_secret")], "curve_server_key"),
            ("hm-test-worker", ["--curve-server-key", key("broker.cert")], "curve_cert"),
            ("hm-test-worker", ["--curve-cert", key("clients/worker.cert"),
                                "--curve-server-key", key("broker.cert")], "no secret key"),
            ("hm-bus", ["--curve-cert", key("missing"), "--curve-server-key",
                        key("broker.cert"), "req", "echo", "{}"], "cannot load"),
        ]
        for binary, flags, words in cases:
            rc, out, err = st.run(binary, st.bus_flags() + flags, timeout=10)
            eq(rc, 2, "%s %s exit code" % (binary, " ".join(flags)))
            check(words in err, "%s: message names the problem: %r" % (binary, err))


if __name__ == "__main__":
    KEYS = make_keys()
    try:
        main([test_authorized_pub_sub_and_request, test_edge_client_over_curve,
              test_no_key_is_refused, test_key_not_in_allow_list_is_refused,
              test_wrong_server_key_is_refused, test_plaintext_zmtp_peer_is_turned_away,
              test_bad_configuration_exits_2])
    finally:
        if not os.environ.get("HM_KEEP_TEST_DIRS"):
            shutil.rmtree(KEYS, ignore_errors=True)
