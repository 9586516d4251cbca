/*
 * ntf_store.c - schema, single-notification writes and lookups.
 */
#include "ntf_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_db.h"
#include "hm_log.h"

/* Migration 1. nid is AUTOINCREMENT so that a purged row's id never comes
 * back (it is the list cursor). Partial indexes cover the open queue. */
static const char *const s_migrations[] = {
    "CREATE TABLE streams ("
    "  user_id INTEGER PRIMARY KEY CHECK (user_id >= 0),"
    "  last_seq INTEGER NOT NULL);"
    "CREATE TABLE notifications ("
    "  nid INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id TEXT NOT NULL UNIQUE,"
    "  user_id INTEGER NOT NULL CHECK (user_id >= 0),"
    "  seq INTEGER NOT NULL,"
    "  type INTEGER NOT NULL,"
    "  priority INTEGER NOT NULL,"
    "  title TEXT NOT NULL,"
    "  message TEXT NOT NULL,"
    "  data TEXT,"
    "  idem_key TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  muted INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER,"
    "  sent_at INTEGER,"
    "  acked_at INTEGER,"
    "  read_at INTEGER,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (user_id, idem_key),"
    "  UNIQUE (user_id, seq));"
    "CREATE INDEX notif_open ON notifications(user_id, seq) WHERE status IN (0, 1);"
    "CREATE INDEX notif_held ON notifications(user_id) WHERE status = 1;"
    "CREATE INDEX notif_expiry ON notifications(expires_at) WHERE status IN (0, 1);"
    "CREATE INDEX notif_created ON notifications(created_at);"
    "CREATE TABLE receipts ("
    "  nid INTEGER NOT NULL REFERENCES notifications(nid) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL,"
    "  acked_at INTEGER,"
    "  read_at INTEGER,"
    "  PRIMARY KEY (nid, user_id)) WITHOUT ROWID;"
    "CREATE TABLE prefs ("
    "  user_id INTEGER PRIMARY KEY,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  quiet INTEGER NOT NULL DEFAULT 0,"
    "  quiet_start INTEGER NOT NULL,"
    "  quiet_end INTEGER NOT NULL,"
    "  tz TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE TABLE escalations ("
    "  nid INTEGER PRIMARY KEY REFERENCES notifications(nid) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  last_status INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  done_at INTEGER);"
    "CREATE INDEX esc_open ON escalations(state) WHERE state IN (0, 1);",
};

sqlite3 *
ntf_store_open(const char *path)
{
    return hm_db_open(path, NTF_DB_BUSY_MS, s_migrations,
                      (int)(sizeof s_migrations / sizeof s_migrations[0]));
}

/* A text column copied (caller owns), "" for NULL; NULL on ENOMEM. */
static char *
s_text(sqlite3_stmt *stmt, int col)
{
    const unsigned char *t = sqlite3_column_text(stmt, col);
    return strdup(t ? (const char *)t : "");
}

int
ntf_store_row(sqlite3_stmt *stmt, ntf_row_t *out)
{
    memset(out, 0, sizeof *out);
    out->nid = sqlite3_column_int64(stmt, 0);
    snprintf(out->id, sizeof out->id, "%s", (const char *)sqlite3_column_text(stmt, 1));
    out->user_id = sqlite3_column_int64(stmt, 2);
    out->seq = sqlite3_column_int64(stmt, 3);
    out->type = (ntf_type_t)sqlite3_column_int(stmt, 4);
    out->prio = (ntf_prio_t)sqlite3_column_int(stmt, 5);
    out->title = s_text(stmt, 6);
    out->message = s_text(stmt, 7);
    if (sqlite3_column_type(stmt, 8) == SQLITE_TEXT)
        out->data = json_loads((const char *)sqlite3_column_text(stmt, 8), 0, NULL);
    out->status = (ntf_status_t)sqlite3_column_int(stmt, 9);
    out->muted = sqlite3_column_int(stmt, 10) != 0;
    out->created_at = sqlite3_column_int64(stmt, 11);
    out->expires_at = sqlite3_column_int64(stmt, 12);
    out->sent_at = sqlite3_column_int64(stmt, 13);
    out->acked_at = sqlite3_column_int64(stmt, 14);
    out->read_at = sqlite3_column_int64(stmt, 15);
    out->attempts = sqlite3_column_int(stmt, 16);
    if (!out->title || !out->message) {
        ntf_row_clear(out);
        return -1;
    }
    return 0;
}

/* Runs a prepared single-row lookup (columns NTF_ROW_COLS) and finalizes
 * it. Returns 1, 0 or -1. */
static int
s_get_one(sqlite3 *db, sqlite3_stmt *stmt, ntf_row_t *out, const char *op)
{
    int rc = sqlite3_step(stmt);
    int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (found == 1 && ntf_store_row(stmt, out) != 0)
        found = -1;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        hm_db_log_error(db, op);
    sqlite3_finalize(stmt);
    return found;
}

int
ntf_store_find_idem(sqlite3 *db, int64_t user_id, const char *idem_key, ntf_row_t *out)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "SELECT " NTF_ROW_COLS " FROM notifications n LEFT JOIN receipts r ON 0 "
                          "WHERE n.user_id = ? AND n.idem_key = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_text(stmt, 2, idem_key, -1, SQLITE_TRANSIENT);
    return s_get_one(db, stmt, out, "find_idem");
}

int
ntf_store_get(sqlite3 *db, const char *id, int64_t viewer, ntf_row_t *out)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "SELECT " NTF_ROW_COLS " FROM notifications n "
                          "LEFT JOIN receipts r ON r.nid = n.nid AND r.user_id = ? WHERE n.id = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, viewer);
    sqlite3_bind_text(stmt, 2, id, -1, SQLITE_TRANSIENT);
    return s_get_one(db, stmt, out, "get");
}

int
ntf_store_get_nid(sqlite3 *db, int64_t nid, ntf_row_t *out)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "SELECT " NTF_ROW_COLS " FROM notifications n LEFT JOIN receipts r ON 0 "
                          "WHERE n.nid = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, nid);
    return s_get_one(db, stmt, out, "get_nid");
}

/* The next seq of user_id's stream. Returns it or -1. */
static int64_t
s_next_seq(sqlite3 *db, int64_t user_id)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "INSERT INTO streams (user_id, last_seq) VALUES (?, 1) "
                          "ON CONFLICT(user_id) DO UPDATE SET last_seq = last_seq + 1 "
                          "RETURNING last_seq");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    int64_t seq = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    if (seq < 0)
        hm_db_log_error(db, "next_seq");
    sqlite3_finalize(stmt);
    return seq;
}

/* Binds an int64 that means "none" when 0. */
static void
s_bind_opt(sqlite3_stmt *stmt, int col, int64_t v)
{
    if (v)
        sqlite3_bind_int64(stmt, col, v);
    else
        sqlite3_bind_null(stmt, col);
}

/* Fills out with what was stored for in (no read back). Returns 0 or -1. */
static int
s_row_of(const ntf_new_t *in, int64_t nid, const char *id, int64_t seq, ntf_row_t *out)
{
    memset(out, 0, sizeof *out);
    out->nid = nid;
    snprintf(out->id, sizeof out->id, "%s", id);
    out->user_id = in->user_id;
    out->seq = seq;
    out->type = in->type;
    out->prio = in->prio;
    out->title = strdup(in->title);
    out->message = strdup(in->message);
    out->data = in->data ? json_deep_copy(in->data) : NULL;
    out->status = in->status;
    out->muted = in->muted;
    out->created_at = in->created_at;
    out->expires_at = in->expires_at;
    out->sent_at = in->sent_at;
    if (!out->title || !out->message || (in->data && !out->data)) {
        ntf_row_clear(out);
        return -1;
    }
    return 0;
}

int
ntf_store_insert(sqlite3 *db, const ntf_new_t *in, ntf_row_t *out)
{
    char id[HM_UUID_STRLEN];
    char *data = in->data ? json_dumps(in->data, JSON_COMPACT) : NULL;
    int64_t seq = s_next_seq(db, in->user_id);
    sqlite3_stmt *stmt =
        seq > 0 && hm_uuid4(id) == 0 && (data || !in->data)
            ? hm_db_prepare(db, "INSERT INTO notifications (id, user_id, seq, type, priority, "
                                "title, message, data, idem_key, status, muted, created_at, "
                                "expires_at, sent_at) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            : NULL;
    if (!stmt) {
        free(data);
        return -1;
    }
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 2, in->user_id);
    sqlite3_bind_int64(stmt, 3, seq);
    sqlite3_bind_int(stmt, 4, in->type);
    sqlite3_bind_int(stmt, 5, in->prio);
    sqlite3_bind_text(stmt, 6, in->title, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 7, in->message, -1, SQLITE_TRANSIENT);
    if (data)
        sqlite3_bind_text(stmt, 8, data, -1, free);
    sqlite3_bind_text(stmt, 9, in->idem_key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(stmt, 10, in->status);
    sqlite3_bind_int(stmt, 11, in->muted ? 1 : 0);
    sqlite3_bind_int64(stmt, 12, in->created_at);
    s_bind_opt(stmt, 13, in->expires_at);
    s_bind_opt(stmt, 14, in->sent_at);
    if (hm_db_step_done(db, stmt, "insert") != 1)
        return -1;
    return s_row_of(in, sqlite3_last_insert_rowid(db), id, seq, out);
}

/* Runs "UPDATE notifications SET <set> WHERE nid = ?2" with ?1 = v.
 * Returns the rows changed or -1. */
static int
s_update(sqlite3 *db, const char *sql, int64_t v, int64_t nid, const char *op)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, sql);
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, v);
    sqlite3_bind_int64(stmt, 2, nid);
    return hm_db_step_done(db, stmt, op);
}

int
ntf_store_set_status(sqlite3 *db, int64_t nid, ntf_status_t status)
{
    return s_update(db, "UPDATE notifications SET status = ?1 WHERE nid = ?2", status, nid,
                    "set_status") < 0
               ? -1
               : 0;
}

int
ntf_store_mark_sent(sqlite3 *db, int64_t nid, int64_t now_ms)
{
    return s_update(db, "UPDATE notifications SET sent_at = coalesce(sent_at, ?1) WHERE nid = ?2",
                    now_ms, nid, "mark_sent") < 0
               ? -1
               : 0;
}

int
ntf_store_set_attempts(sqlite3 *db, int64_t nid, int attempts)
{
    return s_update(db, "UPDATE notifications SET attempts = ?1 WHERE nid = ?2", attempts, nid,
                    "set_attempts") < 0
               ? -1
               : 0;
}

/* Sets a broadcast receipt column (acked_at or read_at) for user_id when
 * unset. Returns 1 when set now, 0 when it was, -1. */
static int
s_receipt(sqlite3 *db, int64_t nid, int64_t user_id, int64_t now_ms, bool ack)
{
    sqlite3_stmt *stmt = hm_db_prepare(
        db, ack ? "INSERT INTO receipts (nid, user_id, acked_at) VALUES (?1, ?2, ?3) "
                  "ON CONFLICT(nid, user_id) DO UPDATE SET acked_at = ?3 WHERE acked_at IS NULL"
                : "INSERT INTO receipts (nid, user_id, read_at) VALUES (?1, ?2, ?3) "
                  "ON CONFLICT(nid, user_id) DO UPDATE SET read_at = ?3 WHERE read_at IS NULL");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, nid);
    sqlite3_bind_int64(stmt, 2, user_id);
    sqlite3_bind_int64(stmt, 3, now_ms);
    int n = hm_db_step_done(db, stmt, ack ? "receipt_ack" : "receipt_read");
    return n < 0 ? -1 : n > 0 ? 1 : 0;
}

int
ntf_store_ack(sqlite3 *db, const ntf_row_t *row, int64_t user_id, int64_t now_ms)
{
    if (row->user_id == 0)
        return s_receipt(db, row->nid, user_id, now_ms, true);
    int n = s_update(db,
                     "UPDATE notifications SET status = 3, acked_at = ?1 "
                     "WHERE nid = ?2 AND acked_at IS NULL",
                     now_ms, row->nid, "ack");
    return n < 0 ? -1 : n > 0 ? 1 : 0;
}

int
ntf_store_read(sqlite3 *db, const ntf_row_t *row, int64_t user_id, int64_t now_ms)
{
    if (row->user_id == 0)
        return s_receipt(db, row->nid, user_id, now_ms, false);
    int n = s_update(db, "UPDATE notifications SET read_at = ?1 WHERE nid = ?2 AND read_at IS NULL",
                     now_ms, row->nid, "read");
    return n < 0 ? -1 : n > 0 ? 1 : 0;
}

int
ntf_store_read_all(sqlite3 *db, int64_t user_id, int64_t now_ms)
{
    sqlite3_stmt *stmt = hm_db_prepare(
        db, "UPDATE notifications SET read_at = ?2 WHERE user_id = ?1 AND read_at IS NULL");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int64(stmt, 2, now_ms);
    int own = hm_db_step_done(db, stmt, "read_all");
    stmt = own < 0 ? NULL
                   : hm_db_prepare(db, "INSERT INTO receipts (nid, user_id, read_at) "
                                       "SELECT nid, ?1, ?2 FROM notifications WHERE user_id = 0 "
                                       "ON CONFLICT(nid, user_id) DO UPDATE SET read_at = ?2 "
                                       "WHERE read_at IS NULL");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int64(stmt, 2, now_ms);
    int bc = hm_db_step_done(db, stmt, "read_all_broadcasts");
    return bc < 0 ? -1 : own + bc;
}

int64_t
ntf_store_unread(sqlite3 *db, int64_t user_id)
{
    sqlite3_stmt *stmt = hm_db_prepare(
        db, "SELECT (SELECT count(*) FROM notifications WHERE user_id = ?1 AND read_at IS NULL) + "
            "(SELECT count(*) FROM notifications n WHERE n.user_id = 0 AND NOT EXISTS "
            " (SELECT 1 FROM receipts r WHERE r.nid = n.nid AND r.user_id = ?1 "
            "  AND r.read_at IS NOT NULL))");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    int64_t n = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    if (n < 0)
        hm_db_log_error(db, "unread");
    sqlite3_finalize(stmt);
    return n;
}
