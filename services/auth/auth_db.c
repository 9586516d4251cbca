/*
 * auth_db.c - hm-auth's schema and the queries on users, care links and
 * revoked token ids. Values are always bound, never formatted into SQL.
 */
#include "auth_db.h"

#include <stdio.h>
#include <string.h>

#include "hm_clock.h"
#include "hm_db.h"
#include "hm_log.h"

/* Migration 1. The audit table is append-only: triggers refuse UPDATE and
 * DELETE. sessions.exp is the token's expiry (to date a revocation). */
static const char *const s_migrations[] = {
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY CHECK (id > 0),"
    "  display_name TEXT NOT NULL CHECK (length(display_name) BETWEEN 1 AND 255),"
    "  role TEXT NOT NULL"
    "    CHECK (role IN ('patient','caregiver','clinician','admin','service')),"
    "  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE care_links ("
    "  member_id INTEGER NOT NULL REFERENCES users(id),"
    "  patient_id INTEGER NOT NULL REFERENCES users(id),"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (member_id, patient_id),"
    "  CHECK (member_id <> patient_id));"
    "CREATE TABLE revoked ("
    "  jti TEXT PRIMARY KEY,"
    "  revoked_at INTEGER NOT NULL,"
    "  exp INTEGER);"
    "CREATE TABLE sessions ("
    "  conn_id TEXT PRIMARY KEY,"
    "  user_id INTEGER NOT NULL,"
    "  edge TEXT NOT NULL,"
    "  jti TEXT NOT NULL,"
    "  exp INTEGER NOT NULL,"
    "  opened_at INTEGER NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE INDEX sessions_edge ON sessions(edge);"
    "CREATE INDEX sessions_jti ON sessions(jti);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts INTEGER NOT NULL,"
    "  user_id INTEGER,"
    "  conn_id TEXT,"
    "  remote_addr TEXT,"
    "  action TEXT NOT NULL,"
    "  result TEXT NOT NULL,"
    "  code TEXT,"
    "  detail TEXT);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;",
};

static const char *const s_role_names[] = {
    [AUTH_ROLE_INVALID] = "",
    [AUTH_ROLE_PATIENT] = "patient",
    [AUTH_ROLE_CAREGIVER] = "caregiver",
    [AUTH_ROLE_CLINICIAN] = "clinician",
    [AUTH_ROLE_ADMIN] = "admin",
    [AUTH_ROLE_SERVICE] = "service",
};

auth_role_t
auth_role_parse(const char *name)
{
    if (!name)
        return AUTH_ROLE_INVALID;
    for (int r = AUTH_ROLE_PATIENT; r <= AUTH_ROLE_SERVICE; r++)
        if (strcmp(name, s_role_names[r]) == 0)
            return (auth_role_t)r;
    return AUTH_ROLE_INVALID;
}

const char *
auth_role_name(auth_role_t role)
{
    if (role < AUTH_ROLE_INVALID || role > AUTH_ROLE_SERVICE)
        return "";
    return s_role_names[role];
}

sqlite3 *
auth_db_open(const char *path)
{
    return hm_db_open(path, AUTH_DB_BUSY_MS, s_migrations,
                      (int)(sizeof s_migrations / sizeof s_migrations[0]));
}

/* Steps a statement that returns at most one row; keeps it for reading.
 * Returns 1 (row), 0 (none) or -1 (logged; statement finalized). */
static int
s_step_row(sqlite3 *db, sqlite3_stmt *stmt, const char *op)
{
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    char q[256];
    hm_log_error("db_error", "op=%s rc=%d err=%s", op, sqlite3_extended_errcode(db),
                 hm_log_quote(sqlite3_errmsg(db), q, sizeof q));
    sqlite3_finalize(stmt);
    return -1;
}

/* Copies a text column into out (size len), cut if longer. */
static void
s_column_copy(sqlite3_stmt *stmt, int col, char *out, size_t len)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    snprintf(out, len, "%s", text ? (const char *)text : "");
}

int
auth_db_user_get(sqlite3 *db, int64_t id, auth_user_t *out)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "SELECT id, display_name, role, active FROM users WHERE id = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, id);
    int rc = s_step_row(db, stmt, "user_get");
    if (rc != 1) {
        if (rc == 0)
            sqlite3_finalize(stmt);
        return rc;
    }
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(stmt, 0);
    s_column_copy(stmt, 1, out->display_name, sizeof out->display_name);
    s_column_copy(stmt, 2, out->role, sizeof out->role);
    out->active = sqlite3_column_int(stmt, 3) != 0;
    sqlite3_finalize(stmt);
    return 1;
}

int
auth_db_user_add(sqlite3 *db, const char *display_name, const char *role, int64_t id,
                 int64_t *out_id)
{
    size_t nlen = display_name ? strlen(display_name) : 0;
    if (auth_role_parse(role) == AUTH_ROLE_INVALID || nlen == 0 || nlen > AUTH_NAME_MAX || id < 0)
        return -1;
    sqlite3_stmt *stmt = hm_db_prepare(
        db,
        "INSERT INTO users (id, display_name, role, active, created_at) VALUES (?, ?, ?, 1, ?)");
    if (!stmt)
        return -1;
    if (id > 0)
        sqlite3_bind_int64(stmt, 1, id);
    else
        sqlite3_bind_null(stmt, 1);
    sqlite3_bind_text(stmt, 2, display_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 3, role, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 4, hm_clock_wall_ms());
    if (hm_db_step_done(db, stmt, "user_add") < 0)
        return -1;
    if (out_id)
        *out_id = sqlite3_last_insert_rowid(db);
    return 0;
}

int
auth_db_user_set_active(sqlite3 *db, int64_t id, bool active)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "UPDATE users SET active = ? WHERE id = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int(stmt, 1, active ? 1 : 0);
    sqlite3_bind_int64(stmt, 2, id);
    int changed = hm_db_step_done(db, stmt, "user_set_active");
    return changed < 0 ? -1 : changed > 0 ? 1 : 0;
}

json_t *
auth_db_user_list(sqlite3 *db)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "SELECT id, display_name, role, active FROM users ORDER BY id");
    if (!stmt)
        return NULL;
    json_t *list = json_array();
    int rc = 0;
    while (list && (rc = s_step_row(db, stmt, "user_list")) == 1) {
        json_t *user = json_pack(
            "{s:I, s:s, s:s, s:b}", "id", (json_int_t)sqlite3_column_int64(stmt, 0), "display_name",
            (const char *)sqlite3_column_text(stmt, 1), "role",
            (const char *)sqlite3_column_text(stmt, 2), "active", sqlite3_column_int(stmt, 3));
        if (!user || json_array_append_new(list, user) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    if (rc < 0) { /* s_step_row finalized */
        json_decref(list);
        return NULL;
    }
    sqlite3_finalize(stmt);
    return list;
}

int
auth_db_link_add(sqlite3 *db, int64_t member_id, int64_t patient_id)
{
    sqlite3_stmt *stmt = hm_db_prepare(
        db,
        "INSERT OR IGNORE INTO care_links (member_id, patient_id, created_at) VALUES (?, ?, ?)");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, member_id);
    sqlite3_bind_int64(stmt, 2, patient_id);
    sqlite3_bind_int64(stmt, 3, hm_clock_wall_ms());
    return hm_db_step_done(db, stmt, "link_add") < 0 ? -1 : 0;
}

/* Steps a bound existence query and finalizes it. Returns 1, 0 or -1. */
static int
s_exists(sqlite3 *db, sqlite3_stmt *stmt, const char *op)
{
    int rc = s_step_row(db, stmt, op);
    if (rc >= 0)
        sqlite3_finalize(stmt);
    return rc;
}

int
auth_db_linked(sqlite3 *db, int64_t member_id, int64_t patient_id)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "SELECT 1 FROM care_links WHERE member_id = ? AND patient_id = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, member_id);
    sqlite3_bind_int64(stmt, 2, patient_id);
    return s_exists(db, stmt, "linked");
}

json_t *
auth_db_care_team(sqlite3 *db, int64_t patient_id)
{
    sqlite3_stmt *stmt = hm_db_prepare(
        db, "SELECT u.id, u.display_name, u.role FROM care_links l JOIN users u "
            "ON u.id = l.member_id WHERE l.patient_id = ? AND u.active = 1 ORDER BY u.id");
    if (!stmt)
        return NULL;
    sqlite3_bind_int64(stmt, 1, patient_id);
    json_t *list = json_array();
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        json_array_append_new(list, json_pack("{s:I, s:s, s:s}", "id",
                                              (json_int_t) sqlite3_column_int64(stmt, 0),
                                              "display_name",
                                              (const char *) sqlite3_column_text(stmt, 1),
                                              "role", (const char *) sqlite3_column_text(stmt, 2)));
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        json_decref(list);
        return NULL;
    }
    return list;
}

int
auth_db_revoke(sqlite3 *db, const char *jti, int64_t exp_s)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "INSERT INTO revoked (jti, revoked_at, exp) VALUES (?, ?, ?) "
                          "ON CONFLICT(jti) DO UPDATE SET exp = coalesce(exp, excluded.exp)");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, jti, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 2, hm_clock_wall_ms());
    if (exp_s > 0)
        sqlite3_bind_int64(stmt, 3, exp_s);
    else
        sqlite3_bind_null(stmt, 3);
    return hm_db_step_done(db, stmt, "revoke") < 0 ? -1 : 0;
}

int
auth_db_is_revoked(sqlite3 *db, const char *jti)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "SELECT 1 FROM revoked WHERE jti = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, jti, -1, SQLITE_TRANSIENT);
    return s_exists(db, stmt, "is_revoked");
}

int
auth_db_revoked_prune(sqlite3 *db, int64_t before_s)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "DELETE FROM revoked WHERE exp IS NOT NULL AND exp < ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, before_s);
    return hm_db_step_done(db, stmt, "revoked_prune");
}
