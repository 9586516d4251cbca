/*
 * test_audit.c - hm_audit: the sys.audit event a service publishes for a
 * refusal it decides on its own (over inproc PUB/SUB), and the receiving
 * side's check (hm_audit_parse) against what it must refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_audit.h"
#include "hm_bus.h"

typedef struct {
    zsock_t *pub, *sub;
} fixture_t;

static int
setup(void **state)
{
    static int n;
    fixture_t *f = calloc(1, sizeof *f);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://audit-test-%d", n++);
    f->sub = zsock_new(ZMQ_SUB);
    if (!f->sub || zsock_bind(f->sub, "%s", endpoint) != 0)
        return -1;
    hm_bus_subscribe(f->sub, HM_TOPIC_SYS_AUDIT);
    f->pub = hm_bus_pub_new(endpoint);
    zsock_events(f->sub); /* inproc: the subscription reaches the PUB */
    zsock_events(f->pub);
    zsock_set_rcvtimeo(f->sub, 2000); /* hang guard */
    *state = f;
    return f->pub ? 0 : -1;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    zsock_destroy(&f->pub);
    zsock_destroy(&f->sub);
    free(f);
    return 0;
}

/* A refused request: verb by user on conn_id/edge. */
static hm_envelope_t *
request(const char *verb, int64_t user, const char *conn_id, const char *edge)
{
    hm_envelope_t *req = hm_envelope_new(verb);
    assert_non_null(req);
    req->user_id = user;
    hm_envelope_set_conn_id(req, conn_id);
    hm_envelope_set_edge(req, edge);
    hm_envelope_set_data(req, json_pack("{s:s, s:i}", "message", "private text", "value", 71));
    return req;
}

/* The next event on sys.audit (caller owns). */
static hm_envelope_t *
next_event(fixture_t *f)
{
    char *topic = NULL;
    hm_envelope_t *ev = NULL;
    assert_int_equal(hm_bus_recv(f->sub, &topic, &ev), 0);
    assert_string_equal(topic, HM_TOPIC_SYS_AUDIT);
    free(topic);
    return ev;
}

static void
test_published_event_round_trips(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *req = request(HM_VERB_CHAT_HISTORY, 12, "c-1", "edge-a");
    assert_int_equal(
        hm_audit_denied_ex(f->pub, req, HM_SVC_CHAT, HM_ERR_FORBIDDEN, "caregiver", 7, "conv-7"),
        0);
    hm_envelope_t *ev = next_event(f);
    assert_string_equal(ev->type, HM_EV_AUDIT_DENIED);
    hm_audit_event_t a;
    const char *why = "unset";
    assert_int_equal(hm_audit_parse(ev, &a, &why), 0);
    assert_null(why);
    assert_int_equal(a.actor_id, 12);
    assert_string_equal(a.conn_id, "c-1");
    assert_string_equal(a.edge, "edge-a");
    assert_string_equal(a.service, "chat");
    assert_string_equal(a.action, "chat.history");
    assert_string_equal(a.result, "denied");
    assert_string_equal(a.code, "forbidden");
    assert_int_equal(a.target_user_id, 7);
    assert_string_equal(a.target, "conv-7");
    assert_string_equal(a.role, "caregiver");
    assert_null(a.remote_addr);
    /* ids only: nothing of the request's data rides along */
    char *text = json_dumps(ev->data, JSON_SORT_KEYS);
    assert_null(strstr(text, "private"));
    assert_null(strstr(text, "71"));
    free(text);
    assert_int_equal(json_object_size(ev->data), 7);
    hm_envelope_destroy(&ev);
    hm_envelope_destroy(&req);
}

static void
test_ids_that_do_not_fit_are_left_out(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *req = request(HM_VERB_NOTIFY_ACK, 0, "c 1", "edge\n");
    char long_target[HM_AUDIT_TARGET_MAX + 2];
    memset(long_target, 'a', sizeof long_target - 1);
    long_target[sizeof long_target - 1] = '\0';
    assert_int_equal(hm_audit_denied(f->pub, req, HM_SVC_NOTIFY, 0, long_target), 0);
    hm_envelope_t *ev = next_event(f);
    hm_audit_event_t a;
    assert_int_equal(hm_audit_parse(ev, &a, NULL), 0); /* still a valid event */
    assert_int_equal(a.actor_id, 0);
    assert_null(a.conn_id);
    assert_null(a.edge);
    assert_null(a.target);
    assert_int_equal(a.target_user_id, 0);
    hm_envelope_destroy(&ev);
    assert_int_equal(hm_audit_denied(f->pub, req, HM_SVC_NOTIFY, -4, "id with space"), 0);
    ev = next_event(f);
    assert_int_equal(hm_audit_parse(ev, &a, NULL), 0);
    assert_int_equal(a.target_user_id, 0);
    assert_null(a.target);
    hm_envelope_destroy(&ev);
    /* no socket: nothing to do, no crash */
    assert_int_equal(hm_audit_denied(NULL, req, HM_SVC_NOTIFY, 3, "n-1"), 0);
    hm_envelope_destroy(&req);
}

static void
test_parse_refuses(void **state)
{
    (void)state;
    hm_audit_event_t a;
    const char *why = NULL;
    assert_int_equal(hm_audit_parse(NULL, &a, &why), -1);
    assert_string_equal(why, "type");
    hm_envelope_t *ev = hm_envelope_new(HM_EV_AUDIT_DENIED);
    assert_int_equal(hm_audit_parse(ev, &a, &why), -1); /* no data */
    assert_string_equal(why, "data");
    hm_envelope_set_data(ev, json_pack("{s:s, s:s, s:s, s:s}", "service", "health", "action",
                                       "health.reading", "result", "denied", "code", "forbidden"));
    assert_int_equal(hm_audit_parse(ev, &a, &why), 0);
    ev->user_id = -1;
    assert_int_equal(hm_audit_parse(ev, &a, &why), -1);
    assert_string_equal(why, "actor");
    ev->user_id = 1;
    json_object_set_new(ev->data, "result", json_string("ok"));
    assert_int_equal(hm_audit_parse(ev, &a, &why), -1);
    assert_string_equal(why, "result");
    json_object_set_new(ev->data, "result", json_string("denied"));
    /* an embedded NUL must not pass for a short string */
    json_object_set_new(ev->data, "action", json_stringn("health.reading\0x", 16));
    assert_int_equal(hm_audit_parse(ev, &a, &why), -1);
    assert_string_equal(why, "action");
    json_object_set_new(ev->data, "action", json_string("health.reading"));
    json_object_set_new(ev->data, "target_user_id", json_integer(0));
    assert_int_equal(hm_audit_parse(ev, &a, &why), -1);
    assert_string_equal(why, "target_user_id");
    json_object_del(ev->data, "target_user_id");
    json_object_set_new(ev->data, "target", json_null()); /* null: absent */
    json_object_set_new(ev->data, "extra", json_string("ignored, never stored"));
    assert_int_equal(hm_audit_parse(ev, &a, &why), 0);
    assert_null(a.target);
    hm_envelope_set_type(ev, "conn_open");
    assert_int_equal(hm_audit_parse(ev, &a, &why), -1);
    assert_string_equal(why, "type");
    hm_envelope_destroy(&ev);
}

int
main(void)
{
    setenv("ZSYS_SIGHANDLER", "false", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_published_event_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_that_do_not_fit_are_left_out, setup, teardown),
        cmocka_unit_test(test_parse_refuses),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
