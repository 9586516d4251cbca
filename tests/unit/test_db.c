/*
 * test_db.c - hm_db on a real sqlite file: migrations, WAL, pragmas,
 * transactions, reopen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "hm_db.h"
#include "hm_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const migrations[] = {
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);",
    "CREATE TABLE readings (id INTEGER PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES users(id), value REAL NOT NULL);"
    "CREATE INDEX readings_user ON readings(user_id);",
};
#define NMIG 2

/* A scratch directory per test; db files go below it. */
typedef struct {
    char dir[64];   /* the directory */
    char path[128]; /* dir/sub/dir/test.db: parents do not exist yet */
} fixture_t;

static int
setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/test_db_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/sub/dir/test.db", fx->dir);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *fx = *state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    int rc = system(cmd);
    free(fx);
    return rc == 0 ? 0 : -1;
}

/* Runs a one-value query and returns it as an integer. */
static long long
query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, sql);
    assert_non_null(stmt);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    long long value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
}

static const char *
query_text(sqlite3 *db, const char *sql, char *buf, size_t len)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, sql);
    assert_non_null(stmt);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    snprintf(buf, len, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return buf;
}

static int
add_user(sqlite3 *db, void *arg)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "INSERT INTO users (name) VALUES (?)");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(stmt);
    return rc;
}

static void
test_db_open_migrates_and_keeps_data(void **state)
{
    fixture_t *fx = *state;
    sqlite3 *db = hm_db_open(fx->path, 5000, migrations, NMIG);
    assert_non_null(db);
    assert_int_equal(hm_db_user_version(db), 2);
    assert_int_equal(hm_db_tx(db, add_user, "alice"), 0);
    hm_db_close(&db);
    assert_null(db);

    db = hm_db_open(fx->path, 5000, migrations, NMIG);
    assert_non_null(db);
    assert_int_equal(hm_db_user_version(db), 2);
    assert_int_equal(query_int(db, "SELECT count(*) FROM users WHERE name = 'alice'"), 1);
    hm_db_close(&db);
}

static void
test_db_creates_parent_directories(void **state)
{
    fixture_t *fx = *state;
    sqlite3 *db = hm_db_open(fx->path, 1000, NULL, 0);
    assert_non_null(db);
    struct stat st;
    char sub[128];
    snprintf(sub, sizeof sub, "%s/sub/dir", fx->dir);
    assert_int_equal(stat(sub, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(hm_db_user_version(db), 0); /* nmig 0: nothing applied */
    hm_db_close(&db);
}

static void
test_db_pragmas(void **state)
{
    fixture_t *fx = *state;
    sqlite3 *db = hm_db_open(fx->path, 1234, migrations, NMIG);
    assert_non_null(db);
    char mode[16];
    assert_string_equal(query_text(db, "PRAGMA journal_mode", mode, sizeof mode), "wal");
    assert_int_equal(query_int(db, "PRAGMA synchronous"), 2); /* FULL */
    assert_int_equal(query_int(db, "PRAGMA foreign_keys"), 1);
    assert_int_equal(query_int(db, "PRAGMA busy_timeout"), 1234);
    /* foreign keys are enforced */
    assert_int_equal(hm_db_exec(db, "INSERT INTO readings (user_id, value) VALUES (99, 1.0)"), -1);
    hm_db_close(&db);
}

static void
test_db_migrations_apply_once_and_resume(void **state)
{
    fixture_t *fx = *state;
    sqlite3 *db = hm_db_open(fx->path, 1000, migrations, 1); /* old code: one migration */
    assert_non_null(db);
    assert_int_equal(hm_db_user_version(db), 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name='readings'"), 0);
    hm_db_close(&db);

    db = hm_db_open(fx->path, 1000, migrations, NMIG); /* new code: applies only the second */
    assert_non_null(db);
    assert_int_equal(hm_db_user_version(db), 2);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name='readings'"), 1);
    hm_db_close(&db);

    db = hm_db_open(fx->path, 1000, migrations, NMIG); /* CREATE TABLE twice would fail */
    assert_non_null(db);
    assert_int_equal(hm_db_user_version(db), 2);
    hm_db_close(&db);
}

static void
test_db_failed_migration_rolls_back(void **state)
{
    fixture_t *fx = *state;
    static const char *const broken[] = {
        "CREATE TABLE a (x INTEGER);",
        "CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);",
    };
    assert_null(hm_db_open(fx->path, 1000, broken, 2));
    sqlite3 *db = hm_db_open(fx->path, 1000, broken, 1);
    assert_non_null(db);
    assert_int_equal(hm_db_user_version(db), 1); /* the first one stayed */
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name='b'"), 0);
    hm_db_close(&db);
}

static void
test_db_refuses_newer_schema(void **state)
{
    fixture_t *fx = *state;
    sqlite3 *db = hm_db_open(fx->path, 1000, migrations, NMIG);
    assert_non_null(db);
    hm_db_close(&db);
    assert_null(hm_db_open(fx->path, 1000, migrations, 1));
}

static void
test_db_tx_commits(void **state)
{
    fixture_t *fx = *state;
    sqlite3 *db = hm_db_open(fx->path, 1000, migrations, NMIG);
    assert_non_null(db);
    assert_int_equal(hm_db_tx(db, add_user, "bob"), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM users"), 1);
    assert_true(sqlite3_get_autocommit(db)); /* no transaction left open */
    hm_db_close(&db);
}

/* Inserts, then fails: nothing must remain. */
static int
add_then_fail(sqlite3 *db, void *arg)
{
    if (add_user(db, arg) != 0)
        return -1;
    return 7;
}

static void
test_db_tx_rolls_back_on_error(void **state)
{
    fixture_t *fx = *state;
    sqlite3 *db = hm_db_open(fx->path, 1000, migrations, NMIG);
    assert_non_null(db);
    assert_int_equal(hm_db_tx(db, add_then_fail, "carol"), 7);
    assert_int_equal(query_int(db, "SELECT count(*) FROM users"), 0);
    assert_true(sqlite3_get_autocommit(db));

    assert_int_equal(hm_db_tx(db, add_user, "dave"), 0);
    assert_int_equal(hm_db_tx(db, add_user, "dave"), -1); /* UNIQUE violation */
    assert_int_equal(query_int(db, "SELECT count(*) FROM users"), 1);
    hm_db_close(&db);
}

/* Ends the transaction itself; hm_db_tx's COMMIT then fails. */
static int
commit_early(sqlite3 *db, void *arg)
{
    (void)arg;
    return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static void
test_db_tx_failed_commit_returns_error(void **state)
{
    fixture_t *fx = *state;
    sqlite3 *db = hm_db_open(fx->path, 1000, migrations, NMIG);
    assert_non_null(db);
    assert_int_equal(hm_db_tx(db, commit_early, NULL), -1);
    assert_true(sqlite3_get_autocommit(db));
    hm_db_close(&db);
}

static void
test_db_tx_waits_for_a_writer_then_gives_up(void **state)
{
    fixture_t *fx = *state;
    sqlite3 *a = hm_db_open(fx->path, 1000, migrations, NMIG);
    sqlite3 *b = hm_db_open(fx->path, 100, migrations, NMIG);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(hm_db_exec(a, "BEGIN IMMEDIATE"), 0);
    assert_int_equal(hm_db_tx(b, add_user, "erin"), -1); /* busy after 100 ms */
    assert_int_equal(hm_db_exec(a, "COMMIT"), 0);
    assert_int_equal(hm_db_tx(b, add_user, "erin"), 0);
    hm_db_close(&a);
    hm_db_close(&b);
}

static void
test_db_errors(void **state)
{
    fixture_t *fx = *state;
    char blocker[128];
    snprintf(blocker, sizeof blocker, "%s/file", fx->dir);
    FILE *f = fopen(blocker, "w");
    assert_non_null(f);
    fclose(f);
    char path[160];
    snprintf(path, sizeof path, "%s/file/x.db", fx->dir); /* parent is a file */
    assert_null(hm_db_open(path, 1000, migrations, NMIG));

    sqlite3 *db = hm_db_open(fx->path, 1000, migrations, NMIG);
    assert_non_null(db);
    assert_null(hm_db_prepare(db, "SELEC nonsense"));
    assert_int_equal(hm_db_exec(db, "DROP TABLE nothing_here"), -1);
    hm_db_close(&db);
    hm_db_close(&db); /* idempotent */
    hm_db_close(NULL);
}

static void
test_db_memory(void **state)
{
    (void)state;
    sqlite3 *db = hm_db_open(":memory:", 1000, migrations, NMIG);
    assert_non_null(db);
    assert_int_equal(hm_db_user_version(db), 2);
    hm_db_close(&db);
}

int
main(void)
{
    alarm(60);                           /* a hung test must not hang CI */
    hm_log_init("test_db", HM_LOG_WARN); /* expected errors still show */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_db_open_migrates_and_keeps_data),
        T(test_db_creates_parent_directories),
        T(test_db_pragmas),
        T(test_db_migrations_apply_once_and_resume),
        T(test_db_failed_migration_rolls_back),
        T(test_db_refuses_newer_schema),
        T(test_db_tx_commits),
        T(test_db_tx_rolls_back_on_error),
        T(test_db_tx_failed_commit_returns_error),
        T(test_db_tx_waits_for_a_writer_then_gives_up),
        T(test_db_errors),
        cmocka_unit_test(test_db_memory),
    };
    return cmocka_run_group_tests_name("hm_db", tests, NULL, NULL);
}
