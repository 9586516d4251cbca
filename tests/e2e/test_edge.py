#!/usr/bin/python3
"""End-to-end: hm-edge with the real broker and hm-auth, real WebSocket
clients (Debian's python3-websockets) over loopback."""
import asyncio
import json
import time

import websockets

import hmtest
from hmtest import (EdgeStack, arun, check, eq, expect_close, recv_type, recv_until, wait_for)


async def connect(st, path="/ws/health", edge=0, **kw):
    ws = await websockets.connect(st.url(path, edge), **kw)
    hmtest.OPEN.append(ws)
    welcome = await recv_type(ws, "welcome")
    return ws, welcome


async def login(st, token, path="/ws/health", edge=0):
    ws, welcome = await connect(st, path, edge)
    await ws.send(json.dumps({"type": "authenticate", "token": token}))
    auth = await recv_type(ws, "authenticated")
    return ws, welcome, auth


def test_seed_python_client():
    """The seed's Python example, verbatim in shape: authenticate and
    subscribe back to back, then listen."""
    with EdgeStack() as st:
        uid = st.user("Pat")
        tok = st.token(uid)

        async def client():
            async with websockets.connect(st.url("/ws/health")) as websocket:
                await websocket.send(json.dumps({"type": "authenticate", "token": tok}))
                await websocket.send(json.dumps({"type": "subscribe",
                                                 "subscription": "health_updates"}))
                welcome = await recv_type(websocket, "welcome")
                check(len(welcome["connection_id"]) == 36, "welcome carries the connection id")
                eq(welcome["data"]["heartbeat_interval"], 30, "heartbeat interval")
                auth = await recv_type(websocket, "authenticated")
                eq(auth["user_id"], uid, "authenticated user")
                sub = await recv_type(websocket, "subscribed")
                eq(sub["subscription"], "health_updates", "subscribed to health updates")
                st.publish("u.%d.health" % uid, {
                    "type": "health_update", "user_id": uid, "seq": 1,
                    "data": {"metric": "blood_pressure", "value": 120, "unit": "mmHg",
                             "timestamp": "2024-01-01T00:00:00Z"}})
                upd = await recv_type(websocket, "health_update")
                eq(upd["data"]["metric"], "blood_pressure", "metric")
                eq(upd["data"]["value"], 120, "value")
                eq(upd["seq"], 1, "seq")
        arun(client())


def test_channel_endpoint_follows_without_subscribe():
    """The seed's JavaScript client never subscribes: /ws/notifications
    delivers the user's notifications and system notices anyway."""
    with EdgeStack() as st:
        uid = st.user("Pat")

        async def client():
            ws, _, _ = await login(st, st.token(uid), "/ws/notifications")
            await asyncio.sleep(0.3)
            st.publish("u.%d.notify" % uid, {
                "type": "notification", "user_id": uid, "seq": 3,
                "data": {"id": "n-1", "type": "health_alert", "title": "Blood Pressure Alert",
                         "message": "Your blood pressure is above normal range",
                         "priority": "high", "created_at": "2024-01-01T00:00:00Z"}})
            n = await recv_type(ws, "notification")
            eq(n["notification"]["title"], "Blood Pressure Alert", "seed notification shape")
            eq(n["seq"], 3, "seq")
            st.publish("all.notify", {"type": "notification",
                                      "data": {"id": "s-1", "type": "system", "title": "Hi"}})
            n = await recv_type(ws, "notification")
            eq(n["notification"]["type"], "system", "system notice on all.notify")
            await ws.close()
        arun(client())


def test_topics_are_per_user():
    with EdgeStack() as st:
        a, b = st.user("A"), st.user("B")

        async def client():
            wa, _, _ = await login(st, st.token(a))
            wb, _, _ = await login(st, st.token(b))
            await asyncio.sleep(0.3)
            st.publish("u.%d.health" % b, {"type": "health_update", "seq": 1,
                                             "data": {"metric": "heart_rate", "value": 61}})
            got = await recv_type(wb, "health_update")
            eq(got["data"]["value"], 61, "B gets B's reading")
            await wa.send(json.dumps({"type": "heartbeat"}))
            hb = await recv_type(wa, "heartbeat")
            eq(hb["data"]["seq"], {"health_updates": None}, "A saw nothing on its stream")
        arun(client())


def test_jwt_rejections_close_with_auth_failed():
    with EdgeStack() as st:
        uid = st.user("Pat")
        good = st.token(uid)
        bad_sig = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")

        async def client(tok, code):
            ws, _ = await connect(st)
            await ws.send(json.dumps({"type": "authenticate", "token": tok,
                                      "correlation_id": "c-9"}))
            err = await recv_type(ws, "error")
            eq(err["code"], code, "error code")
            eq(err["correlation_id"], "c-9", "correlation id echoed")
            await expect_close(ws, 4002)
        arun(client(bad_sig, "token_bad_signature"))
        arun(client("not.a.jwt", "token_malformed"))
        st.auth_cli("user", "disable", str(uid))
        arun(client(good, "user_inactive"))


def test_auth_timeout():
    with EdgeStack(edge_args=["--auth-timeout-ms", "600"]) as st:
        async def client():
            ws, _ = await connect(st)
            err = await recv_type(ws, "error", timeout=5)
            eq(err["code"], "auth_timeout", "error code")
            await expect_close(ws, 4001)
        arun(client())


def test_bad_input_keeps_connection_open():
    with EdgeStack() as st:
        uid = st.user("Pat")

        async def client():
            ws, _, _ = await login(st, st.token(uid))
            cases = [("{not json", "invalid_json"), ("[1,2]", "not_an_object"),
                     ('{"type":"launch_rockets"}', "unknown_type"),
                     ('{"data":{}}', "missing_field"), ('{"type":42}', "invalid_field"),
                     ('{"type":"subscribe"}', "missing_field"),
                     ('{"type":"subscribe","subscription":"weather"}', "invalid_subscription"),
                     ('{"type":"subscribe","subscription":"chat"}', "invalid_subscription"),
                     ('{"type":"health_update","data":"x"}', "invalid_field"),
                     ('{"type":"authenticate","token":"x"}', "already_authenticated")]
            for text, code in cases:
                await ws.send(text)
                err = await recv_type(ws, "error")
                eq(err["code"], code, "error for %s" % text)
            await ws.send(b"\x01\x02")
            err = await recv_type(ws, "error")
            eq(err["code"], "binary_not_supported", "binary frame")
            await ws.send(json.dumps({"type": "heartbeat", "correlation_id": "still-here"}))
            hb = await recv_type(ws, "heartbeat")
            eq(hb["correlation_id"], "still-here", "connection still serves")
        arun(client())


def test_requests_before_auth_are_refused():
    with EdgeStack() as st:
        async def client():
            ws, _ = await connect(st)
            await ws.send(json.dumps({"type": "subscribe", "subscription": "health_updates"}))
            err = await recv_type(ws, "error")
            eq(err["code"], "not_authenticated", "subscribe before authenticate")
        arun(client())


def test_oversize_frame_closes_1009():
    with EdgeStack(edge_args=["--max-frame", "4096"]) as st:
        uid = st.user("Pat")

        async def client():
            ws, _, _ = await login(st, st.token(uid))
            await ws.send(json.dumps({"type": "heartbeat", "pad": "x" * 5000}))
            await expect_close(ws, 1009)
        arun(client())


def test_rate_limit():
    """Six messages pass (the burst: authenticate and five heartbeats), the
    next ones get rate_limited errors, and the fifth limited one in a row
    closes the connection with 4008. The refill is slow (0.1/s) so no token
    comes back during the test."""
    with EdgeStack(edge_args=["--rate", "0.1", "--burst", "6", "--rate-strikes-close",
                              "5"]) as st:
        uid = st.user("Pat")

        async def client():
            ws, _, _ = await login(st, st.token(uid))
            for i in range(10):
                await ws.send(json.dumps({"type": "heartbeat", "correlation_id": str(i)}))
            got = []
            import websockets as w
            try:
                while True:
                    got.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
            except w.exceptions.ConnectionClosed as e:
                eq(e.code, 4008, "close code after repeated excess")
            eq([m["correlation_id"] for m in got if m["type"] == "heartbeat"],
               ["0", "1", "2", "3", "4"], "the burst passes")
            eq(len([m for m in got if m.get("code") == "rate_limited"]), 5,
               "one rate_limited error per excess message")
        arun(client())


def test_forward_to_service_and_unavailable():
    with EdgeStack(edge_args=["--request-timeout-ms", "200",
                              "--request-deadline-ms", "1500"]) as st:
        st.start("hm-test-worker", st.bus_flags() + ["--service", "health", "--name", "h1",
                                                      "--heartbeat-ms", "250"])
        uid = st.user("Pat")

        async def client():
            ws, _, _ = await login(st, st.token(uid), "/ws/combined")
            await ws.send(json.dumps({"type": "health_update", "correlation_id": "r-1",
                                      "data": {"metric": "heart_rate", "value": 70}}))
            ack = await recv_until(ws, lambda m: m.get("correlation_id") == "r-1")
            eq(ack["type"], "ack", "service reply type")
            eq(ack["data"]["echo"], {"metric": "heart_rate", "value": 70}, "data forwarded")
            t0 = time.monotonic()
            await ws.send(json.dumps({"type": "chat_message", "correlation_id": "r-2",
                                      "data": {"message": "hello"}}))
            err = await recv_until(ws, lambda m: m.get("correlation_id") == "r-2", 10)
            eq(err["code"], "service_unavailable", "no chat service")
            check(time.monotonic() - t0 >= 1.2, "retried until the deadline")
        arun(client())


def test_user_identity_comes_from_the_token():
    """A client cannot act as another user: user_id in its message is not
    what the service sees."""
    with EdgeStack() as st:
        st.start("hm-test-worker", st.bus_flags() + ["--service", "chat", "--heartbeat-ms",
                                                      "250"])
        uid = st.user("Pat")

        async def client():
            ws, _, _ = await login(st, st.token(uid), "/ws/chat")
            await ws.send(json.dumps({"type": "chat_message", "user_id": 999,
                                      "correlation_id": "x", "data": {"message": "hi"}}))
            ack = await recv_until(ws, lambda m: m.get("correlation_id") == "x")
            eq(ack["type"], "ack", "forwarded")
            eq(ack["data"]["user_id"], uid, "the service sees the token's user, not 999")
            eq(ack["data"]["echo"], {"message": "hi"}, "data forwarded")
        arun(client())


def test_heartbeat_and_idle_timeout():
    with EdgeStack(edge_args=["--heartbeat-ms", "300", "--idle-timeout-ms", "2500"]) as st:
        uid = st.user("Pat")

        async def client():
            ws, _, _ = await login(st, st.token(uid))
            st.publish("u.%d.health" % uid, {"type": "health_update", "seq": 5, "data": {}})
            await recv_type(ws, "health_update")
            hb = await recv_type(ws, "heartbeat", timeout=3)
            eq(hb["data"]["seq"]["health_updates"], 5, "heartbeat carries the latest seq")
            # Heartbeats and pings do not count as activity: logged off.
            err = await recv_until(ws, lambda m: m.get("code") == "idle_timeout", 6,
                                   "idle timeout")
            eq(err["type"], "error", "told why")
            await expect_close(ws, 4009)
        arun(client())


def test_per_user_limit_across_two_edges():
    with EdgeStack(edges=2) as st:
        uid = st.user("Pat")
        tok = st.token(uid)

        async def client():
            conns = []
            for i in range(5):
                ws, _, _ = await login(st, tok, edge=i % 2)
                conns.append(ws)
            ws, _ = await connect(st, edge=1)
            await ws.send(json.dumps({"type": "authenticate", "token": tok}))
            err = await recv_type(ws, "error")
            eq(err["code"], "too_many_connections", "sixth connection")
            await expect_close(ws, 4029)
            await conns[0].close()
            await asyncio.sleep(0.5)
            ws, _, _ = await login(st, tok, edge=1)  # a slot was freed
        arun(client())


def test_max_connections_per_edge():
    with EdgeStack(edge_args=["--max-connections", "2"]) as st:
        async def client():
            a, _ = await connect(st)
            b, _ = await connect(st)
            c = await websockets.connect(st.url("/ws/health"))
            hmtest.OPEN.append(c)
            await expect_close(c, 1013)
        arun(client())


def test_unknown_path_and_origin():
    with EdgeStack(edge_args=["--origins", "https://app.example"]) as st:
        async def client():
            try:
                await websockets.connect(st.url("/ws/weather"),
                                         origin="https://app.example")
                raise AssertionError("unknown path accepted")
            except websockets.exceptions.InvalidHandshake:
                pass
            try:
                await websockets.connect(st.url("/ws/health"), origin="https://evil.example")
                raise AssertionError("foreign origin accepted")
            except websockets.exceptions.InvalidHandshake:
                pass
            ws = await websockets.connect(st.url("/ws/health"), origin="https://app.example")
            hmtest.OPEN.append(ws)
            await recv_type(ws, "welcome")
        arun(client())


def test_revoke_closes_live_connection():
    with EdgeStack() as st:
        uid = st.user("Pat")
        tok = st.token(uid)
        import base64
        payload = json.loads(base64.urlsafe_b64decode(tok.split(".")[1] + "=="))

        async def client():
            ws, _, _ = await login(st, tok)
            t0 = time.monotonic()
            st.auth_cli("revoke", payload["jti"])
            await expect_close(ws, 4011, timeout=3)
            check(time.monotonic() - t0 < 2.5, "closed within a second or so of the revoke")
        arun(client())


def test_token_expiry():
    with EdgeStack(edge_args=["--token-warn-ms", "60000"],
                   auth_args=["--leeway-s", "0"]) as st:
        uid = st.user("Pat")

        async def client():
            ws, _, _ = await login(st, st.token(uid, ttl=3))
            warn = await recv_type(ws, "token_expiring", timeout=3)
            check(warn["data"]["seconds_left"] <= 3, "warned before exp")
            await ws.send(json.dumps({"type": "refresh_token", "token": st.token(uid, ttl=4),
                                      "correlation_id": "rf"}))
            ok = await recv_type(ws, "token_refreshed")
            eq(ok["correlation_id"], "rf", "refresh answered")
            err = await recv_until(ws, lambda m: m.get("code") == "token_expired", 8,
                                   "expiry after the refreshed token ends")
            await expect_close(ws, 4003)
        arun(client())


def test_slow_consumer():
    """A client that stops reading never delays another: health ticks for it
    coalesce to the latest value per metric, and when non-coalescable events
    still overflow its queue it is closed with 4010 (reconnect and resume)."""
    with EdgeStack(edge_args=["--queue-max-frames", "512", "--queue-max-bytes", "1048576"]) as st:
        slow_uid, fast_uid = st.user("Slow"), st.user("Fast")
        pad = "x" * 4000

        async def client():
            # max_queue=1 and a small read limit: the library stops reading
            # from the socket once one message waits, so TCP backs up.
            slow, _ = await connect(st, "/ws/combined", max_queue=1, read_limit=4096)
            await slow.send(json.dumps({"type": "authenticate", "token": st.token(slow_uid)}))
            await recv_type(slow, "authenticated")
            await slow.send(json.dumps({"type": "subscribe", "subscription": "health_updates"}))
            await slow.send(json.dumps({"type": "subscribe", "subscription": "chat"}))
            await recv_type(slow, "subscribed")
            await recv_type(slow, "subscribed")
            fast, _, _ = await login(st, st.token(fast_uid))
            # 3000 health ticks over 3 metrics for the slow client (~12 MB),
            # interleaved with 300 for the fast one.
            lines = []
            for i in range(3000):
                lines.append(json.dumps({"type": "health_update", "seq": i + 1, "data": {
                    "metric": "m%d" % (i % 3), "value": i, "pad": pad}}))
            rc, _, err = st.hm_bus("pub", "u.%d.health" % slow_uid, "-",
                                   input="\n".join(lines) + "\n", timeout=60)
            eq(rc, 0, "publish ticks (%s)" % err)
            # Distinct metrics: nothing of the fast client's may coalesce, so
            # it must get every one, in order.
            fast_lines = "\n".join(json.dumps({"type": "health_update", "seq": i + 1, "data": {
                "metric": "m%d" % i, "value": i}}) for i in range(300)) + "\n"
            t0 = time.monotonic()
            rc, _, _ = st.hm_bus("pub", "u.%d.health" % fast_uid, "-", input=fast_lines)
            got = 0
            while got < 300:
                m = await recv_type(fast, "health_update")
                eq(m["seq"], got + 1, "fast client gets every tick in order")
                got += 1
            check(time.monotonic() - t0 < 5, "fast client was not held back")
            code, metrics = hmtest_metrics(st)
            check("hm_edge_coalesced_total 0" not in metrics, "ticks were coalesced")
            # Chat messages do not coalesce: the slow client overflows (12 MB,
            # more than the kernel's socket buffers and the 1 MiB queue hold).
            chat = "\n".join(json.dumps({"type": "chat_message", "seq": i + 1,
                                         "data": {"message": pad}}) for i in range(3000))
            st.hm_bus("pub", "u.%d.chat" % slow_uid, "-", input=chat + "\n", timeout=60)
            await expect_close(slow, 4010, timeout=20)
        arun(client())


def hmtest_metrics(st):
    from test_mgmt import http
    return http(st, "GET", "/metrics", st.token(st.user("Ops", "admin")))


def test_care_team_subscription():
    """A linked clinician follows a patient's stream; an unlinked one is
    refused with forbidden; a caregiver of another patient too."""
    with EdgeStack() as st:
        pat, doc, other = st.user("Pat"), st.user("Doc", "clinician"), st.user("Eve", "clinician")
        st.auth_cli("link", str(doc), str(pat))

        async def client():
            wd, _, _ = await login(st, st.token(doc), "/ws/combined")
            await wd.send(json.dumps({"type": "subscribe", "subscription": "health_updates",
                                      "user_id": pat, "correlation_id": "s1"}))
            sub = await recv_type(wd, "subscribed")
            eq((sub["user_id"], sub["correlation_id"]), (pat, "s1"), "subscribed to the patient")
            st.publish("u.%d.health" % pat, {"type": "health_update", "user_id": pat, "seq": 1,
                                              "data": {"metric": "heart_rate", "value": 88}})
            upd = await recv_type(wd, "health_update")
            eq((upd["user_id"], upd["data"]["value"]), (pat, 88), "clinician sees the reading")
            we, _, _ = await login(st, st.token(other), "/ws/combined")
            await we.send(json.dumps({"type": "subscribe", "subscription": "health_updates",
                                      "user_id": pat, "correlation_id": "s2"}))
            err = await recv_type(we, "error")
            eq((err["code"], err["correlation_id"]), ("forbidden", "s2"), "unlinked refused")
        arun(client())


def test_disabled_user_is_disconnected():
    with EdgeStack(edges=2) as st:
        uid = st.user("Pat")
        tok = st.token(uid)

        async def client():
            a, _, _ = await login(st, tok, edge=0)
            b, _, _ = await login(st, tok, edge=1)
            t0 = time.monotonic()
            st.auth_cli("user", "disable", str(uid))
            await expect_close(a, 4004, timeout=3)
            await expect_close(b, 4004, timeout=3)
            check(time.monotonic() - t0 < 2.0, "closed on both edges within about a second")
        arun(client())


def test_error_state_and_recovery_pass():
    """A service that stops answering puts the connection in ERROR (seen in
    its health record); a later answer brings it back; without one, the
    recovery pass closes it with 1011 after its attempts."""
    with EdgeStack(edge_args=["--request-timeout-ms", "100", "--request-deadline-ms", "400",
                              "--recovery-ms", "300", "--recovery-max-attempts", "3"]) as st:
        from test_mgmt import http
        uid, admin = st.user("Pat"), st.token(st.user("Ada", "admin"))

        async def client():
            ws, welcome, _ = await login(st, st.token(uid), "/ws/chat")
            cid = welcome["connection_id"]
            await ws.send(json.dumps({"type": "chat_message", "correlation_id": "m1",
                                      "data": {"message": "hi"}}))
            err = await recv_until(ws, lambda m: m.get("correlation_id") == "m1")
            eq(err["code"], "service_unavailable", "no chat service")
            h = http(st, "GET", "/ws/connection/%s/health" % cid, admin)[1]["health"]
            eq((h["state"], h["is_healthy"]), ("error", False), "connection in ERROR")
            check(h["retry_count"] >= 1, "retries counted")
            worker = st.start("hm-test-worker", st.bus_flags() + ["--service", "chat",
                                                                  "--heartbeat-ms", "250"])
            await asyncio.sleep(0.5)
            await ws.send(json.dumps({"type": "chat_message", "correlation_id": "m2",
                                      "data": {"message": "hi again"}}))
            ack = await recv_until(ws, lambda m: m.get("correlation_id") == "m2")
            eq(ack["type"], "ack", "the service is back")
            h = http(st, "GET", "/ws/connection/%s/health" % cid, admin)[1]["health"]
            eq(h["state"], "authenticated", "recovered")
            st.kill(worker)
            await asyncio.sleep(1.5)  # the broker drops the dead worker
            await ws.send(json.dumps({"type": "chat_message", "correlation_id": "m3",
                                      "data": {"message": "anyone?"}}))
            await recv_until(ws, lambda m: m.get("correlation_id") == "m3")
            await expect_close(ws, 1011, timeout=5)
        arun(client())


def test_watcher_max_rate_conflates():
    """A subscription with max_rate gets at most that many updates per second
    per metric, and always the latest value, never a queue of stale ones."""
    with EdgeStack() as st:
        pat, doc = st.user("Pat"), st.user("Doc", "clinician")
        st.auth_cli("link", str(doc), str(pat))

        async def client():
            ws, _, _ = await login(st, st.token(doc), "/ws/combined")
            await ws.send(json.dumps({"type": "subscribe", "subscription": "health_updates",
                                      "user_id": pat, "max_rate": 2}))
            await recv_type(ws, "subscribed")
            lines = "\n".join(json.dumps({"type": "health_update", "seq": i + 1, "data": {
                "metric": "heart_rate" if i % 2 else "spo2", "value": i}}) for i in range(200))
            rc, _, _ = st.hm_bus("pub", "u.%d.health" % pat, "-", input=lines + "\n")
            eq(rc, 0, "published")
            got = []
            try:
                while True:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 1.5))
                    if m["type"] == "health_update":
                        got.append(m)
            except asyncio.TimeoutError:
                pass
            hr = [m["data"]["value"] for m in got if m["data"]["metric"] == "heart_rate"]
            sp = [m["data"]["value"] for m in got if m["data"]["metric"] == "spo2"]
            check(1 <= len(hr) <= 4 and 1 <= len(sp) <= 4,
                  "a few updates per metric, not 100 each: %r %r" % (hr, sp))
            eq((hr[-1], sp[-1]), (199, 198), "the latest value of each metric arrives")
        arun(client())


if __name__ == "__main__":
    import hmtest
    hmtest.main([test_seed_python_client, test_channel_endpoint_follows_without_subscribe,
                 test_topics_are_per_user, test_jwt_rejections_close_with_auth_failed,
                 test_auth_timeout, test_bad_input_keeps_connection_open,
                 test_requests_before_auth_are_refused, test_oversize_frame_closes_1009,
                 test_rate_limit, test_forward_to_service_and_unavailable,
                 test_user_identity_comes_from_the_token, test_heartbeat_and_idle_timeout,
                 test_per_user_limit_across_two_edges, test_max_connections_per_edge,
                 test_unknown_path_and_origin, test_revoke_closes_live_connection,
                 test_token_expiry, test_slow_consumer, test_care_team_subscription,
                 test_disabled_user_is_disconnected, test_error_state_and_recovery_pass,
                 test_watcher_max_rate_conflates])
