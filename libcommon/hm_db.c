/*
 * hm_db.c - sqlite helpers: WAL, synchronous=FULL, migrations by
 * user_version, BEGIN IMMEDIATE transactions. Errors are logged with sqlite's
 * message and code, never with SQL text or bound values (no PHI in logs).
 */
#include "hm_db.h"

#include "hm_log.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Logs a failed sqlite call: what we were doing, the code and the message. */
static void
s_log_error(sqlite3 *db, const char *op)
{
    char q[512];
    hm_log_error("db_error", "op=%s rc=%d err=%s", op, db ? sqlite3_extended_errcode(db) : -1,
                 hm_log_quote(db ? sqlite3_errmsg(db) : "no handle", q, sizeof q));
}

/* Creates every missing directory above the file path (mkdir -p of its
 * dirname), mode 0700. Returns 0 or -1 (logged). */
static int
s_mkdir_parents(const char *path)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return -1;
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0; /* current directory or "/" */
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        bool end = *p == '\0';
        if (*p != '/' && !end)
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
            char q[512];
            hm_log_error("db_mkdir_failed", "dir=%s errno=%d", hm_log_quote(dir, q, sizeof q),
                         errno);
            return -1;
        }
        if (end)
            return 0;
        *p = '/';
    }
}

int
hm_db_exec(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        s_log_error(db, "exec");
        return -1;
    }
    return 0;
}

sqlite3_stmt *
hm_db_prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        s_log_error(db, "prepare");
        sqlite3_finalize(stmt);
        return NULL;
    }
    return stmt;
}

int
hm_db_user_version(sqlite3 *db)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "PRAGMA user_version");
    if (!stmt)
        return -1;
    int version = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW)
        version = sqlite3_column_int(stmt, 0);
    else
        s_log_error(db, "user_version");
    sqlite3_finalize(stmt);
    return version;
}

/* Rolls back when a transaction is still open (an error may have ended it). */
static void
s_rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db) && sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
        s_log_error(db, "rollback");
}

int
hm_db_tx(sqlite3 *db, hm_db_tx_fn fn, void *arg)
{
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        s_log_error(db, "begin");
        return -1;
    }
    int rc = fn(db, arg);
    if (rc != 0) {
        s_rollback(db);
        return rc;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        s_log_error(db, "commit");
        s_rollback(db);
        return -1;
    }
    return 0;
}

/* Applies the next migration inside the open transaction, if one is due.
 * The version is read inside the transaction, so two processes opening the
 * same file never apply a migration twice. Returns 1 when one was applied,
 * 0 when up to date, -1 on error (logged). */
static int
s_migrate_step(sqlite3 *db, const char *const *migrations, int nmig)
{
    int version = hm_db_user_version(db);
    if (version < 0)
        return -1;
    if (version > nmig) {
        hm_log_error("db_schema_newer", "user_version=%d known=%d", version, nmig);
        return -1;
    }
    if (version == nmig)
        return 0;
    if (hm_db_exec(db, migrations[version]) < 0) {
        hm_log_error("db_migration_failed", "migration=%d", version + 1);
        return -1;
    }
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version + 1);
    if (hm_db_exec(db, sql) < 0)
        return -1;
    hm_log_info("db_migrated", "user_version=%d", version + 1);
    return 1;
}

/* Applies every pending migration, each in its own transaction. */
static int
s_migrate(sqlite3 *db, const char *const *migrations, int nmig)
{
    for (;;) {
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            s_log_error(db, "begin");
            return -1;
        }
        int rc = s_migrate_step(db, migrations, nmig);
        if (rc < 0) {
            s_rollback(db);
            return -1;
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            s_log_error(db, "commit");
            s_rollback(db);
            return -1;
        }
        if (rc == 0)
            return 0;
    }
}

/* Switches to WAL and checks that it took ("memory" for in-memory dbs). */
static int
s_enable_wal(sqlite3 *db)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "PRAGMA journal_mode=WAL");
    if (!stmt)
        return -1;
    int rc = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(stmt, 0);
        if (mode && (strcmp(mode, "wal") == 0 || strcmp(mode, "memory") == 0))
            rc = 0;
        else
            hm_log_error("db_no_wal", "journal_mode=%s", mode ? mode : "-");
    } else {
        s_log_error(db, "journal_mode");
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* True for paths sqlite does not treat as a file name of ours. */
static bool
s_is_special(const char *path)
{
    return path[0] == '\0' || strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0;
}

sqlite3 *
hm_db_open(const char *path, int busy_ms, const char *const *migrations, int nmig)
{
    char q[512];
    sqlite3 *db = NULL;
    if (!s_is_special(path) && s_mkdir_parents(path) < 0)
        return NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        s_log_error(db, "open");
        goto err;
    }
    sqlite3_extended_result_codes(db, 1);
    if (sqlite3_busy_timeout(db, busy_ms) != SQLITE_OK || s_enable_wal(db) < 0 ||
        hm_db_exec(db, "PRAGMA synchronous=FULL") < 0 ||
        hm_db_exec(db, "PRAGMA foreign_keys=ON") < 0)
        goto err;
    if (nmig > 0 && s_migrate(db, migrations, nmig) < 0)
        goto err;
    return db;
err:
    hm_log_error("db_open_failed", "path=%s", hm_log_quote(path, q, sizeof q));
    sqlite3_close(db);
    return NULL;
}

void
hm_db_close(sqlite3 **db_p)
{
    if (!db_p || !*db_p)
        return;
    if (sqlite3_close(*db_p) == SQLITE_BUSY) {
        /* Statements left unfinalized: a bug; close when they are. */
        s_log_error(*db_p, "close");
        sqlite3_close_v2(*db_p);
    }
    *db_p = NULL;
}

void
hm_db_log_error(sqlite3 *db, const char *op)
{
    char q[256];
    hm_log_error("db_error", "op=%s rc=%d err=%s", op, sqlite3_extended_errcode(db),
                 hm_log_quote(sqlite3_errmsg(db), q, sizeof q));
}

int
hm_db_step_done(sqlite3 *db, sqlite3_stmt *stmt, const char *op)
{
    if (!stmt)
        return -1;
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        hm_db_log_error(db, op);
        return -1;
    }
    return sqlite3_changes(db);
}
