/*
 * auth_test_session.c - auth_session on a real temporary sqlite file: the
 * per-user limit across edges, token refresh, close, edge release and the
 * sweep of silent edges, persistence across reopening; and the append-only
 * audit table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth_audit.h"
#include "auth_db.h"
#include "auth_session.h"
#include "hm_clock.h"
#include "hm_db.h"

typedef struct {
    char dir[64];        /* temporary directory */
    char path[128];      /* the database file in it */
    sqlite3 *db;         /* open handle */
    auth_session_t *reg; /* registry under test */
} fixture_t;

static auth_session_rc_t
open_session(auth_session_t *reg, const char *conn_id, int64_t user_id, const char *edge,
             const char *jti, int64_t now_ms)
{
    auth_session_info_t info = {conn_id, user_id, edge, jti, 1767225600 + 3600};
    return auth_session_open(reg, &info, now_ms);
}

/* Counts rows of a query returning one integer. */
static int64_t
scalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, sql);
    assert_non_null(stmt);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

static void
test_open_counts_against_the_user_limit_across_edges(void **state)
{
    fixture_t *f = *state;
    /* user 1: three on edge a, two on edge b: five is the limit */
    assert_int_equal(open_session(f->reg, "a-1", 1, "a", "t1", 0), AUTH_SESSION_OPENED);
    assert_int_equal(open_session(f->reg, "a-2", 1, "a", "t1", 0), AUTH_SESSION_OPENED);
    assert_int_equal(open_session(f->reg, "a-3", 1, "a", "t1", 0), AUTH_SESSION_OPENED);
    assert_int_equal(open_session(f->reg, "b-1", 1, "b", "t2", 0), AUTH_SESSION_OPENED);
    assert_int_equal(open_session(f->reg, "b-2", 1, "b", "t2", 0), AUTH_SESSION_OPENED);
    assert_int_equal(auth_session_count(f->reg, 1), 5);
    assert_int_equal(open_session(f->reg, "b-3", 1, "b", "t2", 0), AUTH_SESSION_E_LIMIT);
    assert_int_equal(open_session(f->reg, "a-4", 1, "a", "t1", 0), AUTH_SESSION_E_LIMIT);
    assert_int_equal(auth_session_count(f->reg, 1), 5);
    /* another user is not affected */
    assert_int_equal(open_session(f->reg, "a-9", 2, "a", "t3", 0), AUTH_SESSION_OPENED);
    /* closing one frees a slot */
    int64_t uid = 0;
    assert_int_equal(auth_session_close(f->reg, "a-2", &uid), 1);
    assert_int_equal(uid, 1);
    assert_int_equal(auth_session_close(f->reg, "a-2", &uid), 0); /* idempotent */
    assert_int_equal(open_session(f->reg, "b-3", 1, "b", "t2", 0), AUTH_SESSION_OPENED);
    assert_int_equal(auth_session_count(f->reg, 1), 5);
}

static void
test_refresh_same_user_other_user_forbidden(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 5; i++) {
        char conn[16];
        snprintf(conn, sizeof conn, "c-%d", i);
        assert_int_equal(open_session(f->reg, conn, 1, "a", "old", 0), AUTH_SESSION_OPENED);
    }
    /* at the limit, the same connection refreshing its token is fine */
    assert_int_equal(open_session(f->reg, "c-0", 1, "a", "new", 0), AUTH_SESSION_REFRESHED);
    assert_int_equal(auth_session_count(f->reg, 1), 5);
    int64_t ids[4];
    assert_int_equal(auth_session_users_of_jti(f->reg, "new", ids, 4), 1);
    assert_int_equal(ids[0], 1);
    assert_int_equal(auth_session_jti_exp(f->reg, "new"), 1767225600 + 3600);
    assert_int_equal(auth_session_jti_exp(f->reg, "unknown"), 0);
    /* another user's token on that connection is refused, nothing changes */
    assert_int_equal(open_session(f->reg, "c-0", 2, "a", "evil", 0), AUTH_SESSION_E_FORBIDDEN);
    assert_int_equal(auth_session_users_of_jti(f->reg, "evil", ids, 4), 0);
    assert_int_equal(auth_session_count(f->reg, 2), 0);
    assert_int_equal(auth_session_users_of_jti(f->reg, "new", ids, 4), 1);
}

static void
test_release_edge(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(open_session(f->reg, "a-1", 1, "a", "t", 0), AUTH_SESSION_OPENED);
    assert_int_equal(open_session(f->reg, "a-2", 2, "a", "t", 0), AUTH_SESSION_OPENED);
    assert_int_equal(open_session(f->reg, "b-1", 1, "b", "t", 0), AUTH_SESSION_OPENED);
    assert_int_equal(auth_session_release_edge(f->reg, "a", NULL, NULL), 2);
    assert_int_equal(auth_session_count(f->reg, 1), 1);
    assert_int_equal(auth_session_count(f->reg, 2), 0);
    assert_int_equal(auth_session_release_edge(f->reg, "a", NULL, NULL), 0);
}

/* Counts release callbacks. */
static void
count_release(const char *conn_id, int64_t user_id, const char *edge, void *arg)
{
    int *n = arg;
    assert_non_null(conn_id);
    assert_true(user_id > 0);
    assert_string_equal(edge, "a");
    (*n)++;
}

static void
test_sweep_releases_silent_edges(void **state)
{
    fixture_t *f = *state; /* edge timeout 1000 ms */
    assert_int_equal(open_session(f->reg, "a-1", 1, "a", "t", 0), AUTH_SESSION_OPENED);
    assert_int_equal(open_session(f->reg, "a-2", 2, "a", "t", 0), AUTH_SESSION_OPENED);
    assert_int_equal(open_session(f->reg, "b-1", 3, "b", "t", 0), AUTH_SESSION_OPENED);
    int released = 0;
    assert_int_equal(auth_session_sweep(f->reg, 900, count_release, &released), 0);
    auth_session_edge_seen(f->reg, "b", 900); /* b heartbeats, a does not */
    assert_int_equal(auth_session_sweep(f->reg, 1500, count_release, &released), 2);
    assert_int_equal(released, 2);
    assert_int_equal(auth_session_count(f->reg, 3), 1);
    auth_session_edge_seen(f->reg, "b", 2000);
    assert_int_equal(auth_session_sweep(f->reg, 2500, NULL, NULL), 0);
    assert_int_equal(auth_session_sweep(f->reg, 3001, NULL, NULL), 1);
    assert_int_equal(auth_session_count(f->reg, 3), 0);
}

static void
test_persistence_across_reopen(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 5; i++) {
        char conn[16];
        snprintf(conn, sizeof conn, "c-%d", i);
        assert_int_equal(open_session(f->reg, conn, 1, i < 3 ? "a" : "b", "t", 0),
                         AUTH_SESSION_OPENED);
    }
    /* "restart": a new handle and registry on the same file */
    auth_session_destroy(&f->reg);
    hm_db_close(&f->db);
    f->db = auth_db_open(f->path);
    assert_non_null(f->db);
    f->reg = auth_session_new(f->db, 5, 1000);
    assert_int_equal(auth_session_count(f->reg, 1), 5);
    assert_int_equal(open_session(f->reg, "c-9", 1, "a", "t", 50000), AUTH_SESSION_E_LIMIT);
    /* Edges on file get one full timeout from the first sweep after the
     * restart, however long ago they were last heard. */
    assert_int_equal(auth_session_sweep(f->reg, 100000, NULL, NULL), 0);
    auth_session_edge_seen(f->reg, "b", 100800);
    assert_int_equal(auth_session_sweep(f->reg, 101000, NULL, NULL), 0);
    assert_int_equal(auth_session_sweep(f->reg, 101001, NULL, NULL), 3); /* a is silent */
    assert_int_equal(auth_session_count(f->reg, 1), 2);
    json_t *list = auth_session_list(f->reg, 0);
    assert_non_null(list);
    assert_int_equal(json_integer_value(json_object_get(list, "total")), 2);
    assert_int_equal(json_integer_value(json_object_get(list, "users_online")), 1);
    json_t *first = json_array_get(json_object_get(list, "sessions"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "edge")), "b");
    assert_int_equal(json_integer_value(json_object_get(first, "user_id")), 1);
    assert_non_null(json_object_get(first, "opened_at"));
    assert_non_null(json_object_get(first, "conn_id"));
    json_decref(list);
}

static void
test_zero_timeout_never_releases(void **state)
{
    fixture_t *f = *state;
    auth_session_t *reg = auth_session_new(f->db, 5, 0);
    assert_int_equal(open_session(reg, "x-1", 1, "x", "t", 0), AUTH_SESSION_OPENED);
    assert_int_equal(auth_session_sweep(reg, 1000000000, NULL, NULL), 0);
    assert_int_equal(auth_session_count(reg, 1), 1);
    auth_session_destroy(&reg);
    auth_session_destroy(&reg);
}

static void
test_audit_is_append_only(void **state)
{
    fixture_t *f = *state;
    auth_audit_entry_t e = {
        7, "c-1", "10.0.0.1", AUTH_AUDIT_VERIFY, AUTH_AUDIT_DENIED, "token_expired", NULL};
    assert_int_equal(auth_audit_write(f->db, &e), 0);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM audit WHERE user_id = 7 AND "
                                   "code = 'token_expired' AND remote_addr = '10.0.0.1'"),
                     1);
    assert_int_not_equal(sqlite3_exec(f->db, "UPDATE audit SET result = 'ok'", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(f->db, "DELETE FROM audit", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM audit WHERE result = 'denied'"), 1);
}

static void
test_users_links_and_revocations(void **state)
{
    fixture_t *f = *state;
    int64_t id = 0;
    assert_int_equal(auth_db_user_add(f->db, "Pat", "patient", 0, &id), 0);
    assert_int_equal(id, 1);
    assert_int_equal(auth_db_user_add(f->db, "Doc", "clinician", 40, &id), 0);
    assert_int_equal(id, 40);
    assert_int_equal(auth_db_user_add(f->db, "Dup", "clinician", 40, &id), -1);
    assert_int_equal(auth_db_user_add(f->db, "Bad", "wizard", 0, &id), -1);
    auth_user_t u;
    assert_int_equal(auth_db_user_get(f->db, 40, &u), 1);
    assert_string_equal(u.role, "clinician");
    assert_true(u.active);
    assert_int_equal(auth_db_user_set_active(f->db, 40, false), 1);
    assert_int_equal(auth_db_user_get(f->db, 40, &u), 1);
    assert_false(u.active);
    assert_int_equal(auth_db_user_set_active(f->db, 99, false), 0);
    assert_int_equal(auth_db_user_get(f->db, 99, &u), 0);
    assert_int_equal(auth_db_link_add(f->db, 40, 1), 0);
    assert_int_equal(auth_db_link_add(f->db, 40, 1), 0);
    assert_int_equal(auth_db_linked(f->db, 40, 1), 1);
    assert_int_equal(auth_db_linked(f->db, 1, 40), 0);
    assert_int_equal(auth_db_is_revoked(f->db, "j1"), 0);
    assert_int_equal(auth_db_revoke(f->db, "j1", 1000), 0);
    assert_int_equal(auth_db_revoke(f->db, "j1", 0), 0);
    assert_int_equal(auth_db_revoke(f->db, "j2", 0), 0);
    assert_int_equal(auth_db_is_revoked(f->db, "j1"), 1);
    assert_int_equal(auth_db_revoked_prune(f->db, 2000), 1); /* j1 expired; j2 kept */
    assert_int_equal(auth_db_is_revoked(f->db, "j1"), 0);
    assert_int_equal(auth_db_is_revoked(f->db, "j2"), 1);
    json_t *list = auth_db_user_list(f->db);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);
}

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/auth_test_session_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/auth.db", f->dir);
    f->db = auth_db_open(f->path);
    f->reg = f->db ? auth_session_new(f->db, 5, 1000) : NULL;
    *state = f;
    return f->reg ? 0 : -1;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    auth_session_destroy(&f->reg);
    hm_db_close(&f->db);
    char path[160];
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", f->path, suffixes[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

int
main(void)
{
    hm_clock_set_fake(1767225600000LL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_counts_against_the_user_limit_across_edges, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refresh_same_user_other_user_forbidden, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_release_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_releases_silent_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_timeout_never_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_is_append_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_users_links_and_revocations, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
