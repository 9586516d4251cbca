#!/usr/bin/python3
"""End-to-end: hm-auth behind a real hm-broker, spoken to with hm-bus.

Tokens are forged here (base64url + hmac/hashlib, or `openssl dgst -sign`
for RS256) so that every rejection can be provoked; each must come back with
its own error code and leave an audit row in the sqlite file."""
import base64
import hashlib
import hmac
import json
import os
import selectors
import sqlite3
import subprocess
import time
import uuid

from hmtest import Stack, check, eq, main, read_json_line, wait_for

SECRET = "e2e-secret-0123456789abcdef-0123456789"
ISS = "healthmate"
AUD = "healthmate-realtime"

# ---- helpers -------------------------------------------------------------


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def segment(obj):
    text = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
    return b64url(text.encode())


def claims(**over):
    """Good claims for user 1, overridden (None deletes a claim)."""
    now = int(time.time())
    c = {"sub": "1", "iat": now, "exp": now + 600, "iss": ISS, "aud": AUD,
         "jti": str(uuid.uuid4())}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def forge(header, body, key=SECRET.encode(), digest=hashlib.sha256):
    """header.body.HMAC(key); digest None gives an empty signature."""
    signing = "%s.%s" % (segment(header), segment(body))
    sig = hmac.new(key, signing.encode(), digest).digest() if digest else b""
    return "%s.%s" % (signing, b64url(sig))


def hs256(body, **kw):
    return forge({"alg": "HS256", "typ": "JWT"}, body, **kw)


def make_rsa(dirname, name="rsa"):
    priv = os.path.join(dirname, name + ".pem")
    pub = os.path.join(dirname, name + ".pub.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", priv], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", priv, "-pubout", "-out", pub], check=True,
                   capture_output=True)
    return priv, pub


def rs256(body, priv, alg="RS256"):
    signing = "%s.%s" % (segment({"alg": alg, "typ": "JWT"}), segment(body))
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", priv], input=signing.encode(),
                         check=True, capture_output=True).stdout
    return "%s.%s" % (signing, b64url(sig))


def auth_db(st):
    return os.path.join(st.dir, "auth.db")


def auth_flags(st, *extra):
    return st.bus_flags() + ["--db", auth_db(st), "--log-level", "warn"] + list(extra)


def cli(st, *args, secret=True):
    """Runs an hm-auth subcommand on the test's database."""
    extra = ["--jwt-secret", SECRET] if secret else []
    return st.run("hm-auth", auth_flags(st, *extra) + list(args))


def start_auth(st, *extra):
    """Starts hm-auth and waits until the broker knows the service."""
    p = st.start("hm-auth", auth_flags(st, "--heartbeat-ms", "250") + list(extra))
    wait_for(lambda: st.hm_bus("--timeout", "0.5", "req", "mmi.service", "auth")[0] == 0
             or p.poll() is not None, 15, "hm-auth registered")
    check(p.poll() is None, "hm-auth runs:\n" + st.logs())
    return p


def add_users(st):
    """1 patient, 2 patient, 3 disabled patient, 10 clinician linked to 1,
    11 clinician unlinked, 20 admin."""
    for uid, name, role in [(1, "Pat", "patient"), (2, "Pam", "patient"),
                            (3, "Gone", "patient"), (10, "Dr Who", "clinician"),
                            (11, "Dr No", "clinician"), (20, "Root", "admin")]:
        rc, out, err = cli(st, "user", "add", "--name", name, "--role", role, "--id", str(uid),
                           secret=False)
        eq(rc, 0, "user add %s (%s)" % (name, err))
        eq(out.strip(), str(uid), "user add prints the id")
    eq(cli(st, "user", "disable", "3", secret=False)[0], 0, "user disable")
    eq(cli(st, "link", "10", "1", secret=False)[0], 0, "link")


def req(st, verb, data=None, **env):
    """One auth request through the broker; returns (rc, reply)."""
    msg = {"type": verb, "correlation_id": "c-%s" % verb}
    if data is not None:
        msg["data"] = data
    msg.update(env)
    rc, out, err = st.hm_bus("--timeout", "3", "req", "auth", json.dumps(msg))
    check(rc in (0, 1), "hm-bus req exit %d: %s" % (rc, err))
    rep = json.loads(out)
    eq(rep["correlation_id"], msg["correlation_id"], "correlation_id echoed")
    eq(rc, 1 if rep["type"] == "error" else 0, "hm-bus exit code matches the reply type")
    return rc, rep


def verify(st, token, conn_id=None, edge=None):
    env = {}
    if conn_id:
        env = {"conn_id": conn_id, "edge": edge}
    return req(st, "auth.verify", {"token": token, "remote_addr": "198.51.100.9",
                                   "endpoint": "/ws/combined"}, **env)


def code(rep):
    return rep["data"]["code"] if rep["type"] == "error" else "ok"


def last_audit(st, action="verify"):
    with sqlite3.connect(auth_db(st)) as db:
        return db.execute("SELECT code, user_id, result, remote_addr, conn_id FROM audit "
                          "WHERE action = ? ORDER BY id DESC LIMIT 1", (action,)).fetchone()


def sql(st, query, *args):
    with sqlite3.connect(auth_db(st)) as db:
        return db.execute(query, args).fetchall()


def publish_until(st, topic, event, pred, timeout=10, what="the event took effect"):
    """PUB joins late: publish every 300 ms until pred() holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rc, _, err = st.hm_bus("--linger-ms", "200", "pub", topic, json.dumps(event))
        eq(rc, 0, "hm-bus pub (%s)" % err)
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting until " + what)


# ---- tests ---------------------------------------------------------------


def test_cli_commands():
    with Stack() as st:
        rc, out, _ = st.run("hm-auth", ["--help"])
        eq(rc, 0, "--help exit code")
        check("user add" in out and "--jwt-secret-file" in out, "help lists commands and options")
        add_users(st)
        rc, out, _ = cli(st, "user", "list", secret=False)
        eq(rc, 0, "user list")
        users = [json.loads(line) for line in out.splitlines()]
        eq([u["id"] for u in users], [1, 2, 3, 10, 11, 20], "user list ids")
        eq(users[0], {"id": 1, "display_name": "Pat", "role": "patient", "active": True},
           "user list row")
        eq(users[2]["active"], False, "disabled user")
        rc, out, _ = cli(st, "user", "add", "--name", "Auto", "--role", "caregiver",
                         secret=False)
        eq((rc, out.strip()), (0, "21"), "user add without --id takes the next id")
        eq(cli(st, "user", "add", "--name", "X", "--role", "wizard", secret=False)[0], 2,
           "bad role")
        eq(cli(st, "user", "add", "--name", "X", "--role", "patient", "--id", "1",
               secret=False)[0], 1, "taken id")
        eq(cli(st, "link", "2", "1", secret=False)[0], 1, "a patient cannot be a care member")
        eq(cli(st, "link", "10", "99", secret=False)[0], 1, "unknown patient")
        eq(cli(st, "user", "disable", "99", secret=False)[0], 1, "disable unknown user")
        eq(cli(st, "frobnicate", secret=False)[0], 2, "unknown command")
        rc, _, err = cli(st, "token", "--user", "1", secret=False)
        eq(rc, 2, "token without a secret")
        check("secret" in err, "says the secret is missing: %r" % err)
        rc, out, _ = cli(st, "token", "--user", "1", "--ttl", "120")
        eq(rc, 0, "token")
        token = out.strip()
        eq(token.count("."), 2, "a JWT")
        body = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        eq(body["exp"] - body["iat"], 120, "--ttl")
        eq((body["sub"], body["iss"], body["aud"]), ("1", ISS, AUD), "claims")
        eq(cli(st, "token", "--user", "3")[0], 1, "no token for a disabled user")

        # The service refuses to start without a secret (exit 2, clear message).
        rc, _, err = st.run("hm-auth", auth_flags(st), timeout=10)
        eq(rc, 2, "no secret: exit 2")
        check("secret" in err, "message names the secret: %r" % err)

        st.broker()
        auth = start_auth(st, "--jwt-secret", SECRET)
        rc, rep = verify(st, token)
        eq(code(rep), "ok", "a token from `hm-auth token` verifies")
        eq(rep["data"]["user_id"], 1, "user_id")
        eq(rep["data"]["role"], "patient", "role")
        eq(rep["data"]["display_name"], "Pat", "display_name")
        eq(rep["data"]["jti"], body["jti"], "jti")
        eq(st.stop(auth), 0, "hm-auth exits 0 on SIGTERM")


def test_every_jwt_rejection_has_its_code_and_audit_row():
    with Stack() as st:
        add_users(st)
        priv, _ = make_rsa(st.dir)
        st.broker()
        auth = start_auth(st, "--jwt-secret", SECRET)
        now = int(time.time())
        rc, rep = verify(st, hs256(claims()))
        eq((rc, code(rep)), (0, "ok"), "a good token")
        huge = hs256(claims(pad="x" * 9000))
        cases = [
            ("alg none", forge({"alg": "none"}, claims(), digest=None), "token_bad_algorithm"),
            ("alg None, signed", forge({"alg": "None"}, claims()), "token_bad_algorithm"),
            ("HS384", forge({"alg": "HS384"}, claims(), digest=hashlib.sha384),
             "token_bad_algorithm"),
            ("RS256 against HS256", rs256(claims(), priv), "token_bad_algorithm"),
            ("RS256 header, HMAC", forge({"alg": "RS256"}, claims()), "token_bad_algorithm"),
            ("bad signature", hs256(claims(), key=b"not-the-secret"), "token_bad_signature"),
            ("empty signature", hs256(claims(), digest=None), "token_bad_signature"),
            ("expired", hs256(claims(exp=now - 3600)), "token_expired"),
            ("nbf ahead", hs256(claims(nbf=now + 3600)), "token_not_yet_valid"),
            ("iat ahead", hs256(claims(iat=now + 3600)), "token_not_yet_valid"),
            ("wrong iss", hs256(claims(iss="evil")), "token_bad_issuer"),
            ("no iss", hs256(claims(iss=None)), "token_bad_issuer"),
            ("wrong aud", hs256(claims(aud="other")), "token_bad_audience"),
            ("aud array without ours", hs256(claims(aud=["a", "b"])), "token_bad_audience"),
            ("no jti", hs256(claims(jti=None)), "token_malformed"),
            ("no sub", hs256(claims(sub=None)), "token_malformed"),
            ("sub not an id", hs256(claims(sub="alice")), "token_malformed"),
            ("no exp", hs256(claims(exp=None)), "token_malformed"),
            ("garbage", "garbage", "token_malformed"),
            ("two dots only", "..", "token_malformed"),
            ("four segments", hs256(claims()) + ".x", "token_malformed"),
            ("oversize", huge, "token_malformed"),
            ("unknown user", hs256(claims(sub="99")), "user_unknown"),
            ("disabled user", hs256(claims(sub="3")), "user_inactive"),
        ]
        for what, token, want in cases:
            rc, rep = verify(st, token)
            eq(rc, 1, "%s: error reply" % what)
            eq(code(rep), want, what)
            audit = last_audit(st)
            eq(audit[0], want, "%s: audit code" % what)
            eq(audit[2], "denied", "%s: audit result" % what)
            eq(audit[3], "198.51.100.9", "%s: audit remote_addr" % what)
        # After the signature verified, the audit names the user.
        verify(st, hs256(claims(exp=now - 3600)))
        eq(last_audit(st)[1], 1, "expired token audited with its user")
        verify(st, "garbage")
        eq(last_audit(st)[1], None, "garbage audited without a user")
        # aud as an array containing ours is fine; sub as an integer too.
        eq(code(verify(st, hs256(claims(aud=["x", AUD], sub=2)))[1]), "ok", "aud array, int sub")
        # Revoked jti.
        c = claims()
        eq(req(st, "auth.revoke", {"jti": c["jti"]})[0], 0, "revoke")
        eq(code(verify(st, hs256(c))[1]), "token_revoked", "revoked token")
        eq(last_audit(st)[0], "token_revoked", "audit of the revoked token")
        # No token anywhere in the database.
        token = hs256(claims())
        verify(st, token)
        dump = "\n".join(str(r) for r in sql(st, "SELECT * FROM audit"))
        check(token.split(".")[2] not in dump, "no token in the audit table")
        # Malformed requests and unknown verbs.
        eq(code(req(st, "auth.verify", {"tok": "x"})[1]), "bad_request", "no token field")
        eq(code(req(st, "auth.verify", {"token": hs256(claims())}, conn_id="c1")[1]),
           "bad_request", "conn_id without edge")
        eq(code(req(st, "auth.teleport", {})[1]), "unknown_verb", "unknown verb")
        eq(st.stop(auth), 0, "hm-auth exits 0 on SIGTERM")


def test_rs256_configuration():
    with Stack() as st:
        add_users(st)
        priv, pub = make_rsa(st.dir)
        st.broker()
        auth = start_auth(st, "--jwt-alg", "RS256", "--jwt-public-key-file", pub)
        eq(code(verify(st, rs256(claims(), priv))[1]), "ok", "RS256 token signed by openssl")
        with open(pub, "rb") as f:
            pem = f.read()
        eq(code(verify(st, hs256(claims(), key=pem))[1]), "token_bad_algorithm",
           "HS256 keyed with the public key (alg confusion)")
        eq(code(verify(st, hs256(claims()))[1]), "token_bad_algorithm", "HS256 token")
        other, _ = make_rsa(st.dir, "other")
        eq(code(verify(st, rs256(claims(), other))[1]), "token_bad_signature",
           "RS256 signed by another key")
        # `hm-auth token` signs with the private key.
        rc, out, err = st.run("hm-auth", auth_flags(st, "--jwt-alg", "RS256",
                                                    "--jwt-private-key-file", priv)
                              + ["token", "--user", "10"])
        eq(rc, 0, "RS256 token (%s)" % err)
        rc, rep = verify(st, out.strip())
        eq((code(rep), rep["data"]["user_id"]), ("ok", 10), "RS256 token from the CLI")
        rc, _, err = st.run("hm-auth", auth_flags(st, "--jwt-alg", "RS256",
                                                  "--jwt-public-key-file", pub)
                            + ["token", "--user", "10"])
        eq(rc, 2, "signing needs the private key")
        eq(st.stop(auth), 0, "hm-auth exits 0 on SIGTERM")


def test_per_user_limit_across_edges_and_restart():
    with Stack() as st:
        add_users(st)
        st.broker()
        auth = start_auth(st, "--jwt-secret", SECRET, "--edge-timeout-ms", "60000")
        token = hs256(claims())
        for conn, edge in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("b2", "b")]:
            rc, rep = verify(st, token, conn, edge)
            eq(code(rep), "ok", "session %s on edge %s" % (conn, edge))
        eq(code(verify(st, token, "b3", "b")[1]), "too_many_connections", "sixth session")
        eq(last_audit(st)[0], "too_many_connections", "limit audited")
        eq(code(verify(st, token, "a1", "a")[1]), "ok", "a live connection refreshes its token")
        other = hs256(claims(sub="2"))
        eq(code(verify(st, other, "a1", "a")[1]), "forbidden", "another user on that connection")
        eq(code(verify(st, other, "a9", "a")[1]), "ok", "another user has own slots")
        eq(code(req(st, "auth.session_close", {}, conn_id="a1", edge="a")[1]), "ok",
           "session_close")
        eq(code(verify(st, token, "b3", "b")[1]), "ok", "the freed slot is usable")
        eq(code(verify(st, token, "b4", "b")[1]), "too_many_connections", "full again")
        rc, rep = req(st, "auth.sessions", {"user_id": 1})
        eq((rep["data"]["total"], rep["data"]["users_online"]), (5, 1), "sessions of user 1")
        eq(sorted(s["conn_id"] for s in rep["data"]["sessions"]), ["a2", "a3", "b1", "b2", "b3"],
           "listed sessions")

        # A restart keeps the count.
        eq(st.stop(auth), 0, "hm-auth exits 0 on SIGTERM")
        auth = start_auth(st, "--jwt-secret", SECRET, "--edge-timeout-ms", "60000")
        eq(code(verify(st, token, "b4", "b")[1]), "too_many_connections", "after a restart")

        # An edge's conn_close event on sys.conn frees a slot.
        publish_until(st, "sys.conn", {"type": "conn_close", "conn_id": "b3", "edge": "b"},
                      lambda: sql(st, "SELECT count(*) FROM sessions WHERE conn_id = 'b3'")
                      == [(0,)], what="b3 released")
        eq(code(verify(st, token, "b4", "b")[1]), "ok", "slot freed by conn_close")
        eq(sql(st, "SELECT count(*) FROM audit WHERE action = 'session_close' AND "
               "conn_id = 'b3' AND detail = 'reason=conn_close'"), [(1,)], "close audited")
        eq(st.stop(auth), 0, "hm-auth exits 0 on SIGTERM")


def test_silent_edge_loses_its_sessions():
    with Stack() as st:
        add_users(st)
        st.broker()
        auth = start_auth(st, "--jwt-secret", SECRET, "--edge-timeout-ms", "1500")
        token = hs256(claims())
        eq(code(verify(st, token, "x1", "x")[1]), "ok", "session on edge x")
        eq(code(verify(st, token, "y1", "y")[1]), "ok", "session on edge y")
        pub = st.start("hm-bus", st.bus_flags() + ["pub", "sys.edge", "-"],
                       stdin=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pub.stdin.write((json.dumps({"type": "edge_heartbeat", "edge": "y",
                                         "data": {"edge_id": "y"}}) + "\n").encode())
            pub.stdin.flush()
            left = sql(st, "SELECT edge FROM sessions ORDER BY edge")
            if left == [("y",)]:
                break
            time.sleep(0.25)
        eq(sql(st, "SELECT edge FROM sessions ORDER BY edge"), [("y",)],
           "x released, y kept alive by heartbeats")
        eq(sql(st, "SELECT count(*) FROM audit WHERE action = 'session_release' AND "
               "conn_id = 'x1'"), [(1,)], "release audited")
        pub.stdin.close()
        pub.wait(timeout=5)
        eq(st.stop(auth), 0, "hm-auth exits 0 on SIGTERM")


def test_authorize():
    with Stack() as st:
        add_users(st)
        st.broker()
        auth = start_auth(st, "--jwt-secret", SECRET)

        def ask(actor, action, target=None):
            data = {"action": action}
            if target:
                data["target_user_id"] = target
            return code(req(st, "auth.authorize", data, user_id=actor)[1])

        eq(ask(10, "subscribe:health_updates", 1), "ok", "linked clinician")
        eq(ask(11, "subscribe:health_updates", 1), "forbidden", "unlinked clinician")
        row = sql(st, "SELECT user_id, result, code, detail FROM audit WHERE action = "
                  "'authorize' ORDER BY id DESC LIMIT 1")[0]
        eq(row[:3], (11, "denied", "forbidden"), "denial audited")
        check("target_user_id=1" in row[3], "audit names the target: %r" % (row[3],))
        eq(ask(1, "subscribe:notifications"), "ok", "own data")
        eq(ask(2, "subscribe:chat", 1), "forbidden", "another patient")
        eq(ask(20, "subscribe:health_updates", 1), "forbidden", "admin reads no one's data")
        eq(ask(20, "manage"), "ok", "admin manages")
        eq(ask(10, "manage"), "forbidden", "clinician does not manage")
        eq(ask(3, "subscribe:chat"), "forbidden", "disabled user")
        rc, rep = req(st, "auth.authorize", {"action": "subscribe:chat"})
        eq(code(rep), "bad_request", "no actor")
        eq(ask(10, "write:health_thresholds", 1), "ok", "linked clinician sets thresholds")
        eq(ask(11, "write:health_thresholds", 1), "forbidden", "unlinked clinician does not")
        eq(ask(1, "write:health_thresholds"), "ok", "own thresholds")
        # The care team of a patient, for services (no user) and the patient.
        rc, rep = req(st, "auth.care_team", {"user_id": 1})
        eq([m["id"] for m in rep["data"]["members"]], [10], "linked members")
        eq(code(req(st, "auth.care_team", {"user_id": 1}, user_id=2)[1]), "forbidden",
           "another patient may not list it")
        eq(st.stop(auth), 0, "hm-auth exits 0 on SIGTERM")


def test_revoke_publishes_token_revoked():
    with Stack() as st:
        add_users(st)
        st.broker()
        auth = start_auth(st, "--jwt-secret", SECRET)
        c = claims()
        token = hs256(c)
        eq(code(verify(st, token, "r1", "a")[1]), "ok", "session on the token")
        sub = st.start("hm-bus", st.bus_flags() + ["sub", "ctl.user.1", "--count", "1"])
        sel = selectors.DefaultSelector()
        sel.register(sub.stdout, selectors.EVENT_READ)
        got = None
        deadline = time.monotonic() + 15
        while got is None and time.monotonic() < deadline:
            rc, rep = req(st, "auth.revoke", {"jti": c["jti"]})
            eq((rc, rep["data"]["users"]), (0, [1]), "revoke ack names the user")
            if sel.select(timeout=0.3):
                got = json.loads(sub.stdout.readline())
        sel.close()
        check(got is not None, "token_revoked seen on ctl.user.1")
        eq((got["topic"], got["type"], got["data"]), ("ctl.user.1", "token_revoked",
                                                      {"jti": c["jti"]}), "the event")
        eq(code(verify(st, token, "r2", "a")[1]), "token_revoked", "the token is refused")
        check(sql(st, "SELECT count(*) FROM audit WHERE action = 'revoke'")[0][0] >= 1,
              "revoke audited")

        # `hm-auth revoke` stores it and, with a broker up, tells the edges too.
        c2 = claims()
        eq(code(verify(st, hs256(c2), "r3", "a")[1]), "ok", "session on a second token")
        sub2 = st.start("hm-bus", st.bus_flags() + ["sub", "ctl.user.1", "--count", "1",
                                                     "--timeout", "15"])
        time.sleep(0.5)
        rc, out, err = cli(st, "revoke", c2["jti"], secret=False)
        eq(rc, 0, "hm-auth revoke (%s)" % err)
        eq(json.loads(out), {"jti": c2["jti"], "notified": True}, "revoke output")
        got = read_json_line(sub2, 15)
        eq(got["data"], {"jti": c2["jti"]}, "token_revoked from the CLI revocation")
        eq(sql(st, "SELECT count(*) FROM revoked WHERE jti = ?", c2["jti"]), [(1,)],
           "stored revocation")
        eq(st.stop(auth), 0, "hm-auth exits 0 on SIGTERM")


if __name__ == "__main__":
    main([test_cli_commands, test_every_jwt_rejection_has_its_code_and_audit_row,
          test_rs256_configuration, test_per_user_limit_across_edges_and_restart,
          test_silent_edge_loses_its_sessions, test_authorize,
          test_revoke_publishes_token_revoked])
