/*
 * test_ratelimit.c - hm_ratelimit: burst, refill, wait_ms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "hm_ratelimit.h"

#include <unistd.h>

#define MS 1000000LL /* nanoseconds */

static void
test_ratelimit_burst_then_limited(void **state)
{
    (void)state;
    hm_ratelimit_t rl;
    hm_ratelimit_init(&rl, 10.0, 5.0, 0); /* 10 messages/s, bursts of 5 */
    for (int i = 0; i < 5; i++)
        assert_true(hm_ratelimit_take(&rl, 0, 1));
    assert_false(hm_ratelimit_take(&rl, 0, 1));
    assert_int_equal(hm_ratelimit_wait_ms(&rl, 0, 1), 100);
}

static void
test_ratelimit_refills_at_rate(void **state)
{
    (void)state;
    hm_ratelimit_t rl;
    hm_ratelimit_init(&rl, 10.0, 5.0, 0);
    for (int i = 0; i < 5; i++)
        assert_true(hm_ratelimit_take(&rl, 0, 1));
    assert_false(hm_ratelimit_take(&rl, 99 * MS, 1)); /* 0.99 token */
    assert_true(hm_ratelimit_take(&rl, 100 * MS, 1));
    assert_false(hm_ratelimit_take(&rl, 100 * MS, 1));
    assert_true(hm_ratelimit_take(&rl, 350 * MS, 2));  /* 2.5 earned */
    assert_false(hm_ratelimit_take(&rl, 350 * MS, 1)); /* 0.5 left */
}

static void
test_ratelimit_never_exceeds_burst(void **state)
{
    (void)state;
    hm_ratelimit_t rl;
    hm_ratelimit_init(&rl, 10.0, 5.0, 0);
    int taken = 0;
    while (hm_ratelimit_take(&rl, 3600000 * MS, 1)) /* an idle hour later */
        taken++;
    assert_int_equal(taken, 5);
}

static void
test_ratelimit_failed_take_takes_nothing(void **state)
{
    (void)state;
    hm_ratelimit_t rl;
    hm_ratelimit_init(&rl, 1.0, 3.0, 0);
    assert_false(hm_ratelimit_take(&rl, 0, 4));
    assert_true(hm_ratelimit_take(&rl, 0, 3));
}

static void
test_ratelimit_wait_ms_is_enough(void **state)
{
    (void)state;
    hm_ratelimit_t rl;
    hm_ratelimit_init(&rl, 3.0, 2.0, 1000 * MS);
    assert_int_equal(hm_ratelimit_wait_ms(&rl, 1000 * MS, 2), 0);
    assert_true(hm_ratelimit_take(&rl, 1000 * MS, 2));
    int64_t wait = hm_ratelimit_wait_ms(&rl, 1000 * MS, 1);
    assert_int_equal(wait, 334); /* 333.3 rounded up */
    assert_false(hm_ratelimit_take(&rl, 1000 * MS + (wait - 1) * MS, 1));
    assert_true(hm_ratelimit_take(&rl, 1000 * MS + wait * MS, 1));
}

static void
test_ratelimit_wait_ms_never(void **state)
{
    (void)state;
    hm_ratelimit_t rl;
    hm_ratelimit_init(&rl, 5.0, 2.0, 0);
    assert_int_equal(hm_ratelimit_wait_ms(&rl, 0, 3), -1); /* more than the burst */
    hm_ratelimit_init(&rl, 0.0, 1.0, 0);
    assert_true(hm_ratelimit_take(&rl, 0, 1));
    assert_int_equal(hm_ratelimit_wait_ms(&rl, 1000 * MS, 1), -1); /* no refill */
    assert_false(hm_ratelimit_take(&rl, 1000000 * MS, 1));
}

static void
test_ratelimit_clock_going_back_earns_nothing(void **state)
{
    (void)state;
    hm_ratelimit_t rl;
    hm_ratelimit_init(&rl, 10.0, 1.0, 500 * MS);
    assert_true(hm_ratelimit_take(&rl, 500 * MS, 1));
    assert_false(hm_ratelimit_take(&rl, 0, 1));
    assert_false(hm_ratelimit_take(&rl, 550 * MS, 1)); /* counted from 500, not 0 */
    assert_true(hm_ratelimit_take(&rl, 600 * MS, 1));
}

static void
test_ratelimit_fractional_costs(void **state)
{
    (void)state;
    hm_ratelimit_t rl;
    hm_ratelimit_init(&rl, 1.0, 1.0, 0);
    for (int i = 0; i < 10; i++)
        assert_true(hm_ratelimit_take(&rl, 0, 0.1)); /* ten tenths: float rounding absorbed */
    assert_false(hm_ratelimit_take(&rl, 0, 0.1));
}

int
main(void)
{
    alarm(60); /* a hung test must not hang CI */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratelimit_burst_then_limited),
        cmocka_unit_test(test_ratelimit_refills_at_rate),
        cmocka_unit_test(test_ratelimit_never_exceeds_burst),
        cmocka_unit_test(test_ratelimit_failed_take_takes_nothing),
        cmocka_unit_test(test_ratelimit_wait_ms_is_enough),
        cmocka_unit_test(test_ratelimit_wait_ms_never),
        cmocka_unit_test(test_ratelimit_clock_going_back_earns_nothing),
        cmocka_unit_test(test_ratelimit_fractional_costs),
    };
    return cmocka_run_group_tests_name("hm_ratelimit", tests, NULL, NULL);
}
