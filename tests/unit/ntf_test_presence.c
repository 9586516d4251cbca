/*
 * ntf_test_presence.c - connections per user from sys.conn events and
 * auth.sessions answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "ntf_presence.h"

static void
test_users_go_online_and_offline(void **state)
{
    ntf_presence_t *p = ntf_presence_new();
    assert_true(ntf_presence_open(p, "c1", 7));
    assert_false(ntf_presence_open(p, "c2", 7)); /* second connection */
    assert_false(ntf_presence_open(p, "c2", 7)); /* repeated event counts once */
    assert_int_equal(ntf_presence_count(p, 7), 2);
    assert_int_equal(ntf_presence_count(p, 8), 0);
    bool last;
    assert_int_equal(ntf_presence_close(p, "c1", &last), 7);
    assert_false(last);
    assert_int_equal(ntf_presence_close(p, "nope", &last), 0);
    assert_int_equal(ntf_presence_close(p, "c2", &last), 7);
    assert_true(last);
    assert_int_equal(ntf_presence_count(p, 7), 0);
    assert_int_equal(ntf_presence_users(p), 0);
    assert_false(ntf_presence_open(p, "c3", 0)); /* unauthenticated */
    ntf_presence_destroy(&p);
    assert_null(p);
}

static int online_calls;
static void
on_online(int64_t user_id, void *arg)
{
    online_calls++;
    *(int64_t *)arg = user_id;
}

static void
test_sync_with_auth_sessions(void **state)
{
    ntf_presence_t *p = ntf_presence_new();
    ntf_presence_open(p, "stale", 5);
    ntf_presence_open(p, "keep", 6);
    json_t *sessions = json_pack("[{s:s, s:i}, {s:s, s:i}]", "conn_id", "keep", "user_id", 6,
                                 "conn_id", "new", "user_id", 9);
    int64_t last_user = 0;
    online_calls = 0;
    /* Incomplete list: only adds. */
    assert_int_equal(ntf_presence_sync(p, sessions, false, 0, on_online, &last_user), 2);
    assert_int_equal(online_calls, 1);
    assert_int_equal(last_user, 9);
    assert_int_equal(ntf_presence_count(p, 5), 1);
    /* Complete list: what auth does not know is gone. */
    ntf_presence_sync(p, sessions, true, 0, on_online, &last_user);
    assert_int_equal(online_calls, 1);
    assert_int_equal(ntf_presence_count(p, 5), 0);
    assert_int_equal(ntf_presence_count(p, 6), 1);
    assert_int_equal(ntf_presence_count(p, 9), 1);
    json_decref(sessions);
    ntf_presence_destroy(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_users_go_online_and_offline),
        cmocka_unit_test(test_sync_with_auth_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
