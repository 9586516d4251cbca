/*
 * sched_test_rule.c - recurrence with libical: the next fire of daily,
 * weekly and appointment schedules across DST, the days form, UNTIL and
 * COUNT, and skipping ahead agreeing with a full expansion.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hm_proto.h"
#include "sched_rule.h"
#include "sched_tz.h"

/* A reminder with one or more times ("08:00") and a rule. */
static sched_reminder_t
reminder(const char *tz, const char *start, const char *rrule, int ntimes, const int *times)
{
    sched_reminder_t r;
    memset(&r, 0, sizeof r);
    snprintf(r.tz, sizeof r.tz, "%s", tz);
    snprintf(r.start_date, sizeof r.start_date, "%s", start);
    snprintf(r.rrule, sizeof r.rrule, "%s", rrule);
    r.ntimes = ntimes;
    memcpy(r.times, times, sizeof(int) * (size_t)ntimes);
    r.noffsets = 1;
    return r;
}

/* The fires after after_s, n of them, into out. Returns how many exist. */
static int
fires(const sched_reminder_t *r, int64_t after_s, int64_t *out, int n)
{
    sched_rule_t rule;
    sched_occ_t occ;
    assert_int_equal(sched_rule_init(&rule, r), 0);
    int k = 0;
    while (k < n && sched_rule_next(&rule, after_s, &occ)) {
        out[k++] = occ.fire_s;
        after_s = occ.fire_s;
    }
    return k;
}

static void
test_daily_medication_keeps_local_time_across_dst(void **state)
{
    (void)state;
    int eight[] = {8 * 3600};
    sched_reminder_t r = reminder("America/New_York", "2026-03-06", "FREQ=DAILY", 1, eight);
    int64_t got[4];
    assert_int_equal(fires(&r, 0, got, 4), 4);
    assert_int_equal(got[0], 1772802000);                    /* Fri 08:00 EST = 13:00Z */
    assert_int_equal(got[1], 1772802000 + 86400);            /* Sat 08:00 EST */
    assert_int_equal(got[2], 1772802000 + 2 * 86400 - 3600); /* Sun 08:00 EDT = 12:00Z */
    assert_int_equal(got[3], 1773057600);                    /* Mon 08:00 EDT */
}

static void
test_time_in_the_gap_does_not_drift(void **state)
{
    (void)state;
    int half_past_two[] = {2 * 3600 + 1800};
    sched_reminder_t r = reminder("America/New_York", "2026-03-07", "FREQ=DAILY", 1, half_past_two);
    int64_t got[3];
    assert_int_equal(fires(&r, 0, got, 3), 3);
    assert_int_equal(got[1], 1772955000); /* 02:30 does not exist: 03:30 EDT */
    assert_int_equal(got[2], 1773037800); /* and the next day 02:30 EDT again */
}

static void
test_days_form_times_and_end_date(void **state)
{
    (void)state;
    char rule[SCHED_RRULE_MAX + 1];
    icaltimezone *ny = sched_tz_get("America/New_York");
    int mwf = (1 << 1) | (1 << 3) | (1 << 5);
    assert_int_equal(sched_rule_from_days(mwf, "2026-03-30", ny, rule, sizeof rule), 0);
    assert_string_equal(rule, "FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20260331T035959Z");
    assert_int_equal(sched_rule_from_days(SCHED_DAYS_ALL, "", ny, rule, sizeof rule), 0);
    assert_string_equal(rule, "FREQ=DAILY");

    int times[] = {8 * 3600, 20 * 3600 + 1800};
    assert_int_equal(sched_rule_from_days(mwf, "2026-03-30", ny, rule, sizeof rule), 0);
    sched_reminder_t r = reminder("America/New_York", "2026-03-06", rule, 2, times);
    int64_t got[40];
    int n = fires(&r, 0, got, 40);
    assert_int_equal(got[0], 1772802000);     /* Fri 08:00 */
    assert_int_equal(got[2], 1773057600);     /* then Mon 08:00 (EDT) */
    assert_int_equal(got[3], 1773102600);     /* Mon 20:30 */
    assert_int_equal(got[n - 2], 1774872000); /* last: Mon 30th 08:00 */
    assert_int_equal(got[n - 1], 1774917000); /* and 20:30, end_date inclusive */
    assert_int_equal(n, 2 * 11);              /* 11 days MO/WE/FR from the 6th to the 30th */
}

static void
test_appointment_offsets(void **state)
{
    (void)state;
    int at[] = {14 * 3600 + 1800};
    sched_reminder_t r = reminder("Europe/Berlin", "2026-12-10", "", 1, at);
    r.noffsets = 2;
    r.offsets_min[0] = 1440;
    r.offsets_min[1] = 60;
    sched_rule_t rule;
    sched_occ_t occ;
    assert_int_equal(sched_rule_init(&rule, &r), 0);
    assert_int_equal(sched_rule_next(&rule, 0, &occ), 1);
    assert_int_equal(occ.fire_s, 1796823000); /* 24 h before */
    assert_int_equal(occ.offset_min, 1440);
    assert_int_equal(occ.instance_s, 1796823000 + 86400);
    assert_int_equal(sched_rule_next(&rule, occ.fire_s, &occ), 1);
    assert_int_equal(occ.fire_s, 1796905800); /* 1 h before */
    assert_int_equal(occ.offset_min, 60);
    assert_int_equal(sched_rule_next(&rule, occ.fire_s, &occ), 0);
}

static void
test_until_date_and_count(void **state)
{
    (void)state;
    int eight[] = {8 * 3600}, two[] = {8 * 3600, 20 * 3600};
    int64_t got[10];
    sched_reminder_t r =
        reminder("Europe/Berlin", "2026-03-27", "FREQ=DAILY;UNTIL=20260330", 1, eight);
    assert_int_equal(fires(&r, 0, got, 10), 4); /* 27, 28, 29, 30: a DATE includes its day */
    assert_int_equal(got[3], 1774850400);
    r = reminder("Europe/Berlin", "2026-03-27", "FREQ=DAILY;UNTIL=20260329T060000Z", 1, eight);
    assert_int_equal(fires(&r, 0, got, 10), 3); /* 29th 08:00 CEST is 06:00Z: included */
    r = reminder("Europe/Berlin", "2026-03-27", "FREQ=DAILY;COUNT=3", 2, two);
    assert_int_equal(fires(&r, 0, got, 10), 6); /* COUNT counts per time of day */
}

/* The first instance after after_s by expanding from DTSTART. */
static int64_t
brute_next(const char *tz, const char *start, int secs, const char *rule, int64_t after_s)
{
    icaltimezone *zone = sched_tz_get(tz);
    struct icaltimetype dt;
    assert_int_equal(sched_tz_parse_date(start, &dt), 0);
    dt.hour = secs / 3600;
    dt.minute = secs / 60 % 60;
    icalrecur_iterator *it = icalrecur_iterator_new(icalrecurrencetype_from_string(rule), dt);
    int64_t found = -1;
    for (int n = 0; n < 100000; n++) {
        struct icaltimetype t = icalrecur_iterator_next(it);
        if (icaltime_is_null_time(t))
            break;
        int64_t u = sched_tz_to_utc(zone, t);
        if (u > after_s) {
            found = u;
            break;
        }
    }
    icalrecur_iterator_free(it);
    return found;
}

static void
test_skipping_ahead_matches_full_expansion(void **state)
{
    (void)state;
    static const char *const rules[] = {
        "FREQ=DAILY",
        "FREQ=DAILY;INTERVAL=3",
        "FREQ=WEEKLY;BYDAY=TU,SA",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO",
        "FREQ=MONTHLY;BYMONTHDAY=31",
        "FREQ=MONTHLY;BYDAY=-1FR",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=HOURLY;INTERVAL=8",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    };
    int nine[] = {9 * 3600 + 15 * 60};
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        sched_reminder_t r = reminder("Australia/Sydney", "2021-01-31", rules[i], 1, nine);
        sched_rule_t rule;
        assert_int_equal(sched_rule_init(&rule, &r), 0);
        for (int64_t after = 1612000000; after < 1800000000; after += 3900017) {
            sched_occ_t occ;
            int64_t want = brute_next("Australia/Sydney", "2021-01-31", nine[0], rules[i], after);
            int found = sched_rule_next(&rule, after, &occ);
            if (want < 0) {
                assert_int_equal(found, 0);
                continue;
            }
            if (!found || occ.fire_s != want)
                fail_msg("rule %s after %lld: want %lld got %lld", rules[i], (long long)after,
                         (long long)want, found ? (long long)occ.fire_s : -1LL);
        }
    }
}

static void
test_canon(void **state)
{
    (void)state;
    char out[SCHED_RRULE_MAX + 1];
    sched_err_t err;
    assert_int_equal(sched_rule_canon("RRULE:FREQ=WEEKLY;BYDAY=MO,TU", out, sizeof out, &err), 0);
    assert_string_equal(out, "FREQ=WEEKLY;BYDAY=MO,TU");
    assert_int_equal(sched_rule_canon("FREQ=SECONDLY", out, sizeof out, &err), -1);
    assert_string_equal(err.code, HM_ERR_INVALID_FIELD);
    assert_int_equal(sched_rule_canon("FREQ=MINUTELY;INTERVAL=5", out, sizeof out, &err), -1);
    assert_int_equal(sched_rule_canon("garbage", out, sizeof out, &err), -1);
    assert_int_equal(sched_rule_canon("FREQ=DAILY;BYDAY=XX", out, sizeof out, &err), -1);
    assert_int_equal(sched_rule_canon("FREQ=DAILY;COUNT=1000001", out, sizeof out, &err), -1);
    assert_int_equal(sched_rule_canon("", out, sizeof out, &err), -1);
    assert_int_equal(sched_rule_day_parse("Monday"), 1);
    assert_int_equal(sched_rule_day_parse("sun"), 0);
    assert_int_equal(sched_rule_day_parse("SA"), 6);
    assert_int_equal(sched_rule_day_parse("M"), -1);
    assert_int_equal(sched_rule_day_parse("mondays"), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daily_medication_keeps_local_time_across_dst),
        cmocka_unit_test(test_time_in_the_gap_does_not_drift),
        cmocka_unit_test(test_days_form_times_and_end_date),
        cmocka_unit_test(test_appointment_offsets),
        cmocka_unit_test(test_until_date_and_count),
        cmocka_unit_test(test_skipping_ahead_matches_full_expansion),
        cmocka_unit_test(test_canon),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sched_tz_shutdown();
    return rc;
}
