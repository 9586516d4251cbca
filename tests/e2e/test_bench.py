#!/usr/bin/python3
"""End-to-end: hm-bench against a small real stack, as a correctness check of
the tool (every event counted, nothing lost or doubled), never a timing one."""
import json
import os

import hmtest
from hmtest import EdgeStack, check, eq


def bench(st, *args):
    """Runs hm-bench against the stack; returns its JSON report."""
    flags = st.bus_flags() + ["--port", str(st.ports[0]), "--edge-pid", str(st.edges[0].pid),
                              "--broker-pid", str(st.procs[0].pid), "--auth-pid",
                              str(st.auth_proc.pid), "--setup-timeout-s", "30", "--json"]
    rc, out, err = st.run("hm-bench", flags + list(args), timeout=90)
    eq(rc, 0, "hm-bench exit code (stderr: %s)" % err)
    return json.loads(out.strip().splitlines()[-1])


def tokens_file(st, users):
    """Users and tokens made by hm-auth itself, one "ID TOKEN" line each."""
    path = os.path.join(st.dir, "tokens.txt")
    with open(path, "w") as f:
        for i in range(users):
            uid = st.user("bench-%d" % i)
            f.write("%d %s\n" % (uid, st.token(uid)))
    return path


def test_broadcast_and_peruser():
    """Broadcast: 20 notifications to 50 connections (20 users, at most 3
    connections each); per-user: 200 readings round-robin over 20 users."""
    with EdgeStack() as st:
        tokens = tokens_file(st, 20)
        r = bench(st, "--tokens-file", tokens, "--scenario", "broadcast", "--connections", "50",
                  "--events", "20", "--rate", "200")
        eq(r["ready"], 50, "broadcast connections ready")
        eq(r["expected"], 50 * 20, "broadcast expected")
        eq(r["delivered"], r["expected"], "broadcast delivered")
        eq(r["lost"], 0, "broadcast lost")
        eq(r["duplicates"], 0, "broadcast duplicates")
        check(r["latency_us"]["max"] > 0, "latency measured")

        r = bench(st, "--tokens-file", tokens, "--scenario", "peruser", "--connections", "20",
                  "--events", "200", "--rate", "0")
        eq(r["ready"], 20, "per-user connections ready")
        eq(r["expected"], 200, "per-user expected")
        eq(r["delivered"], r["expected"], "per-user delivered")
        eq(r["lost"], 0, "per-user lost")
        eq(r["duplicates"], 0, "per-user duplicates")


def test_signed_tokens_connect_and_idle():
    """User ids only: hm-bench signs the tokens with hm-auth's secret and
    hm-auth accepts them; a wrong secret is refused by hm-auth."""
    with EdgeStack() as st:
        ids = os.path.join(st.dir, "ids.txt")
        with open(ids, "w") as f:
            f.write("".join("%d\n" % st.user("signed-%d" % i) for i in range(10)))
        r = bench(st, "--tokens-file", ids, "--secret", hmtest.SECRET, "--scenario", "connect",
                  "--connections", "30")
        eq(r["ready"], 30, "connect: connections ready")
        check(r["connect_per_s"] > 0, "connect rate measured")

        r = bench(st, "--tokens-file", ids, "--secret", hmtest.SECRET, "--scenario", "idle",
                  "--connections", "20", "--hold-s", "0.5")
        eq(r["ready"], 20, "idle: connections ready")
        eq(r["closed_after_ready"], 0, "idle: none closed")

        r = bench(st, "--tokens-file", ids, "--secret", "not-the-secret-of-this-hm-auth-at-all",
                  "--scenario", "idle", "--connections", "3", "--hold-s", "0.1")
        eq(r["ready"], 0, "wrong secret: nobody ready")
        eq(r["failed"]["auth"], 3, "wrong secret: refused by hm-auth")
        eq(r["last_error"], "token_bad_signature", "wrong secret: error code")


if __name__ == "__main__":
    hmtest.main([test_broadcast_and_peruser, test_signed_tokens_connect_and_idle])
