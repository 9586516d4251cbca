#!/usr/bin/python3
"""End-to-end: how the edge meets the network: TLS (wss and https, TLS 1.2
or newer only), several edge processes sharing one port with SO_REUSEPORT,
the per-address connection rate, and the seed's Python client run verbatim."""
import asyncio
import json
import os
import ssl
import subprocess
import time
import urllib.request

import websockets

import hmtest
from hmtest import (EdgeStack, arun, check, eq, expect_close, free_port, recv_type, wait_for)


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"], check=True,
                   capture_output=True)
    return cert, key


def test_wss_and_https():
    st = EdgeStack(edges=0)
    with st:
        cert, key = make_cert(st.dir)
        st.add_edge(["--tls-cert", cert, "--tls-key", key])
        uid = st.user("Pat")
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False

        async def client():
            ws = await websockets.connect("wss://127.0.0.1:%d/ws/health" % st.ports[0], ssl=ctx)
            hmtest.OPEN.append(ws)
            await recv_type(ws, "welcome")
            await ws.send(json.dumps({"type": "authenticate", "token": st.token(uid)}))
            await recv_type(ws, "authenticated")
            st.publish("u.%d.health" % uid, {"type": "health_update", "seq": 1,
                                               "data": {"metric": "spo2", "value": 97}})
            eq((await recv_type(ws, "health_update"))["data"]["value"], 97, "event over wss")
            # Plain ws on the TLS port is refused.
            try:
                await websockets.connect("ws://127.0.0.1:%d/ws/health" % st.ports[0],
                                         open_timeout=3)
                raise AssertionError("plain ws accepted on the TLS port")
            except (websockets.exceptions.InvalidHandshake, OSError, asyncio.TimeoutError,
                    EOFError):
                pass
        arun(client())
        with urllib.request.urlopen("https://127.0.0.1:%d/healthz" % st.ports[0],
                                    context=ctx, timeout=5) as r:
            eq(r.status, 200, "https healthz")
        # TLS 1.1 is refused, TLS 1.2 accepted.
        for version, ok in [(ssl.TLSVersion.TLSv1_1, False), (ssl.TLSVersion.TLSv1_2, True)]:
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            c.check_hostname = False
            c.verify_mode = ssl.CERT_NONE
            c.minimum_version = c.maximum_version = version
            try:
                c.set_ciphers("ALL:@SECLEVEL=0")
            except ssl.SSLError:
                pass
            import socket
            try:
                with socket.create_connection(("127.0.0.1", st.ports[0]), timeout=3) as s:
                    with c.wrap_socket(s) as t:
                        got = t.version()
                eq(ok, True, "%s accepted (%s)" % (version, got))
            except (ssl.SSLError, ConnectionError, OSError) as e:
                eq(ok, False, "%s refused (%s)" % (version, e))


def test_edges_share_one_port():
    st = EdgeStack(edges=0)
    with st:
        port = free_port()
        st.add_edge(edge_id="edge-a", port=port)
        st.add_edge(edge_id="edge-b", port=port)
        # 40 connections (20 users, two each): the kernel hashes each to one
        # of the two listeners; all 40 on one edge has odds of about 2^-39.
        users = [st.user("P%d" % i) for i in range(20)]
        toks = {u: st.token(u) for u in users}
        admin = st.token(st.user("Ada", "admin"))

        async def client():
            conns = []
            for i in range(40):
                uid = users[i % 20]
                ws = await websockets.connect("ws://127.0.0.1:%d/ws/health" % port)
                hmtest.OPEN.append(ws)
                await recv_type(ws, "welcome")
                await ws.send(json.dumps({"type": "authenticate", "token": toks[uid]}))
                await recv_type(ws, "authenticated")
                conns.append((uid, ws))
            for uid in users:
                st.publish("u.%d.health" % uid, {"type": "health_update", "user_id": uid,
                                                   "seq": 1, "data": {}})
            for uid, ws in conns:
                eq((await recv_type(ws, "health_update"))["user_id"], uid, "own event")
            from test_mgmt import http
            wait_for(lambda: len(http(st, "GET", "/ws/status", admin)[1]["edges"]) == 2, 15,
                     "both edges known")
            edges = http(st, "GET", "/ws/status", admin)[1]["edges"]
            eq(sum(e["active_connections"] for e in edges), 40, "forty connections in all")
            check(all(e["active_connections"] > 0 for e in edges),
                  "the kernel spreads connections over both edges: %r" % edges)
            return edges
        edges = arun(client())
        print("connections per edge:", [(e["edge_id"], e["active_connections"]) for e in edges])


def test_new_connections_per_address():
    with EdgeStack(edge_args=["--conn-rate-per-addr", "3"]) as st:
        async def client():
            for i in range(3):
                ws = await websockets.connect(st.url("/ws/health"))
                hmtest.OPEN.append(ws)
                await recv_type(ws, "welcome")
            ws = await websockets.connect(st.url("/ws/health"))
            hmtest.OPEN.append(ws)
            await expect_close(ws, 4008)
        arun(client())


SEED_CLIENT = '''
import asyncio
import websockets
import json

async def health_websocket_client():
    uri = "ws://localhost:8000/ws/health"

    async with websockets.connect(uri) as websocket:
        # Authenticate
        auth_message = {
            "type": "authenticate",
            "token": "your_jwt_token_here"
        }
        await websocket.send(json.dumps(auth_message))

        # Subscribe to health updates
        subscribe_message = {
            "type": "subscribe",
            "subscription": "health_updates"
        }
        await websocket.send(json.dumps(subscribe_message))

        # Listen for messages
        async for message in websocket:
            data = json.loads(message)
            print(f"Received: {data}")

# Run client
asyncio.run(health_websocket_client())
'''


def test_seed_python_example_verbatim():
    """The seed document's Python client, only the URI's port and the token
    filled in, run with /usr/bin/python3."""
    with EdgeStack() as st:
        uid = st.user("Pat")
        code = SEED_CLIENT.replace("localhost:8000", "localhost:%d" % st.ports[0]).replace(
            "your_jwt_token_here", st.token(uid))
        p = subprocess.Popen(["/usr/bin/python3", "-u", "-c", code], stdout=subprocess.PIPE)
        try:
            out = b""
            deadline = time.monotonic() + 10
            published = False
            import select
            while time.monotonic() < deadline and b"'type': 'health_update'" not in out:
                if select.select([p.stdout], [], [], 0.3)[0]:
                    chunk = os.read(p.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    out += chunk
                if b"'type': 'subscribed'" in out and not published:
                    st.publish("u.%d.health" % uid, {"type": "health_update", "seq": 1, "data": {
                        "metric": "blood_pressure", "value": 120, "unit": "mmHg"}})
                    published = True
            lines = [out.decode(errors="replace")]
            text = "".join(lines)
            check("'type': 'welcome'" in text, "welcome printed")
            check("'type': 'authenticated'" in text, "authenticated printed")
            check("'type': 'subscribed'" in text, "subscribed printed: %s" % text[-500:])
            check("'metric': 'blood_pressure'" in text, "the reading printed: %s" % text[-300:])
        finally:
            p.kill()
            p.wait()


def _raw_upgrade(port):
    """A WebSocket handshake on a plain socket; returns the socket."""
    import base64
    import socket
    s = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /ws/health HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        check(chunk, "handshake answered")
        head += chunk
    check(head.startswith(b"HTTP/1.1 101"), "upgraded: %r" % head[:40])
    return s, head.split(b"\r\n\r\n", 1)[1]


def _handshake(port, version="13", key=None):
    """Sends an upgrade request (None: leave the header out); returns the
    status line and the headers of the answer."""
    import base64
    import socket
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(5 * hmtest.SLOW)
    key = base64.b64encode(os.urandom(16)).decode() if key == "good" else key
    req = "GET /ws/health HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" \
          "Connection: Upgrade\r\n"
    if key is not None:
        req += "Sec-WebSocket-Key: %s\r\n" % key
    if version is not None:
        req += "Sec-WebSocket-Version: %s\r\n" % version
    s.sendall((req + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    s.close()
    lines = head.split(b"\r\n\r\n")[0].decode(errors="replace").split("\r\n")
    return lines[0], [h.lower() for h in lines[1:]]


def test_handshake_version_and_key():
    """RFC 6455 4.2.1/4.2.2: only version 13 (else 426 Upgrade Required
    naming 13), and a key that is 16 bytes in base64 (else 400)."""
    with EdgeStack() as st:
        port = st.ports[0]
        status, _ = _handshake(port, "13", "good")
        check(status.startswith("HTTP/1.1 101"), "version 13 upgrades: %r" % status)
        for version in ("8", "12", None):
            status, headers = _handshake(port, version, "good")
            check(" 426 " in status, "version %r refused with 426: %r" % (version, status))
            check("sec-websocket-version: 13" in headers, "426 names version 13: %r" % headers)
        for key in (None, "short", "AAAAAAAAAAAAAAAAAAAAAA==x", "!!!!!!!!!!!!!!!!!!!!!!=="):
            status, _ = _handshake(port, "13", key)
            check(" 400 " in status, "key %r refused with 400: %r" % (key, status))


def test_slow_headers_are_dropped():
    """A client that drips its headers a line at a time (slowloris) is
    dropped (lws gives the headers 10 s) while other clients connect and
    are served."""
    import socket
    with EdgeStack() as st:
        uid = st.user("Pat")
        s = socket.create_connection(("127.0.0.1", st.ports[0]))
        s.settimeout(0.3)
        t0 = time.monotonic()
        s.sendall(b"GET /ws/health HTTP/1.1\r\n")
        dropped = None
        served = False
        i = 0
        while time.monotonic() - t0 < 20 * hmtest.SLOW:
            try:
                s.sendall(b"X-Drip-%d: 1\r\n" % i)
                i += 1
                if not s.recv(100):
                    dropped = time.monotonic() - t0
                    break
            except socket.timeout:
                pass
            except OSError:
                dropped = time.monotonic() - t0
                break
            if not served:  # meanwhile a normal client is served
                async def normal():
                    ws, _, _ = await hmtest_login(st, st.token(uid))
                    await ws.close()
                arun(normal())
                served = True
        s.close()
        check(served, "another client was served while the slow one dripped")
        check(dropped is not None, "the slow client was dropped")
        check(dropped >= 1.5, "not before the timeout (%.1fs)" % dropped)
        print("slow headers dropped after %.1fs" % dropped)


async def hmtest_login(st, token):
    ws = await websockets.connect(st.url("/ws/health"))
    hmtest.OPEN.append(ws)
    await recv_type(ws, "welcome")
    await ws.send(json.dumps({"type": "authenticate", "token": token}))
    await recv_type(ws, "authenticated")
    return ws, None, None


def test_keepalive_ping_and_drop():
    """The edge pings a silent peer after ping_s and drops it when nothing
    comes back within another ping_s; a peer that answers pings stays."""
    with EdgeStack(edge_args=["--ping-s", "1", "--auth-timeout-ms", "60000"]) as st:
        # A peer that never answers: it sees a ping frame (0x89), then the
        # connection is dropped.
        s, rest = _raw_upgrade(st.ports[0])
        s.settimeout(10 * hmtest.SLOW)
        data, t0 = rest, time.monotonic()
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        gone = time.monotonic() - t0
        check(b"\x89\x02hm" in data, "a ping was sent: %r" % data[:80])
        check(gone >= 1.0, "not dropped before the ping went unanswered (%.2fs)" % gone)
        print("silent peer dropped after %.1fs" % gone)
        s.close()

        # A peer that answers pings (websockets answers them itself) stays.
        uid = st.user("Pat")

        async def answering():
            ws = await websockets.connect(st.url("/ws/health"), ping_interval=None)
            hmtest.OPEN.append(ws)
            await recv_type(ws, "welcome")
            await asyncio.sleep(3.5)
            await ws.send(json.dumps({"type": "authenticate", "token": st.token(uid)}))
            await recv_type(ws, "authenticated")
        arun(answering())


if __name__ == "__main__":
    hmtest.main([test_wss_and_https, test_edges_share_one_port, test_new_connections_per_address,
                 test_seed_python_example_verbatim, test_keepalive_ping_and_drop,
                 test_handshake_version_and_key, test_slow_headers_are_dropped])
