/*
 * ntf_query.c - queries over many notifications.
 */
#include "ntf_query.h"

#include "hm_db.h"
#include "hm_log.h"
#include "ntf_store.h"

/* Steps stmt (columns NTF_ROW_COLS) calling fn for each row, at most limit
 * rows (a limit+1-th row sets *more when more is not NULL); finalizes.
 * Returns the number visited or -1. */
static int
s_each(sqlite3 *db, sqlite3_stmt *stmt, int limit, bool *more, ntf_row_fn *fn, void *arg,
       const char *op)
{
    int n = 0, rc;
    bool stop = false;
    if (more)
        *more = false;
    while (!stop && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n >= limit) {
            if (more)
                *more = true;
            break;
        }
        ntf_row_t row;
        if (ntf_store_row(stmt, &row) != 0) {
            sqlite3_finalize(stmt);
            return -1;
        }
        n++;
        stop = fn(&row, arg) != 0;
        ntf_row_clear(&row);
    }
    if (!stop && rc != SQLITE_ROW && rc != SQLITE_DONE) {
        hm_db_log_error(db, op);
        n = -1;
    }
    sqlite3_finalize(stmt);
    return n;
}

int
ntf_query_open(sqlite3 *db, int64_t user_id, ntf_status_t status, int limit, ntf_row_fn *fn,
               void *arg)
{
    sqlite3_stmt *stmt = hm_db_prepare(
        db, "SELECT " NTF_ROW_COLS " FROM notifications n LEFT JOIN receipts r ON 0 "
            "WHERE n.user_id = ? AND n.status IN (0, 1) AND n.status = ? ORDER BY n.seq LIMIT ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int(stmt, 2, status);
    sqlite3_bind_int(stmt, 3, limit);
    return s_each(db, stmt, limit, NULL, fn, arg, "query_open");
}

int
ntf_query_since(sqlite3 *db, int64_t user_id, int64_t since_seq, int limit, bool *more,
                ntf_row_fn *fn, void *arg)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "SELECT " NTF_ROW_COLS " FROM notifications n LEFT JOIN receipts r ON 0 "
                          "WHERE n.user_id = ? AND n.seq > ? AND "
                          "(n.status = 0 OR (n.status = 3 AND n.sent_at IS NOT NULL)) "
                          "ORDER BY n.seq LIMIT ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int64(stmt, 2, since_seq);
    sqlite3_bind_int(stmt, 3, limit + 1);
    return s_each(db, stmt, limit, more, fn, arg, "query_since");
}

/* A page being built: its entries and the row id of the last one. */
typedef struct {
    json_t *items;    /* ntf_render_item() entries */
    int64_t last_nid; /* row id of the last entry */
} s_page_t;

/* Appends a list entry for row to the page in arg. */
static int
s_append_item(const ntf_row_t *row, void *arg)
{
    s_page_t *page = arg;
    json_t *item = ntf_render_item(row);
    page->last_nid = row->nid;
    return !item || json_array_append_new(page->items, item) != 0;
}

json_t *
ntf_query_list(sqlite3 *db, int64_t user_id, int64_t before, int limit, bool unread_only,
               int64_t *next)
{
    /* Two index walks (the user's rows, the broadcasts), merged. */
    sqlite3_stmt *stmt = hm_db_prepare(
        db, "SELECT " NTF_ROW_COLS " FROM notifications n "
            "LEFT JOIN receipts r ON r.nid = n.nid AND r.user_id = ?1 WHERE n.nid IN ("
            " SELECT nid FROM (SELECT nid FROM notifications WHERE user_id = ?1 AND nid < ?2 "
            "  AND (?4 = 0 OR read_at IS NULL) ORDER BY nid DESC LIMIT ?3) "
            " UNION ALL "
            " SELECT nid FROM (SELECT b.nid FROM notifications b WHERE b.user_id = 0 "
            "  AND b.nid < ?2 AND (?4 = 0 OR NOT EXISTS (SELECT 1 FROM receipts x "
            "  WHERE x.nid = b.nid AND x.user_id = ?1 AND x.read_at IS NOT NULL)) "
            "  ORDER BY b.nid DESC LIMIT ?3)) "
            "ORDER BY n.nid DESC LIMIT ?3");
    s_page_t page = {json_array(), 0};
    if (!stmt || !page.items) {
        sqlite3_finalize(stmt);
        json_decref(page.items);
        return NULL;
    }
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int64(stmt, 2, before > 0 ? before : INT64_MAX);
    sqlite3_bind_int(stmt, 3, limit + 1);
    sqlite3_bind_int(stmt, 4, unread_only ? 1 : 0);
    bool more = false;
    int n = s_each(db, stmt, limit, &more, s_append_item, &page, "query_list");
    if (n < 0 || (size_t)n != json_array_size(page.items)) {
        json_decref(page.items);
        return NULL;
    }
    *next = more && n > 0 ? page.last_nid : 0;
    return page.items;
}

int
ntf_query_evict(sqlite3 *db, int64_t user_id, int max)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "UPDATE notifications SET status = 5 WHERE nid IN ("
                          " SELECT nid FROM notifications WHERE user_id = ?1 AND status IN (0, 1) "
                          " AND priority <= 1 ORDER BY priority, seq "
                          " LIMIT max(0, (SELECT count(*) FROM notifications WHERE user_id = ?1 "
                          "  AND status IN (0, 1)) - ?2))");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int(stmt, 2, max);
    return hm_db_step_done(db, stmt, "evict");
}

int
ntf_query_expire(sqlite3 *db, int64_t now_ms)
{
    sqlite3_stmt *stmt = hm_db_prepare(
        db, "UPDATE notifications SET status = 4 WHERE status IN (0, 1) AND expires_at <= ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, now_ms);
    return hm_db_step_done(db, stmt, "expire");
}

int
ntf_query_held_users(sqlite3 *db, int64_t *users, int max)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "SELECT DISTINCT user_id FROM notifications WHERE status = 1 LIMIT ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int(stmt, 1, max);
    int n = 0, rc;
    while (n < max && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
        users[n++] = sqlite3_column_int64(stmt, 0);
    if (n < max && rc != SQLITE_DONE) {
        hm_db_log_error(db, "held_users");
        n = -1;
    }
    sqlite3_finalize(stmt);
    return n;
}

int64_t
ntf_query_max_sent_seq(sqlite3 *db, int64_t user_id)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "SELECT coalesce(max(seq), 0) FROM notifications WHERE user_id = ? "
                          "AND sent_at IS NOT NULL");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    int64_t seq = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    if (seq < 0)
        hm_db_log_error(db, "max_sent_seq");
    sqlite3_finalize(stmt);
    return seq;
}

int
ntf_query_purge(sqlite3 *db, int64_t before_ms)
{
    sqlite3_stmt *stmt = hm_db_prepare(
        db, "DELETE FROM notifications WHERE created_at < ? AND (status NOT IN (0, 1) "
            "OR user_id = 0)");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, before_ms);
    return hm_db_step_done(db, stmt, "purge");
}
