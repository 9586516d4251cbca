/*
 * ntf_test_tz.c - UT offsets of IANA zones read from the system's tz
 * database, zone name checks, malformed files.
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

#include "ntf_tz.h"

#define WINTER 1705320000LL /* 2024-01-15T12:00:00Z */
#define SUMMER 1721044800LL /* 2024-07-15T12:00:00Z */

static int32_t
offset(ntf_tz_t *tz, const char *name, int64_t t)
{
    int32_t off = 12345;
    assert_int_equal(ntf_tz_offset(tz, name, t, &off), 0);
    return off;
}

static void
test_offsets_follow_daylight_saving(void **state)
{
    ntf_tz_t *tz = ntf_tz_new("/usr/share/zoneinfo");
    assert_int_equal(offset(tz, "Europe/Berlin", WINTER), 3600);
    assert_int_equal(offset(tz, "Europe/Berlin", SUMMER), 7200);
    assert_int_equal(offset(tz, "America/New_York", WINTER), -18000);
    assert_int_equal(offset(tz, "America/New_York", SUMMER), -14400);
    assert_int_equal(offset(tz, "Asia/Tokyo", SUMMER), 32400);
    assert_int_equal(offset(tz, "Asia/Kolkata", WINTER), 19800);
    assert_int_equal(offset(tz, "UTC", SUMMER), 0);
    /* The spring-forward instant in Berlin: 2024-03-31T01:00:00Z. */
    assert_int_equal(offset(tz, "Europe/Berlin", 1711846800LL - 1), 3600);
    assert_int_equal(offset(tz, "Europe/Berlin", 1711846800LL), 7200);
    /* 21:30Z in July is 23:30 in Berlin. */
    assert_int_equal(ntf_tz_local_minute(tz, "Europe/Berlin", 1721079000LL * 1000), 23 * 60 + 30);
    assert_int_equal(ntf_tz_local_minute(tz, "UTC", 1721079000LL * 1000), 21 * 60 + 30);
    ntf_tz_destroy(&tz);
    assert_null(tz);
}

static void
test_zone_names_are_checked(void **state)
{
    assert_true(ntf_tz_name_ok("Europe/Berlin"));
    assert_true(ntf_tz_name_ok("Etc/GMT+5"));
    assert_true(ntf_tz_name_ok("America/Argentina/Buenos_Aires"));
    assert_false(ntf_tz_name_ok("../etc/passwd"));
    assert_false(ntf_tz_name_ok("Europe/../../etc"));
    assert_false(ntf_tz_name_ok("/etc/passwd"));
    assert_false(ntf_tz_name_ok("Europe//Berlin"));
    assert_false(ntf_tz_name_ok("Europe/Berlin/"));
    assert_false(ntf_tz_name_ok("Europe/Ber lin"));
    assert_false(ntf_tz_name_ok(""));
    assert_false(ntf_tz_name_ok(NULL));
    ntf_tz_t *tz = ntf_tz_new("/usr/share/zoneinfo");
    int32_t off;
    assert_int_equal(ntf_tz_offset(tz, "Mars/Olympus_Mons", WINTER, &off), -1);
    assert_int_equal(ntf_tz_offset(tz, "../../etc/passwd", WINTER, &off), -1);
    assert_int_equal(ntf_tz_local_minute(tz, "Nowhere", WINTER), -1);
    ntf_tz_destroy(&tz);
}

static void
test_malformed_files_are_refused(void **state)
{
    char dir[] = "/tmp/ntf-tz-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/Bad", dir);
    FILE *f = fopen(path, "w");
    fputs("TZif2 this is not a zone file", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/Short", dir);
    f = fopen(path, "w");
    fclose(f);
    /* A truncated copy of a real zone. */
    snprintf(path, sizeof path, "%s/Cut", dir);
    FILE *in = fopen("/usr/share/zoneinfo/Europe/Berlin", "rb");
    char buf[300];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    f = fopen(path, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
    ntf_tz_t *tz = ntf_tz_new(dir);
    int32_t off;
    assert_int_equal(ntf_tz_offset(tz, "Bad", WINTER, &off), -1);
    assert_int_equal(ntf_tz_offset(tz, "Short", WINTER, &off), -1);
    assert_int_equal(ntf_tz_offset(tz, "Cut", WINTER, &off), -1);
    ntf_tz_destroy(&tz);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets_follow_daylight_saving),
        cmocka_unit_test(test_zone_names_are_checked),
        cmocka_unit_test(test_malformed_files_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
