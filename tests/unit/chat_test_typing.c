/*
 * chat_test_typing.c - typing indicators: what is relayed, the automatic
 * stop, a closed connection's stop, the per-user rate limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "chat_typing.h"

#define CONV "3f2b8c1e-1111-4222-8333-944455556666"
#define CONV2 "3f2b8c1e-1111-4222-8333-000000000000"

/* The stops generated. */
typedef struct {
    int n;         /* how many */
    int64_t user;  /* the last one's user */
    char conv[64]; /* and conversation */
} stops_t;

static void
on_stop(void *arg, int64_t user_id, const char *conv)
{
    stops_t *s = arg;
    s->n++;
    s->user = user_id;
    snprintf(s->conv, sizeof s->conv, "%s", conv);
}

static void
test_start_refresh_stop(void **state)
{
    (void)state;
    chat_typing_t *t = chat_typing_new(5000, 5, 10);
    assert_int_equal(chat_typing_update(t, 1, CONV, "c1", true, 1000), CHAT_TYPING_RELAY);
    assert_int_equal(chat_typing_update(t, 1, CONV, "c1", true, 1500), CHAT_TYPING_QUIET);
    assert_int_equal(chat_typing_update(t, 1, CONV, "c1", true, 3600), CHAT_TYPING_RELAY);
    assert_int_equal(chat_typing_update(t, 1, CONV, "c1", false, 3700), CHAT_TYPING_RELAY);
    assert_int_equal(chat_typing_update(t, 1, CONV, "c1", false, 3800), CHAT_TYPING_QUIET);
    assert_int_equal(chat_typing_size(t), 0);
    chat_typing_destroy(&t);
    assert_null(t);
}

static void
test_automatic_stop_after_the_timeout(void **state)
{
    (void)state;
    chat_typing_t *t = chat_typing_new(5000, 5, 10);
    stops_t s = {0};
    chat_typing_update(t, 1, CONV, "c1", true, 1000);
    chat_typing_update(t, 2, CONV2, NULL, true, 2000);
    assert_int_equal(chat_typing_next_ms(t, 1000), 5000);
    chat_typing_update(t, 1, CONV, "c1", true, 3000); /* pushes the stop to 8000 */
    chat_typing_expire(t, 5999, on_stop, &s);
    assert_int_equal(s.n, 0);
    chat_typing_expire(t, 7000, on_stop, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.user, 2);
    assert_int_equal(chat_typing_next_ms(t, 7000), 1000);
    chat_typing_expire(t, 8000, on_stop, &s);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.conv, CONV);
    assert_int_equal(chat_typing_size(t), 0);
    assert_true(chat_typing_next_ms(t, 8000) > 1000000);
    chat_typing_destroy(&t);
}

static void
test_closed_connection_and_sent_message_stop_typing(void **state)
{
    (void)state;
    chat_typing_t *t = chat_typing_new(5000, 5, 10);
    stops_t s = {0};
    chat_typing_update(t, 1, CONV, "c1", true, 0);
    chat_typing_update(t, 1, CONV2, "c2", true, 0);
    chat_typing_conn_closed(t, "c9", on_stop, &s);
    assert_int_equal(s.n, 0);
    chat_typing_conn_closed(t, "c2", on_stop, &s);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.conv, CONV2);
    assert_true(chat_typing_clear(t, 1, CONV)); /* the message went out */
    assert_false(chat_typing_clear(t, 1, CONV));
    chat_typing_destroy(&t);
}

static void
test_rate_limit_per_user(void **state)
{
    (void)state;
    chat_typing_t *t = chat_typing_new(5000, 1, 3);
    for (int i = 0; i < 3; i++)
        assert_true(chat_typing_update(t, 1, CONV, NULL, i % 2 == 0, 100) >= 0);
    assert_int_equal(chat_typing_update(t, 1, CONV, NULL, true, 100), CHAT_TYPING_LIMITED);
    assert_int_equal(chat_typing_update(t, 1, CONV2, NULL, true, 100), CHAT_TYPING_LIMITED);
    assert_int_equal(chat_typing_update(t, 2, CONV, NULL, true, 100), CHAT_TYPING_RELAY);
    assert_true(chat_typing_update(t, 1, CONV, NULL, true, 1200) >= 0); /* refilled */
    chat_typing_destroy(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_refresh_stop),
        cmocka_unit_test(test_automatic_stop_after_the_timeout),
        cmocka_unit_test(test_closed_connection_and_sent_message_stop_typing),
        cmocka_unit_test(test_rate_limit_per_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
