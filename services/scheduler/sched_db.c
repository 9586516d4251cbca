/*
 * sched_db.c - the schema and the reminder queries.
 */
#include "sched_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_db.h"
#include "hm_log.h"

/* Migration 1.
 * reminders: the schedule (sched_reminder.h); times and offsets as comma
 *   lists of integers; cursor/next_fire drive the firing; deleted rows stay
 *   for their history; req_id makes a retried create idempotent.
 * fires: one row per occurrence the scheduler handled or owes: waiting (a
 *   snooze not due yet), pending (due, notify.create not acknowledged yet),
 *   fired (acknowledged), missed (seen only after the grace window, or never
 *   acknowledged within it), cancelled. key is the idempotency key sent to
 *   notify, req_id the envelope id of every attempt.
 * answers: the client's taken / skipped / snooze, append-only. */
static const char *const s_migrations[] = {
    "CREATE TABLE reminders ("
    "  id TEXT PRIMARY KEY,"
    "  user_id INTEGER NOT NULL CHECK (user_id > 0),"
    "  kind TEXT NOT NULL CHECK (kind IN ('medication','appointment')),"
    "  title TEXT NOT NULL,"
    "  dose TEXT NOT NULL DEFAULT '',"
    "  notes TEXT NOT NULL DEFAULT '',"
    "  tz TEXT NOT NULL,"
    "  start_date TEXT NOT NULL,"
    "  times TEXT NOT NULL,"
    "  rrule TEXT NOT NULL DEFAULT '',"
    "  days INTEGER NOT NULL DEFAULT 0,"
    "  end_date TEXT NOT NULL DEFAULT '',"
    "  offsets TEXT NOT NULL,"
    "  cursor INTEGER NOT NULL,"
    "  next_fire INTEGER,"
    "  deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  req_id TEXT UNIQUE);"
    "CREATE INDEX reminders_user ON reminders(user_id, created_at);"
    "CREATE INDEX reminders_due ON reminders(next_fire) WHERE next_fire IS NOT NULL;"
    "CREATE TABLE fires ("
    "  id INTEGER PRIMARY KEY,"
    "  reminder_id TEXT NOT NULL REFERENCES reminders(id),"
    "  user_id INTEGER NOT NULL,"
    "  occurrence INTEGER NOT NULL,"
    "  fire_at INTEGER NOT NULL,"
    "  instance INTEGER NOT NULL,"
    "  offset_min INTEGER NOT NULL DEFAULT 0,"
    "  snooze INTEGER NOT NULL DEFAULT 0,"
    "  status TEXT NOT NULL"
    "    CHECK (status IN ('waiting','pending','fired','missed','cancelled')),"
    "  late INTEGER NOT NULL DEFAULT 0,"
    "  key TEXT NOT NULL UNIQUE,"
    "  req_id TEXT NOT NULL UNIQUE,"
    "  notification_id TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  fired_at INTEGER);"
    "CREATE INDEX fires_status ON fires(status, fire_at);"
    "CREATE INDEX fires_reminder ON fires(reminder_id, occurrence);"
    "CREATE INDEX fires_user ON fires(user_id, fire_at);"
    "CREATE TABLE answers ("
    "  id INTEGER PRIMARY KEY,"
    "  reminder_id TEXT NOT NULL REFERENCES reminders(id),"
    "  user_id INTEGER NOT NULL,"
    "  occurrence INTEGER NOT NULL,"
    "  answer TEXT NOT NULL CHECK (answer IN ('taken','skipped','snooze')),"
    "  minutes INTEGER,"
    "  answered_at INTEGER NOT NULL,"
    "  req_id TEXT UNIQUE);"
    "CREATE INDEX answers_reminder ON answers(reminder_id, occurrence);"
    "CREATE INDEX answers_user ON answers(user_id, answered_at);"
    "CREATE TRIGGER answers_no_update BEFORE UPDATE ON answers"
    "  BEGIN SELECT RAISE(ABORT, 'answers are append-only'); END;",
};

#define S_COLS                                                                                     \
    "id, user_id, kind, title, dose, notes, tz, start_date, times, rrule, days, end_date, "        \
    "offsets, cursor, next_fire, deleted, created_at, updated_at"

sqlite3 *
sched_db_open(const char *path)
{
    return hm_db_open(path, SCHED_DB_BUSY_MS, s_migrations,
                      (int)(sizeof s_migrations / sizeof s_migrations[0]));
}

/* "1,2,3" from n integers into out. */
static void
s_join(const int *v, int n, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%d", i ? "," : "", v[i]);
}

/* Parses "1,2,3" into at most max integers. Returns the count. */
static int
s_split(const char *s, int *v, int max)
{
    int n = 0;
    while (s && *s && n < max) {
        char *end;
        v[n++] = (int)strtol(s, &end, 10);
        s = *end == ',' ? end + 1 : NULL;
    }
    return n;
}

static void
s_text(sqlite3_stmt *st, int col, char *out, size_t len)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, len, "%s", t ? (const char *)t : "");
}

/* Reads a row of S_COLS into out. */
static void
s_row(sqlite3_stmt *st, sched_reminder_t *out)
{
    memset(out, 0, sizeof *out);
    s_text(st, 0, out->id, sizeof out->id);
    out->user_id = sqlite3_column_int64(st, 1);
    const unsigned char *kind = sqlite3_column_text(st, 2);
    out->kind = kind && strcmp((const char *)kind, "medication") == 0 ? SCHED_KIND_MEDICATION
                                                                      : SCHED_KIND_APPOINTMENT;
    s_text(st, 3, out->title, sizeof out->title);
    s_text(st, 4, out->dose, sizeof out->dose);
    s_text(st, 5, out->notes, sizeof out->notes);
    s_text(st, 6, out->tz, sizeof out->tz);
    s_text(st, 7, out->start_date, sizeof out->start_date);
    out->ntimes = s_split((const char *)sqlite3_column_text(st, 8), out->times, SCHED_TIMES_MAX);
    s_text(st, 9, out->rrule, sizeof out->rrule);
    out->days = sqlite3_column_int(st, 10);
    s_text(st, 11, out->end_date, sizeof out->end_date);
    out->noffsets =
        s_split((const char *)sqlite3_column_text(st, 12), out->offsets_min, SCHED_OFFSETS_MAX);
    out->cursor_s = sqlite3_column_int64(st, 13);
    out->next_fire_s =
        sqlite3_column_type(st, 14) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 14);
    out->deleted = sqlite3_column_int(st, 15) != 0;
    out->created_ms = sqlite3_column_int64(st, 16);
    out->updated_ms = sqlite3_column_int64(st, 17);
}

/* Binds the fields of r to parameters 1..18 in S_COLS order. */
static void
s_bind(sqlite3_stmt *st, const sched_reminder_t *r)
{
    char times[SCHED_TIMES_MAX * 8], offsets[SCHED_OFFSETS_MAX * 12];
    s_join(r->times, r->ntimes, times, sizeof times);
    s_join(r->offsets_min, r->noffsets, offsets, sizeof offsets);
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, r->user_id);
    sqlite3_bind_text(st, 3, r->kind == SCHED_KIND_MEDICATION ? "medication" : "appointment", -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->title, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, r->dose, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, r->notes, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, r->tz, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, r->start_date, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, times, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 10, r->rrule, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 11, r->days);
    sqlite3_bind_text(st, 12, r->end_date, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 13, offsets, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 14, r->cursor_s);
    if (r->next_fire_s >= 0 && !r->deleted)
        sqlite3_bind_int64(st, 15, r->next_fire_s);
    else
        sqlite3_bind_null(st, 15);
    sqlite3_bind_int(st, 16, r->deleted ? 1 : 0);
    sqlite3_bind_int64(st, 17, r->created_ms);
    sqlite3_bind_int64(st, 18, r->updated_ms);
}

int
sched_db_insert(sqlite3 *db, const sched_reminder_t *r, const char *req_id)
{
    sqlite3_stmt *st = hm_db_prepare(db, "INSERT INTO reminders (" S_COLS ", req_id) VALUES "
                                         "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    s_bind(st, r);
    sqlite3_bind_text(st, 19, req_id, -1, SQLITE_TRANSIENT);
    return hm_db_step_done(db, st, "reminder_insert") == 1 ? 0 : -1;
}

/* Runs a one-row SELECT of S_COLS with one text parameter. */
static int
s_get_one(sqlite3 *db, const char *sql, const char *arg, sched_reminder_t *out)
{
    sqlite3_stmt *st = hm_db_prepare(db, sql);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        s_row(st, out);
    else if (rc != SQLITE_DONE)
        hm_db_log_error(db, "reminder_get");
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
sched_db_get(sqlite3 *db, const char *id, sched_reminder_t *out)
{
    return s_get_one(db, "SELECT " S_COLS " FROM reminders WHERE id = ?", id, out);
}

int
sched_db_get_by_req(sqlite3 *db, const char *req_id, sched_reminder_t *out)
{
    return s_get_one(db, "SELECT " S_COLS " FROM reminders WHERE req_id = ?", req_id, out);
}

int
sched_db_update(sqlite3 *db, const sched_reminder_t *r)
{
    sqlite3_stmt *st = hm_db_prepare(
        db, "UPDATE reminders SET user_id = ?2, kind = ?3, title = ?4, dose = ?5, notes = ?6, "
            "tz = ?7, start_date = ?8, times = ?9, rrule = ?10, days = ?11, end_date = ?12, "
            "offsets = ?13, cursor = ?14, next_fire = ?15, deleted = ?16, created_at = ?17, "
            "updated_at = ?18 WHERE id = ?1");
    if (!st)
        return -1;
    s_bind(st, r);
    return hm_db_step_done(db, st, "reminder_update");
}

int
sched_db_set_next(sqlite3 *db, const char *id, int64_t cursor_s, int64_t next_fire_s)
{
    sqlite3_stmt *st =
        hm_db_prepare(db, "UPDATE reminders SET cursor = ?, next_fire = ? WHERE id = ?");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, cursor_s);
    if (next_fire_s >= 0)
        sqlite3_bind_int64(st, 2, next_fire_s);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_TRANSIENT);
    return hm_db_step_done(db, st, "reminder_set_next") < 0 ? -1 : 0;
}

int
sched_db_count(sqlite3 *db, int64_t user_id)
{
    sqlite3_stmt *st =
        hm_db_prepare(db, "SELECT count(*) FROM reminders WHERE user_id = ? AND deleted = 0");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, user_id);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    if (n < 0)
        hm_db_log_error(db, "reminder_count");
    sqlite3_finalize(st);
    return n;
}

int
sched_db_list(sqlite3 *db, int64_t user_id, bool deleted_too, sched_db_each_fn fn, void *arg)
{
    sqlite3_stmt *st = hm_db_prepare(db, "SELECT " S_COLS " FROM reminders WHERE user_id = ? "
                                         "AND (deleted = 0 OR ?) ORDER BY created_at, id");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int(st, 2, deleted_too ? 1 : 0);
    int n = 0, rc = SQLITE_DONE;
    sched_reminder_t *r = malloc(sizeof *r);
    while (r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        s_row(st, r);
        n++;
        if (fn(r, arg) != 0)
            break;
    }
    if (!r || (rc != SQLITE_ROW && rc != SQLITE_DONE)) {
        hm_db_log_error(db, "reminder_list");
        n = -1;
    }
    free(r);
    sqlite3_finalize(st);
    return n;
}

int
sched_db_due(sqlite3 *db, int64_t now_s, sched_reminder_t *out, int max)
{
    sqlite3_stmt *st = hm_db_prepare(db, "SELECT " S_COLS " FROM reminders WHERE next_fire <= ? "
                                         "AND deleted = 0 ORDER BY next_fire LIMIT ?");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now_s);
    sqlite3_bind_int(st, 2, max);
    int n = 0, rc = SQLITE_DONE;
    while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
        s_row(st, &out[n++]);
    if (n < max && rc != SQLITE_DONE) {
        hm_db_log_error(db, "reminder_due");
        n = -1;
    }
    sqlite3_finalize(st);
    return n;
}

int64_t
sched_db_next_fire(sqlite3 *db)
{
    sqlite3_stmt *st = hm_db_prepare(
        db, "SELECT min(next_fire) FROM reminders WHERE next_fire IS NOT NULL AND deleted = 0");
    if (!st)
        return -1;
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_type(st, 0) == SQLITE_NULL ? INT64_MAX : sqlite3_column_int64(st, 0);
    else
        hm_db_log_error(db, "reminder_next_fire");
    sqlite3_finalize(st);
    return v;
}
