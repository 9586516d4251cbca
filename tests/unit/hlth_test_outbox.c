/*
 * hlth_test_outbox.c - notify.create at least once: sent asynchronously,
 * sent again with the same id after a silence or service_unavailable,
 * forgotten (row deleted) on an ack, dropped on a refusal or when too old,
 * reloaded after a restart. A ROUTER socket plays the broker; a fake clock
 * drives the retries.
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

#include "hlth_outbox.h"
#include "hm_clock.h"
#include "hm_mdp.h"

#define NOW_MS 1767225600000LL

typedef struct {
    char dir[64];            /* temporary directory */
    hlth_db_t *db;           /* the outbox table */
    zsock_t *broker;         /* ROUTER: sees the requests, answers them */
    hm_mdp_client_t *client; /* what the outbox sends with */
    hlth_outbox_t *ob;       /* under test */
    zframe_t *peer;          /* the client's routing id, from its first request */
} fixture_t;

static const hlth_outbox_cfg_t s_cfg = {1000, 8000, 3600000, 10, 4};

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hlth-ob-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[128];
    snprintf(path, sizeof path, "%s/health.db", f->dir);
    hm_clock_set_fake(NOW_MS);
    f->db = hlth_db_open(path);
    static int n;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://hlth-ob-%d", n++);
    f->broker = zsock_new_router(ep);
    zsock_set_rcvtimeo(f->broker, 200);
    f->client = hm_mdp_client_new(ep, 1000, 0);
    f->ob = hlth_outbox_new(f->db, f->client, &s_cfg);
    assert_non_null(f->ob);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    hlth_outbox_destroy(&f->ob);
    hm_mdp_client_destroy(&f->client);
    zsock_destroy(&f->broker);
    zframe_destroy(&f->peer);
    hlth_db_destroy(&f->db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    hm_clock_set_real();
    free(f);
    return 0;
}

/* Stores and adds a notification as the service does. */
static void
add(fixture_t *f, const char *id, int64_t created_at)
{
    json_t *payload = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "user_id", 1, "type",
                                "health_alert", "priority", "high", "title", "Heart Rate Alert",
                                "message", "m", "idempotency_key", id);
    assert_int_equal(hlth_db_outbox_add(f->db, id, 1, payload, created_at), 0);
    hlth_outbox_add(f->ob, id, payload, created_at);
    json_decref(payload);
}

/* The next request the broker sees (NULL when none within 200 ms). */
static hm_envelope_t *
broker_recv(fixture_t *f)
{
    zmsg_t *msg = zmsg_recv(f->broker);
    if (!msg)
        return NULL;
    assert_int_equal(zmsg_size(msg), 5);
    zframe_destroy(&f->peer);
    f->peer = zmsg_pop(msg);
    zframe_t *empty = zmsg_pop(msg);
    char *proto = zmsg_popstr(msg), *service = zmsg_popstr(msg);
    assert_string_equal(proto, "MDPC01");
    assert_string_equal(service, "notify");
    zframe_t *body = zmsg_pop(msg);
    hm_envelope_t *req = NULL;
    assert_int_equal(hm_envelope_decode(zframe_data(body), zframe_size(body), &req), 0);
    zframe_destroy(&empty);
    zframe_destroy(&body);
    free(proto);
    free(service);
    zmsg_destroy(&msg);
    return req;
}

/* Answers request id with type (ack, or error with code) and lets the
 * outbox read it. */
static void
broker_reply(fixture_t *f, const char *id, const char *code)
{
    hm_envelope_t *rep = code ? hm_envelope_new("error") : hm_envelope_new("ack");
    hm_envelope_set_id(rep, id);
    hm_envelope_set_data(rep, code ? json_pack("{s:s}", "code", code) : json_object());
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(hm_envelope_encode(rep, &buf, &len), 0);
    zmsg_t *msg = zmsg_new();
    zmsg_append(msg, (zframe_t *[]){zframe_dup(f->peer)});
    zmsg_addstr(msg, "");
    zmsg_addstr(msg, "MDPC01");
    zmsg_addstr(msg, "notify");
    zmsg_addmem(msg, buf, len);
    assert_int_equal(zmsg_send(&msg, f->broker), 0);
    free(buf);
    hm_envelope_destroy(&rep);
    hm_envelope_t *got = NULL;
    char *service = NULL;
    for (int i = 0; i < 100 && hm_mdp_client_recv(f->client, &service, &got) != 0; i++)
        zclock_sleep(5);
    assert_non_null(got);
    hlth_outbox_on_reply(f->ob, got);
    hm_envelope_destroy(&got);
    free(service);
}

static int64_t
rows(fixture_t *f)
{
    return hlth_db_outbox_count(f->db);
}

static void
test_sent_until_acknowledged(void **state)
{
    fixture_t *f = *state;
    add(f, "n-1", NOW_MS);
    assert_int_equal(hlth_outbox_tick_ms(f->ob), 0);
    hlth_outbox_tick(f->ob);
    hm_envelope_t *req = broker_recv(f);
    assert_non_null(req);
    assert_string_equal(req->type, "notify.create");
    assert_string_equal(req->id, "n-1");
    assert_int_equal(req->user_id, 0);
    assert_string_equal(json_string_value(json_object_get(req->data, "type")), "health_alert");
    assert_string_equal(json_string_value(json_object_get(req->data, "idempotency_key")), "n-1");
    hm_envelope_destroy(&req);
    hlth_outbox_tick(f->ob); /* not due yet: nothing */
    assert_null(broker_recv(f));
    /* no answer: sent again with the same id */
    hm_clock_advance(1000);
    hlth_outbox_tick(f->ob);
    req = broker_recv(f);
    assert_non_null(req);
    assert_string_equal(req->id, "n-1");
    hm_envelope_destroy(&req);
    /* hm-notify not running: the broker says so; tried again later */
    broker_reply(f, "n-1", "service_unavailable");
    assert_int_equal(hlth_outbox_size(f->ob), 1);
    hm_clock_advance(4000);
    hlth_outbox_tick(f->ob);
    req = broker_recv(f);
    assert_non_null(req);
    hm_envelope_destroy(&req);
    broker_reply(f, "n-1", NULL);
    assert_int_equal(hlth_outbox_size(f->ob), 0);
    assert_int_equal(rows(f), 0);
    broker_reply(f, "n-1", NULL); /* a late duplicate answer is ignored */
    assert_int_equal(hlth_outbox_tick_ms(f->ob), 1000);
}

static void
test_refused_and_expired_are_dropped(void **state)
{
    fixture_t *f = *state;
    add(f, "n-bad", NOW_MS);
    add(f, "n-old", NOW_MS - 7200 * 1000); /* two hours old, ttl one hour */
    hlth_outbox_tick(f->ob);
    hm_envelope_t *req = broker_recv(f);
    assert_non_null(req);
    assert_string_equal(req->id, "n-bad");
    hm_envelope_destroy(&req);
    assert_null(broker_recv(f));
    assert_int_equal(rows(f), 1);
    broker_reply(f, "n-bad", "bad_request");
    assert_int_equal(hlth_outbox_size(f->ob), 0);
    assert_int_equal(rows(f), 0);
}

static void
test_inflight_bound_and_reload(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof id, "n-%d", i);
        add(f, id, NOW_MS + i);
    }
    assert_false(hlth_outbox_full(f->ob));
    hlth_outbox_tick(f->ob);
    int sent = 0;
    hm_envelope_t *req;
    while ((req = broker_recv(f))) {
        sent++;
        hm_envelope_destroy(&req);
    }
    assert_int_equal(sent, 4); /* inflight_max */
    /* a restart: a new outbox finds all six in the table */
    hlth_outbox_destroy(&f->ob);
    f->ob = hlth_outbox_new(f->db, f->client, &s_cfg);
    assert_int_equal(hlth_outbox_load(f->ob), 6);
    assert_int_equal(hlth_outbox_size(f->ob), 6);
    for (int i = 6; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof id, "n-%d", i);
        add(f, id, NOW_MS);
    }
    assert_true(hlth_outbox_full(f->ob));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sent_until_acknowledged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_and_expired_are_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inflight_bound_and_reload, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
