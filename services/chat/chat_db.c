/*
 * chat_db.c - hm-chat's schema, conversations, participants, request
 * idempotency, owed assistant replies and owed care-team alerts. Values are
 * always bound, never formatted into SQL.
 */
#include "chat_db.h"

#include <stdio.h>
#include <string.h>

#include "hm_clock.h"
#include "hm_db.h"
#include "hm_log.h"

/* Migration 1. inbox is the per-user chat stream (SPEC 8.1): one row per
 * (recipient, stream seq). jobs and alerts are work owed after a restart. */
static const char *const s_migrations[] = {
    "CREATE TABLE conversations ("
    "  id TEXT PRIMARY KEY,"
    "  owner_id INTEGER NOT NULL CHECK (owner_id > 0),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  last_seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX conversations_owner ON conversations(owner_id);"
    "CREATE TABLE participants ("
    "  conversation_id TEXT NOT NULL REFERENCES conversations(id),"
    "  user_id INTEGER NOT NULL CHECK (user_id >= 0),"
    "  role INTEGER NOT NULL CHECK (role BETWEEN 1 AND 3),"
    "  joined_at INTEGER NOT NULL,"
    "  PRIMARY KEY (conversation_id, user_id)) WITHOUT ROWID;"
    "CREATE INDEX participants_user ON participants(user_id);"
    "CREATE TABLE messages ("
    "  conversation_id TEXT NOT NULL REFERENCES conversations(id),"
    "  seq INTEGER NOT NULL CHECK (seq > 0),"
    "  message_id TEXT NOT NULL UNIQUE,"
    "  sender TEXT NOT NULL,"
    "  sender_id INTEGER NOT NULL,"
    "  body TEXT NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  PRIMARY KEY (conversation_id, seq));"
    "CREATE INDEX messages_ts ON messages(ts);"
    "CREATE TABLE inbox ("
    "  user_id INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL CHECK (seq > 0),"
    "  message_id TEXT NOT NULL,"
    "  PRIMARY KEY (user_id, seq)) WITHOUT ROWID;"
    "CREATE INDEX inbox_message ON inbox(message_id);"
    "CREATE TABLE requests ("
    "  id TEXT PRIMARY KEY,"
    "  user_id INTEGER NOT NULL,"
    "  message_id TEXT NOT NULL,"
    "  ts INTEGER NOT NULL);"
    "CREATE INDEX requests_ts ON requests(ts);"
    "CREATE TABLE jobs ("
    "  message_id TEXT PRIMARY KEY,"
    "  reply_id TEXT NOT NULL,"
    "  conversation_id TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE alerts ("
    "  message_id TEXT PRIMARY KEY,"
    "  conversation_id TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL);",
};

sqlite3 *
chat_db_open(const char *path)
{
    return hm_db_open(path, CHAT_DB_BUSY_MS, s_migrations,
                      (int)(sizeof s_migrations / sizeof s_migrations[0]));
}

/* Logs a failed step. */
static void
s_log_error(sqlite3 *db, const char *op)
{
    char q[256];
    hm_log_error("db_error", "op=%s rc=%d err=%s", op, sqlite3_extended_errcode(db),
                 hm_log_quote(sqlite3_errmsg(db), q, sizeof q));
}

int
chat_db_step_row(sqlite3 *db, sqlite3_stmt *stmt, const char *op)
{
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    s_log_error(db, op);
    return -1;
}

/* Copies a text column into out (len bytes), cut if longer. */
static void
s_column_copy(sqlite3_stmt *stmt, int col, char *out, size_t len)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    snprintf(out, len, "%s", text ? (const char *)text : "");
}

/* ---- the batch transaction ------------------------------------------------ */

int
chat_tx_begin(chat_tx_t *tx)
{
    if (tx->open)
        return 0;
    if (hm_db_exec(tx->db, "BEGIN IMMEDIATE") != 0)
        return -1;
    tx->open = true;
    tx->failed = false;
    return 0;
}

void
chat_tx_fail(chat_tx_t *tx)
{
    if (tx->open)
        tx->failed = true;
}

int
chat_tx_save(chat_tx_t *tx)
{
    if (chat_tx_begin(tx) != 0)
        return -1;
    return hm_db_exec(tx->db, "SAVEPOINT unit");
}

void
chat_tx_end(chat_tx_t *tx, bool ok)
{
    if (!ok && hm_db_exec(tx->db, "ROLLBACK TO unit") != 0)
        chat_tx_fail(tx);
    if (hm_db_exec(tx->db, "RELEASE unit") != 0)
        chat_tx_fail(tx);
}

int
chat_tx_commit(chat_tx_t *tx)
{
    if (!tx->open)
        return 0;
    tx->open = false;
    bool rolled_back = sqlite3_get_autocommit(tx->db); /* sqlite undid it after an error */
    if (!rolled_back && !tx->failed && hm_db_exec(tx->db, "COMMIT") == 0)
        return 0;
    if (!sqlite3_get_autocommit(tx->db))
        hm_db_exec(tx->db, "ROLLBACK");
    hm_log_error("batch_rolled_back", "failed_write=%d", tx->failed ? 1 : 0);
    return -1;
}

/* ---- conversations and participants ------------------------------------ */

int
chat_db_conv_get(sqlite3 *db, const char *id, chat_conv_t *out)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "SELECT id, owner_id, last_seq, created_at, updated_at"
                                           " FROM conversations WHERE id = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
    int rc = chat_db_step_row(db, stmt, "conv_get");
    if (rc == 1) {
        memset(out, 0, sizeof *out);
        s_column_copy(stmt, 0, out->id, sizeof out->id);
        out->owner_id = sqlite3_column_int64(stmt, 1);
        out->last_seq = sqlite3_column_int64(stmt, 2);
        out->created_at = sqlite3_column_int64(stmt, 3);
        out->updated_at = sqlite3_column_int64(stmt, 4);
    }
    sqlite3_finalize(stmt);
    return rc;
}

int
chat_db_conv_create(sqlite3 *db, const char *id, int64_t owner_id, int64_t ts)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "INSERT INTO conversations (id, owner_id, created_at,"
                                           " updated_at, last_seq) VALUES (?, ?, ?, ?, 0)");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 2, owner_id);
    sqlite3_bind_int64(stmt, 3, ts);
    sqlite3_bind_int64(stmt, 4, ts);
    if (hm_db_step_done(db, stmt, "conv_create") < 0)
        return -1;
    if (chat_db_participant_add(db, id, owner_id, CHAT_ROLE_OWNER, ts) != 0)
        return -1;
    return chat_db_participant_add(db, id, CHAT_ASSISTANT_ID, CHAT_ROLE_ASSISTANT, ts);
}

int
chat_db_participant_add(sqlite3 *db, const char *conv, int64_t user_id, chat_role_t role,
                        int64_t ts)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "INSERT OR IGNORE INTO participants (conversation_id,"
                                           " user_id, role, joined_at) VALUES (?, ?, ?, ?)");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, conv, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 2, user_id);
    sqlite3_bind_int(stmt, 3, (int)role);
    sqlite3_bind_int64(stmt, 4, ts);
    return hm_db_step_done(db, stmt, "participant_add") < 0 ? -1 : 0;
}

int
chat_db_participant_role(sqlite3 *db, const char *conv, int64_t user_id)
{
    sqlite3_stmt *stmt = hm_db_prepare(
        db, "SELECT role FROM participants WHERE conversation_id = ? AND user_id = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, conv, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 2, user_id);
    int rc = chat_db_step_row(db, stmt, "participant_role");
    int role = rc == 1 ? sqlite3_column_int(stmt, 0) : rc == 0 ? CHAT_ROLE_NONE : -1;
    sqlite3_finalize(stmt);
    return role;
}

/* Reads the first column of every row of a bound statement into ids.
 * Returns the count (at most max) or -1. Finalizes. */
static int
s_ids(sqlite3 *db, sqlite3_stmt *stmt, int64_t *ids, int max, const char *op)
{
    int n = 0, rc = 0;
    while (n < max && (rc = chat_db_step_row(db, stmt, op)) == 1)
        ids[n++] = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return n < max && rc < 0 ? -1 : n;
}

int
chat_db_participants(sqlite3 *db, const char *conv, int64_t *ids, int max)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "SELECT user_id FROM participants WHERE"
                                           " conversation_id = ? AND user_id > 0 ORDER BY role,"
                                           " joined_at, user_id");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, conv, -1, SQLITE_TRANSIENT);
    return s_ids(db, stmt, ids, max, "participants");
}

int
chat_db_care_team(sqlite3 *db, int64_t owner_id, int64_t *ids, int max)
{
    sqlite3_stmt *stmt = hm_db_prepare(
        db, "SELECT DISTINCT p.user_id FROM participants p JOIN conversations c"
            " ON c.id = p.conversation_id WHERE c.owner_id = ? AND p.role = ? ORDER BY p.user_id");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, owner_id);
    sqlite3_bind_int(stmt, 2, CHAT_ROLE_CARE_TEAM);
    return s_ids(db, stmt, ids, max, "care_team");
}

/* The name of a role for clients. */
static const char *
s_role_name(int role)
{
    return role == CHAT_ROLE_OWNER ? "owner" : role == CHAT_ROLE_CARE_TEAM ? "care_team" : "none";
}

/* One row of chat_db_conv_list as JSON, with its participants. */
static json_t *
s_conv_json(sqlite3 *db, sqlite3_stmt *stmt)
{
    char created[40], updated[40];
    const char *id = (const char *)sqlite3_column_text(stmt, 0);
    int64_t ids[64];
    int n = chat_db_participants(db, id, ids, 64);
    json_t *people = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(people, json_integer(ids[i]));
    return json_pack(
        "{s:s, s:I, s:s, s:o, s:I, s:s, s:s}", "conversation_id", id, "owner_id",
        (json_int_t)sqlite3_column_int64(stmt, 1), "role", s_role_name(sqlite3_column_int(stmt, 2)),
        "participants", people, "last_seq", (json_int_t)sqlite3_column_int64(stmt, 3), "created_at",
        hm_clock_iso8601(sqlite3_column_int64(stmt, 4), created, sizeof created), "updated_at",
        hm_clock_iso8601(sqlite3_column_int64(stmt, 5), updated, sizeof updated));
}

json_t *
chat_db_conv_list(sqlite3 *db, int64_t user_id, int limit)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "SELECT c.id, c.owner_id, p.role, c.last_seq, c.created_at, c.updated_at"
                          " FROM participants p JOIN conversations c ON c.id = p.conversation_id"
                          " WHERE p.user_id = ? ORDER BY c.updated_at DESC, c.id LIMIT ?");
    if (!stmt)
        return NULL;
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int(stmt, 2, limit);
    json_t *list = json_array();
    int rc = 0;
    while (list && (rc = chat_db_step_row(db, stmt, "conv_list")) == 1) {
        json_t *c = s_conv_json(db, stmt);
        if (!c || json_array_append_new(list, c) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    sqlite3_finalize(stmt);
    if (rc < 0)
        json_decref(list);
    return rc < 0 ? NULL : list;
}

int
chat_db_conv_touch(sqlite3 *db, const char *conv, int64_t seq, int64_t ts)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "UPDATE conversations SET last_seq = ?, updated_at = ? WHERE id = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, seq);
    sqlite3_bind_int64(stmt, 2, ts);
    sqlite3_bind_text(stmt, 3, conv, -1, SQLITE_TRANSIENT);
    return hm_db_step_done(db, stmt, "conv_touch") == 1 ? 0 : -1;
}

/* ---- chat.send idempotency ----------------------------------------------- */

int
chat_db_request_get(sqlite3 *db, const char *req_id, char *msg_id, int64_t *user_id)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "SELECT message_id, user_id FROM requests WHERE id = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, req_id, -1, SQLITE_TRANSIENT);
    int rc = chat_db_step_row(db, stmt, "request_get");
    if (rc == 1) {
        s_column_copy(stmt, 0, msg_id, HM_UUID_STRLEN);
        *user_id = sqlite3_column_int64(stmt, 1);
    }
    sqlite3_finalize(stmt);
    return rc;
}

int
chat_db_request_put(sqlite3 *db, const char *req_id, int64_t user_id, const char *msg_id,
                    int64_t ts)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "INSERT INTO requests (id, user_id, message_id, ts) VALUES (?, ?, ?, ?)");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, req_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 2, user_id);
    sqlite3_bind_text(stmt, 3, msg_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 4, ts);
    return hm_db_step_done(db, stmt, "request_put") < 0 ? -1 : 0;
}

int
chat_db_request_prune(sqlite3 *db, int64_t before_ms)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "DELETE FROM requests WHERE ts < ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, before_ms);
    return hm_db_step_done(db, stmt, "request_prune");
}

/* ---- jobs and alerts ------------------------------------------------------ */

int
chat_db_job_put(sqlite3 *db, const char *msg_id, const char *reply_id, const char *conv,
                int64_t user_id, int64_t ts)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "INSERT OR IGNORE INTO jobs (message_id, reply_id,"
                                           " conversation_id, user_id, created_at)"
                                           " VALUES (?, ?, ?, ?, ?)");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, msg_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, reply_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 3, conv, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 4, user_id);
    sqlite3_bind_int64(stmt, 5, ts);
    return hm_db_step_done(db, stmt, "job_put") < 0 ? -1 : 0;
}

/* Deletes the row of table (a constant) whose message_id is msg_id. */
static int
s_delete(sqlite3 *db, const char *sql, const char *msg_id, const char *op)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, sql);
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, msg_id, -1, SQLITE_TRANSIENT);
    return hm_db_step_done(db, stmt, op) < 0 ? -1 : 0;
}

int
chat_db_job_delete(sqlite3 *db, const char *msg_id)
{
    return s_delete(db, "DELETE FROM jobs WHERE message_id = ?", msg_id, "job_delete");
}

/* Every row of a 3- or 4-column query as objects with keys names. */
static json_t *
s_rows(sqlite3 *db, sqlite3_stmt *stmt, const char *const *names, int ncol, const char *op)
{
    json_t *list = json_array();
    int rc;
    while ((rc = chat_db_step_row(db, stmt, op)) == 1) {
        json_t *row = json_object();
        for (int i = 0; i < ncol; i++) {
            if (sqlite3_column_type(stmt, i) == SQLITE_INTEGER)
                json_object_set_new(row, names[i], json_integer(sqlite3_column_int64(stmt, i)));
            else
                json_object_set_new(row, names[i],
                                    json_string((const char *)sqlite3_column_text(stmt, i)));
        }
        json_array_append_new(list, row);
    }
    sqlite3_finalize(stmt);
    if (rc < 0)
        json_decref(list);
    return rc < 0 ? NULL : list;
}

json_t *
chat_db_jobs(sqlite3 *db, int max)
{
    static const char *const names[] = {"message_id", "reply_id", "conversation_id", "user_id"};
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "SELECT message_id, reply_id, conversation_id, user_id FROM jobs"
                          " ORDER BY created_at, message_id LIMIT ?");
    if (!stmt)
        return NULL;
    sqlite3_bind_int(stmt, 1, max);
    return s_rows(db, stmt, names, 4, "jobs");
}

int
chat_db_alert_put(sqlite3 *db, const char *msg_id, const char *conv, int64_t user_id, int64_t ts)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "INSERT OR IGNORE INTO alerts (message_id,"
                                           " conversation_id, user_id, created_at)"
                                           " VALUES (?, ?, ?, ?)");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, msg_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, conv, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 3, user_id);
    sqlite3_bind_int64(stmt, 4, ts);
    return hm_db_step_done(db, stmt, "alert_put") < 0 ? -1 : 0;
}

int
chat_db_alert_delete(sqlite3 *db, const char *msg_id)
{
    return s_delete(db, "DELETE FROM alerts WHERE message_id = ?", msg_id, "alert_delete");
}

json_t *
chat_db_alerts(sqlite3 *db, int max)
{
    static const char *const names[] = {"message_id", "conversation_id", "user_id"};
    sqlite3_stmt *stmt = hm_db_prepare(db, "SELECT message_id, conversation_id, user_id FROM"
                                           " alerts ORDER BY created_at, message_id LIMIT ?");
    if (!stmt)
        return NULL;
    sqlite3_bind_int(stmt, 1, max);
    return s_rows(db, stmt, names, 3, "alerts");
}
