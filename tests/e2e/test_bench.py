#!/usr/bin/python3
"""End-to-end: hm-bench against a small real stack, as a correctness check of
the tool (every event counted, nothing lost or doubled), never a timing one."""
import json
import os
import signal
import time

import hmtest
from hmtest import EdgeStack, check, eq


def bench(st, *args, edge_pid=None):
    """Runs hm-bench against the stack; returns its JSON report."""
    flags = st.bus_flags() + ["--port", str(st.ports[0]), "--edge-pid",
                              str(edge_pid or st.edges[0].pid),
                              "--broker-pid", str(st.procs[0].pid), "--auth-pid",
                              str(st.auth_proc.pid), "--setup-timeout-s", "30", "--json"]
    rc, out, err = st.run("hm-bench", flags + list(args), timeout=90)
    if os.environ.get("HM_BENCH_DEBUG"):
        print(err)
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


# ---- the scenarios through the services: fullpath, chat, reconnect ----------

# The edge lets a benchmark client send more than a person would (default 20/s).
FAST_EDGE = ["--rate", "5000", "--burst", "5000"]


def start_service(st, name):
    """Starts hm-health or hm-chat (data in the test dir); waits until it serves."""
    p = st.start("hm-" + name, st.bus_flags() + ["--data-dir", st.dir, "--heartbeat-ms", "250"])
    hmtest.wait_for(lambda: st.hm_bus("--timeout", "0.5", "--retries", "0", "req", "mmi.service",
                                      name)[0] == 0, 15, "hm-%s registered" % name)
    return p


def check_delivery(r, what):
    """Every message sent came back, once, in order."""
    check(r["ready"] == r["connections"], "%s: connections ready (%r)" % (what, r["failed"]))
    check(r["delivered"] > 0, "%s: something delivered" % what)
    eq(r["delivered"], r["expected"], "%s delivered" % what)
    eq(r["lost"], 0, "%s lost" % what)
    eq(r["duplicates"], 0, "%s duplicates" % what)
    eq(r["gaps"], 0, "%s seqs skipped" % what)


def test_fullpath():
    """10 patients send 20 readings each (4 in flight) through hm-health and
    receive each of them back; then at a rate."""
    with EdgeStack(edge_args=FAST_EDGE) as st:
        health = start_service(st, "health")
        tokens = tokens_file(st, 10)
        r = bench(st, "--tokens-file", tokens, "--scenario", "fullpath", "--connections", "10",
                  "--events", "200", "--window", "4", "--health-pid", str(health.pid))
        check_delivery(r, "fullpath")
        eq((r["sent"], r["acked"], r["refused"]), (200, 200, 0), "readings sent and acked")
        check(r["latency_us"]["max"] > 0 and r["ack_us"]["max"] > 0, "latencies measured")
        check(r["cpu_s"]["health"] is not None, "hm-health CPU sampled")
        r = bench(st, "--tokens-file", tokens, "--scenario", "fullpath", "--connections", "10",
                  "--events", "50", "--rate", "100")
        check_delivery(r, "fullpath at a rate")
        eq(r["sent"], 50, "fullpath at a rate: readings sent")


def test_chat():
    """5 pairs (a patient and a linked clinician): 40 round trips."""
    with EdgeStack(edge_args=FAST_EDGE) as st:
        chat = start_service(st, "chat")
        path = os.path.join(st.dir, "pairs.txt")
        with open(path, "w") as f:
            for i in range(5):
                p, c = st.user("pat-%d" % i), st.user("doc-%d" % i, "clinician")
                st.auth_cli("link", str(c), str(p))
                f.write("%d %s\n%d %s\n" % (p, st.token(p), c, st.token(c)))
        r = bench(st, "--tokens-file", path, "--scenario", "chat", "--connections", "10",
                  "--events", "40", "--chat-pid", str(chat.pid))
        check_delivery(r, "chat")
        eq((r["sent"], r["refused"]), (40, 0), "chat messages sent")
        check(r["latency_us"]["max"] > 0 and r["oneway_us"]["max"] > 0, "latencies measured")
        # unlinked users cannot talk: the first message of each pair is refused
        path2 = os.path.join(st.dir, "strangers.txt")
        with open(path2, "w") as f:
            for i in range(2):
                p, c = st.user("lone-%d" % i), st.user("other-%d" % i, "clinician")
                f.write("%d %s\n%d %s\n" % (p, st.token(p), c, st.token(c)))
        r = bench(st, "--tokens-file", path2, "--scenario", "chat", "--connections", "4",
                  "--events", "4", "--drain-ms", "500")
        eq(r["delivered"], 0, "strangers: nothing delivered")
        check(r["refused"] >= 2 and r["last_error"] == "forbidden",
              "strangers: refused (%r, %r)" % (r["refused"], r["last_error"]))


RESTART = """#!/bin/sh
# kills the edge, waits, starts it again on the same port; prints its PID
kill -9 "$(cat {pidfile})"
sleep {down}
: > {log}
{edge} {args} >>{log} 2>&1 &
echo $! > {pidfile}
i=0
until grep -q event=started {log}; do
    i=$((i + 1)); [ $i -le 300 ] || exit 1; sleep 0.05
done
cat {pidfile}
"""


def test_reconnect():
    """20 connections; the edge is killed (SIGKILL) and started again while
    readings go on; every connection resumes with since_seq and has every
    reading, in order, none twice."""
    with EdgeStack(edge_args=FAST_EDGE) as st:
        health = start_service(st, "health")
        tokens = tokens_file(st, 20)
        edge = st.edges[0]
        st.mark_killed(edge)  # the restart script kills it with SIGKILL
        pidfile = os.path.join(st.dir, "edge.pid")
        with open(pidfile, "w") as f:
            f.write("%d\n" % edge.pid)
        script = os.path.join(st.dir, "restart.sh")
        args = st.bus_flags() + ["--port", str(st.ports[0]), "--edge-id", "edge-0",
                                 "--bus-heartbeat-ms", "250"] + FAST_EDGE
        with open(script, "w") as f:
            f.write(RESTART.format(pidfile=pidfile, down="0.5",
                                   log=os.path.join(st.dir, "edge-restarted.log"),
                                   edge=os.path.join(hmtest.BIN, "hm-edge"), args=" ".join(args)))
        os.chmod(script, 0o755)
        try:
            r = bench(st, "--tokens-file", tokens, "--scenario", "reconnect", "--connections",
                      "20", "--rounds-before", "3", "--rounds-after", "2", "--rate", "200",
                      "--restart-cmd", script, "--restart-how", "SIGKILL",
                      "--health-pid", str(health.pid))
        finally:
            with open(pidfile) as f:
                pid = int(f.read().strip() or 0)
            if pid and pid != edge.pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        check_delivery(r, "reconnect")
        eq((r["dropped"], r["reconnected"], r["resumed"]), (20, 20, 20),
           "every connection dropped, reconnected, resumed")
        check(r["resume_complete"] is True, "resume complete")
        check(r["rounds_until_up"] > 3, "readings were stored while the edge was down")
        eq(r["expected"], 20 * r["rounds"], "every user got every round")
        check(r["resume_s"] is not None and r["downtime_s"] > 0, "times measured")


if __name__ == "__main__":
    hmtest.main([test_broadcast_and_peruser, test_signed_tokens_connect_and_idle, test_fullpath,
                 test_chat, test_reconnect])
