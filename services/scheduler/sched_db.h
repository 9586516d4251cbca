/*
 * sched_db.h - hm-scheduler's sqlite database: the schema (reminders, fires,
 * answers) and the queries on reminders. Fires and answers live in
 * sched_occ.h.
 *
 * Values are always bound, never formatted into SQL; errors are logged
 * without values (no medication names in logs). Lookups return 1 (found),
 * 0 (not found) or -1 (database error).
 */
#ifndef SCHED_DB_H
#define SCHED_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "sched_reminder.h"

#define SCHED_DB_BUSY_MS 5000 /* sqlite busy timeout */

/* Opens (creating, migrating) the database at path. Caller owns the handle
 * (hm_db_close). NULL on failure (logged). */
sqlite3 *sched_db_open(const char *path);

/* Stores a new reminder. req_id is the envelope id of the request that
 * created it (unique: a retried request finds it with sched_db_get_by_req).
 * Returns 0 or -1. */
int sched_db_insert(sqlite3 *db, const sched_reminder_t *r, const char *req_id);

/* Reads reminder id (deleted ones too). Returns 1, 0 or -1. */
int sched_db_get(sqlite3 *db, const char *id, sched_reminder_t *out);

/* Reads the reminder a request id created. Returns 1, 0 or -1. */
int sched_db_get_by_req(sqlite3 *db, const char *req_id, sched_reminder_t *out);

/* Writes every field of r over the stored row with r->id. Returns 1, 0 (no
 * such reminder) or -1. */
int sched_db_update(sqlite3 *db, const sched_reminder_t *r);

/* Moves a reminder's cursor and next fire (-1: none). Returns 0 or -1. */
int sched_db_set_next(sqlite3 *db, const char *id, int64_t cursor_s, int64_t next_fire_s);

/* The number of reminders user_id has that are not deleted, or -1. */
int sched_db_count(sqlite3 *db, int64_t user_id);

/* Calls fn for each of user_id's reminders (deleted ones only when
 * deleted_too), oldest first; fn returning non-zero stops. Returns the
 * number visited or -1. */
typedef int (*sched_db_each_fn)(const sched_reminder_t *r, void *arg);
int sched_db_list(sqlite3 *db, int64_t user_id, bool deleted_too, sched_db_each_fn fn, void *arg);

/* Loads up to max reminders whose next fire is at or before now_s, earliest
 * first, into out. Returns the number loaded or -1. */
int sched_db_due(sqlite3 *db, int64_t now_s, sched_reminder_t *out, int max);

/* The earliest next fire of any reminder (INT64_MAX when none) or -1. */
int64_t sched_db_next_fire(sqlite3 *db);

#endif /* SCHED_DB_H */
