/*
 * sched_test_tz.c - time zones from the tz database: local wall time to
 * instants across daylight-saving changes (gap: the offset before it;
 * overlap: the first), instants to local time, formats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <string.h>

#include "sched_tz.h"

/* A floating local time. */
static struct icaltimetype
local(int y, int mo, int d, int h, int mi)
{
    struct icaltimetype t = icaltime_null_time();
    t.year = y;
    t.month = mo;
    t.day = d;
    t.hour = h;
    t.minute = mi;
    return t;
}

static void
test_daily_eight_oclock_across_dst_in_new_york(void **state)
{
    (void)state;
    icaltimezone *ny = sched_tz_get("America/New_York");
    assert_non_null(ny);
    /* 08:00 EST is 13:00Z; after the change on 2026-03-08, 08:00 EDT is 12:00Z. */
    assert_int_equal(sched_tz_to_utc(ny, local(2026, 3, 6, 8, 0)), 1772802000);
    assert_int_equal(sched_tz_to_utc(ny, local(2026, 3, 9, 8, 0)), 1773057600);
    assert_int_equal(sched_tz_offset(ny, 1772802000), -5 * 3600);
    assert_int_equal(sched_tz_offset(ny, 1773057600), -4 * 3600);
}

static void
test_berlin_follows_its_own_rules(void **state)
{
    (void)state;
    icaltimezone *be = sched_tz_get("Europe/Berlin");
    assert_non_null(be);
    assert_int_equal(sched_tz_to_utc(be, local(2026, 3, 27, 8, 0)), 1774594800); /* CET */
    assert_int_equal(sched_tz_to_utc(be, local(2026, 3, 30, 8, 0)), 1774850400); /* CEST */
}

static void
test_gap_uses_the_offset_before_it(void **state)
{
    (void)state;
    icaltimezone *ny = sched_tz_get("America/New_York");
    /* 02:30 does not exist on 2026-03-08: read with EST it is 07:30Z = 03:30 EDT. */
    assert_int_equal(sched_tz_to_utc(ny, local(2026, 3, 8, 2, 30)), 1772955000);
    icaltimezone *be = sched_tz_get("Europe/Berlin");
    assert_int_equal(sched_tz_to_utc(be, local(2026, 3, 29, 2, 30)), 1774747800);
}

static void
test_overlap_means_the_first(void **state)
{
    (void)state;
    icaltimezone *ny = sched_tz_get("America/New_York");
    /* 01:30 happens twice on 2026-11-01: EDT (05:30Z) first, EST (06:30Z) second. */
    assert_int_equal(sched_tz_to_utc(ny, local(2026, 11, 1, 1, 30)), 1793511000);
    struct icaltimetype t = sched_tz_local(ny, 1793514600);
    assert_int_equal(t.hour, 1);
    assert_int_equal(t.minute, 30);
    icaltimezone *be = sched_tz_get("Europe/Berlin");
    assert_int_equal(sched_tz_to_utc(be, local(2026, 10, 25, 2, 30)), 1792888200);
}

static void
test_local_and_iso(void **state)
{
    (void)state;
    icaltimezone *ny = sched_tz_get("America/New_York");
    char iso[SCHED_TZ_ISO_LEN];
    assert_string_equal(sched_tz_iso(ny, 1773057600, iso, sizeof iso), "2026-03-09T08:00:00-04:00");
    assert_string_equal(sched_tz_iso(sched_tz_get("UTC"), 1773057600, iso, sizeof iso),
                        "2026-03-09T12:00:00Z");
    assert_string_equal(sched_tz_iso(sched_tz_get("Asia/Kolkata"), 1773057600, iso, sizeof iso),
                        "2026-03-09T17:30:00+05:30");
    struct icaltimetype t = sched_tz_local(sched_tz_get("Pacific/Auckland"), 1773057600);
    assert_int_equal(t.day, 10);
    assert_int_equal(t.hour, 1);
}

static void
test_unknown_and_hostile_names(void **state)
{
    (void)state;
    assert_null(sched_tz_get("Nowhere/Special"));
    assert_null(sched_tz_get("../../etc/passwd"));
    assert_null(sched_tz_get("/etc/localtime"));
    assert_null(sched_tz_get(""));
    assert_null(sched_tz_get(NULL));
    assert_null(sched_tz_get("Europe/Berlin\n"));
    assert_non_null(sched_tz_get("UTC"));
    assert_non_null(sched_tz_get("Etc/UTC"));
}

static void
test_parsers(void **state)
{
    (void)state;
    struct icaltimetype t;
    int secs;
    assert_int_equal(sched_tz_parse_date("2026-02-28", &t), 0);
    assert_int_equal(sched_tz_parse_date("2026-02-29", &t), -1);
    assert_int_equal(sched_tz_parse_date("2028-02-29", &t), 0);
    assert_int_equal(sched_tz_parse_date("2026-2-28", &t), -1);
    assert_int_equal(sched_tz_parse_date("1969-12-31", &t), -1);
    assert_int_equal(sched_tz_parse_time("08:00", &secs), 0);
    assert_int_equal(secs, 8 * 3600);
    assert_int_equal(sched_tz_parse_time("23:59:59", &secs), 0);
    assert_int_equal(secs, 86399);
    assert_int_equal(sched_tz_parse_time("24:00", &secs), -1);
    assert_int_equal(sched_tz_parse_time("8:00", &secs), -1);
    assert_int_equal(sched_tz_parse_time("08:00 ", &secs), -1);
    assert_int_equal(sched_tz_parse_local("2026-12-10T14:30", &t), 0);
    assert_int_equal(t.hour * 60 + t.minute, 14 * 60 + 30);
    assert_int_equal(sched_tz_parse_local("2026-12-10T14:30:00+01:00", &t), -1);
}

static void
test_far_future_rules_come_from_the_tz_database(void **state)
{
    (void)state;
    icaltimezone *ny = sched_tz_get("America/New_York");
    /* 2100: DST from the second Sunday of March (the 14th). */
    assert_int_equal(sched_tz_offset(ny, sched_tz_to_utc(ny, local(2100, 3, 13, 12, 0))),
                     -5 * 3600);
    assert_int_equal(sched_tz_offset(ny, sched_tz_to_utc(ny, local(2100, 3, 15, 12, 0))),
                     -4 * 3600);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daily_eight_oclock_across_dst_in_new_york),
        cmocka_unit_test(test_berlin_follows_its_own_rules),
        cmocka_unit_test(test_gap_uses_the_offset_before_it),
        cmocka_unit_test(test_overlap_means_the_first),
        cmocka_unit_test(test_local_and_iso),
        cmocka_unit_test(test_unknown_and_hostile_names),
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_far_future_rules_come_from_the_tz_database),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sched_tz_shutdown();
    return rc;
}
