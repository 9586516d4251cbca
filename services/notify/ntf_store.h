/*
 * ntf_store.h - hm-notify's sqlite database: the schema and the writes and
 * lookups of single notifications. Queries over many rows are in
 * ntf_query.h, preferences in ntf_prefs.h, escalations in ntf_escalate.h.
 *
 * Tables: streams (last seq per user; user 0 is all.notify), notifications,
 * receipts (per-user ack and read of broadcasts), prefs, escalations.
 * Values are always bound, never formatted into SQL. Writes run in the
 * caller's transaction when one is open (group commit), else on their own.
 * Lookups return 1 (found), 0 (not found) or -1 (database error, logged).
 */
#ifndef NTF_STORE_H
#define NTF_STORE_H

#include <sqlite3.h>

#include "ntf_model.h"

#define NTF_DB_BUSY_MS 5000 /* sqlite busy timeout */

/* Opens (creating, migrating) the database at path. Caller owns the handle
 * (hm_db_close). NULL on failure (logged). */
sqlite3 *ntf_store_open(const char *path);

/* What a new notification is made of; everything borrowed. */
typedef struct {
    int64_t user_id;      /* owner; 0: broadcast */
    ntf_type_t type;      /* kind */
    ntf_prio_t prio;      /* urgency */
    const char *title;    /* 1..NTF_TITLE_MAX bytes */
    const char *message;  /* 1..NTF_MESSAGE_MAX bytes */
    const json_t *data;   /* object or NULL */
    const char *idem_key; /* unique per owner */
    ntf_status_t status;  /* PENDING, HELD or MUTED */
    bool muted;           /* created while its type was off */
    int64_t created_at;   /* unix ms */
    int64_t expires_at;   /* unix ms, 0: never */
    int64_t sent_at;      /* unix ms when it is published right away, else 0 */
} ntf_new_t;

/* The notification created for (user_id, idem_key) before, into *out.
 * Returns 1, 0 or -1. */
int ntf_store_find_idem(sqlite3 *db, int64_t user_id, const char *idem_key, ntf_row_t *out);

/* Stores a new notification with a fresh id and its stream's next seq.
 * Returns 0 with *out filled (caller clears), or -1. */
int ntf_store_insert(sqlite3 *db, const ntf_new_t *in, ntf_row_t *out);

/* Reads a notification by public id or by row id. viewer > 0 reads a
 * broadcast's acked_at/read_at from that user's receipt. Returns 1, 0, -1. */
int ntf_store_get(sqlite3 *db, const char *id, int64_t viewer, ntf_row_t *out);
int ntf_store_get_nid(sqlite3 *db, int64_t nid, ntf_row_t *out);

/* Sets the state. Returns 0 or -1. */
int ntf_store_set_status(sqlite3 *db, int64_t nid, ntf_status_t status);

/* Records the first publication (kept when already set). Returns 0 or -1. */
int ntf_store_mark_sent(sqlite3 *db, int64_t nid, int64_t now_ms);

/* Records the number of re-sends made. Returns 0 or -1. */
int ntf_store_set_attempts(sqlite3 *db, int64_t nid, int attempts);

/* Acknowledges row for user_id (the owner; anyone for a broadcast): a
 * user's notification becomes ACKED (whatever its state), a broadcast gets
 * the user's receipt. Returns 1 when newly acknowledged, 0 when it already
 * was, -1 on error. */
int ntf_store_ack(sqlite3 *db, const ntf_row_t *row, int64_t user_id, int64_t now_ms);

/* Marks row read for user_id. Returns 1 when newly read, 0, or -1. */
int ntf_store_read(sqlite3 *db, const ntf_row_t *row, int64_t user_id, int64_t now_ms);

/* Marks everything of user_id (and every broadcast, for that user) read.
 * Returns the number newly read or -1. */
int ntf_store_read_all(sqlite3 *db, int64_t user_id, int64_t now_ms);

/* Unread notifications of user_id, broadcasts included; -1 on error. */
int64_t ntf_store_unread(sqlite3 *db, int64_t user_id);

/* ---- shared with ntf_query.c ---- */

/* The column list that ntf_store_row() reads, for "SELECT <cols> FROM
 * notifications n LEFT JOIN receipts r ON r.nid = n.nid AND r.user_id = ?". */
#define NTF_ROW_COLS                                                                               \
    "n.nid, n.id, n.user_id, n.seq, n.type, n.priority, n.title, n.message, n.data, n.status, "    \
    "n.muted, n.created_at, n.expires_at, n.sent_at, "                                             \
    "CASE WHEN n.user_id = 0 THEN r.acked_at ELSE n.acked_at END, "                                \
    "CASE WHEN n.user_id = 0 THEN r.read_at ELSE n.read_at END, n.attempts"

/* Fills out from the current row of stmt (columns NTF_ROW_COLS). Returns 0
 * or -1 (ENOMEM). */
int ntf_store_row(sqlite3_stmt *stmt, ntf_row_t *out);



#endif /* NTF_STORE_H */
