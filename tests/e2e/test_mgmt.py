#!/usr/bin/python3
"""End-to-end: the edge's management HTTP with admin tokens, across two
edges, against the real broker, hm-auth and two hm-edge processes."""
import asyncio
import json
import urllib.error
import urllib.request

import hmtest
from hmtest import EdgeStack, arun, check, eq, expect_close, recv_type, wait_for
from test_edge import login


def http(st, method, path, token=None, edge=0):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (st.ports[edge], path),
                                 method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read().decode()
            return r.status, (json.loads(body) if body.startswith("{") else body)
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        return e.code, (json.loads(body) if body.startswith("{") else body)


def stack():
    return EdgeStack(edges=2, edge_args=["--edge-beat-ms", "200"])


def test_tokens_required():
    with stack() as st:
        admin = st.token(st.user("Ada", "admin"))
        patient = st.token(st.user("Pat"))
        eq(http(st, "GET", "/healthz")[0], 200, "healthz needs no token")
        for method, path in [("GET", "/ws/status"), ("GET", "/metrics"),
                             ("GET", "/ws/connection/abc/health"),
                             ("POST", "/ws/user/1/reconnect"), ("DELETE", "/ws/connection/abc")]:
            eq(http(st, method, path)[0], 401, "%s %s without a token" % (method, path))
            eq(http(st, method, path, "garbage")[0], 401, "%s %s with a bad token" % (method,
                                                                                     path))
            eq(http(st, method, path, patient)[0], 403, "%s %s as a patient" % (method, path))
        eq(http(st, "GET", "/ws/status", admin)[0], 200, "status as admin")
        eq(http(st, "GET", "/ws/nothing", admin)[0], 404, "unknown path")
        code, text = http(st, "GET", "/metrics", admin)
        eq(code, 200, "metrics as admin")
        check("hm_edge_connections{state=\"authenticated\"}" in text, "Prometheus text")


def test_status_and_connections_across_edges():
    with stack() as st:
        admin = st.token(st.user("Ada", "admin"))
        a, b = st.user("A"), st.user("B")

        async def client():
            wa, welcome_a, _ = await login(st, st.token(a), "/ws/health", edge=0)
            wb, welcome_b, _ = await login(st, st.token(b), "/ws/chat", edge=1)
            await login(st, st.token(b), "/ws/notifications", edge=1)
            # Both edges have heard each other's heartbeat.
            wait_for(lambda: len(http(st, "GET", "/ws/status", admin)[1]["edges"]) == 2, 10,
                     "two edges in the status")
            code, s = http(st, "GET", "/ws/status", admin, edge=0)
            eq(code, 200, "status")
            eq(s["status"], "healthy", "status field")
            eq(s["active_connections"], 3, "cluster-wide connections")
            eq(s["users_online"], 2, "distinct users")
            eq(s["subscriptions"], {"health_updates": 1, "chat": 1, "notifications": 1},
               "subscriptions per channel")
            check(s["total_connections"] >= 3 and s["timestamp"].endswith("Z"), "fields")
            # Connection on edge 1, asked through edge 0.
            cid = welcome_b["connection_id"]
            code, h = http(st, "GET", "/ws/connection/%s/health" % cid, admin, edge=0)
            eq(code, 200, "health of a connection on another edge")
            eq(h["connection_id"], cid, "connection id")
            eq(h["health"]["state"], "authenticated", "state")
            eq(h["health"]["user_id"], b, "user")
            eq(h["health"]["subscriptions"], ["chat"], "subscriptions")
            eq(h["health"]["is_healthy"], True, "healthy")
            eq(http(st, "GET", "/ws/connection/nope/health", admin)[0], 404, "unknown conn")
            # Reconnect every connection of B (both on edge 1) from edge 0.
            code, r = http(st, "POST", "/ws/user/%d/reconnect" % b, admin, edge=0)
            eq((code, r["connections"]), (200, 2), "reconnect reached both")
            await recv_type(wb, "reconnect")
            await expect_close(wb, 1012)
            # Delete A's connection (edge 0) through edge 1.
            code, _ = http(st, "DELETE", "/ws/connection/%s" % welcome_a["connection_id"],
                           admin, edge=1)
            eq(code, 200, "delete")
            await expect_close(wa, 1000)
            eq(http(st, "DELETE", "/ws/connection/nope", admin)[0], 404, "delete unknown")
        arun(client())


if __name__ == "__main__":
    hmtest.main([test_tokens_required, test_status_and_connections_across_edges])
