/*
 * ntf_test_resend.c - the re-send schedule (a heap with one entry per
 * notification, bounded) and the jittered backoff that spaces re-sends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "ntf_resend.h"

static void
test_due_entries_come_out_in_time_order(void **state)
{
    ntf_resend_t *r = ntf_resend_new(100);
    int64_t due[] = {500, 100, 300, 200, 400};
    for (int i = 0; i < 5; i++) {
        ntf_resend_item_t it = {due[i], i + 1, 42};
        assert_int_equal(ntf_resend_add(r, &it), 1);
    }
    assert_int_equal(ntf_resend_next(r), 100);
    ntf_resend_item_t out;
    assert_false(ntf_resend_pop_due(r, 99, &out));
    int64_t last = 0;
    int n = 0;
    while (ntf_resend_pop_due(r, 1000, &out)) {
        assert_true(out.due_ms >= last);
        last = out.due_ms;
        n++;
    }
    assert_int_equal(n, 5);
    assert_int_equal(ntf_resend_next(r), -1);
    ntf_resend_destroy(&r);
    assert_null(r);
}

static void
test_one_entry_per_notification_and_a_bound(void **state)
{
    ntf_resend_t *r = ntf_resend_new(2);
    ntf_resend_item_t a = {10, 1, 1}, a2 = {5, 1, 1}, b = {20, 2, 1}, c = {30, 3, 1};
    assert_int_equal(ntf_resend_add(r, &a), 1);
    assert_int_equal(ntf_resend_add(r, &a2), 0); /* already scheduled: kept as it was */
    assert_int_equal(ntf_resend_next(r), 10);
    assert_int_equal(ntf_resend_add(r, &b), 1);
    assert_int_equal(ntf_resend_add(r, &c), -1); /* full */
    ntf_resend_item_t out;
    assert_true(ntf_resend_pop_due(r, 10, &out));
    assert_int_equal(out.nid, 1);
    assert_int_equal(ntf_resend_add(r, &a2), 1); /* popped: may come back */
    assert_int_equal(ntf_resend_size(r), 2);
    ntf_resend_destroy(&r);
}

static void
test_backoff_grows_with_jitter_and_a_cap(void **state)
{
    ntf_backoff_cfg_t cfg = {100, 2.0, 1000, 5};
    for (int k = 0; k < 50; k++) {
        int64_t d0 = ntf_backoff_delay(&cfg, 0), d1 = ntf_backoff_delay(&cfg, 1);
        int64_t d2 = ntf_backoff_delay(&cfg, 2), d9 = ntf_backoff_delay(&cfg, 9);
        assert_in_range(d0, 50, 100);
        assert_in_range(d1, 100, 200);
        assert_in_range(d2, 200, 400);
        assert_in_range(d9, 500, 1000);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_due_entries_come_out_in_time_order),
        cmocka_unit_test(test_one_entry_per_notification_and_a_bound),
        cmocka_unit_test(test_backoff_grows_with_jitter_and_a_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
