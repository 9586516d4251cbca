#!/usr/bin/python3
"""End-to-end: resume by since_seq while the stream keeps moving. With the
real hm-health storing readings, a client that subscribes with since_seq
while another connection keeps sending readings must receive every seq
exactly once and in order: the replay (several pages) and the live events
that arrive during it are merged by the edge."""
import asyncio
import json

import hmtest
from hmtest import EdgeStack, arun, check, eq, recv_type
from test_edge import login


def start_health(st):
    """Starts hm-health in st and waits until it is registered."""
    st.start("hm-health", st.bus_flags() + ["--data-dir", st.dir, "--heartbeat-ms", "250"])
    hmtest.wait_for(lambda: st.hm_bus("--timeout", "0.5", "req", "mmi.service",
                                      "health")[0] == 0, 15, "hm-health registered")


async def send_readings(ws, n, tag):
    """Sends n step counts as readings and waits for their n acks."""
    for i in range(n):
        await ws.send(json.dumps({"type": "health_update", "correlation_id": "%s%d" % (tag, i),
                                  "data": {"metric": "steps", "value": 100 + i}}))
    acks = 0
    while acks < n:
        m = json.loads(await asyncio.wait_for(ws.recv(), 15 * hmtest.SLOW))
        acks += m.get("type") == "ack"


def test_resume_while_writing():
    with EdgeStack(edge_args=["--rate", "2000", "--burst", "2000"]) as st:
        start_health(st)
        uid = st.user("Pat")
        tok = st.token(uid)

        async def writer(ws, start, n):
            for i in range(start, start + n):
                await ws.send(json.dumps({"type": "health_update", "correlation_id": "w%d" % i,
                                          "data": {"metric": "heart_rate", "value": 60 + i % 40,
                                                   "unit": "bpm"}}))
                if i % 50 == 0:
                    await asyncio.sleep(0.01)

        async def reader(ws, want):
            seqs = []
            while len(seqs) < want:
                m = json.loads(await asyncio.wait_for(ws.recv(), 15 * hmtest.SLOW))
                if m.get("type") == "health_update":
                    seqs.append(m["seq"])
            return seqs

        async def client():
            w, _, _ = await login(st, tok, "/ws/combined")
            await writer(w, 0, 700)  # more than one replay page (500)
            acks = 0
            while acks < 700:
                m = json.loads(await asyncio.wait_for(w.recv(), 15 * hmtest.SLOW))
                acks += m.get("type") == "ack"
            r, _, _ = await login(st, tok, "/ws/combined")
            more = asyncio.ensure_future(writer(w, 700, 300))  # live while resuming
            await r.send(json.dumps({"type": "subscribe", "subscription": "health_updates",
                                     "since_seq": 0}))
            seqs = await reader(r, 1000)
            await more
            eq(seqs, list(range(1, 1001)), "every seq once, in order")
        arun(client())


def test_resume_after_auto_subscribe():
    """/ws/health follows the user's stream from authentication on. A live
    event that arrives before the client's subscribe with since_seq must not
    hide the events between since_seq and it: the client gets all of them
    (a seq it already has may come again; clients drop seen seqs)."""
    with EdgeStack() as st:
        start_health(st)
        uid = st.user("Pat")
        tok = st.token(uid)


        async def client():
            w, _, _ = await login(st, tok, "/ws/combined")
            await send_readings(w, 5, "a")  # seq 1..5, stored
            r, _, _ = await login(st, tok, "/ws/health")  # follows live from here on
            await send_readings(w, 1, "b")  # seq 6 reaches r live
            m = await recv_type(r, "health_update")
            eq(m["seq"], 6, "the live event")
            await r.send(json.dumps({"type": "subscribe", "subscription": "health_updates",
                                     "since_seq": 2}))
            seen = {6}
            while not {3, 4, 5} <= seen:
                m = json.loads(await asyncio.wait_for(r.recv(), 10 * hmtest.SLOW))
                if m.get("type") == "health_update":
                    seen.add(m["seq"])
            check(1 not in seen and 2 not in seen, "nothing at or before since_seq: %s" % seen)
        arun(client())


def test_gap_in_a_stream_is_replayed():
    """Events lost on the bus (as while a restarted broker re-learns the
    subscriptions) leave a jump in a stream's seq: the edge notices it and
    replays the missing events from hm-health before the one that jumped."""
    with EdgeStack() as st:
        start_health(st)
        uid = st.user("Pat")
        tok = st.token(uid)


        async def client():
            w, _, _ = await login(st, tok, "/ws/combined")
            await send_readings(w, 5, "a")  # seq 1..5 stored
            r, _, _ = await login(st, tok, "/ws/combined")
            await r.send(json.dumps({"type": "subscribe", "subscription": "health_updates"}))
            await recv_type(r, "subscribed")
            # r has seen nothing yet; seq 2 reaches it as if 3..5 were then
            # lost on the way.
            st.publish("u.%d.health" % uid, {"type": "health_update", "seq": 2, "user_id": uid,
                                             "data": {"metric": "steps", "value": 101}})
            m = await recv_type(r, "health_update")
            eq(m["seq"], 2, "the event that arrived")
            await send_readings(w, 1, "b")  # seq 6: a jump from 2
            seqs = []
            while len(seqs) < 4:
                m = json.loads(await asyncio.wait_for(r.recv(), 10 * hmtest.SLOW))
                if m.get("type") == "health_update":
                    seqs.append(m["seq"])
            eq(seqs, [3, 4, 5, 6], "the missing events replayed, then the live one")
        arun(client())


if __name__ == "__main__":
    hmtest.main([test_resume_while_writing, test_resume_after_auto_subscribe,
                 test_gap_in_a_stream_is_replayed])
