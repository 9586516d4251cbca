/*
 * sched_test_fire.c - firing on a fake clock with a captured send: each
 * occurrence is asked of notify once and recorded fired only on its ack;
 * retries keep the key; a restarted engine re-sends what was pending;
 * downtime within the grace window fires late, beyond it is recorded
 * missed; snoozes fire again; deletes cancel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_clock.h"
#include "hm_db.h"
#include "hm_mdp.h"
#include "sched_db.h"
#include "sched_fire.h"
#include "sched_occ.h"
#include "sched_service.h"
#include "sched_tz.h"

#define T0_MS 1772780400000LL /* 2026-03-06T07:00:00Z: an hour before 08:00 EST */
#define DUE_S 1772802000LL    /* 2026-03-06T08:00:00-05:00 */
#define SENT_MAX 64

typedef struct {
    char dir[64];                  /* temporary directory */
    sqlite3 *db;                   /* open handle */
    sched_fire_t *fire;            /* under test */
    sched_service_t *svc;          /* to create reminders and answer */
    hm_envelope_t *sent[SENT_MAX]; /* what the engine sent; owned */
    int nsent;                     /* entries in sent */
    char rid[HM_UUID_STRLEN];      /* the reminder of the test */
} fixture_t;

static int
capture(void *arg, const hm_envelope_t *req)
{
    fixture_t *f = arg;
    assert_true(f->nsent < SENT_MAX);
    f->sent[f->nsent++] = hm_envelope_dup(req);
    return 0;
}

static sched_fire_t *
engine(fixture_t *f)
{
    sched_fire_cfg_t cfg = {.db = f->db,
                            .grace_s = 3600,
                            .late_s = 60,
                            .timeout_ms = 1000,
                            .retry_max_ms = 2000,
                            .max_inflight = 8,
                            .send = capture,
                            .send_arg = f};
    sched_fire_t *fire = sched_fire_new(&cfg);
    assert_non_null(fire);
    return fire;
}

static hm_envelope_t *
call(fixture_t *f, const char *verb, const char *data)
{
    hm_envelope_t *req = hm_envelope_new(verb);
    req->user_id = 7;
    hm_envelope_set_data(req, json_loads(data, 0, NULL));
    hm_envelope_t *rep = sched_service_handle(f->svc, req);
    hm_envelope_destroy(&req);
    assert_non_null(rep);
    return rep;
}

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/sched-fire-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[128];
    snprintf(path, sizeof path, "%s/scheduler.db", f->dir);
    f->db = sched_db_open(path);
    hm_clock_set_fake(T0_MS);
    f->fire = engine(f);
    sched_service_cfg_t cfg = {f->db, f->fire, 100, 1440, NULL};
    f->svc = sched_service_new(&cfg);
    hm_envelope_t *rep =
        call(f, HM_VERB_SCHED_CREATE,
             "{\"kind\":\"medication\",\"name\":\"Metformin\",\"dose\":\"500 mg\",\"tz\":"
             "\"America/New_York\",\"times\":[\"08:00\"],\"start_date\":\"2026-03-06\"}");
    snprintf(f->rid, sizeof f->rid, "%s",
             json_string_value(json_object_get(json_object_get(rep->data, "reminder"), "id")));
    hm_envelope_destroy(&rep);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < f->nsent; i++)
        hm_envelope_destroy(&f->sent[i]);
    sched_service_destroy(&f->svc);
    sched_fire_destroy(&f->fire);
    hm_db_close(&f->db);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Moves the clock to unix seconds s and runs the engine. */
static void
at(fixture_t *f, int64_t s)
{
    int64_t now = hm_clock_wall_ms();
    hm_clock_advance(s * 1000 - now);
    assert_int_equal(sched_fire_run(f->fire), 0);
}

/* Acks request i the way hm-notify would. */
static void
ack(fixture_t *f, int i, bool created)
{
    hm_envelope_t *rep = hm_envelope_new(HM_MSG_ACK);
    hm_envelope_set_id(rep, f->sent[i]->id);
    hm_envelope_set_data(rep,
                         json_pack("{s:s, s:i, s:b}", "id", "n-1", "seq", 1, "created", created));
    sched_fire_on_reply(f->fire, rep);
    hm_envelope_destroy(&rep);
}

static const char *
key_of(const hm_envelope_t *req)
{
    return json_string_value(json_object_get(req->data, "idempotency_key"));
}

static json_t *
inner(const hm_envelope_t *req)
{
    return json_object_get(req->data, "data");
}

/* The status of the scheduled fire at occ ("" when none). */
static const char *
status_of(fixture_t *f, int64_t occ)
{
    static sched_fire_row_t row;
    return sched_occ_find(f->db, f->rid, occ, &row) == 1 ? row.status : "";
}

static void
test_fires_once_at_its_time(void **state)
{
    fixture_t *f = *state;
    at(f, DUE_S - 1);
    assert_int_equal(f->nsent, 0);
    at(f, DUE_S);
    assert_int_equal(f->nsent, 1);
    hm_envelope_t *req = f->sent[0];
    assert_string_equal(req->type, HM_VERB_NOTIFY_CREATE);
    assert_int_equal(req->user_id, 0);
    char key[SCHED_KEY_MAX];
    snprintf(key, sizeof key, "%s:%lld", f->rid, DUE_S);
    assert_string_equal(key_of(req), key);
    assert_int_equal(json_integer_value(json_object_get(req->data, "user_id")), 7);
    assert_string_equal(json_string_value(json_object_get(req->data, "type")),
                        "medication_reminder");
    assert_string_equal(json_string_value(json_object_get(req->data, "priority")), "normal");
    assert_string_equal(json_string_value(json_object_get(req->data, "message")),
                        "Time to take Metformin (500 mg)");
    assert_string_equal(json_string_value(json_object_get(inner(req), "reminder_id")), f->rid);
    assert_int_equal(json_integer_value(json_object_get(inner(req), "occurrence")), DUE_S);
    assert_true(json_is_false(json_object_get(inner(req), "late")));
    assert_string_equal(status_of(f, DUE_S), SCHED_ST_PENDING);
    ack(f, 0, true);
    assert_string_equal(status_of(f, DUE_S), SCHED_ST_FIRED);
    at(f, DUE_S + 30);
    at(f, DUE_S + 86399);
    assert_int_equal(f->nsent, 1);
    at(f, DUE_S + 86400); /* Saturday 08:00 EST */
    assert_int_equal(f->nsent, 2);
}

static void
test_unanswered_request_is_retried_with_the_same_key(void **state)
{
    fixture_t *f = *state;
    at(f, DUE_S);
    assert_int_equal(f->nsent, 1);
    at(f, DUE_S + 1); /* timed out (1 s), backing off */
    at(f, DUE_S + 4);
    assert_int_equal(f->nsent, 2);
    assert_string_equal(f->sent[1]->id, f->sent[0]->id);
    assert_string_equal(key_of(f->sent[1]), key_of(f->sent[0]));
    hm_envelope_t *err = hm_mdp_error_reply(f->sent[1], HM_ERR_SERVICE_UNAVAILABLE, "no worker");
    sched_fire_on_reply(f->fire, err);
    hm_envelope_destroy(&err);
    at(f, DUE_S + 8);
    assert_int_equal(f->nsent, 3);
    ack(f, 0, true); /* the first attempt's ack arrives late: as good as any */
    assert_string_equal(status_of(f, DUE_S), SCHED_ST_FIRED);
    at(f, DUE_S + 30);
    assert_int_equal(f->nsent, 3);
}

static void
test_restart_resends_what_was_pending(void **state)
{
    fixture_t *f = *state;
    at(f, DUE_S);
    assert_int_equal(f->nsent, 1);
    sched_fire_destroy(&f->fire); /* the crash: sent, ack never recorded */
    f->fire = engine(f);
    at(f, DUE_S + 5);
    assert_int_equal(f->nsent, 2);
    assert_string_equal(key_of(f->sent[1]), key_of(f->sent[0]));
    assert_string_equal(f->sent[1]->id, f->sent[0]->id);
    ack(f, 1, false); /* notify saw the key before */
    assert_string_equal(status_of(f, DUE_S), SCHED_ST_FIRED);
}

static void
test_downtime_within_grace_fires_late(void **state)
{
    fixture_t *f = *state;
    sched_fire_destroy(&f->fire);
    hm_clock_advance((DUE_S + 600) * 1000 - hm_clock_wall_ms()); /* down across 08:00 */
    f->fire = engine(f);
    assert_int_equal(sched_fire_run(f->fire), 0);
    assert_int_equal(f->nsent, 1);
    assert_true(json_is_true(json_object_get(inner(f->sent[0]), "late")));
    assert_int_equal(json_integer_value(json_object_get(inner(f->sent[0]), "occurrence")), DUE_S);
}

static void
test_downtime_beyond_grace_is_recorded_missed(void **state)
{
    fixture_t *f = *state;
    sched_fire_destroy(&f->fire);
    hm_clock_advance((DUE_S + 3601) * 1000 - hm_clock_wall_ms());
    f->fire = engine(f);
    assert_int_equal(sched_fire_run(f->fire), 0);
    assert_int_equal(f->nsent, 0);
    assert_string_equal(status_of(f, DUE_S), SCHED_ST_MISSED);
    at(f, DUE_S + 86400);
    assert_int_equal(f->nsent, 1);
    assert_true(json_is_false(json_object_get(inner(f->sent[0]), "late")));
}

static void
test_snooze_fires_again(void **state)
{
    fixture_t *f = *state;
    at(f, DUE_S);
    ack(f, 0, true);
    at(f, DUE_S + 120);
    char data[200];
    snprintf(data, sizeof data,
             "{\"reminder_id\":\"%s\",\"occurrence\":%lld,\"answer\":\"snooze\",\"minutes\":10}",
             f->rid, DUE_S);
    hm_envelope_t *rep = call(f, HM_VERB_SCHED_ANSWER, data);
    assert_string_equal(rep->type, HM_MSG_ACK);
    hm_envelope_destroy(&rep);
    at(f, DUE_S + 120 + 599);
    assert_int_equal(f->nsent, 1);
    at(f, DUE_S + 120 + 600);
    assert_int_equal(f->nsent, 2);
    json_t *d = inner(f->sent[1]);
    assert_true(json_is_true(json_object_get(d, "snooze")));
    assert_int_equal(json_integer_value(json_object_get(d, "occurrence")), DUE_S);
    assert_int_equal(json_integer_value(json_object_get(d, "fire_at")), DUE_S + 720);
    assert_string_not_equal(key_of(f->sent[1]), key_of(f->sent[0]));
    ack(f, 1, true);
    at(f, DUE_S + 3000);
    assert_int_equal(f->nsent, 2);
}

static void
test_delete_cancels_and_unacked_rows_expire(void **state)
{
    fixture_t *f = *state;
    at(f, DUE_S);
    assert_int_equal(f->nsent, 1);
    at(f, DUE_S + 3601); /* never acknowledged within the grace window */
    assert_string_equal(status_of(f, DUE_S), SCHED_ST_MISSED);
    int sent = f->nsent;
    at(f, DUE_S + 3700);
    assert_int_equal(f->nsent, sent);
    ack(f, 0, true); /* an ack after all: the record says fired */
    assert_string_equal(status_of(f, DUE_S), SCHED_ST_FIRED);

    char data[120];
    snprintf(data, sizeof data, "{\"reminder_id\":\"%s\"}", f->rid);
    hm_envelope_destroy(&(hm_envelope_t *){call(f, HM_VERB_SCHED_DELETE, data)});
    at(f, DUE_S + 2 * 86400);
    assert_int_equal(f->nsent, sent);
}

static void
test_appointment_gets_two_reminders(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *rep = call(f, HM_VERB_SCHED_CREATE,
                              "{\"kind\":\"appointment\",\"title\":\"Dentist\",\"tz\":\"Europe/"
                              "Berlin\",\"at\":\"2026-03-10T15:00\"}");
    hm_envelope_destroy(&rep);
    int64_t appt = 1773151200; /* 2026-03-10T14:00:00Z */
    int before = f->nsent;
    at(f, appt - 86400);
    at(f, appt - 3600);
    at(f, appt + 86400);
    int n = 0;
    for (int i = before; i < f->nsent; i++) {
        if (strcmp(json_string_value(json_object_get(f->sent[i]->data, "type")),
                   "appointment_reminder") != 0)
            continue;
        json_t *d = inner(f->sent[i]);
        assert_int_equal(json_integer_value(json_object_get(d, "instance")), appt);
        assert_int_equal(json_integer_value(json_object_get(d, "occurrence")),
                         n == 0 ? appt - 86400 : appt - 3600);
        n++;
    }
    assert_int_equal(n, 2);
    assert_string_equal(json_string_value(json_object_get(f->sent[f->nsent - 1]->data, "message")),
                        "Dentist at 15:00 on 2026-03-10 (in 1 hour)");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fires_once_at_its_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unanswered_request_is_retried_with_the_same_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_resends_what_was_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_downtime_within_grace_fires_late, setup, teardown),
        cmocka_unit_test_setup_teardown(test_downtime_beyond_grace_is_recorded_missed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_snooze_fires_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_cancels_and_unacked_rows_expire, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_appointment_gets_two_reminders, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sched_tz_shutdown();
    return rc;
}
