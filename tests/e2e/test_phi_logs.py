#!/usr/bin/python3
"""End-to-end: no PHI and no secrets in any process's log (DESIGN.md section
6). A stack of hm-broker, hm-auth, hm-edge, hm-health, hm-chat (openai
backend against fake_llm.py) and hm-notify, every one at log level debug
where it has the option, gets distinctive health values, a note, chat text
with a unique marker, tokens (good, refreshed, tampered), an admin token on
the management HTTP and the LLM API key; then every log (stderr files and
whatever reached stdout) is searched for each of them: none may appear.

So that the search can fail, it is first run on a scratch file holding the
needles, and the logs must be non-empty and name the requests that went by
(health.reading, chat.send, ... at debug)."""
import asyncio
import glob
import json
import os
import signal
import time
import uuid

import websockets

import hmtest
from fake_llm import FakeLLM
from hmtest import EdgeStack, arun, check, eq, recv_until, wait_for
from test_mgmt import http

DEBUG = ["--log-level", "debug"]


class Client:
    def __init__(self, ws):
        self.ws, self.pending = ws, []

    async def take(self, pred, timeout=8):
        for i, m in enumerate(self.pending):
            if pred(m):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout * hmtest.SLOW
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out; have %r" % self.pending[-5:])
            m = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            if pred(m):
                return m
            self.pending.append(m)

    async def request(self, type_, data):
        cid = str(uuid.uuid4())
        await self.ws.send(json.dumps({"type": type_, "data": data, "correlation_id": cid}))
        return await self.take(lambda m: m.get("correlation_id") == cid)


async def login(st, token, path="/ws/combined"):
    ws = await websockets.connect(st.url(path))
    hmtest.OPEN.append(ws)
    c = Client(ws)
    await c.take(lambda m: m.get("type") == "welcome")
    await ws.send(json.dumps({"type": "authenticate", "token": token}))
    await c.take(lambda m: m.get("type") == "authenticated")
    for sub in ("health_updates", "chat", "notifications"):
        await ws.send(json.dumps({"type": "subscribe", "subscription": sub,
                                  "correlation_id": "s-" + sub}))
        await c.take(lambda m: m.get("correlation_id") == "s-" + sub)
    return c


def find(needles, texts):
    """[(needle, where)] for every needle found in any text."""
    hits = []
    for where, text in texts.items():
        for n in needles:
            if n and n in text:
                hits.append((n, where))
    return hits


def all_logs(st):
    texts = {}
    for path in glob.glob(os.path.join(st.dir, "*.log")):
        with open(path, errors="replace") as f:
            texts[os.path.basename(path)] = f.read()
    for p in st.procs:
        if p.stdout and p.poll() is not None:
            texts[os.path.basename(p.args[0]) + ".stdout"] = p.stdout.read().decode(
                errors="replace")
    return texts


def test_no_phi_or_secrets_in_logs():
    marker = "PHIMARK-%s" % uuid.uuid4().hex
    note = "Quokka-saffron-%s felt dizzy after lunch" % uuid.uuid4().hex[:10]
    api_key = "sk-phi-%s" % uuid.uuid4().hex
    values = {"heart_rate": 173.25, "glucose": 287.5, "temperature": 39.87}
    fake = FakeLLM().start()
    try:
        with EdgeStack(edge_args=DEBUG, auth_args=DEBUG) as st:
            common = st.bus_flags() + ["--data-dir", st.dir, "--heartbeat-ms", "250"] + DEBUG
            st.start("hm-health", common)
            st.start("hm-chat", common + ["--assistant", "openai", "--openai-url", fake.url,
                                          "--openai-model", "test-model", "--openai-key",
                                          api_key])
            st.start("hm-notify", common + ["--flush-delay-ms", "100"])
            for svc in ("health", "chat", "notify"):
                wait_for(lambda: st.hm_bus("--timeout", "0.5", "--retries", "0", "req",
                                           "mmi.service", svc)[0] == 0, 20, svc + " registered")
            pat, doc = st.user("Pat"), st.user("Dr Who", "clinician")
            admin = st.user("Ada", "admin")
            st.auth_cli("link", str(doc), str(pat))
            tok, tok2, tok_doc, tok_admin = (st.token(pat), st.token(pat), st.token(doc),
                                             st.token(admin))
            head, payload, sig = tok.split(".")
            tampered = "%s.%s.%s" % (head, payload, sig[:-4] + ("AAAA" if sig[-4:] != "AAAA"
                                                                 else "BBBB"))

            async def client():
                c = await login(st, tok)
                for metric, value in values.items():
                    r = await c.request("health_update", {"metric": metric, "value": value,
                                                          "notes": note})
                    if r["type"] == "error" and r.get("code") == "invalid_field":
                        r = await c.request("health_update", {"metric": metric,
                                                              "value": value})
                    eq(r["type"], "ack", "reading stored (%r)" % r)
                r = await c.request("health_sync", {"limit": 10})
                eq(r["type"], "ack", "health_sync")
                r = await c.request("chat_message", {"message": "%s: %s" % (marker, note)})
                eq(r["type"], "ack", "chat_message (%r)" % r)
                conv = r["data"]["conversation_id"]
                reply = await c.take(lambda m: m.get("type") == "chat_message"
                                     and m["data"].get("sender") == "ai_assistant", 15)
                check(marker in reply["data"]["message"], "the fake model echoed the marker")
                r = await c.request("chat_history", {"conversation_id": conv})
                eq(r["type"], "ack", "chat_history")
                r = await c.request("list_notifications", {})
                eq(r["type"], "ack", "list_notifications")
                for n in r["data"]["notifications"][:2]:
                    await c.request("ack", {"id": n["id"]})
                await c.ws.send(json.dumps({"type": "refresh_token", "token": tok2,
                                            "correlation_id": "rf"}))
                await c.take(lambda m: m.get("correlation_id") == "rf")
                d = await login(st, tok_doc)
                r = await d.request("health_sync", {"user_id": pat})
                eq(r["type"], "ack", "the clinician reads the patient's readings")
                r = await d.request("chat_message", {"message": "%s from the doctor" % marker,
                                                     "conversation_id": conv})
                eq(r["type"], "ack", "the clinician joins")
                # A tampered token, and one sent as a chat message by mistake.
                ws = await websockets.connect(st.url("/ws/health"))
                hmtest.OPEN.append(ws)
                await ws.send(json.dumps({"type": "authenticate", "token": tampered}))
                await recv_until(ws, lambda m: m.get("type") == "error", 5, "auth error")
                await c.request("chat_message", {"message": "my token is " + tok2,
                                                 "conversation_id": conv})
            arun(client())
            for method, path in (("GET", "/ws/status"), ("GET", "/metrics")):
                eq(http(st, method, path, tok_admin)[0], 200, path)
            eq(http(st, "GET", "/ws/status", tampered)[0], 401, "tampered token on HTTP")
            # Stop everything with SIGTERM so that buffered log lines are out.
            for p in reversed(st.procs):
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in st.procs:
                try:
                    p.wait(timeout=10 * hmtest.SLOW)
                except Exception:
                    p.kill()
                    p.wait()

            needles = [marker, note, api_key, tok, tok2, tok_doc, tok_admin, tampered,
                       sig, tok2.split(".")[2], tok_admin.split(".")[2], payload,
                       hmtest.SECRET] + ["%g" % v for v in values.values()]
            # The search can fail: it finds the needles planted in a scratch file.
            scratch = os.path.join(st.dir, "scratch.txt")
            with open(scratch, "w") as f:
                f.write("planted: " + " ".join(needles) + "\n")
            with open(scratch) as f:
                planted = find(needles, {"scratch": f.read()})
            eq(len(planted), len(needles), "every needle found when planted")
            os.remove(scratch)

            texts = all_logs(st)
            joined = "\n".join(texts.values())
            sizes = {k: len(v) for k, v in texts.items() if not k.endswith(".stdout")}
            print("logs searched: %s" % ", ".join("%s %d B" % kv for kv in sorted(sizes.items())))
            for name in ("hm-edge", "hm-auth", "hm-health", "hm-chat", "hm-notify"):
                check(any(k.startswith(name) and v for k, v in sizes.items()),
                      "%s wrote a log" % name)
            for word in ("health.reading", "chat.send", "auth.verify", "notify.list"):
                check(word in joined, "the debug logs mention %s" % word)
            hits = find(needles, texts)
            for n, where in hits:
                i = texts[where].find(n)
                print("LEAK in %s: %r ... %r" % (where, n[:24], texts[where][max(0, i - 120):
                                                                           i + 40]))
            check(not hits, "%d secrets or PHI values found in the logs" % len(hits))
            print("searched %d needles in %d logs (%d bytes): none found"
                  % (len(needles), len(texts), len(joined)))
    finally:
        fake.stop()


if __name__ == "__main__":
    hmtest.main([test_no_phi_or_secrets_in_logs])
