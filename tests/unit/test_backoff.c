/*
 * test_backoff.c - hm_backoff: growth, cap, jitter range, reset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "hm_backoff.h"

#include <limits.h>
#include <unistd.h>

static void
test_backoff_grows_then_caps(void **state)
{
    (void)state;
    hm_backoff_t b;
    hm_backoff_init(&b, 100, 2.0, 1000);
    /* attempt n: within [d/2, d], d = min(100 * 2^n, 1000) */
    const int64_t high[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (int n = 0; n < 7; n++) {
        int64_t delay = hm_backoff_next(&b);
        assert_in_range(delay, (uint64_t)(high[n] + 1) / 2, (uint64_t)high[n]);
        assert_int_equal(b.attempt, n + 1);
    }
}

static void
test_backoff_jitter_covers_the_range(void **state)
{
    (void)state;
    hm_backoff_t b;
    hm_backoff_init(&b, 1000, 2.0, 60000);
    int64_t lo = INT64_MAX, hi = 0;
    int64_t sum = 0;
    const int draws = 20000;
    for (int i = 0; i < draws; i++) {
        hm_backoff_reset(&b);
        int64_t delay = hm_backoff_next(&b);
        assert_in_range(delay, 500, 1000);
        lo = delay < lo ? delay : lo;
        hi = delay > hi ? delay : hi;
        sum += delay;
    }
    assert_true(lo < 510); /* both ends reached, near enough */
    assert_true(hi > 990);
    int64_t mean = sum / draws;
    assert_in_range(mean, 735, 765); /* uniform: 750 */
}

static void
test_backoff_two_instances_differ(void **state)
{
    (void)state;
    hm_backoff_t a, b;
    hm_backoff_init(&a, 1000, 2.0, 60000);
    hm_backoff_init(&b, 1000, 2.0, 60000);
    int same = 0;
    for (int i = 0; i < 20; i++) {
        hm_backoff_reset(&a);
        hm_backoff_reset(&b);
        same += hm_backoff_next(&a) == hm_backoff_next(&b);
    }
    assert_true(same < 20); /* seeded separately: no lock-step retries */
}

static void
test_backoff_reset_starts_over(void **state)
{
    (void)state;
    hm_backoff_t b;
    hm_backoff_init(&b, 100, 3.0, 100000);
    for (int i = 0; i < 5; i++)
        hm_backoff_next(&b);
    assert_true(hm_backoff_next(&b) >= 100 * 243 / 2); /* attempt 5: 100 * 3^5 */
    hm_backoff_reset(&b);
    assert_int_equal(b.attempt, 0);
    assert_in_range(hm_backoff_next(&b), 50, 100);
}

static void
test_backoff_many_attempts_stay_capped(void **state)
{
    (void)state;
    hm_backoff_t b;
    hm_backoff_init(&b, 10, 1.5, 30000);
    b.attempt = INT_MAX - 1;
    assert_in_range(hm_backoff_next(&b), 15000, 30000);
    assert_in_range(hm_backoff_next(&b), 15000, 30000);
    assert_int_equal(b.attempt, INT_MAX); /* saturates */
}

static void
test_backoff_factor_one_is_constant(void **state)
{
    (void)state;
    hm_backoff_t b;
    hm_backoff_init(&b, 40, 1.0, 1000);
    for (int i = 0; i < 50; i++)
        assert_in_range(hm_backoff_next(&b), 20, 40);
}

static void
test_backoff_clamps_bad_parameters(void **state)
{
    (void)state;
    hm_backoff_t b;
    hm_backoff_init(&b, 0, 0.5, -5);
    assert_int_equal(b.base_ms, 1);
    assert_true(b.factor == 1.0);
    assert_int_equal(b.cap_ms, 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(hm_backoff_next(&b), 1); /* never zero */
}

int
main(void)
{
    alarm(60); /* a hung test must not hang CI */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_grows_then_caps),
        cmocka_unit_test(test_backoff_jitter_covers_the_range),
        cmocka_unit_test(test_backoff_two_instances_differ),
        cmocka_unit_test(test_backoff_reset_starts_over),
        cmocka_unit_test(test_backoff_many_attempts_stay_capped),
        cmocka_unit_test(test_backoff_factor_one_is_constant),
        cmocka_unit_test(test_backoff_clamps_bad_parameters),
    };
    return cmocka_run_group_tests_name("hm_backoff", tests, NULL, NULL);
}
