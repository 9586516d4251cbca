/*
 * ntf_test_service.c - the "notify" service driven in-process with
 * envelopes (no broker) and a fake clock: what it answers and what it
 * publishes (over inproc PUB/SUB) for creates, acks, re-sends, new
 * connections, quiet hours, muting, the queue bound, replay, broadcasts,
 * expiry and rolled-back batches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_bus.h"
#include "hm_clock.h"
#include "hm_db.h"
#include "hm_mdp.h"
#include "ntf_service.h"
#include "ntf_store.h"

#define NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

typedef struct {
    char dir[64];       /* temporary directory */
    sqlite3 *db;        /* open handle */
    zsock_t *pub;       /* what the service publishes on */
    zsock_t *sub;       /* bound inproc: sees what it publishes */
    ntf_service_t *svc; /* under test */
} fixture_t;

static int
setup(void **state)
{
    static int n;
    hm_clock_set_fake(NOW_MS);
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ntf_test_service_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char path[128], endpoint[64];
    snprintf(path, sizeof path, "%s/notify.db", f->dir);
    f->db = ntf_store_open(path);
    snprintf(endpoint, sizeof endpoint, "inproc://ntf-test-%d", n++);
    f->sub = zsock_new(ZMQ_SUB);
    zsock_bind(f->sub, "%s", endpoint);
    hm_bus_subscribe(f->sub, "u.");
    hm_bus_subscribe(f->sub, "all.notify");
    zsock_set_rcvtimeo(f->sub, 20);
    f->pub = hm_bus_pub_new(endpoint);
    zsock_events(f->sub);
    zsock_events(f->pub);
    ntf_service_cfg_t cfg = {
        .db = f->db,
        .pub = f->pub,
        .tzdir = "/usr/share/zoneinfo",
        .resend = {1000, 2.0, 8000, 3},
        .retry = {1000, 2.0, 8000, 3},
        .queue_max = 5,
        .expire_ms = 3600000,
        .flush_delay_ms = 100,
        .hold_check_ms = 1000,
        .retention_ms = 0,
        .resend_entries = 1000,
    };
    f->svc = ntf_service_new(&cfg);
    ntf_service_start(f->svc);
    *state = f;
    return f->svc ? 0 : -1;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    ntf_service_destroy(&f->svc);
    zsock_destroy(&f->pub);
    zsock_destroy(&f->sub);
    hm_db_close(&f->db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    hm_clock_set_real();
    return 0;
}

/* Sends verb with data (taken) as user_id; returns the reply. */
static hm_envelope_t *
call(fixture_t *f, const char *verb, int64_t user_id, json_t *data)
{
    hm_envelope_t *req = hm_envelope_new(verb);
    req->user_id = user_id;
    hm_envelope_set_correlation_id(req, "c-1");
    hm_envelope_set_data(req, data);
    zframe_t *to = NULL;
    hm_envelope_t *rep = ntf_service_handle(f->svc, req, &to, NULL);
    assert_non_null(rep);
    assert_string_equal(rep->id, req->id);
    assert_string_equal(rep->correlation_id, "c-1");
    hm_envelope_destroy(&req);
    return rep;
}

/* The error code of rep ("" for an ack); rep destroyed. */
static const char *
code_of(hm_envelope_t *rep)
{
    static char code[64];
    snprintf(code, sizeof code, "%s",
             strcmp(rep->type, HM_MSG_ERROR) == 0
                 ? json_string_value(json_object_get(rep->data, "code"))
                 : "");
    hm_envelope_destroy(&rep);
    return code;
}

/* Creates a notification; returns the reply. */
static hm_envelope_t *
create(fixture_t *f, int64_t user, const char *type, const char *prio, const char *key)
{
    json_t *d = json_pack("{s:I, s:s, s:s, s:s, s:s}", "user_id", (json_int_t)user, "type", type,
                          "priority", prio, "title", "Blood Pressure Alert", "message",
                          "Your blood pressure is above normal range");
    if (key)
        json_object_set_new(d, "idempotency_key", json_string(key));
    return call(f, HM_VERB_NOTIFY_CREATE, 0, d);
}

/* Creates and returns the new id (static buffer). */
static const char *
create_id(fixture_t *f, int64_t user, const char *type, const char *prio)
{
    static char id[64];
    hm_envelope_t *rep = create(f, user, type, prio, NULL);
    assert_string_equal(rep->type, "ack");
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(rep->data, "id")));
    hm_envelope_destroy(&rep);
    return id;
}

/* The next published event, or NULL within 20 ms; *topic set when asked. */
static hm_envelope_t *
next_event(fixture_t *f, char *topic)
{
    char *t = NULL;
    hm_envelope_t *ev = NULL;
    if (hm_bus_recv(f->sub, &t, &ev) != 0)
        return NULL;
    if (topic)
        snprintf(topic, HM_TOPIC_MAX, "%s", t);
    free(t);
    return ev;
}

static int
drain_events(fixture_t *f)
{
    int n = 0;
    hm_envelope_t *ev;
    while ((ev = next_event(f, NULL))) {
        n++;
        hm_envelope_destroy(&ev);
    }
    return n;
}

/* A sys.conn event. */
static void
conn_event(fixture_t *f, const char *type, const char *conn_id, int64_t user)
{
    hm_envelope_t *ev = hm_envelope_new(type);
    ev->user_id = user;
    hm_envelope_set_conn_id(ev, conn_id);
    hm_envelope_set_edge(ev, "edge-0");
    ntf_service_on_event(f->svc, HM_TOPIC_SYS_CONN, ev);
    hm_envelope_destroy(&ev);
}

/* Moves the fake clock by ms in steps of step ms, ticking the service. */
static void
run_steps(fixture_t *f, int64_t ms, int64_t step)
{
    for (int64_t t = 0; t < ms; t += step) {
        hm_clock_advance(step);
        ntf_service_tick(f->svc);
    }
}

/* The same in steps of 10 ms. */
static void
run_for(fixture_t *f, int64_t ms)
{
    run_steps(f, ms, 10);
}

static void
test_create_stores_then_publishes_with_seq(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *rep = create(f, 7, "health_alert", "high", NULL);
    assert_string_equal(rep->type, "ack");
    assert_int_equal(json_integer_value(json_object_get(rep->data, "seq")), 1);
    assert_true(json_is_true(json_object_get(rep->data, "created")));
    assert_string_equal(json_string_value(json_object_get(rep->data, "status")), "pending");
    char topic[HM_TOPIC_MAX];
    hm_envelope_t *ev = next_event(f, topic);
    assert_non_null(ev);
    assert_string_equal(topic, "u.7.notify");
    assert_string_equal(ev->type, "notification");
    assert_int_equal(ev->seq, 1);
    assert_int_equal(ev->user_id, 7);
    assert_string_equal(json_string_value(json_object_get(ev->data, "id")),
                        json_string_value(json_object_get(rep->data, "id")));
    assert_string_equal(json_string_value(json_object_get(ev->data, "priority")), "high");
    assert_string_equal(json_string_value(json_object_get(ev->data, "created_at")),
                        "2026-01-01T00:00:00.000Z");
    hm_envelope_destroy(&ev);
    hm_envelope_destroy(&rep);
    rep = create(f, 7, "system", "low", NULL);
    assert_int_equal(json_integer_value(json_object_get(rep->data, "seq")), 2);
    hm_envelope_destroy(&rep);
}

static void
test_idempotent_create(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *a = create(f, 7, "medication_reminder", "normal", "occ-1");
    hm_envelope_t *b = create(f, 7, "medication_reminder", "normal", "occ-1");
    assert_true(json_is_false(json_object_get(b->data, "created")));
    assert_string_equal(json_string_value(json_object_get(a->data, "id")),
                        json_string_value(json_object_get(b->data, "id")));
    assert_int_equal(drain_events(f), 1);
    /* Without a key, a retried request (same envelope id) creates one. */
    hm_envelope_t *req = hm_envelope_new(HM_VERB_NOTIFY_CREATE);
    hm_envelope_set_data(
        req, json_pack("{s:i, s:s, s:s}", "user_id", 7, "type", "system", "title", "Maintenance"));
    zframe_t *to = NULL;
    hm_envelope_t *r1 = ntf_service_handle(f->svc, req, &to, NULL);
    hm_envelope_t *r2 = ntf_service_handle(f->svc, req, &to, NULL);
    assert_true(json_is_true(json_object_get(r1->data, "created")));
    assert_true(json_is_false(json_object_get(r2->data, "created")));
    assert_string_equal(json_string_value(json_object_get(r2->data, "status")), "pending");
    assert_int_equal(drain_events(f), 1);
    hm_envelope_destroy(&req);
    hm_envelope_destroy(&r1);
    hm_envelope_destroy(&r2);
    hm_envelope_destroy(&a);
    hm_envelope_destroy(&b);
}

static void
test_create_refusals(void **state)
{
    fixture_t *f = *state;
    const char *bad[] = {
        "{\"type\":\"system\",\"title\":\"t\"}",
        "{\"user_id\":1,\"all\":true,\"type\":\"system\",\"title\":\"t\"}",
        "{\"user_id\":-3,\"type\":\"system\",\"title\":\"t\"}",
        "{\"user_id\":1,\"type\":\"weather\",\"title\":\"t\"}",
        "{\"user_id\":1,\"type\":\"system\",\"priority\":\"urgent\",\"title\":\"t\"}",
        "{\"user_id\":1,\"type\":\"system\"}",
        "{\"user_id\":1,\"type\":\"system\",\"title\":\"\"}",
        "{\"user_id\":1,\"type\":\"system\",\"title\":\"t\",\"data\":[1]}",
        "{\"user_id\":1,\"type\":\"system\",\"title\":\"t\",\"ttl_s\":0}",
        "{\"user_id\":1,\"type\":\"system\",\"title\":\"t\",\"expires_at\":\"soon\"}",
        "{\"user_id\":1,\"type\":\"system\",\"title\":\"t\",\"idempotency_key\":7}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_string_equal(code_of(call(f, HM_VERB_NOTIFY_CREATE, 0, json_loads(bad[i], 0, NULL))),
                            "bad_request");
    /* Through an edge connection: refused. */
    hm_envelope_t *req = hm_envelope_new(HM_VERB_NOTIFY_CREATE);
    hm_envelope_set_conn_id(req, "conn-1");
    hm_envelope_set_data(
        req, json_pack("{s:i, s:s, s:s}", "user_id", 1, "type", "system", "title", "t"));
    zframe_t *to = NULL;
    assert_string_equal(code_of(ntf_service_handle(f->svc, req, &to, NULL)), "forbidden");
    hm_envelope_destroy(&req);
    assert_string_equal(code_of(call(f, "notify.launch", 1, NULL)), "unknown_verb");
    assert_int_equal(drain_events(f), 0);
}

static void
test_ack_only_by_the_owner(void **state)
{
    fixture_t *f = *state;
    const char *id = create_id(f, 7, "health_alert", "critical");
    assert_string_equal(code_of(call(f, HM_VERB_NOTIFY_ACK, 8, json_pack("{s:s}", "id", id))),
                        "forbidden");
    assert_string_equal(
        code_of(call(f, HM_VERB_NOTIFY_ACK, 7, json_pack("{s:s}", "id", "no-such-id"))),
        "not_found");
    assert_string_equal(code_of(call(f, HM_VERB_NOTIFY_ACK, 7, json_object())), "bad_request");
    hm_envelope_t *rep = call(f, HM_VERB_NOTIFY_ACK, 7, json_pack("{s:s}", "notification_id", id));
    assert_string_equal(rep->type, "ack");
    assert_true(json_is_false(json_object_get(rep->data, "already")));
    hm_envelope_destroy(&rep);
    rep = call(f, HM_VERB_NOTIFY_ACK, 7, json_pack("{s:s}", "id", id));
    assert_true(json_is_true(json_object_get(rep->data, "already")));
    hm_envelope_destroy(&rep);
}

static void
test_unacked_critical_is_resent_with_growing_intervals_until_acked(void **state)
{
    fixture_t *f = *state;
    conn_event(f, "conn_auth", "c-1", 7);
    run_for(f, 200); /* the (empty) queue re-publish */
    const char *id = create_id(f, 7, "health_alert", "critical");
    hm_envelope_t *ev = next_event(f, NULL);
    assert_int_equal(ev->seq, 1);
    hm_envelope_destroy(&ev);
    int64_t times[2];
    int got = 0;
    int64_t t0 = hm_clock_mono_ns() / 1000000;
    for (int step = 0; step < 400 && got < 2; step++) {
        run_for(f, 10);
        while ((ev = next_event(f, NULL))) {
            assert_int_equal(ev->seq, -1); /* a re-send has no envelope seq */
            assert_int_equal(json_integer_value(json_object_get(ev->data, "resend")), got + 1);
            assert_int_equal(json_integer_value(json_object_get(ev->data, "seq")), 1);
            times[got++] = hm_clock_mono_ns() / 1000000 - t0;
            hm_envelope_destroy(&ev);
        }
    }
    assert_int_equal(got, 2);
    int64_t first = times[0], second = times[1] - times[0];
    assert_in_range(first, 500, 1020);   /* [base/2, base] */
    assert_in_range(second, 1000, 2020); /* [2 base/2, 2 base] */
    hm_envelope_destroy(
        &(hm_envelope_t *){call(f, HM_VERB_NOTIFY_ACK, 7, json_pack("{s:s}", "id", id))});
    run_steps(f, 10000, 50);
    assert_int_equal(drain_events(f), 0);
}

static void
test_resends_stop_after_max_and_offline(void **state)
{
    fixture_t *f = *state;
    conn_event(f, "conn_auth", "c-1", 7);
    run_for(f, 200);
    create_id(f, 7, "appointment_reminder", "high");
    run_steps(f, 20000, 50);
    assert_int_equal(drain_events(f), 1 + 3); /* the first send and 3 re-sends */
    create_id(f, 7, "appointment_reminder", "high");
    conn_event(f, "conn_close", "c-1", 7);
    run_steps(f, 20000, 50);
    assert_int_equal(drain_events(f), 1); /* offline: no re-sends */
}

static void
test_new_connection_gets_the_open_queue_in_order(void **state)
{
    fixture_t *f = *state;
    create_id(f, 7, "system", "normal");
    const char *id2 = create_id(f, 7, "system", "normal");
    char acked[64];
    snprintf(acked, sizeof acked, "%s", id2);
    create_id(f, 7, "system", "low");
    hm_envelope_destroy(
        &(hm_envelope_t *){call(f, HM_VERB_NOTIFY_ACK, 7, json_pack("{s:s}", "id", acked))});
    assert_int_equal(drain_events(f), 3); /* published live, nobody listening */
    conn_event(f, "conn_auth", "c-9", 7);
    /* While the re-publish waits, a new one is not sent on its own. */
    create_id(f, 7, "system", "normal");
    assert_int_equal(drain_events(f), 0);
    run_for(f, 150);
    int64_t want[] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        hm_envelope_t *ev = next_event(f, NULL);
        assert_non_null(ev);
        assert_int_equal(ev->seq, want[i]);
        hm_envelope_destroy(&ev);
    }
    assert_int_equal(drain_events(f), 0);
}

static void
test_quiet_hours_hold_normal_pass_critical_alert(void **state)
{
    fixture_t *f = *state;
    /* NOW is 00:00 UTC: quiet from 23:00 to 00:30. */
    hm_envelope_t *rep = call(f, HM_VERB_NOTIFY_PREFS_SET, 7,
                              json_pack("{s:{s:s, s:s, s:s}}", "quiet_hours", "start", "23:00",
                                        "end", "00:30", "timezone", "UTC"));
    assert_string_equal(rep->type, "ack");
    assert_true(json_is_true(json_object_get(
        json_object_get(json_object_get(rep->data, "preferences"), "quiet_hours"), "enabled")));
    hm_envelope_destroy(&rep);
    conn_event(f, "conn_auth", "c-1", 7);
    run_for(f, 200);
    rep = create(f, 7, "medication_reminder", "normal", NULL);
    assert_string_equal(json_string_value(json_object_get(rep->data, "status")), "held");
    hm_envelope_destroy(&rep);
    assert_int_equal(drain_events(f), 0);
    const char *crit = create_id(f, 7, "health_alert", "critical");
    hm_envelope_t *ev = next_event(f, NULL);
    assert_int_equal(ev->seq, 2);
    hm_envelope_destroy(&ev);
    hm_envelope_destroy(
        &(hm_envelope_t *){call(f, HM_VERB_NOTIFY_ACK, 7, json_pack("{s:s}", "id", crit))});
    run_steps(f, 20 * 60000, 1000);
    assert_int_equal(drain_events(f), 0); /* still quiet at 00:20 */
    run_steps(f, 11 * 60000, 1000);
    ev = next_event(f, NULL);
    assert_non_null(ev);
    assert_int_equal(json_integer_value(json_object_get(ev->data, "seq")), 1);
    assert_int_equal(ev->seq, -1); /* seq 2 went out before: sent without an envelope seq */
    hm_envelope_destroy(&ev);
    assert_int_equal(drain_events(f), 0);
}

static void
test_muted_type_is_stored_and_listed(void **state)
{
    fixture_t *f = *state;
    hm_envelope_destroy(
        &(hm_envelope_t *){call(f, HM_VERB_NOTIFY_PREFS_SET, 7,
                                json_pack("{s:{s:b}}", "types", "appointment_reminder", 0))});
    hm_envelope_t *rep = create(f, 7, "appointment_reminder", "high", NULL);
    assert_string_equal(json_string_value(json_object_get(rep->data, "status")), "muted");
    hm_envelope_destroy(&rep);
    assert_int_equal(drain_events(f), 0);
    rep = call(f, HM_VERB_NOTIFY_LIST, 7, json_object());
    json_t *items = json_object_get(rep->data, "notifications");
    assert_int_equal(json_array_size(items), 1);
    assert_true(json_is_true(json_object_get(json_array_get(items, 0), "muted")));
    assert_int_equal(json_integer_value(json_object_get(rep->data, "unread")), 1);
    hm_envelope_destroy(&rep);
    rep = call(f, HM_VERB_NOTIFY_PREFS_GET, 7, NULL);
    assert_true(json_is_false(
        json_object_get(json_object_get(json_object_get(rep->data, "preferences"), "types"),
                        "appointment_reminder")));
    hm_envelope_destroy(&rep);
    assert_string_equal(
        code_of(call(f, HM_VERB_NOTIFY_PREFS_SET, 7,
                     json_pack("{s:{s:s}}", "quiet_hours", "timezone", "Nowhere/City"))),
        "invalid_field");
}

static void
test_queue_bound_evicts_low_priority_only(void **state)
{
    fixture_t *f = *state;
    const char *prios[] = {"low", "critical", "low", "high", "low", "high", "critical", "low"};
    for (int i = 0; i < 8; i++)
        create_id(f, 7, "system", prios[i]);
    conn_event(f, "conn_auth", "c-1", 7);
    drain_events(f);
    run_for(f, 150);
    int64_t want[] = {2, 4, 6, 7, 8}; /* the three oldest low ones were evicted */
    for (int i = 0; i < 5; i++) {
        hm_envelope_t *ev = next_event(f, NULL);
        assert_non_null(ev);
        assert_int_equal(ev->seq, want[i]);
        hm_envelope_destroy(&ev);
    }
    hm_envelope_t *rep = call(f, HM_VERB_NOTIFY_LIST, 7, json_pack("{s:i}", "limit", 100));
    json_t *items = json_object_get(rep->data, "notifications");
    int evicted = 0;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (strcmp(json_string_value(json_object_get(it, "status")), "evicted") == 0) {
            evicted++;
            assert_string_equal(json_string_value(json_object_get(it, "priority")), "low");
        }
    }
    assert_int_equal(evicted, 3);
    hm_envelope_destroy(&rep);
}

static void
test_replay_and_its_refusals(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 3; i++)
        create_id(f, 7, "system", "normal");
    hm_envelope_t *rep =
        call(f, HM_VERB_NOTIFY_REPLAY, 7, json_pack("{s:i, s:i}", "user_id", 7, "since_seq", 1));
    assert_string_equal(rep->type, "ack");
    assert_int_equal(json_integer_value(json_object_get(rep->data, "user_id")), 7);
    assert_true(json_is_false(json_object_get(rep->data, "more")));
    json_t *events = json_object_get(rep->data, "events");
    assert_int_equal(json_array_size(events), 2);
    json_t *e0 = json_array_get(events, 0);
    assert_string_equal(json_string_value(json_object_get(e0, "type")), "notification");
    assert_int_equal(json_integer_value(json_object_get(e0, "seq")), 2);
    assert_int_equal(json_integer_value(json_object_get(e0, "user_id")), 7);
    assert_non_null(json_object_get(json_object_get(e0, "notification"), "title"));
    assert_non_null(json_object_get(e0, "timestamp"));
    hm_envelope_destroy(&rep);
    /* Another user's stream needs auth, which this test has not got. */
    assert_string_equal(code_of(call(f, HM_VERB_NOTIFY_REPLAY, 8,
                                     json_pack("{s:i, s:i}", "user_id", 7, "since_seq", 0))),
                        "forbidden");
    assert_string_equal(code_of(call(f, HM_VERB_NOTIFY_REPLAY, 7,
                                     json_pack("{s:i, s:i}", "user_id", 7, "since_seq", -1))),
                        "bad_request");
}

static void
test_broadcast_reaches_all_notify(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *rep = call(f, HM_VERB_NOTIFY_CREATE, 0,
                              json_pack("{s:b, s:s, s:s, s:s}", "all", 1, "type", "system", "title",
                                        "Maintenance tonight", "message", "22:00 UTC"));
    assert_string_equal(rep->type, "ack");
    const char *id = json_string_value(json_object_get(rep->data, "id"));
    char topic[HM_TOPIC_MAX];
    hm_envelope_t *ev = next_event(f, topic);
    assert_string_equal(topic, "all.notify");
    assert_int_equal(ev->seq, 1);
    assert_int_equal(ev->user_id, 0);
    hm_envelope_destroy(&ev);
    hm_envelope_t *ack = call(f, HM_VERB_NOTIFY_ACK, 3, json_pack("{s:s}", "id", id));
    assert_string_equal(ack->type, "ack");
    hm_envelope_destroy(&ack);
    hm_envelope_t *list = call(f, HM_VERB_NOTIFY_LIST, 4, json_object());
    json_t *items = json_object_get(list->data, "notifications");
    assert_int_equal(json_array_size(items), 1);
    assert_true(json_is_false(json_object_get(json_array_get(items, 0), "acked")));
    hm_envelope_destroy(&list);
    hm_envelope_destroy(&rep);
}

static void
test_mark_read_and_paged_list(void **state)
{
    fixture_t *f = *state;
    char ids[5][64];
    for (int i = 0; i < 5; i++)
        snprintf(ids[i], sizeof ids[i], "%s", create_id(f, 7, "system", "normal"));
    hm_envelope_t *rep =
        call(f, HM_VERB_NOTIFY_MARK_READ, 7, json_pack("{s:[s, s]}", "ids", ids[0], ids[1]));
    assert_int_equal(json_integer_value(json_object_get(rep->data, "updated")), 2);
    assert_int_equal(json_integer_value(json_object_get(rep->data, "unread")), 3);
    hm_envelope_destroy(&rep);
    assert_string_equal(
        code_of(call(f, HM_VERB_NOTIFY_MARK_READ, 8, json_pack("{s:s}", "id", ids[2]))),
        "forbidden");
    rep = call(f, HM_VERB_NOTIFY_LIST, 7, json_pack("{s:i, s:b}", "limit", 2, "unread_only", 1));
    assert_int_equal(json_array_size(json_object_get(rep->data, "notifications")), 2);
    json_t *cursor = json_object_get(rep->data, "next_cursor");
    assert_true(json_is_integer(cursor));
    hm_envelope_t *rep2 =
        call(f, HM_VERB_NOTIFY_LIST, 7,
             json_pack("{s:i, s:b, s:O}", "limit", 2, "unread_only", 1, "before", cursor));
    json_t *items = json_object_get(rep2->data, "notifications");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "id")), ids[2]);
    assert_true(json_is_null(json_object_get(rep2->data, "next_cursor")));
    hm_envelope_destroy(&rep);
    hm_envelope_destroy(&rep2);
    rep = call(f, HM_VERB_NOTIFY_MARK_READ, 7, json_pack("{s:b}", "all", 1));
    assert_int_equal(json_integer_value(json_object_get(rep->data, "unread")), 0);
    hm_envelope_destroy(&rep);
    assert_string_equal(code_of(call(f, HM_VERB_NOTIFY_LIST, 7, json_pack("{s:i}", "limit", 0))),
                        "bad_request");
}

static void
test_expired_ones_are_not_sent_again(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *rep = call(f, HM_VERB_NOTIFY_CREATE, 0,
                              json_pack("{s:i, s:s, s:s, s:i}", "user_id", 7, "type", "system",
                                        "title", "Soon stale", "ttl_s", 2));
    hm_envelope_destroy(&rep);
    assert_int_equal(drain_events(f), 1);
    run_for(f, 3000);
    conn_event(f, "conn_auth", "c-1", 7);
    run_for(f, 200);
    assert_int_equal(drain_events(f), 0);
    rep = call(f, HM_VERB_NOTIFY_LIST, 7, NULL);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(rep->data, "notifications"), 0), "status")),
        "expired");
    hm_envelope_destroy(&rep);
}

static void
test_rolled_back_batch_publishes_nothing(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(ntf_service_begin(f->svc), 0);
    hm_envelope_t *rep = create(f, 7, "system", "normal", "lost");
    assert_string_equal(rep->type, "ack");
    hm_envelope_destroy(&rep);
    hm_db_exec(f->db, "ROLLBACK");
    assert_int_equal(ntf_service_commit(f->svc), -1);
    assert_int_equal(drain_events(f), 0);
    rep = create(f, 7, "system", "normal", "lost");
    assert_true(json_is_true(json_object_get(rep->data, "created"))); /* nothing was stored */
    hm_envelope_destroy(&rep);
    ntf_service_stats_t st;
    ntf_service_stats(f->svc, &st);
    assert_int_equal(st.published, 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_create_stores_then_publishes_with_seq),
        T(test_idempotent_create),
        T(test_create_refusals),
        T(test_ack_only_by_the_owner),
        T(test_unacked_critical_is_resent_with_growing_intervals_until_acked),
        T(test_resends_stop_after_max_and_offline),
        T(test_new_connection_gets_the_open_queue_in_order),
        T(test_quiet_hours_hold_normal_pass_critical_alert),
        T(test_muted_type_is_stored_and_listed),
        T(test_queue_bound_evicts_low_priority_only),
        T(test_replay_and_its_refusals),
        T(test_broadcast_reaches_all_notify),
        T(test_mark_read_and_paged_list),
        T(test_expired_ones_are_not_sent_again),
        T(test_rolled_back_batch_publishes_nothing),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
