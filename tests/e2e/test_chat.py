#!/usr/bin/python3
"""End-to-end: hm-chat with the real broker, hm-auth and hm-edge, real
WebSocket clients (/ws/chat, /ws/combined). Services chat depends on that are
not under test here (health, notify) are small Python Majordomo workers that
record what they were asked; the openai backend talks to fake_llm.py, a local
server speaking the real streaming wire format.

  test_chat.py              run the tests
  test_chat.py --bench N    chat round trip (send -> receipt by another
                            participant) over N messages: p50 and p99
"""
import asyncio
import json
import os
import signal
import sys
import threading
import time
import uuid

import msgpack
import websockets
import zmq

import hmtest
from fake_llm import FakeLLM
from hmtest import EdgeStack, arun, check, eq, wait_for

NOW_MS = lambda: int(time.time() * 1000)


# ---- a Python Majordomo worker (SPEC section 3) -----------------------------

class MdpWorker(threading.Thread):
    """Registers as `service`, answers each request with handler(env) ->
    (type, data), and records the requests."""

    def __init__(self, endpoint, service, handler):
        super().__init__(daemon=True)
        self.endpoint, self.service, self.handler = endpoint, service, handler
        self.requests = []
        self.stopping = False

    def _connect(self, ctx):
        sock = ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(self.endpoint)
        sock.send_multipart([b"", b"MDPW01", b"\x01", self.service.encode()])
        return sock

    def run(self):
        ctx = zmq.Context.instance()
        sock = self._connect(ctx)
        beat = time.monotonic()
        while not self.stopping:
            if sock.poll(100):
                frames = sock.recv_multipart()
                if len(frames) >= 3 and frames[2] == b"\x05":  # DISCONNECT: register again
                    sock.close()
                    sock = self._connect(ctx)
                elif len(frames) == 6 and frames[2] == b"\x02":
                    client, body = frames[3], frames[5]
                    req = msgpack.unpackb(body, raw=False)
                    self.requests.append(req)
                    type_, data = self.handler(req)
                    rep = {"v": 1, "type": type_, "id": req["id"], "ts": NOW_MS(),
                           "correlation_id": req.get("correlation_id"),
                           "user_id": req.get("user_id"), "data": data}
                    sock.send_multipart([b"", b"MDPW01", b"\x03", client, b"",
                                         msgpack.packb(rep, use_bin_type=True)])
            if time.monotonic() - beat > 0.25:
                sock.send_multipart([b"", b"MDPW01", b"\x04"])
                beat = time.monotonic()
        sock.close()

    def verbs(self, verb):
        return [r for r in self.requests if r.get("type") == verb]


def start_worker(st, service, handler):
    w = MdpWorker(st.bus["requests"], service, handler)
    w.start()
    wait_for(lambda: st.hm_bus("--timeout", "0.5", "--retries", "0", "req", "mmi.service",
                               service)[0] == 0, 10, "%s worker registered" % service)
    return w


def health_handler(readings):
    """A health service answering health.sync with the given readings."""
    def handle(req):
        if req["type"] != "health.sync":
            return "error", {"code": "unknown_verb", "message": "test worker"}
        return "ack", {"user_id": req["data"]["user_id"], "readings": readings, "more": False}
    return handle


def notify_handler(req):
    if req["type"] != "notify.create":
        return "error", {"code": "unknown_verb", "message": "test worker"}
    return "ack", {"id": str(uuid.uuid4()), "seq": len(req), "created": True}


# ---- the stack ----------------------------------------------------------------

class ChatStack(EdgeStack):
    """Broker, hm-auth, hm-edge and hm-chat."""

    def __init__(self, chat_args=(), **kw):
        super().__init__(**kw)
        self.chat_args = list(chat_args)
        self.chat = self.start_chat()

    def start_chat(self):
        p = self.start("hm-chat", self.bus_flags() + ["--data-dir", self.dir, "--heartbeat-ms",
                                                      "250"] + self.chat_args)
        wait_for(lambda: "event=started" in open(p.log, errors="replace").read(), 15,
                 "hm-chat started")
        wait_for(lambda: self.hm_bus("--timeout", "0.5", "--retries", "0", "req", "mmi.service",
                                     "chat")[0] == 0, 15, "hm-chat registered")
        return p

    def team(self):
        """A patient and a linked clinician."""
        p, c = self.user("Pat"), self.user("Dr Who", "clinician")
        self.auth_cli("link", str(c), str(p))
        return p, c


class Client:
    """A WebSocket client that keeps what it read but did not want yet:
    replies (through the broker) and events (through pub/sub) take different
    paths, so their relative order is not fixed."""

    def __init__(self, ws):
        self.ws = ws
        self.pending = []

    async def send(self, obj):
        await self.ws.send(json.dumps(obj))

    async def take(self, pred, timeout=5, what="a matching message"):
        for i, m in enumerate(self.pending):
            if pred(m):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout * hmtest.SLOW
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for %s; have %r"
                                     % (what, self.pending[-5:]))
            m = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            if pred(m):
                return m
            self.pending.append(m)

    async def request(self, type_, data, timeout=5):
        """Sends a client request; returns its reply (ack or error)."""
        cid = str(uuid.uuid4())
        await self.send({"type": type_, "correlation_id": cid, "data": data})
        return await self.take(lambda m: m.get("correlation_id") == cid, timeout,
                               "reply to %s" % type_)


async def login(st, uid, path="/ws/chat", subscribe=False, since_seq=None):
    ws = await websockets.connect(st.url(path))
    hmtest.OPEN.append(ws)
    cl = Client(ws)
    await cl.take(lambda m: m["type"] == "welcome")
    await cl.send({"type": "authenticate", "token": st.token(uid)})
    await cl.take(lambda m: m["type"] == "authenticated")
    if subscribe:
        sub = {"type": "subscribe", "subscription": "chat"}
        if since_seq is not None:
            sub["since_seq"] = since_seq
        await cl.send(sub)
    if path == "/ws/chat" or subscribe:
        await cl.take(lambda m: m["type"] == "subscribed")
    return cl


def is_msg(text=None, sender=None):
    return lambda m: (m.get("type") == "chat_message"
                      and (text is None or text in m["data"]["message"])
                      and (sender is None or m["data"]["sender"] == sender))


# ---- the tests ----------------------------------------------------------------

def test_message_reaches_every_participant():
    """Two connections of the patient (/ws/chat and /ws/combined) and the
    linked clinician see the message, in the seed's shape plus seq and
    timestamp; the clinician's answer reaches the patient's connections."""
    with ChatStack() as st:
        p, c = st.team()

        async def client():
            pa = await login(st, p)
            pb = await login(st, p, "/ws/combined", subscribe=True)
            dc = await login(st, c)
            # The seed's message shape, verbatim (sender is ignored: identity
            # comes from the token).
            await pa.send({"type": "chat_message", "correlation_id": "m1", "data": {
                "message": "Hello team, my knee hurts a little", "sender": "ai_assistant",
                "participants": [c]}})
            ack = await pa.take(lambda m: m.get("correlation_id") == "m1")
            eq(ack["type"], "ack", "chat_message acknowledged: %r" % ack)
            conv = ack["data"]["conversation_id"]
            for ws in (pa, pb, dc):
                m = await ws.take(is_msg("knee"), what="the patient's message")
                eq(m["data"]["message"], "Hello team, my knee hurts a little", "text")
                eq(m["data"]["sender"], "user", "sender")
                eq(m["data"]["conversation_id"], conv, "conversation")
                eq(m["data"]["seq"], 1, "per-conversation seq")
                check(isinstance(m["seq"], int) and m["seq"] >= 1, "stream seq on the event")
                check(m["timestamp"].endswith("Z"), "timestamp")
            for ws in (pa, dc):  # the assistant answers the patient, everyone sees it
                r = await ws.take(is_msg(sender="ai_assistant"), what="assistant reply")
                eq(r["data"]["seq"], 2, "assistant reply is seq 2")
            rep = await dc.request("chat_message", {"conversation_id": conv,
                                                     "message": "Rest it today, I'll call you"})
            eq(rep["type"], "ack", "clinician posts")
            for ws in (pa, pb):
                m = await ws.take(is_msg("call you"), what="clinician's message")
                eq(m["data"]["sender"], "care_team", "sender of a care-team member")
                eq(m["data"]["sender_id"], c, "sender id")
            await asyncio.sleep(0.5)
            h = await pa.request("chat_history", {"conversation_id": conv})
            eq([m["sender"] for m in h["data"]["messages"]], ["user", "ai_assistant", "care_team"],
               "no assistant reply to a care-team message")
            # The seed's chat_message verbatim, placeholder id included: a conversation
            # with that id is started.
            await pa.send({"type": "chat_message", "data": {
                "message": "Hello, how can I help you?", "sender": "ai_assistant",
                "conversation_id": "uuid"}})
            m = await pb.take(is_msg("how can I help", "user"), what="the seed's message")
            eq(m["data"]["conversation_id"], "uuid", "the client's conversation id")
        arun(client())


def test_care_team_joins_and_outsider_is_refused():
    with ChatStack() as st:
        p, c = st.team()
        u = st.user("Stranger", "clinician")

        async def client():
            pa = await login(st, p)
            dc = await login(st, c)
            us = await login(st, u)
            ack = await pa.request("chat_message", {"message": "thanks"})
            conv = ack["data"]["conversation_id"]
            for ws in (us,):
                for t, d in (("chat_history", {"conversation_id": conv}),
                             ("chat_message", {"conversation_id": conv, "message": "hi"}),
                             ("typing", {"conversation_id": conv, "typing": True})):
                    err = await ws.request(t, d)
                    eq(err.get("code"), "forbidden", "%s by a non-participant" % t)
            err = await us.request("chat_message", {"message": "hi", "participants": [p]})
            eq(err.get("code"), "forbidden", "adding a patient who is not linked")
            err = await dc.request("chat_history", {"conversation_id": conv})
            eq(err.get("code"), "forbidden", "a linked member reads only after joining")
            ok = await dc.request("chat_message", {"conversation_id": conv, "message": "Hi Pat"})
            eq(ok["type"], "ack", "a linked member joins by posting")
            m = await pa.take(is_msg("Hi Pat"), what="member's message")
            eq(m["data"]["sender"], "care_team", "sender")
            h = await dc.request("chat_history", {"conversation_id": conv})
            eq(h["type"], "ack", "now a participant")
            lst = await dc.request("chat_history", {})
            eq([x["conversation_id"] for x in lst["data"]["conversations"]], [conv],
               "the member's conversations")
            err = await us.request("chat_history", {"conversation_id": str(uuid.uuid4())})
            eq(err.get("code"), "not_found", "unknown conversation")
        arun(client())


def test_typing_relayed_and_stopped():
    with ChatStack(chat_args=["--typing-timeout-ms", "1000", "--typing-rate", "2",
                              "--typing-burst", "6"]) as st:
        p, c = st.team()

        async def client():
            pa = await login(st, p)
            dc = await login(st, c)
            ack = await pa.request("chat_message", {"message": "hello", "participants": [c]})
            conv = ack["data"]["conversation_id"]
            await dc.take(is_msg(sender="ai_assistant"), what="assistant reply")
            await asyncio.sleep(0.2)
            rep = await pa.request("typing", {"conversation_id": conv, "typing": True})
            eq(rep["data"]["relayed"], True, "first start relayed")
            t0 = time.monotonic()
            t = await dc.take(lambda m: m["type"] == "typing" and m["data"]["user_id"] == p)
            eq(t["data"]["typing"], True, "clinician sees the patient typing")
            eq(t["data"]["conversation_id"], conv, "in the conversation")
            check("seq" not in t, "typing carries no seq")
            t = await dc.take(lambda m: m["type"] == "typing" and m["data"]["user_id"] == p,
                                 timeout=4, what="automatic stop")
            eq(t["data"]["typing"], False, "stopped automatically")
            check(0.8 <= time.monotonic() - t0 <= 3 * hmtest.SLOW, "after about the timeout")
            await dc.request("typing", {"conversation_id": conv})
            t = await pa.take(lambda m: m["type"] == "typing" and m["data"]["user_id"] == c)
            eq((t["data"]["typing"], t["data"]["sender"]), (True, "care_team"), "member typing")
            await dc.request("typing", {"conversation_id": conv, "typing": False})
            t = await pa.take(lambda m: m["type"] == "typing" and m["data"]["user_id"] == c)
            eq(t["data"]["typing"], False, "explicit stop relayed")
            codes = []
            for i in range(12):
                r = await dc.request("typing", {"conversation_id": conv, "typing": True})
                codes.append(r.get("code", r["type"]))
            check("rate_limited" in codes, "typing is rate limited: %r" % codes)
        arun(client())


def test_history_pages():
    with ChatStack() as st:
        p = st.user("Pat")
        o = st.user("Other")

        async def client():
            pa = await login(st, p)
            ack = await pa.request("chat_message", {"message": "message 1"})
            conv = ack["data"]["conversation_id"]
            for i in range(2, 6):
                r = await pa.request("chat_message", {"conversation_id": conv,
                                                       "message": "message %d" % i})
                eq(r["type"], "ack", "sent")
            await pa.take(lambda m: is_msg(sender="ai_assistant")(m)
                             and m["data"]["seq"] == 10, what="the fifth reply")
            h = await pa.request("chat_history", {"conversation_id": conv, "limit": 4})
            eq([m["seq"] for m in h["data"]["messages"]], [7, 8, 9, 10], "newest page first")
            eq((h["data"]["more"], h["data"]["before_seq"]), (True, 7), "more, and where")
            h = await pa.request("chat_history", {"conversation_id": conv, "limit": 4,
                                                   "before_seq": 7})
            eq([m["seq"] for m in h["data"]["messages"]], [3, 4, 5, 6], "the page before")
            eq(h["data"]["messages"][0]["message"], "message 2", "user message 2 is seq 3")
            h = await pa.request("chat_history", {"conversation_id": conv, "limit": 4,
                                                   "before_seq": 3})
            eq([m["seq"] for m in h["data"]["messages"]], [1, 2], "the oldest page")
            eq(h["data"]["more"], False, "nothing older")
            err = await pa.request("chat_history", {"conversation_id": conv, "limit": 500})
            eq(err.get("code"), "invalid_field", "limit bounded")
            oa = await login(st, o)
            err = await oa.request("chat_history", {"conversation_id": conv})
            eq(err.get("code"), "forbidden", "a non-participant is refused")
        arun(client())


BP = [{"metric": "blood_pressure", "systolic": 118, "diastolic": 76, "unit": "mmHg", "age_h": 4},
      {"metric": "blood_pressure", "systolic": 121, "diastolic": 79, "unit": "mmHg", "age_h": 3},
      {"metric": "heart_rate", "value": 71, "unit": "bpm", "age_h": 2},
      {"metric": "blood_pressure", "systolic": 128, "diastolic": 84, "unit": "mmHg", "age_h": 1}]


def iso_ago(hours):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - hours * 3600))


class Health:
    """The user's readings in the real hm-health when it is built (stored
    with health.device_reading), else in a recording Python worker that
    answers health.sync with them."""

    def __init__(self, st, user_id, readings=BP):
        self.worker = None
        stored = []
        for i, r in enumerate(readings):
            r = {k: v for k, v in r.items() if k != "age_h"}
            r.update({"timestamp": iso_ago(readings[i]["age_h"]), "seq": i + 1})
            if "systolic" in r:
                r["value"] = r["systolic"]
            stored.append(r)
        if os.path.exists(os.path.join(hmtest.BIN, "hm-health")):
            st.start("hm-health", st.bus_flags() + ["--data-dir", st.dir, "--heartbeat-ms", "250"])
            wait_for(lambda: st.hm_bus("--timeout", "0.5", "--retries", "0", "req", "mmi.service",
                                       "health")[0] == 0, 15, "hm-health registered")
            for r in stored:
                data = {k: v for k, v in r.items() if k not in ("seq", "value")
                        or (k == "value" and "systolic" not in r)}
                data.update({"user_id": user_id, "device_id": "test-device"})
                rc, out, err = st.hm_bus("req", "health", json.dumps(
                    {"type": "health.device_reading", "data": data}))
                eq(rc, 0, "reading stored in hm-health (%s %s)" % (out, err))
        else:
            self.worker = start_worker(st, "health", health_handler(stored))

    def syncs(self):
        """The health.sync requests seen (None with the real hm-health)."""
        return self.worker.verbs("health.sync") if self.worker else None


def test_rules_assistant_answers_with_the_stored_blood_pressure():
    with ChatStack() as st:
        p = st.user("Pat")
        health = Health(st, p)

        async def client():
            pa = await login(st, p)
            ack = await pa.request("chat_message",
                                   {"message": "What was my latest blood pressure?"})
            conv = ack["data"]["conversation_id"]
            t = await pa.take(lambda m: m["type"] == "typing", what="assistant typing")
            eq((t["data"]["sender"], t["data"]["typing"]), ("ai_assistant", True), "typing first")
            r = await pa.take(is_msg(sender="ai_assistant"), what="the answer")
            text = r["data"]["message"]
            check("128/84 mmHg" in text, "the latest stored value: %r" % text)
            check("121/79" not in text and "71" not in text, "only what was asked: %r" % text)
            check("diagnos" in text, "says it does not diagnose: %r" % text)
            sync = health.syncs()
            if sync is not None:
                check(len(sync) >= 1, "health.sync asked")
                eq((sync[0]["user_id"], sync[0]["data"]["user_id"]), (p, p), "the user's own data")
                eq(sync[0]["data"].get("metric"), "blood_pressure", "only the metric asked")
            r2 = await pa.request("chat_message", {"conversation_id": conv, "message": "hello!"})
            eq(r2["type"], "ack", "sent")
            await pa.take(is_msg("Hello", "ai_assistant"), what="greeting")
            if sync is not None:
                eq(len(health.syncs()), len(sync), "a greeting needs no health data")
            await pa.request("chat_message", {"conversation_id": conv,
                                              "message": "How is my blood pressure trending?"})
            r = await pa.take(is_msg("average", "ai_assistant"), what="the trend")
            check("higher than your average of 119.5/77.5 mmHg over the 2 readings"
                  in r["data"]["message"], "trend against the earlier readings: %r"
                  % r["data"]["message"])
        arun(client())


def test_assistant_without_health_says_so():
    with ChatStack(chat_args=["--context-timeout-ms", "600"]) as st:
        p = st.user("Pat")

        async def client():
            pa = await login(st, p)
            t0 = time.monotonic()
            await pa.request("chat_message", {"message": "what is my heart rate?"})
            r = await pa.take(is_msg(sender="ai_assistant"), timeout=5, what="answer")
            check("can't see your recent readings" in r["data"]["message"], r["data"]["message"])
            check(time.monotonic() - t0 < 3 * hmtest.SLOW, "answered within about a second")
        arun(client())


def test_emergency_gets_safety_reply_and_care_team_notification():
    with ChatStack() as st:
        notify = start_worker(st, "notify", notify_handler)
        p, c = st.team()
        q = st.user("Alone")

        async def client():
            pa = await login(st, p)
            ack = await pa.request("chat_message", {"message": "hi", "participants": [c]})
            conv = ack["data"]["conversation_id"]
            await pa.take(is_msg(sender="ai_assistant"), what="first reply")
            await pa.request("chat_message", {"conversation_id": conv, "message":
                                               "I have crushing chest pain and can't breathe"})
            r = await pa.take(lambda m: is_msg(sender="ai_assistant")(m)
                                 and m["data"]["seq"] == 4, what="safety reply")
            text = r["data"]["message"]
            check("emergency" in text and "911" in text, "urgent safety answer: %r" % text)
            check("diagnose" in text, "no diagnosis, and says so")
            wait_for(lambda: notify.verbs("notify.create"), 5, "notification request")
            n = notify.verbs("notify.create")[0]["data"]
            eq((n["user_id"], n["type"], n["priority"]), (c, "health_alert", "high"),
               "high-priority health alert to the linked clinician")
            eq((n["data"]["patient_user_id"], n["data"]["conversation_id"]), (p, conv), "about")
            check("chest" not in json.dumps(n), "no chat text in the notification")
            # A patient with nobody known: the patient, flagged for the care team.
            qa = await login(st, q)
            await qa.request("chat_message", {"message": "I want to end my life"})
            r = await qa.take(is_msg(sender="ai_assistant"), what="crisis reply")
            check("988" in r["data"]["message"], "crisis line: %r" % r["data"]["message"])
            wait_for(lambda: [x for x in notify.verbs("notify.create")
                              if x["data"]["user_id"] == q], 5, "fallback notification")
            n = [x for x in notify.verbs("notify.create") if x["data"]["user_id"] == q][0]
            eq(n["data"]["data"]["care_team"], True, "flagged for the care team")
        arun(client())


def test_kill_9_loses_nothing_acknowledged():
    """Acknowledged messages survive SIGKILL; owed assistant replies are
    given after the restart; a reconnecting client resumes with since_seq."""
    with ChatStack() as st:
        p = st.user("Pat")

        async def client():
            pa = await login(st, p)
            ack = await pa.request("chat_message", {"message": "message 0"})
            conv = ack["data"]["conversation_id"]
            acked = [ack["data"]["message_id"]]
            for i in range(1, 20):
                r = await pa.request("chat_message", {"conversation_id": conv,
                                                       "message": "message %d" % i})
                eq(r["type"], "ack", "sent %d" % i)
                acked.append(r["data"]["message_id"])
            st.kill(st.chat)
            st.chat = st.start_chat()
            h = await pa.request("chat_history", {"conversation_id": conv, "limit": 200},
                              timeout=10)
            ids = [m["message_id"] for m in h["data"]["messages"] if m["sender"] == "user"]
            eq(ids, acked, "every acknowledged message, in order")
            for _ in range(50):
                h = await pa.request("chat_history", {"conversation_id": conv, "limit": 200})
                if len(h["data"]["messages"]) == 40:
                    break
                await asyncio.sleep(0.2)
            eq(len(h["data"]["messages"]), 40, "every owed reply was given after the restart")
            eq([m["seq"] for m in h["data"]["messages"]], list(range(1, 41)), "no gap, no double")
            ws = await login(st, p, "/ws/combined", subscribe=True, since_seq=30)
            got = []
            while len(got) < 10:
                m = await ws.take(lambda m: m["type"] == "chat_message", what="replay")
                got.append(m["seq"])
            eq(got, list(range(31, 41)), "replayed from the stream seq")
        arun(client())


def test_openai_streaming_backend():
    fake = FakeLLM().start()
    try:
        with ChatStack(chat_args=["--assistant", "openai", "--openai-url", fake.url,
                                  "--openai-model", "test-model", "--openai-key",
                                  "sk-test-key"]) as st:
            p = st.user("Pat")
            Health(st, p)

            async def client():
                pa = await login(st, p)
                ack = await pa.request("chat_message", {"message": "#slow tell me a story"})
                conv = ack["data"]["conversation_id"]
                deltas = []
                while True:
                    m = await pa.take(lambda m: m["type"] in ("chat_message_delta",
                                                                     "chat_message")
                                         and m["data"].get("sender") != "user", timeout=10)
                    if m["type"] == "chat_message":
                        final = m
                        break
                    deltas.append(m)
                check(len(deltas) > 3, "pieces streamed before the message: %d" % len(deltas))
                eq([d["data"]["index"] for d in deltas], list(range(len(deltas))), "in order")
                check(all("seq" not in d for d in deltas), "deltas carry no seq")
                eq({d["data"]["message_id"] for d in deltas}, {final["data"]["message_id"]},
                   "deltas belong to the final message")
                text = "".join(d["data"]["delta"] for d in deltas)
                eq(final["data"]["message"], text, "the final message is the streamed text")
                eq(text, "I am a test model. You said: #slow tell me a story", "model reply")
                h = await pa.request("chat_history", {"conversation_id": conv})
                eq(h["data"]["messages"][-1]["message"], text, "stored")
                req = fake.requests[0]
                eq(req["headers"].get("Authorization"), "Bearer sk-test-key", "key sent")
                eq((req["body"]["model"], req["body"]["stream"]), ("test-model", True), "body")
                eq(req["body"]["messages"][0]["role"], "system", "system prompt")
                check("128/84" not in json.dumps(req["body"]), "no health data when not needed")
                await pa.request("chat_message", {"conversation_id": conv,
                                                   "message": "how is my blood pressure?"})
                await pa.take(is_msg("blood pressure", "ai_assistant"), timeout=10)
                body = json.dumps(fake.requests[-1]["body"])
                check("128/84" in body, "the asked-for reading is given to the model")
                check("heart rate" not in body.lower() and "71 bpm" not in body,
                      "and nothing else: %s" % body)
            arun(client())
    finally:
        fake.stop()


def test_openai_timeout_and_error_fall_back_to_rules():
    fake = FakeLLM().start()
    try:
        with ChatStack(chat_args=["--assistant", "openai", "--openai-url", fake.url,
                                  "--openai-timeout-ms", "1500", "--openai-idle-ms",
                                  "1000"]) as st:
            p = st.user("Pat")

            async def client():
                pa = await login(st, p)
                t0 = time.monotonic()
                await pa.request("chat_message", {"message": "#stall hello"})
                d = await pa.take(lambda m: m["type"] == "chat_message_delta", timeout=5)
                eq(d["data"]["index"], 0, "the first piece arrived")
                r = await pa.take(is_msg(sender="ai_assistant"), timeout=8,
                                     what="fallback answer")
                check("not available right now" in r["data"]["message"], r["data"]["message"])
                check("Hello" in r["data"]["message"], "the rules answer follows the note")
                check(time.monotonic() - t0 < 5 * hmtest.SLOW, "within the timeout and a bit")
                await pa.request("chat_message", {"conversation_id": r["data"]["conversation_id"],
                                                   "message": "#error hi"})
                r = await pa.take(lambda m: is_msg(sender="ai_assistant")(m)
                                     and m["data"]["seq"] == 4, timeout=8, what="after a 500")
                check("not available right now" in r["data"]["message"], r["data"]["message"])
            arun(client())
    finally:
        fake.stop()


# ---- the measurement --------------------------------------------------------

def bench(n):
    """Round trip of a chat message: the patient sends, the clinician (another
    participant, another connection) receives; N messages one after another,
    each answered by the rules assistant as well. The edge's per-connection
    rate limit (20/s by default) is lifted for the measurement."""
    with ChatStack(edge_args=["--rate", "100000", "--burst", "100000"]) as st:
        p, c = st.team()

        async def client():
            pa = await login(st, p)
            dc = await login(st, c)
            ack = await pa.request("chat_message", {"message": "warm up", "participants": [c]})
            conv = ack["data"]["conversation_id"]
            rtts = []
            for i in range(n):
                text = "bench %d" % i
                t0 = time.perf_counter()
                await pa.send({"type": "chat_message",
                               "data": {"conversation_id": conv, "message": text}})
                await dc.take(lambda m: m.get("type") == "chat_message"
                                 and m["data"]["message"] == text, timeout=10)
                rtts.append((time.perf_counter() - t0) * 1000)
            rtts.sort()
            pick = lambda q: rtts[min(len(rtts) - 1, int(q * len(rtts)))]
            print("chat round trip over %d messages: p50 %.2f ms, p99 %.2f ms, max %.2f ms"
                  % (n, pick(0.50), pick(0.99), rtts[-1]))
        arun(client())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bench":
        bench(int(sys.argv[2]))
        sys.exit(0)
    hmtest.main([test_message_reaches_every_participant,
                 test_care_team_joins_and_outsider_is_refused,
                 test_typing_relayed_and_stopped, test_history_pages,
                 test_rules_assistant_answers_with_the_stored_blood_pressure,
                 test_assistant_without_health_says_so,
                 test_emergency_gets_safety_reply_and_care_team_notification,
                 test_kill_9_loses_nothing_acknowledged, test_openai_streaming_backend,
                 test_openai_timeout_and_error_fall_back_to_rules])
