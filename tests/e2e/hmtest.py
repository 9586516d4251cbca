"""hmtest - a small harness for HealthMate end-to-end tests.

Starts the real binaries on free loopback ports, with a deadline on every
wait, and stops everything it started when the test ends (even on failure).
Runs under Debian's /usr/bin/python3 with only the standard library (plus
python3-websockets where a test speaks WebSocket).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

BIN = os.environ.get("HM_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build/bin"))
SRC = os.environ.get("HM_SRC_DIR", os.path.join(os.path.dirname(__file__), "../.."))
# Slow builds (sanitizers, valgrind) stretch every deadline by this factor.
SLOW = float(os.environ.get("HM_TEST_SLOW", "1"))

# Our long-running processes: at the end of a test each must exit 0 on
# SIGTERM (after which a sanitizer build's LeakSanitizer has run).
SERVERS = {"hm-broker", "hm-auth", "hm-health", "hm-chat", "hm-notify", "hm-scheduler",
           "hm-edge", "hm-test-worker"}
# The first line of an ASan, LSan or UBSan report.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what):
    """Polls pred() until it returns a true value; fails the test at timeout."""
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout * SLOW, what))


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (msg or "values differ", b, a))


def sanitizer_report(log, lines=15):
    """The first sanitizer report in a log file (its first lines and the
    SUMMARY line), or None when the log holds none."""
    try:
        with open(log, "r", errors="replace") as f:
            text = f.read().splitlines()
    except OSError:
        return None
    for i, line in enumerate(text):
        if any(m in line for m in SANITIZER_MARKS):
            out = text[i:i + lines]
            out += [l for l in text[i + lines:] if l.startswith("SUMMARY: ")][:1]
            return "\n".join("    " + l for l in out)
    return None


def proc_name(p):
    """The program's name: the first argument that names one of ours, else
    the first argument (a process may run under a prefix such as ip netns exec)."""
    args = p.args if isinstance(p.args, (list, tuple)) else [p.args]
    for a in args:
        if os.path.basename(str(a)) in SERVERS:
            return os.path.basename(str(a))
    return os.path.basename(str(args[0]))


def catches(p, sig):
    """True when process p has a handler for sig (SigCgt in /proc/PID/status)."""
    try:
        with open("/proc/%d/status" % p.pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (int(sig) - 1) & 1)
    except (OSError, ValueError):
        pass
    return False


def terminate(p):
    """SIGTERM to p; a server that is still starting gets it once its
    handler is installed (before, SIGTERM would kill it outright and the
    leak check would never run); returns the exit code or None on timeout."""
    deadline = time.monotonic() + 10 * SLOW
    if proc_name(p) in SERVERS:
        while p.poll() is None and not catches(p, signal.SIGTERM) \
                and time.monotonic() < deadline:
            time.sleep(0.01)
    if p.poll() is None:
        p.terminate()
    try:
        return subprocess.Popen.wait(p, timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return None


class Proc(subprocess.Popen):
    """A Popen that remembers whether the test has been handed the exit code
    (wait() returned it): a test that waits for a process to exit judges its
    code itself, the Stack does not judge it again."""
    rc_seen = False

    def wait(self, timeout=None):
        rc = super().wait(timeout)
        self.rc_seen = True
        return rc


class Stack:
    """The processes of one test. Use as a context manager: on the way out
    every process still running gets SIGTERM (newest first) and must exit
    within the deadline, each server with 0, and no log may hold a sanitizer
    report; else the test fails (unless it failed already)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="hm-e2e-")
        self.procs = []
        self.bus = {
            "events_in": "tcp://127.0.0.1:%d" % free_port(),
            "events_out": "tcp://127.0.0.1:%d" % free_port(),
            "requests": "tcp://127.0.0.1:%d" % free_port(),
        }

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            problems = self.shutdown()
        finally:
            self.stop_all()
        if problems:
            msg = "processes did not end cleanly:\n" + "\n".join(problems)
            if exc_type is None:
                raise AssertionError(msg)
            print(msg, file=sys.stderr)  # the test's own failure goes first
        return False

    def bus_flags(self):
        return ["--events-in", self.bus["events_in"], "--events-out", self.bus["events_out"],
                "--requests", self.bus["requests"]]

    def start(self, name, args, log=None, stdin=subprocess.DEVNULL):
        """Starts BIN/name with args; stderr goes to a log file in the test dir."""
        log = log or os.path.join(self.dir, "%s.%d.log" % (name, len(self.procs)))
        f = open(log, "ab")
        p = Proc([os.path.join(BIN, name)] + args, stdout=subprocess.PIPE, stderr=f, stdin=stdin)
        f.close()
        p.log = log
        self.procs.append(p)
        return p

    def broker(self, *extra):
        return self.start("hm-broker", self.bus_flags() + ["--heartbeat-ms", "250"] + list(extra))

    def kill(self, p, sig=signal.SIGKILL):
        """Sends sig on purpose: an exit by that signal is not a failure."""
        self.mark_killed(p, sig)
        if p.poll() is None:
            p.send_signal(sig)
            subprocess.Popen.wait(p, timeout=10 * SLOW)

    def mark_killed(self, p, sig=signal.SIGKILL):
        """Tells the Stack that the test kills p with sig itself (e.g. from a
        script), so that an exit by that signal is not a failure."""
        p.killed_by = getattr(p, "killed_by", set()) | {-int(sig)}

    def stop(self, p):
        """SIGTERM, and the process must exit within the deadline with no
        sanitizer report in its log; returns the exit code for the test to
        judge."""
        if p.poll() is None and terminate(p) is None:
            p.kill()
            subprocess.Popen.wait(p)
            raise AssertionError("%s ignored SIGTERM" % p.args[0])
        p.rc_seen = True
        report = sanitizer_report(p.log) if getattr(p, "log", None) else None
        if report:
            raise AssertionError("%s (pid %d, rc %s): sanitizer report in %s:\n%s"
                                 % (proc_name(p), p.pid, p.returncode, p.log, report))
        return p.returncode

    def shutdown(self):
        """Ends the test's processes, newest first, with SIGTERM, each within
        10 s (times HM_TEST_SLOW); returns the problems found: a process that
        needed SIGKILL, a server that exited other than 0 (or by the signal
        the test sent it on purpose) without the test seeing the code, a
        sanitizer report in any log."""
        problems = []
        seen = {id(p): getattr(p, "rc_seen", False) for p in self.procs}
        for p in reversed(self.procs):
            name = "%s (pid %d)" % (proc_name(p), p.pid)
            if p.poll() is None and terminate(p) is None:
                p.kill()
                subprocess.Popen.wait(p)
                problems.append("%s: did not stop on SIGTERM within %.0fs" % (name, 10 * SLOW))
                continue
            ok = {0} | getattr(p, "killed_by", set())
            if proc_name(p) in SERVERS and not seen[id(p)] and p.returncode not in ok:
                problems.append("%s: exit code %d" % (name, p.returncode))
        for p in self.procs:
            report = sanitizer_report(p.log) if getattr(p, "log", None) else None
            if report:
                problems.append("%s (pid %d, rc %s): sanitizer report in %s:\n%s"
                                % (proc_name(p), p.pid, p.returncode, p.log, report))
        return problems

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
                subprocess.Popen.wait(p)
            if p.stdout:
                p.stdout.close()
        if not os.environ.get("HM_KEEP_TEST_DIRS"):
            import shutil
            shutil.rmtree(self.dir, ignore_errors=True)

    def run(self, name, args, timeout=20, input=None):
        """Runs BIN/name to completion; returns (rc, stdout, stderr)."""
        r = subprocess.run([os.path.join(BIN, name)] + args, capture_output=True, text=True,
                           timeout=timeout * SLOW, input=input)
        for i, line in enumerate(r.stderr.splitlines()):
            if any(m in line for m in SANITIZER_MARKS):
                raise AssertionError("%s %s (rc %d): sanitizer report:\n%s" % (
                    name, " ".join(args[-4:]), r.returncode,
                    "\n".join(r.stderr.splitlines()[i:i + 15])))
        return r.returncode, r.stdout, r.stderr

    def hm_bus(self, *args, timeout=20, input=None):
        return self.run("hm-bus", self.bus_flags() + list(args), timeout=timeout, input=input)

    def logs(self):
        out = []
        for p in self.procs:
            try:
                with open(p.log, "r", errors="replace") as f:
                    out.append("--- %s\n%s" % (p.log, f.read()[-4000:]))
            except OSError:
                pass
        return "\n".join(out)


def read_json_line(proc, timeout):
    """Reads one JSON line from a process's stdout within timeout seconds."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if sel.select(timeout=max(0.0, deadline - time.monotonic())):
            line = proc.stdout.readline()
            if not line:
                break
            sel.close()
            return json.loads(line)
    sel.close()
    raise AssertionError("no JSON line from %s within %.1fs" % (proc.args[0], timeout * SLOW))


def main(tests):
    """Runs test functions in order; prints a summary line; exits non-zero on
    any failure."""
    passed = failed = 0
    for t in tests:
        t0 = time.monotonic()
        try:
            t()
            passed += 1
            print("ok   %s (%.2fs)" % (t.__name__, time.monotonic() - t0), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s (%.2fs)" % (t.__name__, time.monotonic() - t0), flush=True)
            traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


# ---- the edge: broker + auth + edge, users and tokens ----------------------

SECRET = "e2e-test-secret-0123456789abcdef0123456789"


class EdgeStack(Stack):
    """A broker, hm-auth and one or more hm-edge processes."""

    def __init__(self, edges=1, edge_args=(), auth_args=()):
        super().__init__()
        self.broker()
        self.auth_proc = self.start("hm-auth", self.bus_flags() + self.auth_flags()
                                    + ["--heartbeat-ms", "250"] + list(auth_args))
        self.ports = []
        self.edges = []
        for i in range(edges):
            self.add_edge(edge_args, edge_id="edge-%d" % i)
        wait_for(lambda: self.hm_bus("--timeout", "0.5", "--retries", "0", "req", "mmi.service",
                                     "auth")[0] == 0, 15, "hm-auth registered")

    def __enter__(self):
        return self

    def auth_flags(self):
        return ["--data-dir", self.dir, "--jwt-secret", SECRET]

    def add_edge(self, edge_args=(), edge_id=None, port=None):
        port = port or free_port()
        p = self.start("hm-edge", self.bus_flags() + ["--port", str(port), "--edge-id",
                                                      edge_id or "edge-%d" % len(self.edges),
                                                      "--bus-heartbeat-ms", "250"]
                       + list(edge_args))
        wait_for(lambda: "event=started" in open(p.log, errors="replace").read(), 15,
                 "hm-edge started on %d" % port)
        self.ports.append(port)
        self.edges.append(p)
        return p

    def auth_cli(self, *args):
        rc, out, err = self.run("hm-auth", self.bus_flags() + self.auth_flags() + list(args))
        if rc != 0:
            raise AssertionError("hm-auth %s failed: %s" % (" ".join(args), err))
        return out.strip()

    def user(self, name, role="patient"):
        return int(self.auth_cli("user", "add", "--name", name, "--role", role))

    def token(self, user_id, ttl=3600):
        return self.auth_cli("token", "--user", str(user_id), "--ttl", str(ttl))

    def url(self, path, edge=0):
        return "ws://127.0.0.1:%d%s" % (self.ports[edge], path)

    def publish(self, topic, event):
        rc, _, err = self.hm_bus("--linger-ms", "100", "pub", topic, json.dumps(event))
        eq(rc, 0, "hm-bus pub (%s)" % err)


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


async def recv_until(ws, pred, timeout=5, what="a matching message"):
    """Receives JSON messages until pred(msg) is true; returns that message.
    Fails on timeout or close."""
    import asyncio
    deadline = time.monotonic() + timeout * SLOW
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("timed out waiting for %s; saw %r" % (what, seen[-5:]))
        msg = json.loads(await asyncio.wait_for(ws.recv(), left))
        if pred(msg):
            return msg
        seen.append(msg)


async def recv_type(ws, type_, timeout=5):
    return await recv_until(ws, lambda m: m.get("type") == type_, timeout, "type %r" % type_)


async def expect_close(ws, code, timeout=5):
    """Reads until the server closes; asserts the close code."""
    import asyncio
    import websockets
    deadline = time.monotonic() + timeout * SLOW
    try:
        while time.monotonic() < deadline:
            await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
    except websockets.exceptions.ConnectionClosed as e:
        got = e.rcvd.code if getattr(e, "rcvd", None) else e.code
        eq(got, code, "close code (reason %r)" % (e.rcvd.reason if getattr(e, "rcvd", None)
                                                   else e.reason))
        return
    except asyncio.TimeoutError:
        pass
    raise AssertionError("connection not closed with %d within %.1fs" % (code, timeout * SLOW))


# WebSocket clients a test opened; arun closes what the test left open, so
# no test waits out a close timeout at the end.
OPEN = []


def arun(coro):
    import asyncio

    async def wrapper():
        try:
            return await coro
        finally:
            while OPEN:
                ws = OPEN.pop()
                ws.close_timeout = 1
                try:
                    await ws.close()
                except Exception:
                    pass
    return asyncio.run(wrapper())
