#!/usr/bin/python3
"""End-to-end: hm-notify behind the real broker, hm-auth and hm-edge, with
real WebSocket clients (Debian's python3-websockets) and notifications
created through the bus with hm-bus, the way services and admins do.

Covers delivery to a user who was offline, re-sends of an unacked critical
notification with growing intervals, replay after reconnect (in order, no
duplicates, no gaps), idempotent creation, preferences and quiet hours
(driven by HM_FAKE_CLOCK_FILE), the offline queue bound, system broadcasts,
SIGKILL between creation and delivery, and escalation to a local HTTP
receiver that checks the HMAC signature."""
import asyncio
import hashlib
import hmac
import http.server
import json
import os
import subprocess
import threading
import time

import hmtest
from hmtest import EdgeStack, arun, check, eq, recv_type, recv_until, wait_for
from test_edge import login

HOOK_SECRET = "e2e-webhook-secret-0123456789"


def start_notify(st, *extra, env=None):
    """Starts hm-notify on the stack's bus and waits until it serves."""
    saved = {}
    for k, v in (env or {}).items():
        saved[k] = os.environ.get(k)
        os.environ[k] = v
    try:
        p = st.start("hm-notify", st.bus_flags() + [
            "--data-dir", st.dir, "--heartbeat-ms", "250", "--flush-delay-ms", "100",
            "--hold-check-ms", "200", "--log-level", "debug"] + list(extra))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    wait_for(lambda: st.hm_bus("--timeout", "0.5", "--retries", "0", "req", "mmi.service",
                               "notify")[0] == 0, 15, "hm-notify registered")
    return p


def create(st, **data):
    """notify.create through the bus; returns the reply's data."""
    rc, out, err = st.hm_bus("--timeout", "3", "req", "notify",
                             json.dumps({"type": "notify.create", "data": data}))
    eq(rc, 0, "notify.create (%s %s)" % (out, err))
    return json.loads(out)["data"]


def alert(st, uid, priority="normal", type_="health_alert", title="Blood Pressure Alert", **kw):
    return create(st, user_id=uid, type=type_, priority=priority, title=title,
                  message="Your blood pressure is above normal range", **kw)


async def notification(ws, timeout=5, pred=lambda n: True):
    """The next notification event that matches pred."""
    return await recv_until(ws, lambda m: m.get("type") == "notification" and pred(m),
                            timeout, "a notification")


async def nothing_more(ws, seconds, pred=lambda m: m.get("type") == "notification"):
    """Fails if a message matching pred arrives within seconds."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            m = json.loads(await asyncio.wait_for(ws.recv(), left))
        except asyncio.TimeoutError:
            return
        check(not pred(m), "unexpected %r" % m)


async def request(ws, type_, data, cid):
    """A client request through the edge; returns its reply."""
    await ws.send(json.dumps({"type": type_, "data": data, "correlation_id": cid}))
    return await recv_until(ws, lambda m: m.get("correlation_id") == cid, 5, "reply to " + cid)


def test_offline_notification_arrives_on_connect():
    with EdgeStack() as st:
        start_notify(st)
        uid = st.user("Pat")
        made = alert(st, uid, "high")
        eq((made["created"], made["seq"], made["status"]), (True, 1, "pending"), "created")

        async def client():
            ws, _, _ = await login(st, st.token(uid), "/ws/notifications")
            n = await notification(ws)
            eq(n["notification"]["id"], made["id"], "the offline notification")
            eq(n["notification"]["title"], "Blood Pressure Alert", "seed shape: title")
            eq(n["notification"]["type"], "health_alert", "seed shape: type")
            eq(n["notification"]["priority"], "high", "seed shape: priority")
            check(n["notification"]["created_at"].endswith("Z"), "created_at in ISO 8601")
            eq(n["seq"], 1, "seq")
            ack = await request(ws, "ack", {"id": made["id"]}, "a1")
            eq((ack["type"], ack["data"]["acked"]), ("ack", True), "acknowledged")
            other = st.user("Other")
            ws2, _, _ = await login(st, st.token(other), "/ws/notifications")
            err = await request(ws2, "ack", {"id": made["id"]}, "a2")
            eq(err.get("code"), "forbidden", "only the owner acks")
        arun(client())


def test_unacked_critical_is_resent_with_growing_intervals_until_acked():
    with EdgeStack() as st:
        start_notify(st, "--resend-base-ms", "400", "--resend-factor", "2",
                     "--resend-cap-ms", "10000", "--resend-max", "6")
        uid = st.user("Pat")

        async def client():
            ws, _, _ = await login(st, st.token(uid), "/ws/notifications")
            await asyncio.sleep(0.4)
            made = alert(st, uid, "critical")
            first = await notification(ws)
            eq((first["notification"]["id"], first["seq"]), (made["id"], 1), "first send")
            times = []
            while len(times) < 3:
                n = await notification(ws, timeout=5)
                eq(n["notification"]["id"], made["id"], "a re-send of the same one")
                eq(n["notification"]["resend"], len(times) + 1, "attempt number")
                check("seq" not in n, "a re-send carries no envelope seq")
                times.append(time.monotonic())
            # Delays are in [d/2, d] with d = 400, 800, 1600 ms (equal jitter).
            gaps = [times[1] - times[0], times[2] - times[1]]
            check(0.3 <= gaps[0] <= 0.95 and 0.7 <= gaps[1] <= 1.75,
                  "intervals grow like the backoff: %r" % gaps)
            check(gaps[1] > gaps[0] * 0.95, "growing intervals: %r" % gaps)
            ack = await request(ws, "ack", {"id": made["id"]}, "ack-1")
            eq(ack["type"], "ack", "acknowledged")
            await nothing_more(ws, 4.0)
        arun(client())


def test_replay_after_reconnect_in_order_without_duplicates_or_gaps():
    with EdgeStack() as st:
        start_notify(st)
        uid = st.user("Pat")
        tok = st.token(uid)

        async def client():
            ws, _, _ = await login(st, tok, "/ws/notifications")
            await asyncio.sleep(0.4)
            ids = [alert(st, uid, title="n%d" % i)["id"] for i in range(1, 4)]
            got = [(await notification(ws))["seq"] for _ in range(3)]
            eq(got, [1, 2, 3], "live")
            await request(ws, "ack", {"id": ids[1]}, "ack-2")
            await ws.close()
            await asyncio.sleep(0.3)
            for i in range(4, 7):
                alert(st, uid, title="n%d" % i)
            # A second connection of the same user stays up meanwhile: it must
            # not see doubles when the first one comes back.
            other, _, _ = await login(st, tok, "/ws/notifications")
            seen = [(await notification(other))["seq"] for _ in range(5)]
            eq(seen, [1, 3, 4, 5, 6], "the open queue, in seq order")
            back, _, _ = await login(st, tok, "/ws/notifications")
            seqs = [(await notification(back))["seq"] for _ in range(5)]
            eq(seqs, [1, 3, 4, 5, 6], "unacked ones replayed in order, acked one not")
            await nothing_more(back, 1.0)
            await nothing_more(other, 0.2)
            # Explicit resume on the combined endpoint: subscribe with since_seq.
            ws3, _, _ = await login(st, tok, "/ws/combined")
            await ws3.send(json.dumps({"type": "subscribe", "subscription": "notifications",
                                       "since_seq": 3}))
            seqs = [(await notification(ws3))["seq"] for _ in range(3)]
            eq(seqs, [4, 5, 6], "resume from since_seq")
            await nothing_more(ws3, 1.0)
        arun(client())


def test_idempotent_create():
    with EdgeStack() as st:
        start_notify(st)
        uid = st.user("Pat")

        async def client():
            ws, _, _ = await login(st, st.token(uid), "/ws/notifications")
            await asyncio.sleep(0.4)
            a = alert(st, uid, type_="medication_reminder", idempotency_key="dose-2026-01-01-08")
            b = alert(st, uid, type_="medication_reminder", idempotency_key="dose-2026-01-01-08")
            eq(a["id"], b["id"], "one notification for one key")
            eq((a["created"], b["created"]), (True, False), "created once")
            n = await notification(ws)
            eq(n["notification"]["id"], a["id"], "delivered")
            await nothing_more(ws, 1.0)
        arun(client())


def write_clock(path, iso):
    import datetime
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    with open(path + ".tmp", "w") as f:
        f.write("%d\n" % int(t.timestamp() * 1000))
    os.replace(path + ".tmp", path)


def test_preferences_and_quiet_hours():
    with EdgeStack() as st:
        clock = os.path.join(st.dir, "clock")
        write_clock(clock, "2026-01-01T23:30:00Z")  # 00:30 in Berlin
        start_notify(st, env={"HM_FAKE_CLOCK_FILE": clock})
        uid = st.user("Pat")

        async def client():
            ws, _, _ = await login(st, st.token(uid), "/ws/notifications")
            got = await request(ws, "get_preferences", {}, "p1")
            eq(got["data"]["preferences"]["quiet_hours"]["enabled"], False, "default")
            eq(got["data"]["preferences"]["types"]["health_alert"], True, "default")
            upd = await request(ws, "update_preferences", {
                "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"},
                "types": {"appointment_reminder": False}}, "p2")
            eq(upd["type"], "ack", "updated")
            eq(upd["data"]["preferences"]["quiet_hours"]["timezone"], "Europe/Berlin", "zone")
            bad = await request(ws, "update_preferences",
                                {"quiet_hours": {"timezone": "Atlantis/Capital"}}, "p3")
            eq(bad.get("code"), "invalid_field", "unknown zone refused")
            held = alert(st, uid, "normal", "medication_reminder", "Take your pills")
            eq(held["status"], "held", "a normal reminder waits for the morning")
            crit = alert(st, uid, "critical", "health_alert", "Heart rate critical")
            eq(crit["status"], "pending", "a critical alert passes quiet hours")
            muted = alert(st, uid, "high", "appointment_reminder", "Dentist")
            eq(muted["status"], "muted", "a type that is off is muted")
            n = await notification(ws)
            eq(n["notification"]["id"], crit["id"], "only the critical alert comes at night")
            await request(ws, "ack", {"id": crit["id"]}, "a1")
            await nothing_more(ws, 1.0)
            write_clock(clock, "2026-01-02T06:30:00Z")  # 07:30 in Berlin
            n = await notification(ws, timeout=5)
            eq(n["notification"]["id"], held["id"], "released when quiet hours end")
            eq(n["notification"]["seq"], 1, "with its own seq in the notification")
            listing = await request(ws, "list_notifications", {"limit": 10}, "l1")
            items = {i["id"]: i for i in listing["data"]["notifications"]}
            eq(items[muted["id"]]["muted"], True, "the muted one is listed")
            eq(items[muted["id"]]["status"], "muted", "as muted")
            eq(len(items), 3, "all three listed")
            await nothing_more(ws, 0.5)
        arun(client())


def test_offline_bound_evicts_low_priority_only():
    with EdgeStack() as st:
        start_notify(st, "--queue-max", "4")
        uid = st.user("Pat")
        prios = ["low", "critical", "normal", "low", "high", "low", "critical"]
        made = [alert(st, uid, p, "system", "m%d" % i) for i, p in enumerate(prios)]
        # Bound 4, applied at each create: the oldest low one goes each time
        # (a normal one would go only when no low one is left).
        evicted = {made[0]["id"], made[3]["id"], made[5]["id"]}

        async def client():
            ws, _, _ = await login(st, st.token(uid), "/ws/notifications")
            got = [(await notification(ws))["notification"] for _ in range(4)]
            eq([g["priority"] for g in got], ["critical", "normal", "high", "critical"],
               "high and critical kept, low ones evicted first")
            check(not evicted & {g["id"] for g in got}, "evicted ones not delivered")
            await nothing_more(ws, 1.0)
            listing = await request(ws, "list_notifications", {"limit": 20}, "l")
            status = {i["id"]: i["status"] for i in listing["data"]["notifications"]}
            eq(sorted(i for i in status if status[i] == "evicted"), sorted(evicted),
               "evicted ones are listed as such")
            read = await request(ws, "mark_read", {"all": True}, "r")
            eq(read["data"]["unread"], 0, "all read")
        arun(client())


def test_system_broadcast_reaches_every_connected_user():
    with EdgeStack(edges=2) as st:
        start_notify(st)
        a, b, c = st.user("A"), st.user("B"), st.user("C")

        async def client():
            wa, _, _ = await login(st, st.token(a), "/ws/notifications", edge=0)
            wb, _, _ = await login(st, st.token(b), "/ws/notifications", edge=1)
            wc, _, _ = await login(st, st.token(c), "/ws/combined", edge=1)
            await wc.send(json.dumps({"type": "subscribe", "subscription": "notifications"}))
            await recv_type(wc, "subscribed")
            await asyncio.sleep(0.4)
            made = create(st, all=True, type="system", priority="normal",
                          title="Scheduled maintenance", message="Tonight 22:00-23:00 UTC")
            for ws in (wa, wb, wc):
                n = await notification(ws)
                eq((n["notification"]["id"], n["notification"]["type"]),
                   (made["id"], "system"), "every connected user gets it")
            ack = await request(wb, "ack", {"id": made["id"]}, "ab")
            eq(ack["type"], "ack", "a broadcast can be acknowledged by each user")
        arun(client())


def test_sigkill_between_create_and_delivery():
    with EdgeStack() as st:
        p = start_notify(st)
        online, offline = st.user("Online"), st.user("Offline")

        async def client():
            ws, _, _ = await login(st, st.token(online), "/ws/notifications")
            await asyncio.sleep(0.4)
            acked = alert(st, online, "high", title="acked before the crash")
            n = await notification(ws)
            await request(ws, "ack", {"id": acked["id"]}, "a0")
            stored = alert(st, offline, "high", title="stored, never delivered")
            st.kill(p)
            # A create sent while hm-notify is down waits in the broker.
            req = subprocess.Popen(
                [os.path.join(hmtest.BIN, "hm-bus")] + st.bus_flags() + [
                    "--timeout", "8", "req", "notify", json.dumps({
                        "type": "notify.create", "data": {
                            "user_id": online, "type": "health_alert", "priority": "high",
                            "title": "sent while down", "idempotency_key": "down-1"}})],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            await asyncio.sleep(0.5)
            start_notify(st)
            out, _ = req.communicate(timeout=20 * hmtest.SLOW)
            eq(req.returncode, 0, "the create was answered after the restart")
            made = json.loads(out)["data"]
            n = await notification(ws, pred=lambda m: m["notification"]["id"] == made["id"])
            eq(n["notification"]["title"], "sent while down", "delivered after the restart")
            # The acknowledged one is not sent again; the stored one arrives.
            ws2, _, _ = await login(st, st.token(offline), "/ws/notifications")
            n = await notification(ws2)
            eq(n["notification"]["id"], stored["id"], "stored before the kill, delivered after")
            await nothing_more(ws, 1.0, lambda m: m.get("type") == "notification"
                               and m["notification"]["id"] == acked["id"])
        arun(client())


class Receiver:
    """A local HTTP receiver for the webhook: verifies the signature, answers
    the statuses it is given in turn (then 200)."""

    def __init__(self, statuses=()):
        self.posts = []
        self.statuses = list(statuses)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                want = "sha256=" + hmac.new(HOOK_SECRET.encode(), body,
                                            hashlib.sha256).hexdigest()
                outer.posts.append({"body": json.loads(body),
                                    "valid": hmac.compare_digest(
                                        want, self.headers.get("X-HM-Signature", "")),
                                    "ts": self.headers.get("X-HM-Timestamp"),
                                    "delivery": self.headers.get("X-HM-Delivery"),
                                    "at": time.monotonic()})
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/escalate" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def hook_flags(rx):
    return ["--webhook-url", rx.url, "--webhook-base-ms", "300", "--webhook-factor", "2",
            "--webhook-attempts", "5"]


def test_escalation_posts_once_with_a_valid_signature():
    rx = Receiver()
    try:
        with EdgeStack() as st:
            start_notify(st, *hook_flags(rx), env={"HM_WEBHOOK_SECRET": HOOK_SECRET})
            uid = st.user("Pat")
            made = alert(st, uid, "critical", title="Heart rate critical")
            alert(st, uid, "high", title="high: not escalated")
            wait_for(lambda: rx.posts, 10, "the webhook POST")
            time.sleep(1.5)
            eq(len(rx.posts), 1, "POSTed once")
            post = rx.posts[0]
            check(post["valid"], "valid HMAC signature")
            check(int(post["ts"]) > 1600000000, "timestamp header")
            eq(post["delivery"], made["id"], "delivery id header")
            eq(post["body"]["reason"], "offline", "reason")
            eq(post["body"]["user_id"], uid, "user")
            eq(post["body"]["notification"]["id"], made["id"], "the notification")
            eq(post["body"]["notification"]["priority"], "critical", "critical only")
            # A restart does not POST it again.
            st.kill(st.procs[-1])
            start_notify(st, *hook_flags(rx), env={"HM_WEBHOOK_SECRET": HOOK_SECRET})
            time.sleep(1.0)
            eq(len(rx.posts), 1, "still once after a restart")
    finally:
        rx.close()


def test_escalation_retries_a_failing_receiver():
    rx = Receiver(statuses=[503, 500])
    try:
        with EdgeStack() as st:
            start_notify(st, *hook_flags(rx), env={"HM_WEBHOOK_SECRET": HOOK_SECRET})
            uid = st.user("Pat")
            made = alert(st, uid, "critical")
            wait_for(lambda: len(rx.posts) >= 3, 15, "three POSTs")
            time.sleep(1.5)
            eq(len(rx.posts), 3, "two failures, then success, then no more")
            check(all(p["valid"] for p in rx.posts), "each signed")
            eq({p["delivery"] for p in rx.posts}, {made["id"]}, "the same delivery")
            eq([p["body"]["attempt"] for p in rx.posts], [1, 2, 3], "attempt numbers")
            gaps = [rx.posts[1]["at"] - rx.posts[0]["at"], rx.posts[2]["at"] - rx.posts[1]["at"]]
            check(gaps[0] >= 0.12 and gaps[1] >= 0.25, "backoff between attempts: %r" % gaps)
    finally:
        rx.close()


def test_escalation_of_an_online_user_who_never_acks():
    rx = Receiver()
    try:
        with EdgeStack() as st:
            start_notify(st, "--resend-base-ms", "200", "--resend-max", "2",
                         *hook_flags(rx), env={"HM_WEBHOOK_SECRET": HOOK_SECRET})
            uid = st.user("Pat")

            async def client():
                ws, _, _ = await login(st, st.token(uid), "/ws/notifications")
                await asyncio.sleep(0.4)
                made = alert(st, uid, "critical")
                for _ in range(3):  # the send and two re-sends
                    await notification(ws)
                await asyncio.sleep(0.1)
                eq(rx.posts, [], "not escalated while re-sends remain")
                wait_for(lambda: rx.posts, 10, "the webhook POST")
                eq(rx.posts[0]["body"]["reason"], "unacked", "escalated after the re-sends")
                eq(rx.posts[0]["delivery"], made["id"], "that notification")
            arun(client())
    finally:
        rx.close()


if __name__ == "__main__":
    hmtest.main([test_offline_notification_arrives_on_connect,
                 test_unacked_critical_is_resent_with_growing_intervals_until_acked,
                 test_replay_after_reconnect_in_order_without_duplicates_or_gaps,
                 test_idempotent_create, test_preferences_and_quiet_hours,
                 test_offline_bound_evicts_low_priority_only,
                 test_system_broadcast_reaches_every_connected_user,
                 test_sigkill_between_create_and_delivery,
                 test_escalation_posts_once_with_a_valid_signature,
                 test_escalation_retries_a_failing_receiver,
                 test_escalation_of_an_online_user_who_never_acks])
