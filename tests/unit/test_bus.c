/*
 * test_bus.c - the event bus (libcommon/hm_bus.h): [topic][envelope] events
 * through an XSUB/XPUB pair like the broker's, prefix matching, refusal of
 * invalid topics and of garbage, receive timeouts and unsubscribe.
 *
 * Everything runs in this thread on tcp://127.0.0.1 ephemeral ports. The
 * tests forward the XSUB/XPUB pair themselves with zmq_poll, or bind a PUB
 * and connect the SUB to it directly when no proxy is needed. Every receive
 * has a deadline, so no test can hang. Subscriptions reach a publisher
 * asynchronously (the PUB/SUB "slow joiner"): each test first publishes
 * probes until one arrives, and later receives skip probes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <czmq.h>

#include "hm_bus.h"
#include "hm_log.h"

#define S_WAIT_MS 2000       /* deadline for an event that must arrive */
#define S_QUIET_MS 100       /* how long the tests watch for "nothing arrives" */
#define S_SYNC_MS 5000       /* deadline for a subscription to reach the publisher */
#define S_PROBE_MS 20        /* wait for each slow-joiner probe */
#define S_PROBE "test.probe" /* envelope type of slow-joiner probes */
#define S_EP_MAX 64          /* "tcp://127.0.0.1:65535" fits */

/* The broker's event path in miniature, forwarded by s_recv_raw(). */
typedef struct {
    zsock_t *xsub;      /* bound; publishers connect here */
    zsock_t *xpub;      /* bound; subscribers connect here */
    char in[S_EP_MAX];  /* xsub's endpoint (events-in) */
    char out[S_EP_MAX]; /* xpub's endpoint (events-out) */
} s_proxy_t;

/* ---- Helpers ---------------------------------------------------------------- */

/* New socket of type bound on an ephemeral loopback port; its endpoint in ep. */
static zsock_t *
s_bind(int type, char *ep)
{
    zsock_t *sock = zsock_new(type);
    assert_non_null(sock);
    zsock_set_linger(sock, 0);
    zsock_set_rcvtimeo(sock, S_WAIT_MS);
    assert_true(zsock_bind(sock, "tcp://127.0.0.1:*") > 0);
    const char *bound = zsock_endpoint(sock);
    assert_non_null(bound);
    assert_true(strlen(bound) < S_EP_MAX);
    strcpy(ep, bound);
    return sock;
}

static void
s_proxy_new(s_proxy_t *proxy)
{
    proxy->xsub = s_bind(ZMQ_XSUB, proxy->in);
    proxy->xpub = s_bind(ZMQ_XPUB, proxy->out);
}

static void
s_proxy_destroy(s_proxy_t *proxy)
{
    zsock_destroy(&proxy->xsub);
    zsock_destroy(&proxy->xpub);
}

/* Moves one whole message from one proxy socket to the other. */
static void
s_forward(zsock_t *from, zsock_t *to)
{
    zmsg_t *msg = zmsg_recv(from);
    if (msg)
        zmsg_send(&msg, to);
}

/* Waits up to timeout_ms for sub to be readable, forwarding proxy traffic
 * (events one way, subscriptions the other) meanwhile when proxy is not NULL.
 * Returns hm_bus_recv's result, or -1 at the deadline. */
static int
s_recv_raw(s_proxy_t *proxy, zsock_t *sub, int timeout_ms, char **topic, hm_envelope_t **env)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    for (;;) {
        int64_t left = deadline - zclock_mono();
        if (left <= 0)
            return -1;
        zmq_pollitem_t items[] = {
            {zsock_resolve(sub), 0, ZMQ_POLLIN, 0},
            {proxy ? zsock_resolve(proxy->xsub) : NULL, 0, ZMQ_POLLIN, 0},
            {proxy ? zsock_resolve(proxy->xpub) : NULL, 0, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, proxy ? 3 : 1, (long)left) < 0)
            return -1;
        if (proxy && (items[1].revents & ZMQ_POLLIN))
            s_forward(proxy->xsub, proxy->xpub);
        if (proxy && (items[2].revents & ZMQ_POLLIN))
            s_forward(proxy->xpub, proxy->xsub);
        if (items[0].revents & ZMQ_POLLIN)
            return hm_bus_recv(sub, topic, env);
    }
}

/* s_recv_raw without the slow-joiner probes left in flight. */
static int
s_recv(s_proxy_t *proxy, zsock_t *sub, int timeout_ms, char **topic, hm_envelope_t **env)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    for (;;) {
        int left = (int)(deadline - zclock_mono());
        int rc = s_recv_raw(proxy, sub, left > 0 ? left : 0, topic, env);
        if (rc != 0 || strcmp((*env)->type, S_PROBE) != 0)
            return rc;
        free(*topic);
        *topic = NULL;
        hm_envelope_destroy(env);
    }
}

/* Publishes probes on topic until one comes back on sub: from then on the
 * subscription is known to the publisher (and the proxy, if any). */
static void
s_sync(s_proxy_t *proxy, zsock_t *pub, zsock_t *sub, const char *topic)
{
    int64_t deadline = zclock_mono() + S_SYNC_MS;
    while (zclock_mono() < deadline) {
        hm_envelope_t *probe = hm_envelope_new(S_PROBE);
        assert_non_null(probe);
        assert_int_equal(hm_bus_publish(pub, topic, probe), 0);
        hm_envelope_destroy(&probe);
        char *got_topic = NULL;
        hm_envelope_t *got = NULL;
        if (s_recv_raw(proxy, sub, S_PROBE_MS, &got_topic, &got) == 0) {
            bool is_probe = strcmp(got->type, S_PROBE) == 0;
            free(got_topic);
            hm_envelope_destroy(&got);
            if (is_probe)
                return;
        }
    }
    fail_msg("subscription to %s did not reach the publisher in %d ms", topic, S_SYNC_MS);
}

/* A SUB connected to events_out with a receive timeout, subscribed to topic. */
static zsock_t *
s_sub_new(const char *events_out, const char *topic)
{
    zsock_t *sub = hm_bus_sub_new(events_out);
    assert_non_null(sub);
    zsock_set_rcvtimeo(sub, S_WAIT_MS);
    assert_int_equal(hm_bus_subscribe(sub, topic), 0);
    return sub;
}

/* Publishes a new event of type on topic; returns it (caller owns). */
static hm_envelope_t *
s_publish(zsock_t *pub, const char *topic, const char *type)
{
    hm_envelope_t *env = hm_envelope_new(type);
    assert_non_null(env);
    assert_int_equal(hm_bus_publish(pub, topic, env), 0);
    return env;
}

/* Receives the next event and asserts it is sent, published on topic. */
static void
s_expect(s_proxy_t *proxy, zsock_t *sub, const char *topic, const hm_envelope_t *sent)
{
    char *got_topic = NULL;
    hm_envelope_t *got = NULL;
    assert_int_equal(s_recv(proxy, sub, S_WAIT_MS, &got_topic, &got), 0);
    assert_string_equal(got_topic, topic);
    assert_string_equal(got->id, sent->id);
    assert_string_equal(got->type, sent->type);
    free(got_topic);
    hm_envelope_destroy(&got);
}

/* Asserts nothing but probes arrives for S_QUIET_MS. */
static void
s_expect_nothing(s_proxy_t *proxy, zsock_t *sub)
{
    char *got_topic = NULL;
    hm_envelope_t *got = NULL;
    int rc = s_recv(proxy, sub, S_QUIET_MS, &got_topic, &got);
    if (rc == 0)
        fail_msg("unexpected event on %s (type %s)", got_topic, got->type);
    assert_int_equal(rc, -1);
}

/* Writes "ctl.conn.aaa..." of len bytes into buf (len + 1 bytes): a topic of
 * the closed set up to HM_TOPIC_MAX - 1 bytes, invalid from HM_TOPIC_MAX on. */
static void
s_conn_topic(char *buf, size_t len)
{
    memset(buf, 'a', len);
    memcpy(buf, "ctl.conn.", strlen("ctl.conn."));
    buf[len] = '\0';
}

/* ---- Tests -------------------------------------------------------------------- */

/* Normal use: a publisher and a subscriber connected to the broker's pair;
 * the event arrives whole, every field intact. */
static void
test_publish_and_receive(void **state)
{
    (void)state;
    s_proxy_t proxy;
    s_proxy_new(&proxy);
    zsock_t *pub = hm_bus_pub_new(proxy.in);
    assert_non_null(pub);
    zsock_t *sub = s_sub_new(proxy.out, "u.1.health");
    s_sync(&proxy, pub, sub, "u.1.health");

    hm_envelope_t *sent = hm_envelope_new("health.reading");
    assert_non_null(sent);
    assert_int_equal(hm_envelope_set_correlation_id(sent, "c-42"), 0);
    assert_int_equal(hm_envelope_set_conn_id(sent, "conn-7f"), 0);
    assert_int_equal(hm_envelope_set_edge(sent, "edge-a"), 0);
    sent->user_id = 1;
    sent->seq = 17;
    assert_int_equal(hm_envelope_set_data(sent, json_pack("{s:i, s:s, s:{s:f, s:b}, s:[i,i]}",
                                                          "bpm", 72, "unit", "bpm", "extra", "spo2",
                                                          97.5, "ok", 1, "trend", 70, 72)),
                     0);
    assert_int_equal(hm_bus_publish(pub, "u.1.health", sent), 0);

    char *topic = NULL;
    hm_envelope_t *got = NULL;
    assert_int_equal(s_recv(&proxy, sub, S_WAIT_MS, &topic, &got), 0);
    assert_string_equal(topic, "u.1.health");
    assert_string_equal(got->type, "health.reading");
    assert_string_equal(got->id, sent->id);
    assert_int_equal(got->ts, sent->ts);
    assert_string_equal(got->correlation_id, "c-42");
    assert_int_equal(got->user_id, 1);
    assert_string_equal(got->conn_id, "conn-7f");
    assert_string_equal(got->edge, "edge-a");
    assert_int_equal(got->seq, 17);
    assert_non_null(got->data);
    assert_true(json_equal(got->data, sent->data));

    free(topic);
    hm_envelope_destroy(&got);
    hm_envelope_destroy(&sent);
    zsock_destroy(&sub);
    zsock_destroy(&pub);
    s_proxy_destroy(&proxy);
}

/* ZeroMQ matches subscriptions by prefix and hm_bus_recv returns whatever
 * arrives: a "u.1" subscription also gets u.12.health, and a whole-topic
 * subscription to ctl.user.1 also gets ctl.user.12. Callers compare the topic
 * whole and drop the rest (hm_bus.h). A whole u.<id>.<stream> topic is no
 * prefix of another topic of the closed set. */
static void
test_prefix_match_is_callers_job(void **state)
{
    (void)state;
    char ep[S_EP_MAX];
    zsock_t *pub = s_bind(ZMQ_PUB, ep);
    zsock_t *sub = s_sub_new(ep, "u.1");
    assert_int_equal(hm_bus_subscribe(sub, "ctl.user.1"), 0);
    zsock_t *exact = s_sub_new(ep, "u.1.health");
    s_sync(NULL, pub, sub, "u.1.health");
    s_sync(NULL, pub, sub, "ctl.user.1");
    s_sync(NULL, pub, exact, "u.1.health");

    /* In order on each connection; u.2.health matches no subscription. */
    hm_envelope_t *not_sub = s_publish(pub, "u.2.health", "health.reading");
    hm_envelope_t *u12 = s_publish(pub, "u.12.health", "health.reading");
    hm_envelope_t *u1 = s_publish(pub, "u.1.health", "health.reading");
    hm_envelope_t *ctl12 = s_publish(pub, "ctl.user.12", "user.revoked");
    hm_envelope_t *ctl1 = s_publish(pub, "ctl.user.1", "user.revoked");

    /* A caller that wants u.1.health and ctl.user.1 subscribes, then checks
     * each topic whole: the prefix matches arrive too, and it drops them. */
    const struct {
        const char *topic;         /* arrives, in this order */
        const hm_envelope_t *sent; /* as published */
        bool wanted;               /* the caller's whole-topic check */
    } arrivals[] = {
        {"u.12.health", u12, false},
        {"u.1.health", u1, true},
        {"ctl.user.12", ctl12, false},
        {"ctl.user.1", ctl1, true},
    };
    for (size_t i = 0; i < sizeof arrivals / sizeof arrivals[0]; i++) {
        char *topic = NULL;
        hm_envelope_t *got = NULL;
        assert_int_equal(s_recv(NULL, sub, S_WAIT_MS, &topic, &got), 0);
        assert_string_equal(topic, arrivals[i].topic);
        assert_string_equal(got->id, arrivals[i].sent->id);
        bool wanted = strcmp(topic, "u.1.health") == 0 || strcmp(topic, "ctl.user.1") == 0;
        assert_int_equal(wanted, arrivals[i].wanted);
        free(topic);
        hm_envelope_destroy(&got);
    }
    s_expect_nothing(NULL, sub);

    /* A whole u.1.health subscription gets only u.1.health. */
    s_expect(NULL, exact, "u.1.health", u1);
    s_expect_nothing(NULL, exact);

    hm_envelope_destroy(&not_sub);
    hm_envelope_destroy(&u12);
    hm_envelope_destroy(&u1);
    hm_envelope_destroy(&ctl12);
    hm_envelope_destroy(&ctl1);
    zsock_destroy(&exact);
    zsock_destroy(&sub);
    zsock_destroy(&pub);
}

/* hm_bus_publish refuses topics outside the closed set and envelopes that do
 * not encode, and puts nothing on the wire for them (not even a topic frame:
 * the next good event arrives first and whole). */
static void
test_publish_refuses_invalid_topics(void **state)
{
    (void)state;
    char ep[S_EP_MAX];
    zsock_t *pub = s_bind(ZMQ_PUB, ep);
    zsock_t *sub = s_sub_new(ep, ""); /* everything */
    s_sync(NULL, pub, sub, HM_TOPIC_SYS_EDGE);

    char longest[HM_TOPIC_MAX], too_long[HM_TOPIC_MAX + 1];
    s_conn_topic(longest, HM_TOPIC_MAX - 1);
    s_conn_topic(too_long, HM_TOPIC_MAX);
    static const char *const bad[] = {
        "",           "u.0.health", "u.01.health",  "u.1",          "u.1.",      "u.1.health.",
        "u.1.Health", "U.1.health", "u.1.health ",  "u.1.health\n", "u.-1.chat", "all.notify.x",
        "sys",        "ctl.conn.",  "ctl.conn.a b", "hello",
    };
    hm_envelope_t *env = hm_envelope_new("test.event");
    assert_non_null(env);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (hm_bus_publish(pub, bad[i], env) != -1)
            fail_msg("published on invalid topic \"%s\"", bad[i]);
    }
    assert_int_equal(hm_bus_publish(pub, too_long, env), -1);
    assert_int_equal(hm_bus_publish(pub, NULL, env), -1);

    hm_envelope_t *broken = hm_envelope_new("test.event");
    assert_non_null(broken);
    assert_int_equal(hm_envelope_set_type(broken, NULL), 0); /* type is required */
    assert_int_equal(hm_bus_publish(pub, "u.1.health", broken), -1);
    hm_envelope_destroy(&broken);

    assert_int_equal(hm_bus_publish(pub, longest, env), 0); /* the longest valid topic */
    s_expect(NULL, sub, longest, env);
    assert_int_equal(hm_bus_publish(pub, "u.1.health", env), 0);
    s_expect(NULL, sub, "u.1.health", env);
    s_expect_nothing(NULL, sub);

    hm_envelope_destroy(&env);
    zsock_destroy(&sub);
    zsock_destroy(&pub);
}

/* Marks where a garbage message carries a valid packed envelope. */
#define S_ENV NULL

/* A garbage message: up to four frames (data S_ENV: a valid envelope). */
typedef struct {
    const char *name;    /* what is wrong with it */
    size_t count;        /* frames */
    const char *data[4]; /* frame bytes, or S_ENV */
    size_t size[4];      /* frame sizes (ignored for S_ENV) */
} s_garbage_t;

/* Sends one garbage message on a raw PUB. */
static void
s_send_garbage(zsock_t *pub, const s_garbage_t *g, const char *env_buf, size_t env_len)
{
    for (size_t i = 0; i < g->count; i++) {
        const char *data = g->data[i] ? g->data[i] : env_buf;
        size_t size = g->data[i] ? g->size[i] : env_len;
        int flags = i + 1 < g->count ? ZMQ_SNDMORE : 0;
        assert_int_equal(zmq_send(zsock_resolve(pub), data, size, flags), (int)size);
    }
}

/* hm_bus_recv returns -2 for each kind of garbage, sets nothing, and
 * consumes the whole message: the next good event still arrives whole. */
static void
test_recv_refuses_garbage(void **state)
{
    (void)state;
    char long_topic[HM_TOPIC_MAX + 72];
    memset(long_topic, 'u', sizeof long_topic);
    char max_topic[HM_TOPIC_MAX + 1];
    s_conn_topic(max_topic, HM_TOPIC_MAX); /* one byte past the bound */

    const s_garbage_t cases[] = {
        {"one frame", 1, {"u.1.health"}, {10}},
        {"one empty frame", 1, {""}, {0}},
        {"three frames", 3, {"u.1.health", S_ENV, S_ENV}, {10, 0, 0}},
        {"three frames, the last empty", 3, {"u.1.health", S_ENV, ""}, {10, 0, 0}},
        {"four frames", 4, {"u.1.health", S_ENV, "x", "y"}, {10, 0, 1, 1}},
        {"topic outside the set", 2, {"u.1.weather", S_ENV}, {11, 0}},
        {"topic is a prefix", 2, {"u.1", S_ENV}, {3, 0}},
        {"topic in upper case", 2, {"U.1.HEALTH", S_ENV}, {10, 0}},
        {"envelope does not decode", 2, {"u.1.health", "not msgpack"}, {10, 11}},
        {"empty envelope", 2, {"u.1.health", ""}, {10, 0}},
        {"envelope cut short", 2, {"u.1.health", "\x83\xa4type"}, {10, 6}},
        {"empty topic", 2, {"", S_ENV}, {0, 0}},
        {"empty topic, three frames", 3, {"", S_ENV, S_ENV}, {0, 0, 0}},
        {"topic with an embedded NUL", 2, {"u.1.health\0x", S_ENV}, {12, 0}},
        {"topic with a trailing NUL", 2, {"u.1.health\0", S_ENV}, {11, 0}},
        {"topic of HM_TOPIC_MAX bytes", 2, {max_topic, S_ENV}, {HM_TOPIC_MAX, 0}},
        {"long topic, three frames", 3, {long_topic, S_ENV, S_ENV}, {sizeof long_topic, 0, 0}},
    };

    char ep[S_EP_MAX];
    zsock_t *pub = s_bind(ZMQ_PUB, ep); /* raw: sends whatever the test says */
    zsock_t *sub = s_sub_new(ep, "");   /* everything, garbage included */
    s_sync(NULL, pub, sub, HM_TOPIC_SYS_CONN);

    hm_envelope_t *valid = hm_envelope_new("test.event");
    assert_non_null(valid);
    char *env_buf = NULL;
    size_t env_len = 0;
    assert_int_equal(hm_envelope_encode(valid, &env_buf, &env_len), 0);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_send_garbage(pub, &cases[i], env_buf, env_len);
        hm_envelope_t *next = s_publish(pub, "u.1.health", "test.after_garbage");

        char *topic = NULL;
        hm_envelope_t *got = NULL;
        int rc = s_recv(NULL, sub, S_WAIT_MS, &topic, &got);
        if (rc != -2)
            fail_msg("%s: hm_bus_recv returned %d, want -2", cases[i].name, rc);
        assert_null(topic);
        assert_null(got);
        s_expect(NULL, sub, "u.1.health", next); /* not left mid-message */
        hm_envelope_destroy(&next);
    }
    s_expect_nothing(NULL, sub);

    free(env_buf);
    hm_envelope_destroy(&valid);
    zsock_destroy(&sub);
    zsock_destroy(&pub);
}

/* With a receive timeout and nothing sent, hm_bus_recv returns -1 after the
 * timeout and sets nothing. */
static void
test_recv_times_out(void **state)
{
    (void)state;
    char ep[S_EP_MAX];
    zsock_t *pub = s_bind(ZMQ_PUB, ep);
    zsock_t *sub = s_sub_new(ep, "");
    zsock_set_rcvtimeo(sub, 50);

    static char untouched_topic[] = "untouched";
    static hm_envelope_t untouched_env;
    char *topic = untouched_topic;
    hm_envelope_t *env = &untouched_env;
    int64_t start = zclock_mono();
    assert_int_equal(hm_bus_recv(sub, &topic, &env), -1);
    int64_t elapsed = zclock_mono() - start;
    assert_true(elapsed >= 45 && elapsed < S_WAIT_MS);
    assert_ptr_equal(topic, untouched_topic);
    assert_ptr_equal(env, &untouched_env);

    zsock_destroy(&sub);
    zsock_destroy(&pub);
}

/* After hm_bus_unsubscribe the topic is no longer delivered; the other
 * subscriptions are untouched. */
static void
test_unsubscribe_stops_delivery(void **state)
{
    (void)state;
    char ep[S_EP_MAX];
    zsock_t *pub = s_bind(ZMQ_PUB, ep);
    zsock_t *sub = s_sub_new(ep, "u.1.health");
    assert_int_equal(hm_bus_subscribe(sub, "u.2.health"), 0);
    s_sync(NULL, pub, sub, "u.1.health");
    s_sync(NULL, pub, sub, "u.2.health");

    hm_envelope_t *before = s_publish(pub, "u.1.health", "health.reading");
    s_expect(NULL, sub, "u.1.health", before);

    assert_int_equal(hm_bus_unsubscribe(sub, "u.1.health"), 0);
    /* The SUB filters what it receives by its own subscriptions as well, so
     * this holds even before the publisher has read the unsubscribe. */
    hm_envelope_t *dropped = s_publish(pub, "u.1.health", "health.reading");
    hm_envelope_t *kept = s_publish(pub, "u.2.health", "health.reading");
    s_expect(NULL, sub, "u.2.health", kept);
    s_expect_nothing(NULL, sub);

    hm_envelope_destroy(&before);
    hm_envelope_destroy(&dropped);
    hm_envelope_destroy(&kept);
    zsock_destroy(&sub);
    zsock_destroy(&pub);
}

int
main(void)
{
    /* A hung test must not hang the run: SIGALRM ends the process. */
    alarm(60);
    hm_log_set_level(HM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_and_receive),
        cmocka_unit_test(test_prefix_match_is_callers_job),
        cmocka_unit_test(test_publish_refuses_invalid_topics),
        cmocka_unit_test(test_recv_refuses_garbage),
        cmocka_unit_test(test_recv_times_out),
        cmocka_unit_test(test_unsubscribe_stops_delivery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
