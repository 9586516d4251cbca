/*
 * test_topic.c - hm_topic_parse against the closed topic set
 * (proto/hm_proto.h, proto/SPEC.md section 2).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hm_proto.h"

/* Parses topic; asserts kind, and the id when the kind carries one. */
static void
s_expect(const char *topic, hm_topic_kind_t kind, int64_t id)
{
    int64_t got = -42;
    hm_topic_kind_t k = hm_topic_parse(topic, &got, NULL);
    if (k != kind)
        fail_msg("\"%s\": kind %d, want %d", topic ? topic : "(null)", (int)k, (int)kind);
    if (kind == HM_TOPIC_USER_HEALTH || kind == HM_TOPIC_USER_CHAT ||
        kind == HM_TOPIC_USER_NOTIFY || kind == HM_TOPIC_CTL_USER)
        assert_true(got == id);
    else
        assert_true(got == -42); /* untouched */
}

/* Topics built with hm_proto.h's formats parse back to their kind and id. */
static void
test_round_trip(void **state)
{
    (void)state;
    static const long long ids[] = {1, 9, 10, 42, 1234567, INT64_MAX};
    char topic[HM_TOPIC_MAX];
    char conn[HM_ENVELOPE_MAX_STR];

    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        snprintf(topic, sizeof topic, HM_TOPIC_USER_HEALTH_FMT, ids[i]);
        s_expect(topic, HM_TOPIC_USER_HEALTH, ids[i]);
        snprintf(topic, sizeof topic, HM_TOPIC_USER_CHAT_FMT, ids[i]);
        s_expect(topic, HM_TOPIC_USER_CHAT, ids[i]);
        snprintf(topic, sizeof topic, HM_TOPIC_USER_NOTIFY_FMT, ids[i]);
        s_expect(topic, HM_TOPIC_USER_NOTIFY, ids[i]);
        snprintf(topic, sizeof topic, HM_TOPIC_CTL_USER_FMT, ids[i]);
        s_expect(topic, HM_TOPIC_CTL_USER, ids[i]);
    }
    snprintf(topic, sizeof topic, HM_TOPIC_CTL_CONN_FMT, "c-9f2A-0");
    memset(conn, 'x', sizeof conn);
    assert_int_equal(hm_topic_parse(topic, NULL, conn), HM_TOPIC_CTL_CONN);
    assert_string_equal(conn, "c-9f2A-0");
    s_expect(HM_TOPIC_ALL_NOTIFY, HM_TOPIC_ALL_NOTIFY_KIND, 0);
    s_expect(HM_TOPIC_SYS_CONN, HM_TOPIC_SYS_CONN_KIND, 0);
    s_expect(HM_TOPIC_SYS_EDGE, HM_TOPIC_SYS_EDGE_KIND, 0);
    s_expect(HM_TOPIC_SYS_AUDIT, HM_TOPIC_SYS_AUDIT_KIND, 0);
    s_expect("sys.audit.x", HM_TOPIC_INVALID, 0); /* compared whole */
    s_expect("sys.audi", HM_TOPIC_INVALID, 0);
}

static void
test_user_ids(void **state)
{
    (void)state;
    static const char *const bad[] = {"u.0.health",   /* not positive */
                                      "u.007.health", /* leading zero */
                                      "u.+7.health",
                                      "u.-7.health", /* sign */
                                      "u..health",
                                      "u.health",                      /* no id */
                                      "u.9223372036854775808.health",  /* INT64_MAX + 1 */
                                      "u.99999999999999999999.health", /* far past int64 */
                                      "u.1",
                                      "u.1.",
                                      "u.1.healthx",
                                      "u.1.health.",
                                      "u.1x.health",
                                      "u.1.Health",
                                      "u. 1.health",
                                      "u.1 .chat",
                                      "u.1.notify\n",
                                      "ctl.user.0",
                                      "ctl.user.01",
                                      "ctl.user.",
                                      "ctl.user.1.",
                                      "ctl.user.-1",
                                      "ctl.user.9223372036854775808",
                                      "ctl.user.1x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        s_expect(bad[i], HM_TOPIC_INVALID, 0);
    s_expect("u.9223372036854775807.notify", HM_TOPIC_USER_NOTIFY, INT64_MAX);
    s_expect("ctl.user.9223372036854775807", HM_TOPIC_CTL_USER, INT64_MAX);
    s_expect("u.100.chat", HM_TOPIC_USER_CHAT, 100);
    assert_int_equal(hm_topic_parse("u.5.health", NULL, NULL), HM_TOPIC_USER_HEALTH);
}

static void
test_conn_ids(void **state)
{
    (void)state;
    static const char *const bad[] = {"ctl.conn.",         "ctl.conn",     "ctl.conn.a_b",
                                      "ctl.conn.a.b",      "ctl.conn.a b", "ctl.conn./",
                                      "ctl.conn.\xc3\xa9", "ctl.conn.a\n", "ctl.conn.a+b"};
    char conn[HM_ENVELOPE_MAX_STR] = "unchanged";

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(hm_topic_parse(bad[i], NULL, conn), HM_TOPIC_INVALID);
        assert_string_equal(conn, "unchanged");
    }
    assert_int_equal(hm_topic_parse("ctl.conn.Z", NULL, NULL), HM_TOPIC_CTL_CONN);
    assert_int_equal(hm_topic_parse("ctl.conn.0-A-z-9", NULL, conn), HM_TOPIC_CTL_CONN);
    assert_string_equal(conn, "0-A-z-9");
}

/* The whole topic must be shorter than HM_TOPIC_MAX. */
static void
test_length_limit(void **state)
{
    (void)state;
    char topic[HM_TOPIC_MAX + 2];
    char conn[HM_ENVELOPE_MAX_STR];
    size_t prefix = strlen("ctl.conn.");

    memcpy(topic, "ctl.conn.", prefix);
    memset(topic + prefix, 'a', sizeof topic - prefix);
    topic[HM_TOPIC_MAX - 1] = '\0'; /* 127 bytes */
    assert_int_equal(hm_topic_parse(topic, NULL, conn), HM_TOPIC_CTL_CONN);
    assert_int_equal(strlen(conn), HM_TOPIC_MAX - 1 - prefix);
    topic[HM_TOPIC_MAX - 1] = 'a';
    topic[HM_TOPIC_MAX] = '\0'; /* 128 bytes */
    assert_int_equal(hm_topic_parse(topic, NULL, conn), HM_TOPIC_INVALID);
    topic[HM_TOPIC_MAX] = 'a';
    topic[HM_TOPIC_MAX + 1] = '\0';
    assert_int_equal(hm_topic_parse(topic, NULL, conn), HM_TOPIC_INVALID);
}

static void
test_outside_the_set(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",           "u",          "u.",          "all",           "all.notify.", "all.notifyx",
        "ALL.NOTIFY", "sys",        "sys.",        "sys.con",       "sys.conn.",   "sys.connx",
        "sys.edges",  " sys.edge",  "sys.edge ",   "ctl",           "ctl.",        "ctl.user",
        "ctl.x.1",    "x.1.health", "u.1.unknown", "ctl.conn.a\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        s_expect(bad[i], HM_TOPIC_INVALID, 0);
    s_expect(NULL, HM_TOPIC_INVALID, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_user_ids),
        cmocka_unit_test(test_conn_ids), cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_outside_the_set)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
