/*
 * hm_db.h - sqlite helpers: WAL mode, busy timeout, migrations by
 * PRAGMA user_version, prepared statements, transactions.
 */
#ifndef HM_DB_H
#define HM_DB_H

#include <sqlite3.h>

/* Opens (creating) path in WAL mode with synchronous=FULL, foreign keys on and
 * a busy timeout of busy_ms. Then applies migrations[i] for every
 * i >= user_version in one transaction each, setting user_version = i + 1.
 * migrations is an array of nmig SQL scripts. Returns the handle (caller owns,
 * close with hm_db_close) or NULL (logged). */
sqlite3 *hm_db_open(const char *path, int busy_ms, const char *const *migrations, int nmig);
void hm_db_close(sqlite3 **db_p);

/* Executes SQL without results. Returns 0 or -1 (logged, no SQL text). */
int hm_db_exec(sqlite3 *db, const char *sql);

/* Prepares a statement (caller owns, sqlite3_finalize). NULL on error. */
sqlite3_stmt *hm_db_prepare(sqlite3 *db, const char *sql);

/* Runs fn(db, arg) inside BEGIN IMMEDIATE ... COMMIT. When fn returns
 * non-zero the transaction is rolled back and that value returned; a failed
 * COMMIT rolls back and returns -1. */
typedef int (*hm_db_tx_fn)(sqlite3 *db, void *arg);
int hm_db_tx(sqlite3 *db, hm_db_tx_fn fn, void *arg);

/* The schema version (PRAGMA user_version), or -1. */
int hm_db_user_version(sqlite3 *db);

#endif /* HM_DB_H */
