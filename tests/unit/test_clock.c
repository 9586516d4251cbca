/*
 * test_clock.c - hm_clock: fake clock, ISO 8601 formatting and parsing,
 * HM_FAKE_CLOCK_FILE (checked in a re-executed child, since the variable is
 * read at first use).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "hm_clock.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILD_ARG "--fake-clock-file-child"

static int
teardown_real(void **state)
{
    (void)state;
    hm_clock_set_real();
    return 0;
}

static void
test_clock_fake_moves_only_when_advanced(void **state)
{
    (void)state;
    hm_clock_set_fake(1704067200000LL); /* 2024-01-01T00:00:00Z */
    int64_t mono = hm_clock_mono_ns();
    assert_int_equal(hm_clock_wall_ms(), 1704067200000LL);
    usleep(20000);
    assert_int_equal(hm_clock_wall_ms(), 1704067200000LL);
    assert_int_equal(hm_clock_mono_ns(), mono);

    hm_clock_advance(1500);
    assert_int_equal(hm_clock_wall_ms(), 1704067201500LL);
    assert_int_equal(hm_clock_mono_ns() - mono, 1500LL * 1000000);

    char iso[32];
    assert_string_equal(hm_clock_iso8601(hm_clock_wall_ms(), iso, sizeof iso),
                        "2024-01-01T00:00:01.500Z");
}

static void
test_clock_set_fake_restarts_monotonic(void **state)
{
    (void)state;
    hm_clock_set_fake(0);
    hm_clock_advance(10000);
    int64_t later = hm_clock_mono_ns();
    hm_clock_set_fake(5);
    assert_int_equal(hm_clock_wall_ms(), 5);
    assert_int_equal(later - hm_clock_mono_ns(), 10000LL * 1000000);
    assert_true(hm_clock_mono_ns() > 0);
}

static void
test_clock_real_clocks_move(void **state)
{
    (void)state;
    hm_clock_set_real();
    hm_clock_advance(1000000); /* no-op on the real clock */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t expect = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int64_t wall = hm_clock_wall_ms();
    assert_true(wall >= expect && wall - expect < 1000);
    int64_t m1 = hm_clock_mono_ns();
    usleep(10000);
    int64_t m2 = hm_clock_mono_ns();
    assert_true(m2 - m1 >= 10000000LL);
    assert_true(m2 - m1 < 5000000000LL);
}

static void
test_clock_iso8601_formats(void **state)
{
    (void)state;
    char out[32];
    assert_string_equal(hm_clock_iso8601(0, out, sizeof out), "1970-01-01T00:00:00.000Z");
    assert_string_equal(hm_clock_iso8601(951782400007LL, out, sizeof out),
                        "2000-02-29T00:00:00.007Z");
    assert_string_equal(hm_clock_iso8601(-1, out, sizeof out), "1969-12-31T23:59:59.999Z");
    assert_string_equal(hm_clock_iso8601(253402300799999LL, out, sizeof out),
                        "9999-12-31T23:59:59.999Z");
    char small[11];
    assert_string_equal(hm_clock_iso8601(0, small, sizeof small), "1970-01-01");
    assert_ptr_equal(hm_clock_iso8601(0, small, 0), small);
}

static void
test_clock_parse_round_trips(void **state)
{
    (void)state;
    const int64_t samples[] = {
        0, 1, 999, 1704067200000LL, 1709164800123LL, 4102444799999LL, -86400001LL};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char iso[32];
        int64_t back = 42;
        hm_clock_iso8601(samples[i], iso, sizeof iso);
        assert_int_equal(hm_clock_parse_iso8601(iso, &back), 0);
        assert_int_equal(back, samples[i]);
    }
}

static void
test_clock_parse_offsets_and_fractions(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(hm_clock_parse_iso8601("2024-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 1704067200000LL);
    assert_int_equal(hm_clock_parse_iso8601("2024-01-01T02:30:00+02:30", &ms), 0);
    assert_int_equal(ms, 1704067200000LL);
    assert_int_equal(hm_clock_parse_iso8601("2023-12-31T19:00:00-05:00", &ms), 0);
    assert_int_equal(ms, 1704067200000LL);
    assert_int_equal(hm_clock_parse_iso8601("2023-12-31T19:00:00-0500", &ms), 0);
    assert_int_equal(ms, 1704067200000LL);
    assert_int_equal(hm_clock_parse_iso8601("2024-01-01t00:00:00.5z", &ms), 0);
    assert_int_equal(ms, 1704067200500LL);
    assert_int_equal(hm_clock_parse_iso8601("2024-01-01 00:00:00.123456789Z", &ms), 0);
    assert_int_equal(ms, 1704067200123LL);
    assert_int_equal(hm_clock_parse_iso8601("2024-01-01T00:00:00,25Z", &ms), 0);
    assert_int_equal(ms, 1704067200250LL);
    assert_int_equal(hm_clock_parse_iso8601("2024-02-29T12:00:00Z", &ms), 0); /* leap day */
    assert_int_equal(hm_clock_parse_iso8601("2016-12-31T23:59:60Z", &ms), 0); /* leap second */
    assert_int_equal(ms, 1483228800000LL);
}

static void
test_clock_parse_rejects_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "2024-01-01",
        "2024-01-01T00:00:00",       /* no zone */
        "2024-01-01T00:00Z",         /* no seconds */
        "2024-1-01T00:00:00Z",       /* one-digit month */
        "2024-13-01T00:00:00Z",      /* month */
        "2024-00-01T00:00:00Z",      /* month */
        "2023-02-29T00:00:00Z",      /* not a leap year */
        "1900-02-29T00:00:00Z",      /* not a leap year either */
        "2024-04-31T00:00:00Z",      /* April has 30 days */
        "2024-01-01T24:00:00Z",      /* hour */
        "2024-01-01T00:60:00Z",      /* minute */
        "2024-01-01T00:00:61Z",      /* second */
        "2024-01-01T00:00:00.Z",     /* empty fraction */
        "2024-01-01T00:00:00+2:00",  /* short offset */
        "2024-01-01T00:00:00+24:00", /* offset hour */
        "2024-01-01T00:00:00+01:60", /* offset minute */
        "2024-01-01T00:00:00Zjunk",  /* trailing text */
        "2024-01-01X00:00:00Z",      /* separator */
        " 2024-01-01T00:00:00Z",     /* leading space */
        "+024-01-01T00:00:00Z",      /* sign in year */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 77;
        if (hm_clock_parse_iso8601(bad[i], &ms) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(ms, 77);
    }
    int64_t ms;
    assert_int_equal(hm_clock_parse_iso8601(NULL, &ms), -1);
    assert_int_equal(hm_clock_parse_iso8601("2024-01-01T00:00:00Z", NULL), -1);
}

/* Writes text into path atomically (rename), as a test driver would. */
static void
write_clock_file(const char *path, const char *text)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

/* In the child: HM_FAKE_CLOCK_FILE was set before the first hm_clock call. */
static void
test_clock_file_drives_wall_time(void **state)
{
    (void)state;
    const char *path = getenv("HM_FAKE_CLOCK_FILE");
    assert_non_null(path);
    assert_int_equal(hm_clock_wall_ms(), 1704067200000LL); /* written by the parent */

    write_clock_file(path, "1704067260000\n");
    usleep(30000); /* past the 10 ms re-read interval */
    assert_int_equal(hm_clock_wall_ms(), 1704067260000LL);

    hm_clock_advance(5000); /* ignored: the file is the source */
    assert_int_equal(hm_clock_wall_ms(), 1704067260000LL);

    int64_t m1 = hm_clock_mono_ns();
    usleep(10000);
    assert_true(hm_clock_mono_ns() - m1 >= 10000000LL); /* monotonic stays real */
}

static void
test_clock_file_unusable_falls_back_to_real(void **state)
{
    (void)state;
    const char *path = getenv("HM_FAKE_CLOCK_FILE");
    struct timespec ts;
    write_clock_file(path, "soon");
    usleep(30000);
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t real = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    assert_true(llabs(hm_clock_wall_ms() - real) < 1000);

    unlink(path);
    usleep(30000);
    assert_true(llabs(hm_clock_wall_ms() - real) < 1000);

    write_clock_file(path, "1704067200000");
    usleep(30000);
    assert_int_equal(hm_clock_wall_ms(), 1704067200000LL);
}

static void
test_clock_file_yields_to_set_fake(void **state)
{
    (void)state;
    hm_clock_set_fake(7);
    assert_int_equal(hm_clock_wall_ms(), 7);
    hm_clock_set_real();
    assert_true(hm_clock_wall_ms() > 1704067200000LL + 1000LL * 86400 * 365);
}

static int
run_file_child(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_file_drives_wall_time),
        cmocka_unit_test(test_clock_file_unusable_falls_back_to_real),
        cmocka_unit_test(test_clock_file_yields_to_set_fake),
    };
    return cmocka_run_group_tests_name("hm_clock_file", tests, NULL, NULL);
}

static void
test_clock_fake_clock_file_in_a_fresh_process(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_clock_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/now", dir);
    write_clock_file(path, "1704067200000\n");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("HM_FAKE_CLOCK_FILE", path, 1);
        execl("/proc/self/exe", "test_clock", CHILD_ARG, (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    unlink(path);
    rmdir(dir);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(int argc, char **argv)
{
    alarm(60); /* a hung test must not hang CI */
    if (argc > 1 && strcmp(argv[1], CHILD_ARG) == 0)
        return run_file_child();
    unsetenv("HM_FAKE_CLOCK_FILE");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_clock_fake_moves_only_when_advanced, teardown_real),
        cmocka_unit_test_teardown(test_clock_set_fake_restarts_monotonic, teardown_real),
        cmocka_unit_test_teardown(test_clock_real_clocks_move, teardown_real),
        cmocka_unit_test(test_clock_iso8601_formats),
        cmocka_unit_test(test_clock_parse_round_trips),
        cmocka_unit_test(test_clock_parse_offsets_and_fractions),
        cmocka_unit_test(test_clock_parse_rejects_invalid),
        cmocka_unit_test(test_clock_fake_clock_file_in_a_fresh_process),
    };
    return cmocka_run_group_tests_name("hm_clock", tests, NULL, NULL);
}
