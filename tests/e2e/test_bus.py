#!/usr/bin/python3
"""End-to-end: hm-broker, hm-bus and a Majordomo test worker, real processes
on loopback. Events through the proxy, requests through the broker, worker
and broker restarts."""
import json
import subprocess
import time

from hmtest import Stack, check, eq, main, read_json_line, wait_for


def publish_until_seen(st, sub, topic, event, timeout=10):
    """PUB/SUB joins late: publish every 200 ms until the subscriber prints."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(sub.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            rc, _, err = st.hm_bus("--linger-ms", "50", "pub", topic, json.dumps(event))
            eq(rc, 0, "hm-bus pub exit code (%s)" % err)
            if sel.select(timeout=0.2):
                return json.loads(sub.stdout.readline())
    finally:
        sel.close()
    raise AssertionError("subscriber never saw %s" % topic)


def test_pub_reaches_sub():
    with Stack() as st:
        st.broker()
        sub = st.start("hm-bus", st.bus_flags() + ["sub", "u.1.health", "--count", "1"])
        ev = {"type": "health_update", "user_id": 1, "seq": 7,
              "data": {"metric": "heart_rate", "value": 72, "unit": "bpm"}}
        got = publish_until_seen(st, sub, "u.1.health", ev)
        eq(got["topic"], "u.1.health", "topic")
        eq(got["type"], "health_update", "type")
        eq(got["user_id"], 1, "user_id")
        eq(got["seq"], 7, "seq")
        eq(got["data"], ev["data"], "data survives JSON -> msgpack -> JSON")
        check(len(got["id"]) == 36 and got["ts"] > 1600000000000, "id and ts filled in")
        eq(sub.wait(timeout=5), 0, "sub exits after --count 1")


def test_topics_compared_whole():
    """u.1.health must not deliver u.12.health although ZeroMQ matches prefixes."""
    with Stack() as st:
        st.broker()
        sub = st.start("hm-bus", st.bus_flags() + ["sub", "u.1.health", "--count", "1"])
        time.sleep(0.5)
        for _ in range(3):
            st.hm_bus("--linger-ms", "50", "pub", "u.12.health",
                      json.dumps({"type": "health_update", "data": {"n": 12}}))
        got = publish_until_seen(st, sub, "u.1.health", {"type": "health_update",
                                                          "data": {"n": 1}})
        eq(got["data"], {"n": 1}, "only the exact topic is printed")


def test_pub_stdin_lines():
    with Stack() as st:
        st.broker()
        sub = st.start("hm-bus", st.bus_flags() + ["sub", "all.notify", "--count", "3"])
        time.sleep(0.6)
        lines = "\n".join(json.dumps({"type": "notification", "data": {"n": i}})
                          for i in range(3)) + "\n"
        rc, _, err = st.hm_bus("pub", "all.notify", "-", input=lines)
        eq(rc, 0, "pub - exit code (%s)" % err)
        got = [read_json_line(sub, 5)["data"]["n"] for _ in range(3)]
        eq(got, [0, 1, 2], "three events in order")


def test_bad_input_is_refused():
    with Stack() as st:
        st.broker()
        rc, _, err = st.hm_bus("pub", "u.1.health", "{not json")
        eq(rc, 2, "invalid JSON exit code")
        check("invalid JSON" in err, "message names the problem: %r" % err)
        rc, _, err = st.hm_bus("pub", "u.1.weather", '{"type":"x"}')
        eq(rc, 2, "unknown topic exit code")
        check("unknown topic" in err, "message names the topic: %r" % err)
        rc, _, err = st.hm_bus("pub", "u.1.health", '{"type":"x","data":[1]}')
        eq(rc, 2, "data must be an object")
        rc, _, err = st.hm_bus("frobnicate")
        eq(rc, 2, "unknown command")
        rc, out, _ = st.hm_bus("--help")
        eq(rc, 0, "--help exit code")


def test_request_reply():
    with Stack() as st:
        st.broker()
        st.start("hm-test-worker", st.bus_flags() + ["--service", "echo", "--name", "w1",
                                                      "--heartbeat-ms", "250"])
        rc, out, err = st.hm_bus("--timeout", "2", "req", "echo",
                                 json.dumps({"type": "echo", "correlation_id": "c-1",
                                             "data": {"hello": "world", "n": [1, 2.5, None]}}))
        eq(rc, 0, "req exit code (%s)" % err)
        rep = json.loads(out)
        eq(rep["type"], "ack", "reply type")
        eq(rep["correlation_id"], "c-1", "correlation id comes back")
        eq(rep["data"]["echo"], {"hello": "world", "n": [1, 2.5, None]}, "echoed data")
        eq(rep["data"]["worker"], "w1", "worker name")
        rc, out, _ = st.hm_bus("req", "mmi.service", "echo")
        eq(json.loads(out)["status"], 200, "mmi.service for a live service")
        rc, out, _ = st.hm_bus("req", "mmi.service", "nobody")
        eq(json.loads(out)["status"], 404, "mmi.service for an unknown service")
        rc, out, _ = st.hm_bus("req", "mmi.stats", '{"type":"stats"}')
        stats = json.loads(out)["data"]
        eq(stats["services"]["echo"]["workers"], 1, "stats count the worker")
        check(stats["replies"] >= 1, "stats count replies")


def test_service_unavailable_after_deadline():
    with Stack() as st:
        st.broker("--request-deadline-ms", "500")
        t0 = time.monotonic()
        rc, out, err = st.hm_bus("--timeout", "5", "--retries", "0", "req", "ghost",
                                 '{"type":"echo"}')
        eq(rc, 1, "error reply exit code (%s)" % err)
        rep = json.loads(out)
        eq(rep["type"], "error", "reply type")
        eq(rep["data"]["code"], "service_unavailable", "error code")
        check(time.monotonic() - t0 < 4, "answered at the broker's deadline, not the client's")


def test_queue_bound_refuses():
    with Stack() as st:
        st.broker("--queue-max", "1", "--request-deadline-ms", "3000")
        first = st.start("hm-bus", st.bus_flags() + ["--timeout", "5", "--retries", "0", "req",
                                                      "ghost", '{"type":"echo"}'])
        time.sleep(0.5)
        rc, out, _ = st.hm_bus("--timeout", "5", "--retries", "0", "req", "ghost",
                               '{"type":"echo"}')
        eq(json.loads(out)["data"]["code"], "service_unavailable", "second request refused")
        first.wait(timeout=10)


def test_worker_killed_while_request_waits():
    with Stack() as st:
        st.broker()
        w1 = st.start("hm-test-worker", st.bus_flags() + ["--name", "w1", "--delay-ms", "60000",
                                                          "--heartbeat-ms", "250"])
        wait_for(lambda: st.hm_bus("req", "mmi.service", "echo")[0] == 0, 10, "w1 registered")
        req = st.start("hm-bus", st.bus_flags() + ["--timeout", "1.5", "--retries", "5", "req",
                                                    "echo", '{"type":"echo","data":{"k":1}}'])
        time.sleep(0.5)
        st.kill(w1)
        st.start("hm-test-worker", st.bus_flags() + ["--name", "w2", "--heartbeat-ms", "250"])
        out, _ = req.communicate(timeout=30)
        eq(req.returncode, 0, "request answered after the worker was replaced")
        rep = json.loads(out)
        eq(rep["data"]["worker"], "w2", "the new worker answered")
        eq(rep["data"]["echo"], {"k": 1}, "the same request")


def stream_until_seen(pub, sub, event, timeout=15):
    """Writes event lines into a long-lived `hm-bus pub -` until sub prints
    that event (earlier duplicates from earlier rounds are skipped)."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(sub.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            pub.stdin.write((json.dumps(event) + "\n").encode())
            pub.stdin.flush()
            while sel.select(timeout=0.2):
                got = json.loads(sub.stdout.readline())
                if got["data"] == event["data"]:
                    return got
    finally:
        sel.close()
    raise AssertionError("subscriber never saw the streamed event")


def test_broker_restart_everyone_reconnects():
    with Stack() as st:
        brk = st.broker()
        st.start("hm-test-worker", st.bus_flags() + ["--name", "w1", "--heartbeat-ms", "250"])
        sub = st.start("hm-bus", st.bus_flags() + ["sub", "u.5.chat"])
        pub = st.start("hm-bus", st.bus_flags() + ["pub", "u.5.chat", "-"],
                       stdin=subprocess.PIPE)
        got = stream_until_seen(pub, sub, {"type": "chat_message", "data": {"n": 1}})
        eq(got["data"], {"n": 1}, "event before the restart")
        rc, _, _ = st.hm_bus("--timeout", "2", "req", "echo", '{"type":"echo"}')
        eq(rc, 0, "request before the restart")

        st.kill(brk)
        time.sleep(0.3)
        brk2 = st.broker()
        # The worker re-registers with the new broker by itself.
        rc, out, err = st.hm_bus("--timeout", "1", "--retries", "10", "req", "echo",
                                 '{"type":"echo","data":{"after":"restart"}}', timeout=40)
        eq(rc, 0, "request after the restart (%s)" % err)
        rep = json.loads(out)["data"]
        eq((rep["echo"], rep["worker"]), ({"after": "restart"}, "w1"),
           "answered by the same worker process")
        # The same publisher and subscriber processes reconnect by themselves.
        got = stream_until_seen(pub, sub, {"type": "chat_message", "data": {"n": 2}})
        eq(got["data"], {"n": 2}, "subscriber receives after the restart")
        eq(got["topic"], "u.5.chat", "topic after the restart")
        pub.stdin.close()
        eq(pub.wait(timeout=5), 0, "publisher ends cleanly at end of input")
        eq(st.stop(brk2), 0, "broker exits 0 on SIGTERM")


if __name__ == "__main__":
    main([test_pub_reaches_sub, test_topics_compared_whole, test_pub_stdin_lines,
          test_bad_input_is_refused, test_request_reply, test_service_unavailable_after_deadline,
          test_queue_bound_refuses, test_worker_killed_while_request_waits,
          test_broker_restart_everyone_reconnects])
