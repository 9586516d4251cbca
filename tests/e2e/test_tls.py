#!/usr/bin/python3
"""End-to-end: TLS on the edge beyond test_edge_net.py's wss/https check.

- TLS 1.0 and 1.1 handshakes are refused, 1.2 and 1.3 accepted, with a
  generated certificate. A control server in this process (Python's ssl,
  every version allowed) first proves that this client can speak TLS 1.0 and
  1.1 at all, so a refusal is the edge's and the test can fail.
- When TLS is configured, nothing is served in plain: a plain WebSocket
  upgrade, a plain HTTP GET /healthz and a management request all fail.
- TLS asked for but unusable (no key, a missing or garbage certificate, a key
  that is not the certificate's) stops the edge at start: it never falls back
  to plain ws.
"""
import asyncio
import os
import socket
import ssl
import subprocess
import threading
import warnings

import websockets

import hmtest
from hmtest import EdgeStack, arun, check, eq, free_port
from test_edge_net import make_cert

warnings.filterwarnings("ignore", category=DeprecationWarning)
OLD = [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1]
NEW = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]


def client_ctx(version):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    c.minimum_version = c.maximum_version = version
    c.set_ciphers("ALL:@SECLEVEL=0")  # lets OpenSSL 3 offer TLS 1.0/1.1 at all
    return c


def handshake(port, version):
    """Returns the negotiated version, or raises (ssl.SSLError, OSError)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5 * hmtest.SLOW) as s:
        with client_ctx(version).wrap_socket(s) as t:
            return t.version()


def control_server(cert, key):
    """A TLS server that accepts every version; returns its port."""
    srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.load_cert_chain(cert, key)
    srv.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    srv.set_ciphers("ALL:@SECLEVEL=0")
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)

    def serve():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            try:
                srv.wrap_socket(c, server_side=True).close()
            except (ssl.SSLError, OSError):
                c.close()
    threading.Thread(target=serve, daemon=True).start()
    return ls


def test_tls_versions():
    st = EdgeStack(edges=0)
    with st:
        cert, key = make_cert(st.dir)
        ls = control_server(cert, key)
        try:
            for v in OLD + NEW:
                got = handshake(ls.getsockname()[1], v)
                print("control server: %s handshake ok (%s)" % (v.name, got))
        finally:
            ls.close()
        st.add_edge(["--tls-cert", cert, "--tls-key", key])
        for v in OLD:
            try:
                got = handshake(st.ports[0], v)
                raise AssertionError("edge accepted a %s handshake (%s)" % (v.name, got))
            except (ssl.SSLError, ConnectionError, OSError) as e:
                check("NO_PROTOCOLS_AVAILABLE" not in str(e),
                      "the client refused on its own: %s" % e)
                print("edge: %s refused (%s)" % (v.name, e))
        for v in NEW:
            eq(handshake(st.ports[0], v), {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                           ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[v],
               "edge: %s accepted" % v.name)


def test_nothing_plain_when_tls_is_configured():
    st = EdgeStack(edges=0)
    with st:
        cert, key = make_cert(st.dir)
        st.add_edge(["--tls-cert", cert, "--tls-key", key])
        port = st.ports[0]
        admin = st.token(st.user("Ada", "admin"))

        def plain_http(request):
            with socket.create_connection(("127.0.0.1", port), timeout=5 * hmtest.SLOW) as s:
                s.sendall(request)
                data = b""
                try:
                    while len(data) < 65536:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except (socket.timeout, ConnectionError):
                    pass
                return data
        for req in (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    ("GET /ws/status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s"
                     "\r\n\r\n" % admin).encode()):
            got = plain_http(req)
            check(not got.startswith(b"HTTP/"), "plain HTTP answered on the TLS port: %r"
                  % got[:80])

        async def ws():
            try:
                w = await websockets.connect("ws://127.0.0.1:%d/ws/health" % port,
                                             open_timeout=3 * hmtest.SLOW)
                hmtest.OPEN.append(w)
                raise AssertionError("plain ws accepted on the TLS port")
            except (websockets.exceptions.InvalidHandshake, OSError, asyncio.TimeoutError,
                    EOFError) as e:
                print("plain ws refused: %r" % e)
        arun(ws())
        # The same port still serves wss.
        ctx = client_ctx(ssl.TLSVersion.TLSv1_2)

        async def wss():
            w = await websockets.connect("wss://127.0.0.1:%d/ws/health" % port, ssl=ctx)
            hmtest.OPEN.append(w)
            await hmtest.recv_type(w, "welcome")
        arun(wss())


def test_unusable_tls_stops_the_edge():
    st = EdgeStack(edges=0)
    with st:
        cert, key = make_cert(st.dir)
        other_dir = os.path.join(st.dir, "other")
        os.mkdir(other_dir)
        _, other_key = make_cert(other_dir)
        garbage = os.path.join(st.dir, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
        cases = [("certificate without key", ["--tls-cert", cert]),
                 ("key without certificate", ["--tls-key", key]),
                 ("missing certificate", ["--tls-cert", os.path.join(st.dir, "none.pem"),
                                          "--tls-key", key]),
                 ("garbage certificate", ["--tls-cert", garbage, "--tls-key", key]),
                 ("key of another certificate", ["--tls-cert", cert, "--tls-key", other_key])]
        for what, flags in cases:
            port = free_port()
            p = st.start("hm-edge", st.bus_flags() + ["--port", str(port), "--edge-id",
                                                      "tls-bad"] + flags)
            try:
                rc = p.wait(timeout=10 * hmtest.SLOW)
            except subprocess.TimeoutExpired:
                plain = hmtest._port_open(port)
                st.kill(p)
                raise AssertionError("%s: the edge kept running (plain port open: %s)"
                                     % (what, plain))
            check(rc != 0, "%s: the edge exited with %d" % (what, rc))
            print("%s: edge refused to start (exit %d)" % (what, rc))


if __name__ == "__main__":
    hmtest.main([test_tls_versions, test_nothing_plain_when_tls_is_configured,
                 test_unusable_tls_stops_the_edge])
