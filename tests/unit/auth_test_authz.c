/*
 * auth_test_authz.c - the authorization rules of proto/SPEC.md section 7,
 * as a table, and the same rules through the database (roles, care links,
 * disabled users).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "auth_authz.h"
#include "auth_db.h"
#include "hm_db.h"

static void
test_subscribe_own_data_is_allowed_for_every_role(void **state)
{
    const char *actions[] = {AUTH_ACTION_SUB_HEALTH, AUTH_ACTION_SUB_CHAT, AUTH_ACTION_SUB_NOTIFY};
    for (int r = AUTH_ROLE_PATIENT; r <= AUTH_ROLE_SERVICE; r++)
        for (int a = 0; a < 3; a++)
            assert_int_equal(auth_authz_decide((auth_role_t)r, actions[a], true, false),
                             AUTH_AUTHZ_ALLOW);
}

static void
test_subscribe_other_user_needs_a_care_link(void **state)
{
    /* role, linked -> expected */
    const struct {
        auth_role_t role;
        bool linked;
        auth_authz_rc_t want;
    } rows[] = {
        {AUTH_ROLE_CAREGIVER, true, AUTH_AUTHZ_ALLOW},
        {AUTH_ROLE_CLINICIAN, true, AUTH_AUTHZ_ALLOW},
        {AUTH_ROLE_CAREGIVER, false, AUTH_AUTHZ_DENY},
        {AUTH_ROLE_CLINICIAN, false, AUTH_AUTHZ_DENY},
        {AUTH_ROLE_PATIENT, true, AUTH_AUTHZ_DENY},
        {AUTH_ROLE_PATIENT, false, AUTH_AUTHZ_DENY},
        {AUTH_ROLE_ADMIN, true, AUTH_AUTHZ_DENY},
        {AUTH_ROLE_ADMIN, false, AUTH_AUTHZ_DENY},
        {AUTH_ROLE_SERVICE, false, AUTH_AUTHZ_DENY},
        {AUTH_ROLE_INVALID, true, AUTH_AUTHZ_DENY},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        assert_int_equal(
            auth_authz_decide(rows[i].role, AUTH_ACTION_SUB_HEALTH, false, rows[i].linked),
            rows[i].want);
}

static void
test_manage_and_publish(void **state)
{
    for (int r = AUTH_ROLE_INVALID; r <= AUTH_ROLE_SERVICE; r++) {
        auth_authz_rc_t manage = auth_authz_decide((auth_role_t)r, AUTH_ACTION_MANAGE, true, false);
        auth_authz_rc_t publish =
            auth_authz_decide((auth_role_t)r, AUTH_ACTION_PUBLISH, true, false);
        assert_int_equal(manage, r == AUTH_ROLE_ADMIN ? AUTH_AUTHZ_ALLOW : AUTH_AUTHZ_DENY);
        assert_int_equal(publish, r == AUTH_ROLE_ADMIN || r == AUTH_ROLE_SERVICE ? AUTH_AUTHZ_ALLOW
                                                                                 : AUTH_AUTHZ_DENY);
    }
    assert_int_equal(auth_authz_decide(AUTH_ROLE_ADMIN, "subscribe:weather", true, false),
                     AUTH_AUTHZ_UNKNOWN_ACTION);
    assert_int_equal(auth_authz_decide(AUTH_ROLE_ADMIN, NULL, true, false),
                     AUTH_AUTHZ_UNKNOWN_ACTION);
    assert_int_equal(auth_authz_decide(AUTH_ROLE_ADMIN, "Manage", true, false),
                     AUTH_AUTHZ_UNKNOWN_ACTION);
}

static void
test_roles_parse(void **state)
{
    assert_int_equal(auth_role_parse("patient"), AUTH_ROLE_PATIENT);
    assert_int_equal(auth_role_parse("service"), AUTH_ROLE_SERVICE);
    assert_int_equal(auth_role_parse("Patient"), AUTH_ROLE_INVALID);
    assert_int_equal(auth_role_parse(""), AUTH_ROLE_INVALID);
    assert_int_equal(auth_role_parse(NULL), AUTH_ROLE_INVALID);
    assert_string_equal(auth_role_name(AUTH_ROLE_CLINICIAN), "clinician");
}

static void
test_check_through_the_database(void **state)
{
    char dir[] = "/tmp/auth_test_authz_XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/auth.db", dir);
    sqlite3 *db = auth_db_open(path);
    assert_non_null(db);
    int64_t id;
    assert_int_equal(auth_db_user_add(db, "Pat", "patient", 1, &id), 0);
    assert_int_equal(auth_db_user_add(db, "Pat2", "patient", 2, &id), 0);
    assert_int_equal(auth_db_user_add(db, "Doc", "clinician", 10, &id), 0);
    assert_int_equal(auth_db_user_add(db, "Boss", "admin", 20, &id), 0);
    assert_int_equal(auth_db_link_add(db, 10, 1), 0);
    assert_int_equal(auth_authz_check(db, 10, AUTH_ACTION_SUB_HEALTH, 1), AUTH_AUTHZ_ALLOW);
    assert_int_equal(auth_authz_check(db, 10, AUTH_ACTION_SUB_HEALTH, 2), AUTH_AUTHZ_DENY);
    assert_int_equal(auth_authz_check(db, 1, AUTH_ACTION_SUB_HEALTH, 2), AUTH_AUTHZ_DENY);
    assert_int_equal(auth_authz_check(db, 1, AUTH_ACTION_SUB_CHAT, 0), AUTH_AUTHZ_ALLOW);
    assert_int_equal(auth_authz_check(db, 1, AUTH_ACTION_SUB_CHAT, 1), AUTH_AUTHZ_ALLOW);
    assert_int_equal(auth_authz_check(db, 20, AUTH_ACTION_SUB_HEALTH, 1), AUTH_AUTHZ_DENY);
    assert_int_equal(auth_authz_check(db, 20, AUTH_ACTION_MANAGE, 0), AUTH_AUTHZ_ALLOW);
    assert_int_equal(auth_authz_check(db, 99, AUTH_ACTION_SUB_CHAT, 0), AUTH_AUTHZ_DENY);
    assert_int_equal(auth_authz_check(db, 1, "fly", 0), AUTH_AUTHZ_UNKNOWN_ACTION);
    assert_int_equal(auth_db_user_set_active(db, 10, false), 1);
    assert_int_equal(auth_authz_check(db, 10, AUTH_ACTION_SUB_HEALTH, 1), AUTH_AUTHZ_DENY);
    hm_db_close(&db);
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[80];
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        unlink(p);
    }
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subscribe_own_data_is_allowed_for_every_role),
        cmocka_unit_test(test_subscribe_other_user_needs_a_care_link),
        cmocka_unit_test(test_manage_and_publish),
        cmocka_unit_test(test_roles_parse),
        cmocka_unit_test(test_check_through_the_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
