/*
 * hm_db.h - sqlite helpers: WAL mode, busy timeout, migrations by
 * PRAGMA user_version, prepared statements, transactions.
 */
#ifndef HM_DB_H
#define HM_DB_H

#include <sqlite3.h>

/* Opens (creating) path in WAL mode with synchronous=FULL, foreign keys on and
 * a busy timeout of busy_ms. Missing parent directories are created (mode
 * 0700). Then applies migrations[i] for every i >= user_version in one
 * BEGIN IMMEDIATE transaction each, setting user_version = i + 1 (the
 * version is re-read inside each transaction, so processes opening the same
 * file concurrently migrate once). migrations is an array of nmig SQL
 * scripts; nmig 0 skips migrating. A file whose user_version is above nmig
 * (written by newer code) is refused. Returns the handle (caller owns, close
 * with hm_db_close) or NULL (logged). */
sqlite3 *hm_db_open(const char *path, int busy_ms, const char *const *migrations, int nmig);

/* Closes and sets *db_p to NULL; NULL-safe. Unfinalized statements are a
 * bug: logged, and the handle closes when the last one is finalized. */
void hm_db_close(sqlite3 **db_p);

/* Executes SQL without results. Returns 0 or -1 (logged, no SQL text). */
int hm_db_exec(sqlite3 *db, const char *sql);

/* Prepares a statement (caller owns, sqlite3_finalize). NULL on error
 * (logged, no SQL text). */
sqlite3_stmt *hm_db_prepare(sqlite3 *db, const char *sql);

/* Runs fn(db, arg) inside BEGIN IMMEDIATE ... COMMIT. When fn returns
 * non-zero the transaction is rolled back and that value returned; a failed
 * COMMIT rolls back and returns -1. */
typedef int (*hm_db_tx_fn)(sqlite3 *db, void *arg);
int hm_db_tx(sqlite3 *db, hm_db_tx_fn fn, void *arg);

/* Logs a failed sqlite operation: op, the extended code and sqlite's
 * message (never SQL parameters, so no health data). */
void hm_db_log_error(sqlite3 *db, const char *op);

/* Steps a statement that returns no rows and finalizes it (NULL-safe).
 * Returns the number of rows changed, or -1 (logged with op). */
int hm_db_step_done(sqlite3 *db, sqlite3_stmt *stmt, const char *op);

/* The schema version (PRAGMA user_version), or -1. */
int hm_db_user_version(sqlite3 *db);

#endif /* HM_DB_H */
