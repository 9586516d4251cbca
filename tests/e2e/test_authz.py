#!/usr/bin/python3
"""End-to-end: the authorization matrix. Every role (patient, caregiver,
clinician, admin, service) tries every action: each subscription kind on each
WebSocket endpoint for its own stream, a linked patient's stream and an
unlinked patient's stream; each client request type (health, chat,
notifications, reminders) on its own and on those patients' data; each
management endpoint of the edge's HTTP; a care-team link through the CLI.

The matrix is data (role x action -> expected) built from DESIGN.md section 6
and proto/SPEC.md sections 5-12; it runs against the real broker, hm-auth,
hm-edge, hm-health, hm-chat, hm-notify and hm-scheduler. What is allowed must
succeed; what is refused must be refused with `forbidden` (HTTP 403) and leave
an audit entry (hm-auth's audit table, read-only through sqlite3). A refusal a
service decides on its own (without asking hm-auth) reaches the audit table
asynchronously, as a sys.audit event (proto/SPEC.md section 2.1): the test
waits for its row (hang guard scaled by HM_TEST_SLOW) and checks its fields
(actor, action, result, code, service, target). AUDIT_GAPS lists refusals
known to leave no entry: none now. A subscription on an endpoint that does
not carry it is refused with `invalid_subscription` (SPEC section 5),
whatever the role.
"""
import asyncio
import json
import os
import re
import sqlite3
import time
import uuid

import websockets

import hmtest
from hmtest import EdgeStack, arun, check, eq, wait_for
from test_mgmt import http

ROLES = ["patient", "caregiver", "clinician", "admin", "service"]
CARE = ("caregiver", "clinician")
TARGETS = ["own", "linked", "unlinked"]
ENDPOINTS = ["/ws/health", "/ws/chat", "/ws/notifications", "/ws/combined"]
KIND_ENDPOINT = {"health_updates": "/ws/health", "chat": "/ws/chat",
                 "notifications": "/ws/notifications"}

ALLOW, FORBIDDEN, INVALID_SUB = "allow", "forbidden", "invalid_subscription"


def read_rule(role, target):
    """Reading a stream or another user's data: own, or a linked care-team
    member's patient."""
    return ALLOW if target == "own" or (target == "linked" and role in CARE) else FORBIDDEN


def own_only(role, target):
    return ALLOW if target == "own" else FORBIDDEN


def threshold_write(role, target):
    """Self, or a clinician linked to the patient (caregivers only read)."""
    return ALLOW if target == "own" or (target == "linked" and role == "clinician") else FORBIDDEN


# Client requests: name -> (rule, refused-by). refused-by "auth" means the
# owning service asks hm-auth (auth.authorize), which audits the refusal;
# "local" means the service refuses on its own data (no hm-auth call) and
# publishes the refusal on sys.audit, which hm-auth appends to the audit.
REQUESTS = {
    "health_update": (own_only, "local"),          # data.user_id of another: forbidden
    "health_sync": (read_rule, "auth"),
    "threshold_get": (read_rule, "auth"),
    "threshold_set": (threshold_write, "auth"),
    "chat_send_to_conversation": (read_rule, "auth"),   # joins the patient's conversation
    "chat_send_patient_id": (read_rule, "auth"),        # starts one for the patient
    "chat_history": (read_rule, "local"),          # after the join above: a participant
    "chat_typing": (read_rule, "local"),
    "chat_list": (own_only, "local"),              # conversations of the requester only
    "list_notifications": (own_only, "local"),     # the requester's only
    "ack": (own_only, "local"),
    "mark_read": (own_only, "local"),
    "get_preferences": (own_only, "local"),
    "reminder_list": (own_only, "local"),          # data.user_id of another: forbidden
}
# Requests that carry no target: only the "own" column applies.
NO_TARGET = {"chat_list", "list_notifications", "get_preferences"}

MGMT = [("GET", "/metrics"), ("GET", "/ws/status"), ("GET", "/ws/connection/%s/health"),
        ("POST", "/ws/user/%d/reconnect"), ("DELETE", "/ws/connection/%s")]

# Refusals that are known to leave no audit entry. Checked both ways: a
# refusal here that starts writing an audit entry fails the test too, so
# that this list is kept true. Empty: every refusal is audited (the local
# ones through sys.audit).
AUDIT_GAPS = set()

# The audit row of a local refusal (sys.audit): request -> (service, verb,
# kind of resource id in detail's target=: "conv", "ntf" or None).
LOCAL_AUDIT = {
    "health_update": ("health", "health.reading", None),
    "chat_history": ("chat", "chat.history", "conv"),
    "chat_typing": ("chat", "chat.typing", "conv"),
    "ack": ("notify", "notify.ack", "ntf"),
    "mark_read": ("notify", "notify.mark_read", "ntf"),
    "reminder_list": ("scheduler", "scheduler.list", None),
}
AUDIT_WAIT_S = 10  # hang guard for an audit row (times HM_TEST_SLOW); rows come in ms


def build_matrix():
    """[(role, kind, action, target, expected, audited)] for every cell."""
    m = []
    for role in ROLES:
        for ep in ENDPOINTS:
            for kind, home in KIND_ENDPOINT.items():
                for tgt in TARGETS:
                    if ep != "/ws/combined" and ep != home:
                        m.append((role, "subscribe", (ep, kind), tgt, INVALID_SUB, False))
                    else:
                        exp = read_rule(role, tgt)
                        m.append((role, "subscribe", (ep, kind), tgt, exp, exp == FORBIDDEN))
        for name, (rule, by) in REQUESTS.items():
            for tgt in (["own"] if name in NO_TARGET else TARGETS):
                exp = rule(role, tgt)
                m.append((role, "request", name, tgt, exp,
                          exp == FORBIDDEN and name not in AUDIT_GAPS))
        for method, path in MGMT:
            exp = ALLOW if role == "admin" else FORBIDDEN
            m.append((role, "http", (method, path), "-", exp, exp == FORBIDDEN))
        exp = ALLOW if role in CARE else FORBIDDEN
        m.append((role, "cli_link", "link", "patient", exp, False))
    return m


class Audit:
    """hm-auth's audit table, opened read-only."""

    def __init__(self, path):
        self.path = path

    def rows(self, after, user_id):
        db = sqlite3.connect("file:%s?mode=ro" % self.path, uri=True, timeout=5)
        try:
            return db.execute("SELECT id, action, result, code, detail, conn_id FROM audit "
                              "WHERE id > ? AND user_id = ? AND result = 'denied' ORDER BY id",
                              (after, user_id)).fetchall()
        finally:
            db.close()

    def last_id(self):
        db = sqlite3.connect("file:%s?mode=ro" % self.path, uri=True, timeout=5)
        try:
            return db.execute("SELECT coalesce(max(id), 0) FROM audit").fetchone()[0]
        finally:
            db.close()


class Conn:
    """One authenticated WebSocket connection; matches replies by
    correlation_id and keeps the rest."""

    def __init__(self, ws):
        self.ws, self.pending = ws, []

    @classmethod
    async def open(cls, st, path, token):
        ws = await websockets.connect(st.url(path), max_size=None)
        hmtest.OPEN.append(ws)
        c = cls(ws)
        c.conn_id = (await c.take(lambda m: m.get("type") == "welcome"))["connection_id"]
        await c.ws.send(json.dumps({"type": "authenticate", "token": token}))
        await c.take(lambda m: m.get("type") == "authenticated")
        if path != "/ws/combined":  # the endpoint's own stream is followed at once
            await c.take(lambda m: m.get("type") == "subscribed")
        return c

    async def take(self, pred, timeout=5):
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
            del self.pending[:-200]

    async def send(self, obj, timeout=8):
        cid = obj.setdefault("correlation_id", str(uuid.uuid4()))
        await self.ws.send(json.dumps(obj))
        return await self.take(lambda m: m.get("correlation_id") == cid
                               and m.get("type") != "welcome", timeout)


def start_services(st):
    common = st.bus_flags() + ["--data-dir", st.dir, "--heartbeat-ms", "250"]
    # hm-chat remembers refusals for authz_ttl_ms/10 (6 s): a refusal it
    # answers from that cache is audited through sys.audit (the matrix's two
    # chat sends to one patient hit it). hm-health caches only allows.
    st.start("hm-health", common)
    st.start("hm-chat", common)
    st.start("hm-notify", common + ["--flush-delay-ms", "100"])
    st.start("hm-scheduler", common)
    for svc in ("health", "chat", "notify", "scheduler"):
        wait_for(lambda: st.hm_bus("--timeout", "0.5", "--retries", "0", "req", "mmi.service",
                                   svc)[0] == 0, 20, "%s registered" % svc)


def notify_create(st, uid, title):
    rc, out, err = st.hm_bus("--timeout", "3", "req", "notify", json.dumps(
        {"type": "notify.create", "data": {"user_id": uid, "type": "system",
                                           "priority": "normal", "title": title}}))
    eq(rc, 0, "notify.create (%s %s)" % (out, err))
    return json.loads(out)["data"]["id"]


def test_authorization_matrix():
    matrix = build_matrix()
    n_allow = sum(1 for c in matrix if c[4] == ALLOW)
    print("authorization matrix: %d cells (%d roles x %d actions/targets): %d allowed, "
          "%d refused" % (len(matrix), len(ROLES), len(matrix) // len(ROLES), n_allow,
                          len(matrix) - n_allow), flush=True)
    with EdgeStack() as st:
        start_services(st)
        audit = Audit(os.path.join(st.dir, "auth.db"))
        actor = {r: st.user("Actor %s" % r, r) for r in ROLES}
        linked, unlinked = st.user("Linked Pat"), st.user("Unlinked Pat")
        for r in CARE:
            st.auth_cli("link", str(actor[r]), str(linked))
        tok = {r: st.token(actor[r]) for r in ROLES}
        admin_tok = tok["admin"]
        ntf = {uid: notify_create(st, uid, "Matrix %d" % uid)
               for uid in list(actor.values()) + [linked, unlinked]}
        results, gaps, failures, audited_rows = [], [], [], []

        async def run():
            # The target patients' own conversations (to join, read, type in).
            conv = {}
            for uid in (linked, unlinked):
                c = await Conn.open(st, "/ws/combined", st.token(uid))
                conv[uid] = "conv-%d" % uid
                r = await c.send({"type": "chat_message", "data": {
                    "message": "hello from the patient", "conversation_id": conv[uid]}})
                eq(r["type"], "ack", "the patient starts a conversation (%r)" % r)
                await c.ws.close()
            conv["unlinked"] = conv[unlinked]
            for role in ROLES:
                me = actor[role]
                tgt_uid = {"own": me, "linked": linked, "unlinked": unlinked}
                conns = {ep: await Conn.open(st, ep, tok[role]) for ep in ENDPOINTS}
                combined = conns["/ws/combined"]
                own_conv = "conv-own-%d" % me
                r = await combined.send({"type": "chat_message", "data": {
                    "message": "my own conversation", "conversation_id": own_conv}})
                eq(r["type"], "ack", "%s starts its own conversation (%r)" % (role, r))
                conv[me] = own_conv
                for cell in [c for c in matrix if c[0] == role]:
                    _, kind, action, tgt, expected, audited = cell
                    mark = audit.last_id()
                    tu = tgt_uid.get(tgt)
                    if kind == "subscribe":
                        ep, sub = action
                        r = await conns[ep].send({"type": "subscribe", "subscription": sub,
                                                  "user_id": tu})
                        got = ALLOW if r["type"] == "subscribed" else r.get("code", r["type"])
                    elif kind == "request":
                        got = await request(combined, action, tu, conv, ntf, role)
                    elif kind == "http":
                        method, path = action
                        if "%s" in path:
                            path = path % conns["/ws/health"].conn_id
                        elif "%d" in path:
                            path = path % 999999  # nobody: closes nothing
                        status, body = await asyncio.get_running_loop().run_in_executor(
                            None, http, st, method, path, tok[role])
                        got = (ALLOW if status in (200, 404) else
                               FORBIDDEN if status == 403 else "http %d" % status)
                    else:  # cli_link
                        rc, _, _ = st.run("hm-auth", st.bus_flags() + st.auth_flags() +
                                          ["link", str(me), str(unlinked if role in CARE
                                                                else linked)])
                        got = ALLOW if rc == 0 else FORBIDDEN
                    # The audit entry of the refusal: written by hm-auth when
                    # it decided, else from the refusing service's sys.audit
                    # event (asynchronous: wait for the row that fits).
                    entry = []
                    if got == FORBIDDEN and kind != "cli_link":
                        if audited:
                            want = audit_match(kind, action, tu, me, conv, ntf,
                                               combined.conn_id)
                            try:
                                wait_for(lambda: any(want(e) for e in audit.rows(mark, me)),
                                         AUDIT_WAIT_S, "audit entry for %r" % (cell,))
                            except AssertionError:
                                pass  # reported below, with what was there
                            entry = audit.rows(mark, me)
                            if not any(want(e) for e in entry):
                                failures.append("%s %s %r target=%s: no audit row with the "
                                                "expected fields: %r"
                                                % (role, kind, action, tgt, entry))
                            else:
                                audited_rows.append((cell, [e for e in entry if want(e)][0]))
                        else:
                            time.sleep(0.05)
                            entry = audit.rows(mark, me)
                    results.append((cell, got, entry))
                    if os.environ.get("HM_AUTHZ_TRACE"):
                        print("   ", cell, got, "%.2f" % (time.monotonic() - t0), flush=True)
                    if got != expected:
                        failures.append("%s %s %r target=%s: expected %s, got %s"
                                        % (role, kind, action, tgt, expected, got))
                    elif got == FORBIDDEN and kind != "cli_link":
                        if audited and not any(e[3] == "forbidden" for e in entry):
                            failures.append("%s %s %r target=%s: refused without audit %r"
                                            % (role, kind, action, tgt, entry))
                        if audited and tu and tu != me and not any(
                                ("target_user_id=%d" % tu) in (e[4] or "") for e in entry):
                            failures.append("%s %s %r target=%s: audit names no target: %r"
                                            % (role, kind, action, tgt, entry))
                        if not audited:
                            if entry:
                                failures.append("%s %r target=%s: listed in AUDIT_GAPS but "
                                                "audited now: update AUDIT_GAPS"
                                                % (role, action, tgt))
                            gaps.append("%s %s target=%s" % (role, action, tgt))
                for c in conns.values():
                    await c.ws.close()
                print("  %s: %d cells done at %.1fs" % (role, len(results),
                                                        time.monotonic() - t0), flush=True)
        t0 = time.monotonic()
        arun(run())
        print("cells run: %d; refusals without an audit entry (AUDIT_GAPS): %d"
              % (len(results), len(gaps)))
        local = [(c, e) for c, e in audited_rows if c[1] == "request" and c[2] in LOCAL_AUDIT]
        print("refusals audited: %d (%d of them decided by the service, through sys.audit)"
              % (len(audited_rows), len(local)))
        for c, e in local[:3]:
            print("  e.g. %s %s target=%s -> action=%s result=%s code=%s detail=%s"
                  % (c[0], c[2], c[3], e[1], e[2], e[3], e[4]))
        for g in sorted(set(gaps)):
            print("  no audit:", g)
        if failures:
            print(st.logs()[-3000:])
        check(len(results) == len(matrix), "every cell ran")
        check(not failures, "%d cells differ:\n  %s" % (len(failures), "\n  ".join(failures)))
        # the 56 refusals services decide on their own: all audited now
        check(len(local) == sum(1 for c in matrix if c[1] == "request" and c[2] in LOCAL_AUDIT
                                and c[4] == FORBIDDEN),
              "every local refusal has its sys.audit row (%d)" % len(local))
        check(len(local) == 56, "the matrix has 56 local refusals (%d)" % len(local))


def audit_match(kind, action, tu, me, conv, ntf, conn_id):
    """A predicate on audit rows (id, action, result, code, detail, conn_id)
    for the refusal of one cell by actor me (the query already selects
    user_id = me and result = 'denied')."""
    def base(e):
        return e[2] == "denied" and e[3] == "forbidden" and (
            not tu or tu == me or ("target_user_id=%d" % tu) in (e[4] or "").split())
    if kind != "request" or action not in LOCAL_AUDIT:
        return base
    service, verb, res = LOCAL_AUDIT[action]
    target = {"conv": conv.get(tu), "ntf": ntf.get(tu), None: None}[res]
    # Exactly these parts: ids only, no value, text or token.
    pattern = re.compile(r"via=sys\.audit service=%s target_user_id=%d%s edge=[A-Za-z0-9._:-]+$"
                         % (service, tu, (" target=" + re.escape(target)) if target else ""))

    def local(e):
        return (base(e) and e[1] == verb and e[5] == conn_id
                and pattern.fullmatch(e[4] or "") is not None)
    return local


async def request(c, name, tu, conv, ntf, role):
    """Runs one client request on tu's data; returns "allow" or the error code."""
    if name == "health_update":
        msg = {"type": "health_update", "data": {"metric": "heart_rate", "value": 71,
                                                 "user_id": tu}}
    elif name == "health_sync":
        msg = {"type": "health_sync", "data": {"user_id": tu}}
    elif name == "threshold_get":
        msg = {"type": "set_threshold", "data": {"user_id": tu, "action": "get"}}
    elif name == "threshold_set":
        msg = {"type": "set_threshold", "data": {"user_id": tu, "action": "set",
                                                 "metric": "heart_rate", "high": 131}}
    elif name == "chat_send_to_conversation":
        msg = {"type": "chat_message", "data": {"message": "joining as %s" % role,
                                                "conversation_id": conv[tu]}}
    elif name == "chat_send_patient_id":
        msg = {"type": "chat_message", "data": {"message": "for the patient",
                                                "patient_id": tu}}
    elif name == "chat_history":
        msg = {"type": "chat_history", "data": {"conversation_id": conv[tu]}}
    elif name == "chat_typing":
        msg = {"type": "typing", "data": {"conversation_id": conv[tu], "typing": False}}
    elif name == "chat_list":
        msg = {"type": "chat_history", "data": {}}
    elif name == "list_notifications":
        msg = {"type": "list_notifications", "data": {"limit": 100}}
    elif name == "ack":
        msg = {"type": "ack", "data": {"id": ntf[tu]}}
    elif name == "mark_read":
        msg = {"type": "mark_read", "data": {"id": ntf[tu]}}
    elif name == "get_preferences":
        msg = {"type": "get_preferences", "data": {}}
    elif name == "reminder_list":
        msg = {"type": "reminder_list", "data": {"user_id": tu}}
    else:
        raise AssertionError("unknown request " + name)
    r = await c.send(msg)
    if r["type"] == "error":
        return r.get("code")
    data = r.get("data") or {}
    # What came back must be the requester's own data or the target's.
    if name in ("health_sync", "threshold_get", "threshold_set", "reminder_list") and \
            "user_id" in data:
        eq(data["user_id"], tu, "%s answered for the asked user" % name)
    if name == "list_notifications":
        ids = {n["id"] for n in data.get("notifications", [])}
        foreign = [i for u, i in ntf.items() if i in ids and u != tu]
        check(not foreign, "list_notifications shows another user's notification %r" % foreign)
    if name == "chat_list":
        listed = {cv["conversation_id"] for cv in data.get("conversations", [])}
        check(conv["unlinked"] not in listed,
              "chat_list shows a conversation the user is not in: %r" % listed)
    return ALLOW


if __name__ == "__main__":
    hmtest.main([test_authorization_matrix])
