/*
 * hlth_test_service.c - the "health" service's handlers, driven in-process
 * with envelopes (no broker): replies, seq, what is stored, what is
 * published (over inproc PUB/SUB) and when, alerts and their outbox rows,
 * retries, sync, replay, thresholds and the authorization hand-off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <czmq.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hlth_service.h"
#include "hm_bus.h"
#include "hm_clock.h"
#include "hm_db.h"
#include "hm_mdp.h"

#define NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */
#define PATIENT 1
#define CLINICIAN 2

typedef struct {
    char dir[64];                              /* temporary directory */
    char path[128];                            /* database file */
    hlth_db_t *db;                             /* open database */
    zsock_t *pub, *sub;                        /* what the service publishes, and a listener */
    hlth_outbox_t *outbox;                     /* no client: only counts */
    hlth_authz_t *authz;                       /* no client: the cache only */
    hlth_limits_t defaults[HLTH_CATALOG_SIZE]; /* default thresholds */
    hlth_service_t *svc;                       /* under test */
} fixture_t;

static const char *const s_default_specs[][2] = {
    {"heart_rate", "low=40 high=120 critical_low=30 critical_high=150 margin=5"},
    {"spo2", "low=92 critical_low=88 margin=1"},
    {"systolic", "low=90 high=140 critical_high=180 margin=5"},
    {"diastolic", "low=60 high=90 critical_high=120 margin=3"},
};

static void
set_defaults(fixture_t *f)
{
    char why[128];
    for (int i = 0; i < HLTH_CATALOG_SIZE; i++)
        assert_int_equal(hlth_limits_parse("", &f->defaults[i], why, sizeof why), 0);
    for (size_t i = 0; i < sizeof s_default_specs / sizeof s_default_specs[0]; i++) {
        const hlth_metric_t *m = hlth_metric_find(s_default_specs[i][0], HLTH_CHECK);
        assert_int_equal(hlth_limits_parse(s_default_specs[i][1],
                                           &f->defaults[hlth_metric_index(m)], why, sizeof why),
                         0);
    }
}

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hlth-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/health.db", f->dir);
    hm_clock_set_fake(NOW_MS);
    f->db = hlth_db_open(f->path);
    assert_non_null(f->db);
    static int n;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://hlth-test-%d", n++);
    f->sub = zsock_new(ZMQ_SUB);
    assert_int_equal(zsock_bind(f->sub, "%s", ep), 0);
    hm_bus_subscribe(f->sub, "u.");
    f->pub = hm_bus_pub_new(ep);
    /* inproc pipes move only when a socket processes its commands: let the
     * SUB send its subscription, then the PUB read it. */
    zsock_events(f->sub);
    zsock_events(f->pub);
    hlth_outbox_cfg_t ocfg = {1000, 60000, 0, 3, 8};
    f->outbox = hlth_outbox_new(f->db, NULL, &ocfg);
    hlth_authz_cfg_t acfg = {1000, 5000, 60000, 16};
    f->authz = hlth_authz_new(NULL, &acfg);
    set_defaults(f);
    hlth_service_cfg_t cfg = {f->db,  f->pub,  f->outbox, f->authz, f->defaults,
                              300000, 3600000, 60000,     100};
    f->svc = hlth_service_new(&cfg);
    assert_non_null(f->svc);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    hlth_service_destroy(&f->svc);
    hlth_authz_destroy(&f->authz);
    hlth_outbox_destroy(&f->outbox);
    zsock_destroy(&f->pub);
    zsock_destroy(&f->sub);
    hlth_db_destroy(&f->db);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    hm_clock_set_real();
    free(f);
    return 0;
}

/* A request from user_id with data given as JSON text. */
static hm_envelope_t *
request(const char *verb, int64_t user_id, const char *json)
{
    hm_envelope_t *req = hm_envelope_new(verb);
    req->user_id = user_id;
    hm_envelope_set_correlation_id(req, "c-1");
    json_t *data = json ? json_loads(json, 0, NULL) : NULL;
    assert_true(!json || data);
    hm_envelope_set_data(req, data);
    return req;
}

/* Handles req (kept) and checks the reply's id; the reply (caller owns). */
static hm_envelope_t *
call_keep(fixture_t *f, const hm_envelope_t *req, const hlth_grant_t *grant)
{
    hlth_grant_t need;
    hm_envelope_t *rep = hlth_service_handle(f->svc, req, grant, &need);
    assert_non_null(rep);
    assert_string_equal(rep->id, req->id);
    assert_string_equal(rep->correlation_id, "c-1");
    return rep;
}

static hm_envelope_t *
call(fixture_t *f, const char *verb, int64_t user_id, const char *json)
{
    hm_envelope_t *req = request(verb, user_id, json);
    hm_envelope_t *rep = call_keep(f, req, NULL);
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

/* The next published event (NULL when none within 200 ms). */
static hm_envelope_t *
next_event(fixture_t *f, char **topic)
{
    zsock_set_rcvtimeo(f->sub, 200);
    hm_envelope_t *ev = NULL;
    if (hm_bus_recv(f->sub, topic, &ev) != 0)
        return NULL;
    return ev;
}

static int64_t
scalar(fixture_t *f, const char *sql)
{
    sqlite3_stmt *stmt = hm_db_prepare(hlth_db_handle(f->db), sql);
    assert_non_null(stmt);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

static json_int_t
jint(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

static const char *
jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* ---- readings ------------------------------------------------------------------ */

static void
test_reading_is_stored_then_acked_and_published(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *rep = call(f, HM_VERB_HEALTH_READING, PATIENT,
                              "{\"metric\":\"blood_pressure\",\"value\":120,\"unit\":\"mmHg\","
                              "\"timestamp\":\"2025-12-31T23:59:00Z\"}");
    assert_string_equal(rep->type, HM_MSG_ACK);
    assert_int_equal(jint(rep->data, "seq"), 1);
    assert_int_equal(jint(rep->data, "user_id"), PATIENT);
    assert_string_equal(jstr(rep->data, "metric"), "blood_pressure");
    assert_int_equal(jint(rep->data, "value"), 120);
    assert_string_equal(jstr(rep->data, "source"), "client");
    char id[64];
    snprintf(id, sizeof id, "%s", jstr(rep->data, "id"));
    hm_envelope_destroy(&rep);
    assert_int_equal(scalar(f, "SELECT count(*) FROM events WHERE type = 'health_update'"), 1);
    char *topic = NULL;
    hm_envelope_t *ev = next_event(f, &topic);
    assert_non_null(ev);
    assert_string_equal(topic, "u.1.health");
    assert_string_equal(ev->type, HM_MSG_HEALTH_UPDATE);
    assert_int_equal(ev->seq, 1);
    assert_int_equal(ev->user_id, PATIENT);
    assert_string_equal(jstr(ev->data, "id"), id);
    assert_null(json_object_get(ev->data, "seq")); /* the seq travels in the envelope */
    free(topic);
    hm_envelope_destroy(&ev);
    /* a second reading takes the next seq */
    rep = call(f, HM_VERB_HEALTH_READING, PATIENT, "{\"metric\":\"heart_rate\",\"value\":70}");
    assert_int_equal(jint(rep->data, "seq"), 2);
    hm_envelope_destroy(&rep);
}

static void
test_batch_publishes_only_after_commit(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(hlth_service_begin(f->svc), 0);
    hm_envelope_t *rep =
        call(f, HM_VERB_HEALTH_READING, PATIENT, "{\"metric\":\"heart_rate\",\"value\":70}");
    assert_string_equal(rep->type, HM_MSG_ACK);
    hm_envelope_destroy(&rep);
    rep = call(f, HM_VERB_HEALTH_READING, 3, "{\"metric\":\"spo2\",\"value\":97}");
    hm_envelope_destroy(&rep);
    char *topic = NULL;
    assert_null(next_event(f, &topic)); /* not committed yet: nothing left */
    assert_int_equal(hlth_service_commit(f->svc), 0);
    hm_envelope_t *ev = next_event(f, &topic);
    assert_non_null(ev);
    assert_string_equal(topic, "u.1.health");
    free(topic);
    hm_envelope_destroy(&ev);
    ev = next_event(f, &topic);
    assert_non_null(ev);
    assert_string_equal(topic, "u.3.health");
    assert_int_equal(ev->seq, 1); /* per-user seq */
    free(topic);
    hm_envelope_destroy(&ev);
}

static void
test_retried_request_is_not_stored_twice(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *req =
        request(HM_VERB_HEALTH_READING, PATIENT, "{\"metric\":\"heart_rate\",\"value\":71}");
    hm_envelope_t *a = call_keep(f, req, NULL);
    hm_envelope_t *b = call_keep(f, req, NULL);
    assert_int_equal(jint(a->data, "seq"), jint(b->data, "seq"));
    assert_string_equal(jstr(a->data, "id"), jstr(b->data, "id"));
    assert_int_equal(scalar(f, "SELECT count(*) FROM events"), 1);
    hm_envelope_destroy(&a);
    hm_envelope_destroy(&b);
    hm_envelope_destroy(&req);
    char *topic = NULL, *topic2 = NULL;
    hm_envelope_t *ev = next_event(f, &topic);
    hm_envelope_t *again = next_event(f, &topic2); /* published again, same seq: edges drop it */
    assert_non_null(ev);
    assert_non_null(again);
    assert_int_equal(ev->seq, again->seq);
    free(topic);
    free(topic2);
    hm_envelope_destroy(&ev);
    hm_envelope_destroy(&again);
}

static void
test_refused_readings_are_not_stored(void **state)
{
    fixture_t *f = *state;
    struct {
        const char *json, *code;
    } cases[] = {
        {"{\"metric\":\"mood\",\"value\":1}", HM_ERR_UNKNOWN_METRIC},
        {"{\"metric\":\"heart_rate\",\"value\":70,\"unit\":\"kg\"}", HM_ERR_INVALID_UNIT},
        {"{\"metric\":\"heart_rate\",\"value\":700}", HM_ERR_OUT_OF_RANGE},
        {"{\"metric\":\"heart_rate\",\"value\":70,\"timestamp\":\"2026-01-02T00:00:00Z\"}",
         HM_ERR_FUTURE_TIMESTAMP},
        {"{\"metric\":\"heart_rate\"}", HM_ERR_MISSING_FIELD},
        {"{\"metric\":\"heart_rate\",\"value\":true}", HM_ERR_INVALID_FIELD},
        {"{\"metric\":\"heart_rate\",\"value\":70,\"user_id\":2}", HM_ERR_FORBIDDEN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(code_of(call(f, HM_VERB_HEALTH_READING, PATIENT, cases[i].json)),
                            cases[i].code);
    assert_string_equal(
        code_of(call(f, HM_VERB_HEALTH_READING, 0, "{\"metric\":\"heart_rate\",\"value\":70}")),
        HM_ERR_BAD_REQUEST);
    assert_string_equal(code_of(call(f, "health.launch", PATIENT, NULL)), HM_ERR_UNKNOWN_VERB);
    assert_int_equal(scalar(f, "SELECT count(*) FROM events"), 0);
    assert_int_equal(hlth_service_stats(f->svc)->refused, 6);
}

static void
test_device_reading_from_the_bus(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *rep = call(f, HM_VERB_HEALTH_DEVICE_READING, 0,
                              "{\"user_id\":1,\"device_id\":\"oxi-1\",\"metric\":\"spo2\","
                              "\"value\":97}");
    assert_string_equal(rep->type, HM_MSG_ACK);
    assert_string_equal(jstr(rep->data, "source"), "device");
    assert_string_equal(jstr(rep->data, "device_id"), "oxi-1");
    assert_int_equal(jint(rep->data, "user_id"), 1);
    hm_envelope_destroy(&rep);
    assert_string_equal(
        code_of(call(f, HM_VERB_HEALTH_DEVICE_READING, 0, "{\"metric\":\"spo2\",\"value\":97}")),
        HM_ERR_MISSING_FIELD);
    /* a signed-in caller needs "publish" */
    hm_envelope_t *req = request(HM_VERB_HEALTH_DEVICE_READING, 5,
                                 "{\"user_id\":1,\"metric\":\"spo2\",\"value\":96}");
    hlth_grant_t need;
    assert_null(hlth_service_handle(f->svc, req, NULL, &need));
    assert_string_equal(need.action, "publish");
    assert_int_equal(need.actor, 5);
    rep = call_keep(f, req, &need); /* handed back with the grant */
    assert_string_equal(rep->type, HM_MSG_ACK);
    assert_int_equal(jint(rep->data, "seq"), 2);
    hm_envelope_destroy(&rep);
    hm_envelope_destroy(&req);
}

/* ---- alerts ------------------------------------------------------------------------ */

/* Sends heart rates; returns the alert events published, as
 * "seq:direction/severity/state" joined by spaces. */
static const char *
heart_rates(fixture_t *f, const double *v, int n)
{
    static char out[512];
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        char json[96];
        snprintf(json, sizeof json, "{\"metric\":\"heart_rate\",\"value\":%g}", v[i]);
        hm_envelope_destroy((hm_envelope_t *[]){call(f, HM_VERB_HEALTH_READING, PATIENT, json)});
        hm_clock_advance(1000);
    }
    char *topic = NULL;
    hm_envelope_t *ev;
    while ((ev = next_event(f, &topic))) {
        if (strcmp(ev->type, HM_MSG_HEALTH_ALERT) == 0) {
            char one[80];
            snprintf(one, sizeof one, "%s%lld:%s/%s/%s", out[0] ? " " : "", (long long)ev->seq,
                     jstr(ev->data, "direction"), jstr(ev->data, "severity"),
                     jstr(ev->data, "state"));
            strncat(out, one, sizeof out - strlen(out) - 1);
        }
        free(topic);
        topic = NULL;
        hm_envelope_destroy(&ev);
    }
    return out;
}

static void
test_threshold_alerts_with_hysteresis(void **state)
{
    fixture_t *f = *state;
    const double v[] = {100, 125, 118, 130, 113, 126, 112, 155, 147, 140, 152, 100, 30};
    /* readings take seqs too: reading 2 is seq 2, its alert seq 3, ... */
    assert_string_equal(heart_rates(f, v, 13), "3:high/warning/alert 7:high/info/normal "
                                               "11:high/critical/alert 16:high/info/normal "
                                               "18:low/warning/alert");
    assert_int_equal(scalar(f, "SELECT count(*) FROM events WHERE type = 'health_alert'"), 5);
    /* the outbox holds at most 3: two were dropped (logged), the alerts stand */
    assert_int_equal(hlth_outbox_size(f->outbox), 3);
    assert_int_equal(scalar(f, "SELECT count(*) FROM notify_outbox"), 3);
    assert_int_equal(scalar(f, "SELECT count(*) FROM notify_outbox WHERE payload LIKE "
                               "'%\"priority\":\"high\"%' AND payload LIKE "
                               "'%\"type\":\"health_alert\"%'"),
                     1);
    assert_int_equal(scalar(f, "SELECT count(*) FROM notify_outbox WHERE payload LIKE "
                               "'%\"priority\":\"critical\"%'"),
                     1);
    /* the state is stored: the low episode is known, 35 does not alert again */
    assert_string_equal(heart_rates(f, (double[]){35}, 1), "");
}

static void
test_alert_shape_and_blood_pressure_parts(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *rep = call(f, HM_VERB_HEALTH_READING, PATIENT,
                              "{\"metric\":\"blood_pressure\",\"systolic\":190,\"diastolic\":95}");
    hm_envelope_destroy(&rep);
    char *topic = NULL;
    hm_envelope_t *ev = next_event(f, &topic);
    free(topic);
    hm_envelope_destroy(&ev);
    ev = next_event(f, &topic);
    assert_string_equal(ev->type, HM_MSG_HEALTH_ALERT);
    assert_string_equal(jstr(ev->data, "metric"), "blood_pressure");
    assert_string_equal(jstr(ev->data, "component"), "systolic");
    assert_string_equal(jstr(ev->data, "severity"), "critical");
    assert_int_equal(jint(ev->data, "threshold"), 180);
    assert_int_equal(jint(ev->data, "value"), 190);
    assert_string_equal(jstr(ev->data, "unit"), "mmHg");
    assert_string_equal(jstr(ev->data, "title"), "Systolic Blood Pressure Alert");
    assert_non_null(jstr(ev->data, "message"));
    assert_non_null(jstr(ev->data, "reading_id"));
    free(topic);
    hm_envelope_destroy(&ev);
    ev = next_event(f, &topic);
    assert_string_equal(jstr(ev->data, "component"), "diastolic");
    assert_string_equal(jstr(ev->data, "severity"), "warning");
    assert_int_equal(ev->seq, 3);
    free(topic);
    hm_envelope_destroy(&ev);
    /* an old reading (a device's backlog) is stored, not checked */
    rep = call(f, HM_VERB_HEALTH_READING, PATIENT,
               "{\"metric\":\"heart_rate\",\"value\":200,\"timestamp\":\"2025-12-01T00:00:00Z\"}");
    assert_string_equal(rep->type, HM_MSG_ACK);
    hm_envelope_destroy(&rep);
    assert_int_equal(scalar(f, "SELECT count(*) FROM events WHERE type = 'health_alert'"), 2);
}

/* ---- sync and replay ------------------------------------------------------------- */

static void
test_sync_pages_and_since(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 5; i++) {
        char json[96];
        snprintf(json, sizeof json, "{\"metric\":\"steps\",\"value\":%d}", 100 + i);
        hm_envelope_destroy((hm_envelope_t *[]){call(f, HM_VERB_HEALTH_READING, PATIENT, json)});
        hm_clock_advance(60000);
    }
    hm_envelope_t *rep = call(f, HM_VERB_HEALTH_SYNC, PATIENT, "{\"since_seq\":1,\"limit\":2}");
    json_t *r = json_object_get(rep->data, "readings");
    assert_int_equal(json_array_size(r), 2);
    assert_int_equal(jint(json_array_get(r, 0), "seq"), 2);
    assert_int_equal(jint(json_array_get(r, 0), "value"), 101);
    assert_true(json_is_true(json_object_get(rep->data, "more")));
    assert_int_equal(jint(rep->data, "next_seq"), 3);
    hm_envelope_destroy(&rep);
    rep = call(f, HM_VERB_HEALTH_SYNC, PATIENT, "{\"since_seq\":3,\"limit\":2}");
    assert_int_equal(json_array_size(json_object_get(rep->data, "readings")), 2);
    assert_true(json_is_false(json_object_get(rep->data, "more")));
    assert_int_equal(jint(rep->data, "next_seq"), 5);
    hm_envelope_destroy(&rep);
    /* since a time: the last two (taken at +180 s and +240 s) */
    rep = call(f, HM_VERB_HEALTH_SYNC, PATIENT, "{\"since\":\"2026-01-01T00:03:00Z\"}");
    r = json_object_get(rep->data, "readings");
    assert_int_equal(json_array_size(r), 2);
    assert_int_equal(jint(json_array_get(r, 1), "value"), 104);
    hm_envelope_destroy(&rep);
    assert_string_equal(code_of(call(f, HM_VERB_HEALTH_SYNC, PATIENT, "{\"limit\":0}")),
                        HM_ERR_INVALID_FIELD);
    assert_string_equal(code_of(call(f, HM_VERB_HEALTH_SYNC, PATIENT, "{\"metric\":\"x\"}")),
                        HM_ERR_UNKNOWN_METRIC);
    assert_string_equal(code_of(call(f, HM_VERB_HEALTH_SYNC, 0, "{}")), HM_ERR_MISSING_FIELD);
}

static void
test_other_users_data_needs_an_authorization(void **state)
{
    fixture_t *f = *state;
    hm_envelope_destroy((hm_envelope_t *[]){
        call(f, HM_VERB_HEALTH_READING, PATIENT, "{\"metric\":\"heart_rate\",\"value\":72}")});
    hm_envelope_t *req = request(HM_VERB_HEALTH_SYNC, CLINICIAN, "{\"user_id\":1}");
    hlth_grant_t need;
    assert_null(hlth_service_handle(f->svc, req, NULL, &need));
    assert_string_equal(need.action, "subscribe:health_updates");
    assert_int_equal(need.actor, CLINICIAN);
    assert_int_equal(need.target, PATIENT);
    hm_envelope_t *rep = call_keep(f, req, &need);
    assert_int_equal(json_array_size(json_object_get(rep->data, "readings")), 1);
    hm_envelope_destroy(&rep);
    /* a remembered allow needs no new question */
    hlth_authz_remember(f->authz, &need);
    rep = call_keep(f, req, NULL);
    assert_string_equal(rep->type, HM_MSG_ACK);
    hm_envelope_destroy(&rep);
    hm_envelope_destroy(&req);
    /* a grant for something else does not count */
    hlth_grant_t read_grant = need;
    req = request(HM_VERB_HEALTH_THRESHOLD, CLINICIAN,
                  "{\"user_id\":1,\"metric\":\"heart_rate\",\"high\":110}");
    assert_null(hlth_service_handle(f->svc, req, &read_grant, &need));
    assert_string_equal(need.action, "write:health_thresholds");
    hm_envelope_destroy(&req);
    /* services on the bus (user_id 0) are trusted */
    rep = call(f, HM_VERB_HEALTH_SYNC, 0, "{\"user_id\":1}");
    assert_string_equal(rep->type, HM_MSG_ACK);
    hm_envelope_destroy(&rep);
}

static void
test_replay_renders_events_like_the_edge(void **state)
{
    fixture_t *f = *state;
    const double v[] = {72, 130};
    heart_rates(f, v, 2); /* seq 1 reading, 2 reading, 3 alert */
    hm_envelope_t *rep = call(f, HM_VERB_HEALTH_REPLAY, PATIENT, "{\"user_id\":1,\"since_seq\":1}");
    assert_string_equal(rep->type, HM_MSG_ACK);
    assert_int_equal(jint(rep->data, "user_id"), 1);
    assert_true(json_is_false(json_object_get(rep->data, "more")));
    json_t *evs = json_object_get(rep->data, "events");
    assert_int_equal(json_array_size(evs), 2);
    json_t *e = json_array_get(evs, 0);
    assert_string_equal(jstr(e, "type"), "health_update");
    assert_int_equal(jint(e, "seq"), 2);
    assert_int_equal(jint(e, "user_id"), 1);
    assert_string_equal(jstr(e, "timestamp"), "2026-01-01T00:00:01.000Z");
    assert_int_equal(jint(json_object_get(e, "data"), "value"), 130);
    assert_string_equal(jstr(json_array_get(evs, 1), "type"), "health_alert");
    hm_envelope_destroy(&rep);
    assert_string_equal(
        code_of(call(f, HM_VERB_HEALTH_REPLAY, PATIENT, "{\"user_id\":1,\"since_seq\":-1}")),
        HM_ERR_INVALID_FIELD);
}

/* ---- thresholds --------------------------------------------------------------------- */

static void
test_threshold_override_set_get_reset(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *rep = call(f, HM_VERB_HEALTH_THRESHOLD, PATIENT, "{}");
    json_t *hr = json_object_get(json_object_get(rep->data, "thresholds"), "heart_rate");
    assert_int_equal(jint(hr, "high"), 120);
    assert_string_equal(jstr(hr, "source"), "default");
    assert_non_null(json_object_get(json_object_get(rep->data, "thresholds"), "systolic"));
    hm_envelope_destroy(&rep);
    rep = call(f, HM_VERB_HEALTH_THRESHOLD, PATIENT,
               "{\"metric\":\"heart_rate\",\"high\":100,\"critical_high\":null}");
    assert_string_equal(rep->type, HM_MSG_ACK);
    hr = json_object_get(json_object_get(rep->data, "thresholds"), "heart_rate");
    assert_int_equal(jint(hr, "high"), 100);
    assert_int_equal(jint(hr, "low"), 40);
    assert_true(json_is_null(json_object_get(hr, "critical_high")));
    assert_string_equal(jstr(hr, "source"), "user");
    hm_envelope_destroy(&rep);
    /* the override is in force */
    assert_string_equal(heart_rates(f, (double[]){105}, 1), "2:high/warning/alert");
    /* Fahrenheit bounds for temperature are converted */
    rep = call(f, HM_VERB_HEALTH_THRESHOLD, PATIENT,
               "{\"metric\":\"temperature\",\"high\":100.4,\"unit\":\"F\"}");
    hr = json_object_get(json_object_get(rep->data, "thresholds"), "temperature");
    assert_true(fabs(json_number_value(json_object_get(hr, "high")) - 38.0) < 1e-9);
    hm_envelope_destroy(&rep);
    struct {
        const char *json, *code;
    } bad[] = {
        {"{\"metric\":\"heart_rate\",\"high\":30}", HM_ERR_INVALID_FIELD}, /* below low */
        {"{\"metric\":\"heart_rate\",\"high\":900}", HM_ERR_OUT_OF_RANGE},
        {"{\"metric\":\"heart_rate\",\"high\":\"x\"}", HM_ERR_INVALID_FIELD},
        {"{\"metric\":\"heart_rate\",\"high\":100,\"unit\":\"kg\"}", HM_ERR_INVALID_UNIT},
        {"{\"metric\":\"blood_pressure\",\"high\":150}", HM_ERR_UNKNOWN_METRIC},
        {"{\"high\":150}", HM_ERR_MISSING_FIELD},
        {"{\"action\":\"set\",\"metric\":\"spo2\"}", HM_ERR_MISSING_FIELD},
        {"{\"action\":\"drop\"}", HM_ERR_INVALID_FIELD},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_string_equal(code_of(call(f, HM_VERB_HEALTH_THRESHOLD, PATIENT, bad[i].json)),
                            bad[i].code);
    rep = call(f, HM_VERB_HEALTH_THRESHOLD, PATIENT,
               "{\"action\":\"reset\",\"metric\":\"heart_rate\"}");
    hr = json_object_get(json_object_get(rep->data, "thresholds"), "heart_rate");
    assert_int_equal(jint(hr, "high"), 120);
    assert_string_equal(jstr(hr, "source"), "default");
    hm_envelope_destroy(&rep);
    /* a linked clinician with the grant may set them */
    hm_envelope_t *req = request(HM_VERB_HEALTH_THRESHOLD, CLINICIAN,
                                 "{\"user_id\":1,\"metric\":\"spo2\",\"low\":90}");
    hlth_grant_t g = {"write:health_thresholds", CLINICIAN, PATIENT};
    rep = call_keep(f, req, &g);
    assert_string_equal(rep->type, HM_MSG_ACK);
    hm_envelope_destroy(&rep);
    hm_envelope_destroy(&req);
    assert_int_equal(scalar(f, "SELECT set_by FROM thresholds WHERE metric = 'spo2'"), CLINICIAN);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reading_is_stored_then_acked_and_published, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batch_publishes_only_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retried_request_is_not_stored_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_readings_are_not_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_reading_from_the_bus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threshold_alerts_with_hysteresis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_shape_and_blood_pressure_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_pages_and_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_users_data_needs_an_authorization, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_renders_events_like_the_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threshold_override_set_get_reset, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
