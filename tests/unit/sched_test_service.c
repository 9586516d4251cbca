/*
 * sched_test_service.c - the "scheduler" verbs driven in-process with
 * envelopes (no broker) on a fake clock: create, list, update, delete,
 * answer, history, import; ownership, idempotent retries, codes; the
 * sys.audit events of its refusals (over inproc PUB/SUB).
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

#include "hm_audit.h"
#include "hm_bus.h"
#include "hm_clock.h"
#include "hm_db.h"
#include "hm_ids.h"
#include "hm_mdp.h"
#include "sched_db.h"
#include "sched_occ.h"
#include "sched_service.h"
#include "sched_tz.h"

#define NOW_MS 1772700000000LL /* 2026-03-05T08:40:00Z */

typedef struct {
    char dir[64];         /* temporary directory */
    char path[128];       /* database file */
    sqlite3 *db;          /* open handle */
    sched_service_t *svc; /* under test */
    zsock_t *pub;         /* what the service publishes sys.audit on */
    zsock_t *sub;         /* bound inproc: sees it */
} fixture_t;

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/sched-svc-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/scheduler.db", f->dir);
    f->db = sched_db_open(f->path);
    assert_non_null(f->db);
    static int n;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://sched-test-%d", n++);
    f->sub = zsock_new(ZMQ_SUB);
    assert_int_equal(zsock_bind(f->sub, "%s", endpoint), 0);
    hm_bus_subscribe(f->sub, HM_TOPIC_SYS_AUDIT);
    f->pub = hm_bus_pub_new(endpoint);
    assert_non_null(f->pub);
    zsock_events(f->sub); /* inproc: the subscription reaches the PUB */
    zsock_events(f->pub);
    zsock_set_rcvtimeo(f->sub, 0);
    sched_service_cfg_t cfg = {f->db, NULL, 3, 1440, f->pub};
    f->svc = sched_service_new(&cfg);
    hm_clock_set_fake(NOW_MS);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    sched_service_destroy(&f->svc);
    zsock_destroy(&f->pub);
    zsock_destroy(&f->sub);
    hm_db_close(&f->db);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Sends verb with data (JSON text) as user_id; returns the reply. id may
 * be NULL (a fresh one). */
static hm_envelope_t *
call_id(fixture_t *f, const char *verb, int64_t user_id, const char *data, const char *id)
{
    hm_envelope_t *req = hm_envelope_new(verb);
    if (id)
        hm_envelope_set_id(req, id);
    hm_envelope_set_correlation_id(req, "c-1");
    req->user_id = user_id;
    json_error_t e;
    json_t *d = json_loads(data, 0, &e);
    if (!d)
        fail_msg("bad test JSON %s", data);
    hm_envelope_set_data(req, d);
    hm_envelope_t *rep = sched_service_handle(f->svc, req);
    assert_non_null(rep);
    assert_string_equal(rep->id, req->id);
    assert_string_equal(rep->correlation_id, "c-1");
    hm_envelope_destroy(&req);
    return rep;
}

static hm_envelope_t *
call(fixture_t *f, const char *verb, int64_t user_id, const char *data)
{
    return call_id(f, verb, user_id, data, NULL);
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

#define MED                                                                                        \
    "{\"kind\":\"medication\",\"name\":\"Metformin\",\"dose\":\"500 mg\",\"tz\":\"America/"        \
    "New_York\",\"times\":[\"08:00\"],\"start_date\":\"2026-03-06\"}"

/* Creates MED for user; returns the reminder id (static buffer). */
static const char *
create(fixture_t *f, int64_t user)
{
    static char id[HM_UUID_STRLEN];
    hm_envelope_t *rep = call(f, HM_VERB_SCHED_CREATE, user, MED);
    assert_string_equal(rep->type, HM_MSG_ACK);
    snprintf(id, sizeof id, "%s",
             json_string_value(json_object_get(json_object_get(rep->data, "reminder"), "id")));
    hm_envelope_destroy(&rep);
    return id;
}

static void
test_create_and_list(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *rep = call(f, HM_VERB_SCHED_CREATE, 7, MED);
    assert_string_equal(rep->type, HM_MSG_ACK);
    json_t *r = json_object_get(rep->data, "reminder");
    assert_true(hm_uuid_valid(json_string_value(json_object_get(r, "id"))));
    assert_string_equal(json_string_value(json_object_get(r, "kind")), "medication");
    assert_int_equal(json_integer_value(json_object_get(r, "next_occurrence")), 1772802000);
    assert_string_equal(json_string_value(json_object_get(r, "next_occurrence_at")),
                        "2026-03-06T08:00:00-05:00");
    hm_envelope_destroy(&rep);

    rep = call(f, HM_VERB_SCHED_LIST, 7, "{}");
    assert_string_equal(rep->type, HM_MSG_ACK);
    assert_int_equal(json_array_size(json_object_get(rep->data, "reminders")), 1);
    hm_envelope_destroy(&rep);
    rep = call(f, HM_VERB_SCHED_LIST, 8, "{}");
    assert_int_equal(json_array_size(json_object_get(rep->data, "reminders")), 0);
    hm_envelope_destroy(&rep);
}

static void
test_retried_create_makes_one_reminder(void **state)
{
    fixture_t *f = *state;
    char id[HM_UUID_STRLEN], rid1[HM_UUID_STRLEN];
    hm_uuid4(id);
    hm_envelope_t *a = call_id(f, HM_VERB_SCHED_CREATE, 7, MED, id);
    hm_envelope_t *b = call_id(f, HM_VERB_SCHED_CREATE, 7, MED, id);
    snprintf(rid1, sizeof rid1, "%s",
             json_string_value(json_object_get(json_object_get(a->data, "reminder"), "id")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(b->data, "reminder"), "id")), rid1);
    hm_envelope_destroy(&a);
    hm_envelope_destroy(&b);
    assert_int_equal(sched_db_count(f->db, 7), 1);
}

static void
test_owners_and_services(void **state)
{
    fixture_t *f = *state;
    const char *id = create(f, 7);
    char data[160];
    snprintf(data, sizeof data, "{\"reminder_id\":\"%s\",\"times\":[\"09:00\"]}", id);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_UPDATE, 8, data)), HM_ERR_NOT_FOUND);
    snprintf(data, sizeof data, "{\"reminder_id\":\"%s\"}", id);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_DELETE, 8, data)), HM_ERR_NOT_FOUND);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_LIST, 8, "{\"user_id\":7}")),
                        HM_ERR_FORBIDDEN);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_LIST, 0, "{}")), HM_ERR_BAD_REQUEST);
    hm_envelope_t *rep = call(f, HM_VERB_SCHED_LIST, 0, "{\"user_id\":7}");
    assert_int_equal(json_array_size(json_object_get(rep->data, "reminders")), 1);
    hm_envelope_destroy(&rep);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_CREATE, 0,
                                     "{\"user_id\":9,\"kind\":"
                                     "\"appointment\",\"title\":\"GP\","
                                     "\"at\":\"2026-04-01T10:00:00Z\"}")),
                        "");
    create(f, 7);
    create(f, 7);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_CREATE, 7, MED)), HM_ERR_FORBIDDEN);
}

/* The next sys.audit event (checked with hm_audit_parse), or fails. */
static hm_envelope_t *
next_audit(fixture_t *f, hm_audit_event_t *a)
{
    zsock_set_rcvtimeo(f->sub, 2000); /* hang guard: it is sent before the reply */
    char *topic = NULL;
    hm_envelope_t *ev = NULL;
    assert_int_equal(hm_bus_recv(f->sub, &topic, &ev), 0);
    zsock_set_rcvtimeo(f->sub, 0);
    assert_string_equal(topic, HM_TOPIC_SYS_AUDIT);
    free(topic);
    const char *why = NULL;
    if (hm_audit_parse(ev, a, &why) != 0)
        fail_msg("sys.audit event refused: %s", why);
    return ev;
}

/* Nothing more on sys.audit. */
static void
no_audit(fixture_t *f)
{
    char *topic = NULL;
    hm_envelope_t *ev = NULL;
    assert_int_equal(hm_bus_recv(f->sub, &topic, &ev), -1);
}

static void
test_refusals_are_published_for_the_audit(void **state)
{
    fixture_t *f = *state;
    create(f, 7);
    /* another user's list: forbidden, and one sys.audit event naming both */
    hm_envelope_t *req = hm_envelope_new(HM_VERB_SCHED_LIST);
    req->user_id = 8;
    hm_envelope_set_conn_id(req, "c-8");
    hm_envelope_set_edge(req, "edge-1");
    hm_envelope_set_data(req, json_pack("{s:i}", "user_id", 7));
    hm_envelope_t *rep = sched_service_handle(f->svc, req);
    assert_string_equal(json_string_value(json_object_get(rep->data, "code")), HM_ERR_FORBIDDEN);
    hm_envelope_destroy(&rep);
    hm_envelope_destroy(&req);
    hm_audit_event_t a;
    hm_envelope_t *ev = next_audit(f, &a);
    assert_int_equal(a.actor_id, 8);
    assert_int_equal(a.target_user_id, 7);
    assert_string_equal(a.service, HM_SVC_SCHEDULER);
    assert_string_equal(a.action, HM_VERB_SCHED_LIST);
    assert_string_equal(a.result, "denied");
    assert_string_equal(a.code, HM_ERR_FORBIDDEN);
    assert_string_equal(a.conn_id, "c-8");
    assert_string_equal(a.edge, "edge-1");
    assert_null(a.target);
    hm_envelope_destroy(&ev);
    no_audit(f);
    /* other refusals are not denials: nothing published */
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_LIST, 0, "{}")), HM_ERR_BAD_REQUEST);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_DELETE, 8, "{\"reminder_id\":\"x\"}")),
                        HM_ERR_NOT_FOUND);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_LIST, 7, "{\"user_id\":7}")), "");
    no_audit(f);
    /* the per-user limit (3 here) is a refusal too */
    create(f, 7);
    create(f, 7);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_CREATE, 7, MED)), HM_ERR_FORBIDDEN);
    ev = next_audit(f, &a);
    assert_int_equal(a.actor_id, 7);
    assert_string_equal(a.action, HM_VERB_SCHED_CREATE);
    hm_envelope_destroy(&ev);
    no_audit(f);
}

static void
test_update_moves_next_occurrence(void **state)
{
    fixture_t *f = *state;
    const char *id = create(f, 7);
    char data[200];
    snprintf(data, sizeof data, "{\"reminder_id\":\"%s\",\"times\":[\"09:30\"]}", id);
    hm_envelope_t *rep = call(f, HM_VERB_SCHED_UPDATE, 7, data);
    assert_string_equal(rep->type, HM_MSG_ACK);
    json_t *r = json_object_get(rep->data, "reminder");
    assert_int_equal(json_integer_value(json_object_get(r, "next_occurrence")), 1772802000 + 5400);
    assert_string_equal(json_string_value(json_object_get(r, "dose")), "500 mg");
    hm_envelope_destroy(&rep);
    snprintf(data, sizeof data, "{\"reminder_id\":\"%s\",\"kind\":\"appointment\"}", id);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_UPDATE, 7, data)), HM_ERR_INVALID_FIELD);
    snprintf(data, sizeof data, "{\"reminder_id\":\"%s\",\"tz\":\"Moon/Base\"}", id);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_UPDATE, 7, data)), HM_ERR_INVALID_FIELD);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_UPDATE, 7, "{}")), HM_ERR_MISSING_FIELD);
}

static void
test_delete_keeps_history(void **state)
{
    fixture_t *f = *state;
    const char *id = create(f, 7);
    char data[160];
    snprintf(data, sizeof data, "{\"reminder_id\":\"%s\"}", id);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_DELETE, 7, data)), "");
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_DELETE, 7, data)), ""); /* a retry */
    hm_envelope_t *rep = call(f, HM_VERB_SCHED_LIST, 7, "{}");
    assert_int_equal(json_array_size(json_object_get(rep->data, "reminders")), 0);
    hm_envelope_destroy(&rep);
    rep = call(f, HM_VERB_SCHED_LIST, 7, "{\"include_deleted\":true}");
    json_t *r = json_array_get(json_object_get(rep->data, "reminders"), 0);
    assert_true(json_is_true(json_object_get(r, "deleted")));
    assert_true(json_is_null(json_object_get(r, "next_occurrence")));
    hm_envelope_destroy(&rep);
    snprintf(data, sizeof data, "{\"reminder_id\":\"%s\",\"times\":[\"09:00\"]}", id);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_UPDATE, 7, data)), HM_ERR_NOT_FOUND);
}

/* Records a fired occurrence of reminder id at occ (as the engine would). */
static void
fired(fixture_t *f, const char *id, int64_t occ)
{
    sched_fire_row_t row = {.user_id = 7, .occurrence_s = occ, .fire_s = occ, .instance_s = occ};
    snprintf(row.reminder_id, sizeof row.reminder_id, "%s", id);
    snprintf(row.status, sizeof row.status, SCHED_ST_FIRED);
    sched_occ_key(id, occ, row.key);
    hm_uuid4(row.req_id);
    assert_int_equal(sched_occ_insert(f->db, &row, NOW_MS), 1);
}

static void
test_answers_are_stored_and_listed(void **state)
{
    fixture_t *f = *state;
    const char *id = create(f, 7);
    char data[200], req_id[HM_UUID_STRLEN];
    fired(f, id, 1772802000);
    snprintf(data, sizeof data,
             "{\"reminder_id\":\"%s\",\"occurrence\":1772802000,\"answer\":\"snooze\","
             "\"minutes\":15}",
             id);
    hm_uuid4(req_id);
    hm_envelope_t *rep = call_id(f, HM_VERB_SCHED_ANSWER, 7, data, req_id);
    assert_string_equal(rep->type, HM_MSG_ACK);
    assert_int_equal(json_integer_value(json_object_get(rep->data, "snooze_until")),
                     NOW_MS / 1000 + 900);
    int64_t aid = json_integer_value(json_object_get(json_object_get(rep->data, "answer"), "id"));
    hm_envelope_destroy(&rep);
    rep = call_id(f, HM_VERB_SCHED_ANSWER, 7, data, req_id); /* a retry: the same answer */
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(rep->data, "answer"), "id")), aid);
    hm_envelope_destroy(&rep);
    assert_int_equal(sched_occ_next_waiting(f->db), NOW_MS / 1000 + 900);

    snprintf(data, sizeof data,
             "{\"reminder_id\":\"%s\",\"occurrence\":1772802000,\"answer\":\"taken\"}", id);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_ANSWER, 7, data)), "");
    assert_int_equal(sched_occ_next_waiting(f->db), INT64_MAX); /* taken cancels the snooze */

    snprintf(data, sizeof data, "{\"reminder_id\":\"%s\"}", id);
    rep = call(f, HM_VERB_SCHED_HISTORY, 7, data);
    json_t *answers = json_object_get(rep->data, "answers");
    assert_int_equal(json_array_size(answers), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(answers, 0), "answer")),
                        "taken");
    assert_int_equal(json_array_size(json_object_get(rep->data, "occurrences")), 2);
    hm_envelope_destroy(&rep);
    rep = call(f, HM_VERB_SCHED_LIST, 7, "{\"history\":true}");
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(rep->data, "history"), "answers")), 2);
    hm_envelope_destroy(&rep);
    snprintf(data, sizeof data, "{\"reminder_id\":\"%s\",\"history\":true}", id);
    rep = call(f, HM_VERB_SCHED_LIST, 7, data);
    assert_int_equal(json_array_size(json_object_get(rep->data, "reminders")), 1);
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(rep->data, "history"), "occurrences")), 2);
    hm_envelope_destroy(&rep);
}

static void
test_answer_refusals(void **state)
{
    fixture_t *f = *state;
    const char *id = create(f, 7);
    char data[200];
    fired(f, id, 1772802000);
    snprintf(data, sizeof data,
             "{\"reminder_id\":\"%s\",\"occurrence\":1772888400,\"answer\":\"taken\"}", id);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_ANSWER, 7, data)), HM_ERR_NOT_FOUND);
    snprintf(data, sizeof data,
             "{\"reminder_id\":\"%s\",\"occurrence\":1772802000,\"answer\":\"maybe\"}", id);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_ANSWER, 7, data)), HM_ERR_INVALID_FIELD);
    snprintf(data, sizeof data,
             "{\"reminder_id\":\"%s\",\"occurrence\":1772802000,\"answer\":\"snooze\","
             "\"minutes\":0}",
             id);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_ANSWER, 7, data)), HM_ERR_INVALID_FIELD);
    snprintf(data, sizeof data, "{\"reminder_id\":\"%s\",\"answer\":\"taken\"}", id);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_ANSWER, 7, data)), HM_ERR_MISSING_FIELD);
    snprintf(data, sizeof data,
             "{\"reminder_id\":\"%s\",\"occurrence\":1772802000,\"answer\":\"taken\"}", id);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_ANSWER, 8, data)), HM_ERR_NOT_FOUND);
}

static void
test_import_and_unknown_verbs(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *rep = call(
        f, HM_VERB_SCHED_IMPORT, 7,
        "{\"ics\":\"BEGIN:VCALENDAR\\r\\nVERSION:2.0\\r\\nBEGIN:VEVENT\\r\\nUID:1\\r\\nSUMMARY:"
        "Dentist\\r\\nDTSTART;TZID=Europe/Berlin:20261210T143000\\r\\nEND:VEVENT\\r\\n"
        "END:VCALENDAR\\r\\n\"}");
    assert_string_equal(rep->type, HM_MSG_ACK);
    json_t *r = json_object_get(rep->data, "reminder");
    assert_string_equal(json_string_value(json_object_get(r, "title")), "Dentist");
    assert_string_equal(json_string_value(json_object_get(r, "at")), "2026-12-10T14:30:00+01:00");
    hm_envelope_destroy(&rep);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_IMPORT, 7, "{\"ics\":\"nope\"}")),
                        HM_ERR_INVALID_FIELD);
    assert_string_equal(code_of(call(f, "scheduler.launch", 7, "{}")), HM_ERR_UNKNOWN_VERB);
    assert_string_equal(code_of(call(f, HM_VERB_SCHED_LIST, 7,
                                     "{\"limit\":0,\"history\":true,"
                                     "\"reminder_id\":7}")),
                        HM_ERR_INVALID_FIELD);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retried_create_makes_one_reminder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owners_and_services, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_are_published_for_the_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_moves_next_occurrence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_keeps_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answers_are_stored_and_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_and_unknown_verbs, setup, teardown),
    };
    setenv("ZSYS_SIGHANDLER", "false", 1);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sched_tz_shutdown();
    zsys_shutdown();
    return rc;
}
