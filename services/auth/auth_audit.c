/*
 * auth_audit.c - appends rows to the audit table.
 */
#include "auth_audit.h"

#include <string.h>

#include "hm_clock.h"
#include "hm_db.h"
#include "hm_log.h"

#define S_FIELD_MAX 255 /* bytes kept of each text field */

/* Binds text cut at S_FIELD_MAX bytes, or NULL. */
static void
s_bind_text(sqlite3_stmt *stmt, int col, const char *text)
{
    if (text)
        sqlite3_bind_text(stmt, col, text, (int)strnlen(text, S_FIELD_MAX), SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(stmt, col);
}

int
auth_audit_write(sqlite3 *db, const auth_audit_entry_t *e)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "INSERT INTO audit (ts, user_id, conn_id, remote_addr, "
                                           "action, result, code, detail) "
                                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    if (!stmt) {
        hm_log_error("audit_failed", "action=%s", e->action);
        return -1;
    }
    sqlite3_bind_int64(stmt, 1, hm_clock_wall_ms());
    if (e->user_id > 0)
        sqlite3_bind_int64(stmt, 2, e->user_id);
    else
        sqlite3_bind_null(stmt, 2);
    s_bind_text(stmt, 3, e->conn_id);
    s_bind_text(stmt, 4, e->remote_addr);
    s_bind_text(stmt, 5, e->action);
    s_bind_text(stmt, 6, e->result);
    s_bind_text(stmt, 7, e->code);
    s_bind_text(stmt, 8, e->detail);
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        char q[256];
        hm_log_error("audit_failed", "action=%s rc=%d err=%s", e->action,
                     sqlite3_extended_errcode(db), hm_log_quote(sqlite3_errmsg(db), q, sizeof q));
        return -1;
    }
    return 0;
}
