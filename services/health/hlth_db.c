/*
 * hlth_db.c - hm-health's schema and queries.
 */
#include "hlth_db.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_clock.h"
#include "hm_db.h"
#include "hm_log.h"

#define S_CACHE_KIB "32768" /* sqlite page cache (KiB) */

/* Migration 1. events holds both event types of the per-user stream, the
 * data exactly as published. Readings keep their request id so that a
 * retried request is answered, not stored twice. */
static const char *const s_migrations[] = {
    "CREATE TABLE events ("
    "  user_id INTEGER NOT NULL CHECK (user_id > 0),"
    "  seq INTEGER NOT NULL CHECK (seq > 0),"
    "  type TEXT NOT NULL CHECK (type IN ('health_update', 'health_alert')),"
    "  id TEXT NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  metric TEXT NOT NULL,"
    "  measured_at INTEGER NOT NULL,"
    "  req_id TEXT,"
    "  data TEXT NOT NULL,"
    "  PRIMARY KEY (user_id, seq));"
    "CREATE UNIQUE INDEX events_req ON events(user_id, req_id) WHERE req_id IS NOT NULL;"
    "CREATE TABLE thresholds ("
    "  user_id INTEGER NOT NULL,"
    "  metric TEXT NOT NULL,"
    "  low REAL, high REAL, critical_low REAL, critical_high REAL,"
    "  set_by INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (user_id, metric)) WITHOUT ROWID;"
    "CREATE TABLE alert_state ("
    "  user_id INTEGER NOT NULL,"
    "  metric TEXT NOT NULL,"
    "  dir INTEGER NOT NULL, level INTEGER NOT NULL, alerted INTEGER NOT NULL,"
    "  last_alert_ms INTEGER NOT NULL, last_dir INTEGER NOT NULL, last_level INTEGER NOT NULL,"
    "  PRIMARY KEY (user_id, metric)) WITHOUT ROWID;"
    "CREATE TABLE notify_outbox ("
    "  id TEXT PRIMARY KEY,"
    "  user_id INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  payload TEXT NOT NULL);",
};

/* The statements kept prepared, by index. */
enum {
    S_NEXT_SEQ,
    S_INSERT,
    S_BY_REQ,
    S_EVENTS,
    S_THR_GET,
    S_THR_SET,
    S_THR_DEL,
    S_AST_GET,
    S_AST_PUT,
    S_OB_ADD,
    S_OB_DEL,
    S_COUNT
};

static const char *const s_sql[S_COUNT] = {
    [S_NEXT_SEQ] = "SELECT coalesce(max(seq), 0) + 1 FROM events WHERE user_id = ?",
    [S_INSERT] = "INSERT INTO events (user_id, seq, type, id, ts, metric, measured_at, req_id, "
                 "data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [S_BY_REQ] = "SELECT user_id, seq, type, id, ts, metric, measured_at, req_id, data FROM events "
                 "WHERE user_id = ? AND req_id = ?",
    [S_EVENTS] = "SELECT user_id, seq, type, id, ts, metric, measured_at, req_id, data FROM events "
                 "WHERE user_id = ?1 AND seq > ?2 AND measured_at >= ?3 "
                 "AND (?4 IS NULL OR type = ?4) AND (?5 IS NULL OR metric = ?5) "
                 "ORDER BY seq LIMIT ?6",
    [S_THR_GET] = "SELECT low, high, critical_low, critical_high FROM thresholds "
                  "WHERE user_id = ? AND metric = ?",
    [S_THR_SET] = "INSERT OR REPLACE INTO thresholds (user_id, metric, low, high, critical_low, "
                  "critical_high, set_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [S_THR_DEL] = "DELETE FROM thresholds WHERE user_id = ? AND metric = ?",
    [S_AST_GET] = "SELECT dir, level, alerted, last_alert_ms, last_dir, last_level FROM "
                  "alert_state WHERE user_id = ? AND metric = ?",
    [S_AST_PUT] = "INSERT OR REPLACE INTO alert_state (user_id, metric, dir, level, alerted, "
                  "last_alert_ms, last_dir, last_level) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [S_OB_ADD] = "INSERT OR IGNORE INTO notify_outbox (id, user_id, created_at, payload) "
                 "VALUES (?, ?, ?, ?)",
    [S_OB_DEL] = "DELETE FROM notify_outbox WHERE id = ?",
};

struct hlth_db_t {
    sqlite3 *db;                 /* the handle; owned */
    sqlite3_stmt *stmt[S_COUNT]; /* prepared on first use; owned */
};

hlth_db_t *
hlth_db_open(const char *path)
{
    hlth_db_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->db = hm_db_open(path, HLTH_DB_BUSY_MS, s_migrations,
                          (int)(sizeof s_migrations / sizeof s_migrations[0]));
    if (!self->db) {
        free(self);
        return NULL;
    }
    /* The indexes a reading touches (by user and seq, by request id) are
     * spread over the file: keep more of them in memory than the 2 MB
     * default, or every batch reads pages back. */
    hm_db_exec(self->db, "PRAGMA cache_size = -" S_CACHE_KIB);
    return self;
}

void
hlth_db_destroy(hlth_db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hlth_db_t *self = *self_p;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(self->stmt[i]);
    hm_db_close(&self->db);
    free(self);
    *self_p = NULL;
}

sqlite3 *
hlth_db_handle(hlth_db_t *self)
{
    return self->db;
}

/* Statement i, reset and unbound, ready to bind. NULL on error (logged). */
static sqlite3_stmt *
s_stmt(hlth_db_t *self, int i)
{
    if (!self->stmt[i])
        self->stmt[i] = hm_db_prepare(self->db, s_sql[i]);
    return self->stmt[i];
}

/* Resets a kept statement after use. */
static void
s_done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Logs a failed step (code and sqlite's message only). */
static void
s_log(hlth_db_t *self, const char *op)
{
    char q[256];
    hm_log_error("db_error", "op=%s rc=%d err=%s", op, sqlite3_extended_errcode(self->db),
                 hm_log_quote(sqlite3_errmsg(self->db), q, sizeof q));
}

/* Steps a statement that returns no rows. Returns 0 or -1 (logged). */
static int
s_exec_stmt(hlth_db_t *self, sqlite3_stmt *stmt, const char *op)
{
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        s_log(self, op);
    s_done(stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- transactions --------------------------------------------------------- */

int
hlth_db_begin(hlth_db_t *self)
{
    return hm_db_exec(self->db, "BEGIN IMMEDIATE");
}

int
hlth_db_commit(hlth_db_t *self)
{
    if (sqlite3_get_autocommit(self->db)) { /* sqlite rolled it back after an error */
        hm_log_error("batch_rolled_back", NULL);
        return -1;
    }
    if (hm_db_exec(self->db, "COMMIT") == 0)
        return 0;
    hlth_db_rollback(self);
    return -1;
}

void
hlth_db_rollback(hlth_db_t *self)
{
    if (!sqlite3_get_autocommit(self->db))
        hm_db_exec(self->db, "ROLLBACK");
}

int
hlth_db_savepoint(hlth_db_t *self)
{
    return hm_db_exec(self->db, "SAVEPOINT req");
}

void
hlth_db_release(hlth_db_t *self, bool keep)
{
    if (sqlite3_get_autocommit(self->db))
        return; /* the whole transaction is gone already */
    if (!keep)
        hm_db_exec(self->db, "ROLLBACK TO req");
    hm_db_exec(self->db, "RELEASE req");
}

bool
hlth_db_in_tx(hlth_db_t *self)
{
    return !sqlite3_get_autocommit(self->db);
}

/* ---- the stream ------------------------------------------------------------ */

int64_t
hlth_db_next_seq(hlth_db_t *self, int64_t user_id)
{
    sqlite3_stmt *stmt = s_stmt(self, S_NEXT_SEQ);
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    int64_t seq = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW)
        seq = sqlite3_column_int64(stmt, 0);
    else
        s_log(self, "next_seq");
    s_done(stmt);
    return seq;
}

int
hlth_db_event_insert(hlth_db_t *self, const hlth_event_t *ev)
{
    sqlite3_stmt *stmt = s_stmt(self, S_INSERT);
    char *text = json_dumps(ev->data, JSON_COMPACT);
    if (!stmt || !text) {
        free(text);
        return -1;
    }
    sqlite3_bind_int64(stmt, 1, ev->user_id);
    sqlite3_bind_int64(stmt, 2, ev->seq);
    sqlite3_bind_text(stmt, 3, ev->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, ev->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, ev->ts);
    sqlite3_bind_text(stmt, 6, ev->metric, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 7, ev->measured_at);
    if (ev->req_id)
        sqlite3_bind_text(stmt, 8, ev->req_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 9, text, -1, free);
    return s_exec_stmt(self, stmt, "event_insert");
}

/* Reads the current row of an events query into *ev (data: new reference,
 * caller releases). Returns 0 or -1 when the stored data does not parse. */
static int
s_row_event(sqlite3_stmt *stmt, hlth_event_t *ev)
{
    ev->user_id = sqlite3_column_int64(stmt, 0);
    ev->seq = sqlite3_column_int64(stmt, 1);
    ev->type = (const char *)sqlite3_column_text(stmt, 2);
    ev->id = (const char *)sqlite3_column_text(stmt, 3);
    ev->ts = sqlite3_column_int64(stmt, 4);
    ev->metric = (const char *)sqlite3_column_text(stmt, 5);
    ev->measured_at = sqlite3_column_int64(stmt, 6);
    ev->req_id = (const char *)sqlite3_column_text(stmt, 7);
    const char *text = (const char *)sqlite3_column_text(stmt, 8);
    ev->data = text ? json_loads(text, 0, NULL) : NULL;
    return ev->data && ev->type && ev->id && ev->metric ? 0 : -1;
}

/* Steps stmt, calling fn for each row. Returns rows handed to fn or -1. */
static int
s_each_event(hlth_db_t *self, sqlite3_stmt *stmt, hlth_db_event_fn fn, void *arg, const char *op)
{
    int n = 0, rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        hlth_event_t ev;
        if (s_row_event(stmt, &ev) != 0) {
            json_decref(ev.data);
            hm_log_error("db_bad_row", "op=%s", op);
            continue;
        }
        int stop = fn(&ev, arg);
        json_decref(ev.data);
        n++;
        if (stop)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        s_log(self, op);
        n = -1;
    }
    s_done(stmt);
    return n;
}

int
hlth_db_event_by_req(hlth_db_t *self, int64_t user_id, const char *req_id, hlth_db_event_fn fn,
                     void *arg)
{
    sqlite3_stmt *stmt = s_stmt(self, S_BY_REQ);
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_text(stmt, 2, req_id, -1, SQLITE_STATIC);
    int n = s_each_event(self, stmt, fn, arg, "event_by_req");
    return n < 0 ? -1 : n > 0 ? 1 : 0;
}

int
hlth_db_events(hlth_db_t *self, const hlth_db_query_t *q, hlth_db_event_fn fn, void *arg)
{
    sqlite3_stmt *stmt = s_stmt(self, S_EVENTS);
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, q->user_id);
    sqlite3_bind_int64(stmt, 2, q->after_seq);
    sqlite3_bind_int64(stmt, 3, q->since_ms);
    if (q->type)
        sqlite3_bind_text(stmt, 4, q->type, -1, SQLITE_STATIC);
    if (q->metric)
        sqlite3_bind_text(stmt, 5, q->metric, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 6, q->limit);
    return s_each_event(self, stmt, fn, arg, "events");
}

/* ---- thresholds and alert state ------------------------------------------- */

/* A nullable REAL column. */
static double
s_col_real(sqlite3_stmt *stmt, int col)
{
    return sqlite3_column_type(stmt, col) == SQLITE_NULL ? NAN : sqlite3_column_double(stmt, col);
}

/* Binds v, NULL for NAN. */
static void
s_bind_real(sqlite3_stmt *stmt, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(stmt, i);
    else
        sqlite3_bind_double(stmt, i, v);
}

/* Steps a bound lookup of (user_id, check) that was bound at 1 and 2.
 * Returns 1 (row ready to read; caller calls s_done), 0 or -1. */
static int
s_lookup(hlth_db_t *self, sqlite3_stmt *stmt, int64_t user_id, const char *check, const char *op)
{
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_text(stmt, 2, check, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc != SQLITE_DONE)
        s_log(self, op);
    s_done(stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
hlth_db_threshold_get(hlth_db_t *self, int64_t user_id, const char *check, hlth_limits_t *out)
{
    sqlite3_stmt *stmt = s_stmt(self, S_THR_GET);
    if (!stmt)
        return -1;
    int rc = s_lookup(self, stmt, user_id, check, "threshold_get");
    if (rc != 1)
        return rc;
    out->low = s_col_real(stmt, 0);
    out->high = s_col_real(stmt, 1);
    out->critical_low = s_col_real(stmt, 2);
    out->critical_high = s_col_real(stmt, 3);
    s_done(stmt);
    return 1;
}

int
hlth_db_threshold_put(hlth_db_t *self, int64_t user_id, const char *check, const hlth_limits_t *l,
                      int64_t set_by)
{
    sqlite3_stmt *stmt = s_stmt(self, l ? S_THR_SET : S_THR_DEL);
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_text(stmt, 2, check, -1, SQLITE_STATIC);
    if (l) {
        s_bind_real(stmt, 3, l->low);
        s_bind_real(stmt, 4, l->high);
        s_bind_real(stmt, 5, l->critical_low);
        s_bind_real(stmt, 6, l->critical_high);
        sqlite3_bind_int64(stmt, 7, set_by);
        sqlite3_bind_int64(stmt, 8, hm_clock_wall_ms());
    }
    return s_exec_stmt(self, stmt, "threshold_put");
}

int
hlth_db_astate_get(hlth_db_t *self, int64_t user_id, const char *check, hlth_astate_t *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *stmt = s_stmt(self, S_AST_GET);
    if (!stmt)
        return -1;
    int rc = s_lookup(self, stmt, user_id, check, "astate_get");
    if (rc != 1)
        return rc;
    out->dir = (hlth_dir_t)sqlite3_column_int(stmt, 0);
    out->level = sqlite3_column_int(stmt, 1);
    out->alerted = sqlite3_column_int(stmt, 2) != 0;
    out->last_alert_ms = sqlite3_column_int64(stmt, 3);
    out->last_dir = (hlth_dir_t)sqlite3_column_int(stmt, 4);
    out->last_level = sqlite3_column_int(stmt, 5);
    s_done(stmt);
    return 1;
}

int
hlth_db_astate_put(hlth_db_t *self, int64_t user_id, const char *check, const hlth_astate_t *st)
{
    sqlite3_stmt *stmt = s_stmt(self, S_AST_PUT);
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_text(stmt, 2, check, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 3, (int)st->dir);
    sqlite3_bind_int(stmt, 4, st->level);
    sqlite3_bind_int(stmt, 5, st->alerted ? 1 : 0);
    sqlite3_bind_int64(stmt, 6, st->last_alert_ms);
    sqlite3_bind_int(stmt, 7, (int)st->last_dir);
    sqlite3_bind_int(stmt, 8, st->last_level);
    return s_exec_stmt(self, stmt, "astate_put");
}

/* ---- the outbox -------------------------------------------------------------- */

int
hlth_db_outbox_add(hlth_db_t *self, const char *id, int64_t user_id, const json_t *payload,
                   int64_t created_at)
{
    sqlite3_stmt *stmt = s_stmt(self, S_OB_ADD);
    char *text = json_dumps(payload, JSON_COMPACT);
    if (!stmt || !text) {
        free(text);
        return -1;
    }
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, user_id);
    sqlite3_bind_int64(stmt, 3, created_at);
    sqlite3_bind_text(stmt, 4, text, -1, free);
    return s_exec_stmt(self, stmt, "outbox_add");
}

int
hlth_db_outbox_delete(hlth_db_t *self, const char *id)
{
    sqlite3_stmt *stmt = s_stmt(self, S_OB_DEL);
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    return s_exec_stmt(self, stmt, "outbox_delete");
}

int64_t
hlth_db_outbox_count(hlth_db_t *self)
{
    sqlite3_stmt *stmt = hm_db_prepare(self->db, "SELECT count(*) FROM notify_outbox");
    int64_t n = -1;
    if (stmt && sqlite3_step(stmt) == SQLITE_ROW)
        n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return n;
}

int
hlth_db_outbox_load(hlth_db_t *self, hlth_db_outbox_fn fn, void *arg)
{
    sqlite3_stmt *stmt = hm_db_prepare(
        self->db, "SELECT id, payload, created_at FROM notify_outbox ORDER BY created_at, id");
    if (!stmt)
        return -1;
    int n = 0, rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        json_t *payload = json_loads((const char *)sqlite3_column_text(stmt, 1), 0, NULL);
        if (json_is_object(payload)) {
            fn((const char *)sqlite3_column_text(stmt, 0), payload, sqlite3_column_int64(stmt, 2),
               arg);
            n++;
        }
        json_decref(payload);
    }
    if (rc != SQLITE_DONE) {
        s_log(self, "outbox_load");
        n = -1;
    }
    sqlite3_finalize(stmt);
    return n;
}
