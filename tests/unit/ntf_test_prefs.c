/*
 * ntf_test_prefs.c - preferences: defaults, partial updates and their
 * validation, storage, quiet hours in the user's zone, and the decision for
 * a new notification (deliver, hold, mute).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_db.h"
#include "ntf_prefs.h"
#include "ntf_store.h"

/* 2024-07-15T21:30:00Z: 23:30 in Berlin, 17:30 in New York. */
#define T_2130Z 1721079000000LL

static ntf_tz_t *tz;

static int
setup(void **state)
{
    tz = ntf_tz_new("/usr/share/zoneinfo");
    return tz ? 0 : -1;
}

static int
teardown(void **state)
{
    ntf_tz_destroy(&tz);
    return 0;
}

/* Applies a JSON text; returns what ntf_prefs_apply returned. */
static int
apply(ntf_prefs_t *p, const char *text, char *err)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    int rc = ntf_prefs_apply(p, j, tz, err, 160);
    json_decref(j);
    return rc;
}

static void
test_quiet_hours_in_the_users_zone(void **state)
{
    ntf_prefs_t p;
    char err[160];
    ntf_prefs_default(&p);
    assert_false(ntf_prefs_quiet_now(&p, tz, T_2130Z));
    assert_int_equal(apply(&p,
                           "{\"quiet_hours\": {\"start\": \"22:00\", \"end\": \"07:00\","
                           " \"timezone\": \"Europe/Berlin\"}}",
                           err),
                     0);
    assert_true(p.quiet);
    assert_true(ntf_prefs_quiet_now(&p, tz, T_2130Z)); /* 23:30 in Berlin */
    assert_int_equal(apply(&p, "{\"quiet_hours\": {\"timezone\": \"America/New_York\"}}", err), 0);
    assert_false(ntf_prefs_quiet_now(&p, tz, T_2130Z)); /* 17:30 in New York */
    assert_int_equal(
        apply(&p, "{\"quiet_hours\": {\"start\": \"17:00\", \"end\": \"18:00\"}}", err), 0);
    assert_true(ntf_prefs_quiet_now(&p, tz, T_2130Z));
    assert_false(ntf_prefs_quiet_now(&p, tz, T_2130Z + 30 * 60000)); /* 18:00: the end is out */
    assert_int_equal(apply(&p, "{\"quiet_hours\": null}", err), 0);
    assert_false(p.quiet);
}

static void
test_decisions(void **state)
{
    ntf_prefs_t p;
    char err[160];
    ntf_prefs_default(&p);
    assert_int_equal(apply(&p,
                           "{\"preferences\": {\"types\": {\"medication_reminder\": false,"
                           " \"health_alert\": false}, \"quiet_hours\": {\"enabled\": true,"
                           " \"start\": \"21:00\", \"end\": \"22:00\"}}}",
                           err),
                     0);
    int64_t quiet = T_2130Z, awake = T_2130Z + 3600000;
    assert_int_equal(ntf_prefs_decide(&p, NTF_TYPE_MEDICATION_REMINDER, NTF_PRIO_HIGH, tz, awake),
                     NTF_DECIDE_MUTE);
    assert_int_equal(
        ntf_prefs_decide(&p, NTF_TYPE_APPOINTMENT_REMINDER, NTF_PRIO_NORMAL, tz, quiet),
        NTF_DECIDE_HOLD);
    assert_int_equal(
        ntf_prefs_decide(&p, NTF_TYPE_APPOINTMENT_REMINDER, NTF_PRIO_CRITICAL, tz, quiet),
        NTF_DECIDE_HOLD); /* only health alerts pass */
    assert_int_equal(
        ntf_prefs_decide(&p, NTF_TYPE_APPOINTMENT_REMINDER, NTF_PRIO_NORMAL, tz, awake),
        NTF_DECIDE_DELIVER);
    /* Health alerts are off: routine ones muted, a critical one still comes. */
    assert_int_equal(ntf_prefs_decide(&p, NTF_TYPE_HEALTH_ALERT, NTF_PRIO_HIGH, tz, quiet),
                     NTF_DECIDE_MUTE);
    assert_int_equal(ntf_prefs_decide(&p, NTF_TYPE_HEALTH_ALERT, NTF_PRIO_CRITICAL, tz, quiet),
                     NTF_DECIDE_DELIVER);
    p.type_on[NTF_TYPE_HEALTH_ALERT] = true;
    assert_int_equal(ntf_prefs_decide(&p, NTF_TYPE_HEALTH_ALERT, NTF_PRIO_HIGH, tz, quiet),
                     NTF_DECIDE_DELIVER);
    assert_int_equal(ntf_prefs_decide(&p, NTF_TYPE_HEALTH_ALERT, NTF_PRIO_NORMAL, tz, quiet),
                     NTF_DECIDE_HOLD);
}

static void
test_bad_updates_change_nothing(void **state)
{
    ntf_prefs_t p, before;
    char err[160];
    ntf_prefs_default(&p);
    before = p;
    const char *bad[] = {
        "{}",
        "{\"types\": {\"weather\": false}}",
        "{\"types\": {\"system\": \"no\"}}",
        "{\"types\": {\"system\": false}, \"quiet_hours\": {\"start\": \"25:00\"}}",
        "{\"quiet_hours\": {\"timezone\": \"Mars/Olympus\"}}",
        "{\"quiet_hours\": {\"timezone\": \"../../etc/passwd\"}}",
        "{\"quiet_hours\": {\"end\": \"7am\"}}",
        "{\"quiet_hours\": 5}",
        "{\"quiet_hours\": {\"enabled\": \"yes\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(apply(&p, bad[i], err), -1);
        assert_true(strlen(err) > 0);
        assert_int_equal(p.quiet, before.quiet);
        assert_int_equal(p.quiet_start, before.quiet_start);
        assert_int_equal(p.type_on[NTF_TYPE_SYSTEM], before.type_on[NTF_TYPE_SYSTEM]);
        assert_string_equal(p.tz, before.tz);
    }
    json_t *arr = json_array();
    assert_int_equal(ntf_prefs_apply(&p, arr, tz, err, sizeof err), -1);
    json_decref(arr);
}

static void
test_stored_and_read_back(void **state)
{
    char dir[] = "/tmp/ntf-prefs-XXXXXX", path[128], err[160];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/notify.db", dir);
    sqlite3 *db = ntf_store_open(path);
    ntf_prefs_t p, got;
    assert_int_equal(ntf_prefs_get(db, 5, &got), 0); /* defaults */
    assert_true(got.type_on[NTF_TYPE_SYSTEM]);
    assert_string_equal(got.tz, "UTC");
    ntf_prefs_default(&p);
    assert_int_equal(apply(&p,
                           "{\"types\": {\"system\": false}, \"quiet_hours\": {\"start\":"
                           " \"23:15\", \"end\": \"06:45\", \"timezone\": \"Asia/Tokyo\"}}",
                           err),
                     0);
    assert_int_equal(ntf_prefs_put(db, 5, &p, 1), 0);
    assert_int_equal(ntf_prefs_get(db, 5, &got), 0);
    for (int t = 0; t < NTF_TYPE_COUNT; t++)
        assert_int_equal(p.type_on[t], got.type_on[t]);
    assert_int_equal(got.quiet, true);
    assert_int_equal(got.quiet_start, 23 * 60 + 15);
    assert_int_equal(got.quiet_end, 6 * 60 + 45);
    assert_string_equal(got.tz, "Asia/Tokyo");
    json_t *j = ntf_prefs_to_json(&got);
    json_t *q = json_object_get(j, "quiet_hours");
    assert_string_equal(json_string_value(json_object_get(q, "start")), "23:15");
    assert_string_equal(json_string_value(json_object_get(q, "end")), "06:45");
    assert_string_equal(json_string_value(json_object_get(q, "timezone")), "Asia/Tokyo");
    assert_true(json_is_false(json_object_get(json_object_get(j, "types"), "system")));
    json_decref(j);
    hm_db_close(&db);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quiet_hours_in_the_users_zone),
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_bad_updates_change_nothing),
        cmocka_unit_test(test_stored_and_read_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
