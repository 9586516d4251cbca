/*
 * sched_occ.c - fire rows and answers.
 */
#include "sched_occ.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hm_clock.h"
#include "hm_db.h"
#include "hm_log.h"

#define S_FIRE_COLS                                                                                \
    "id, reminder_id, user_id, occurrence, fire_at, instance, offset_min, snooze, status, late, "  \
    "key, req_id, notification_id, attempts"

static void
s_text(sqlite3_stmt *st, int col, char *out, size_t len)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, len, "%s", t ? (const char *)t : "");
}

void
sched_occ_key(const char *reminder_id, int64_t fire_s, char out[SCHED_KEY_MAX])
{
    snprintf(out, SCHED_KEY_MAX, "%s:%" PRId64, reminder_id, fire_s);
}

int
sched_occ_insert(sqlite3 *db, const sched_fire_row_t *f, int64_t now_ms)
{
    sqlite3_stmt *st = hm_db_prepare(
        db, "INSERT INTO fires (reminder_id, user_id, occurrence, fire_at, instance, offset_min, "
            "snooze, status, late, key, req_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT DO NOTHING");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, f->reminder_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, f->user_id);
    sqlite3_bind_int64(st, 3, f->occurrence_s);
    sqlite3_bind_int64(st, 4, f->fire_s);
    sqlite3_bind_int64(st, 5, f->instance_s);
    sqlite3_bind_int(st, 6, f->offset_min);
    sqlite3_bind_int(st, 7, f->snooze ? 1 : 0);
    sqlite3_bind_text(st, 8, f->status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 9, f->late ? 1 : 0);
    sqlite3_bind_text(st, 10, f->key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 11, f->req_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 12, now_ms);
    return hm_db_step_done(db, st, "fire_insert");
}

int
sched_occ_get(sqlite3 *db, int64_t id, sched_fire_row_t *out)
{
    sqlite3_stmt *st = hm_db_prepare(db, "SELECT " S_FIRE_COLS " FROM fires WHERE id = ?");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        out->id = sqlite3_column_int64(st, 0);
        s_text(st, 1, out->reminder_id, sizeof out->reminder_id);
        out->user_id = sqlite3_column_int64(st, 2);
        out->occurrence_s = sqlite3_column_int64(st, 3);
        out->fire_s = sqlite3_column_int64(st, 4);
        out->instance_s = sqlite3_column_int64(st, 5);
        out->offset_min = sqlite3_column_int(st, 6);
        out->snooze = sqlite3_column_int(st, 7) != 0;
        s_text(st, 8, out->status, sizeof out->status);
        out->late = sqlite3_column_int(st, 9) != 0;
        s_text(st, 10, out->key, sizeof out->key);
        s_text(st, 11, out->req_id, sizeof out->req_id);
        s_text(st, 12, out->notification_id, sizeof out->notification_id);
        out->attempts = sqlite3_column_int(st, 13);
    } else if (rc != SQLITE_DONE) {
        hm_db_log_error(db, "fire_get");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
sched_occ_pending(sqlite3 *db, int64_t now_s, int64_t *ids, int max)
{
    sqlite3_stmt *st = hm_db_prepare(db, "SELECT id FROM fires WHERE status = 'pending' AND "
                                         "fire_at <= ? ORDER BY fire_at, id LIMIT ?");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now_s);
    sqlite3_bind_int(st, 2, max);
    int n = 0, rc = SQLITE_DONE;
    while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
        ids[n++] = sqlite3_column_int64(st, 0);
    if (n < max && rc != SQLITE_DONE) {
        hm_db_log_error(db, "fire_pending");
        n = -1;
    }
    sqlite3_finalize(st);
    return n;
}

int
sched_occ_fired(sqlite3 *db, const char *req_id, const char *notification_id, int64_t now_ms)
{
    sqlite3_stmt *st =
        hm_db_prepare(db, "UPDATE fires SET status = 'fired', notification_id = ?, fired_at = ? "
                          "WHERE req_id = ? AND status IN ('pending', 'missed')");
    if (!st)
        return -1;
    if (notification_id)
        sqlite3_bind_text(st, 1, notification_id, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 1);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_text(st, 3, req_id, -1, SQLITE_TRANSIENT);
    return hm_db_step_done(db, st, "fire_done");
}

int
sched_occ_attempt(sqlite3 *db, int64_t id)
{
    sqlite3_stmt *st = hm_db_prepare(db, "UPDATE fires SET attempts = attempts + 1 WHERE id = ?");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    return hm_db_step_done(db, st, "fire_attempt") < 0 ? -1 : 0;
}

int
sched_occ_promote(sqlite3 *db, int64_t now_s, int64_t grace_s, int64_t late_s)
{
    sqlite3_stmt *st = hm_db_prepare(
        db, "UPDATE fires SET status = CASE WHEN ?1 - fire_at > ?2 THEN 'missed' ELSE 'pending' "
            "END, late = (?1 - fire_at > ?3) WHERE status = 'waiting' AND fire_at <= ?1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now_s);
    sqlite3_bind_int64(st, 2, grace_s);
    sqlite3_bind_int64(st, 3, late_s);
    int a = hm_db_step_done(db, st, "fire_promote");
    if (a < 0)
        return -1;
    st = hm_db_prepare(db, "UPDATE fires SET status = 'missed' WHERE status = 'pending' AND "
                           "?1 - fire_at > ?2");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now_s);
    sqlite3_bind_int64(st, 2, grace_s);
    int b = hm_db_step_done(db, st, "fire_expire");
    return b < 0 ? -1 : a + b;
}

int64_t
sched_occ_next_waiting(sqlite3 *db)
{
    sqlite3_stmt *st = hm_db_prepare(db, "SELECT min(fire_at) FROM fires WHERE status = 'waiting'");
    if (!st)
        return -1;
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_type(st, 0) == SQLITE_NULL ? INT64_MAX : sqlite3_column_int64(st, 0);
    else
        hm_db_log_error(db, "fire_next_waiting");
    sqlite3_finalize(st);
    return v;
}

int
sched_occ_cancel(sqlite3 *db, const char *reminder_id, int64_t occurrence_s, bool with_pending)
{
    sqlite3_stmt *st = hm_db_prepare(
        db, "UPDATE fires SET status = 'cancelled' WHERE reminder_id = ?1 AND "
            "(?2 < 0 OR occurrence = ?2) AND (status = 'waiting' OR (?3 AND status = 'pending'))");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, reminder_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, occurrence_s);
    sqlite3_bind_int(st, 3, with_pending ? 1 : 0);
    return hm_db_step_done(db, st, "fire_cancel");
}

int
sched_occ_find(sqlite3 *db, const char *reminder_id, int64_t occurrence_s, sched_fire_row_t *out)
{
    sqlite3_stmt *st = hm_db_prepare(
        db, "SELECT id FROM fires WHERE reminder_id = ? AND occurrence = ? AND snooze = 0 AND "
            "status != 'cancelled' ORDER BY id LIMIT 1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, reminder_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, occurrence_s);
    int rc = sqlite3_step(st);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        hm_db_log_error(db, "fire_find");
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return sched_occ_get(db, id, out);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Reads the answer stored for req_id into a. Returns 1, 0 or -1. */
static int
s_answer_by_req(sqlite3 *db, const char *req_id, sched_answer_t *a)
{
    sqlite3_stmt *st = hm_db_prepare(db, "SELECT id, reminder_id, user_id, occurrence, answer, "
                                         "minutes, answered_at FROM answers WHERE req_id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, req_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        a->id = sqlite3_column_int64(st, 0);
        s_text(st, 1, a->reminder_id, sizeof a->reminder_id);
        a->user_id = sqlite3_column_int64(st, 2);
        a->occurrence_s = sqlite3_column_int64(st, 3);
        s_text(st, 4, a->answer, sizeof a->answer);
        a->minutes = sqlite3_column_int(st, 5);
        a->answered_ms = sqlite3_column_int64(st, 6);
    } else if (rc != SQLITE_DONE) {
        hm_db_log_error(db, "answer_get");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
sched_occ_answer(sqlite3 *db, sched_answer_t *a, const char *req_id)
{
    sqlite3_stmt *st = hm_db_prepare(
        db, "INSERT INTO answers (reminder_id, user_id, occurrence, answer, minutes, answered_at, "
            "req_id) VALUES (?,?,?,?,?,?,?) ON CONFLICT(req_id) DO NOTHING");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, a->reminder_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, a->user_id);
    sqlite3_bind_int64(st, 3, a->occurrence_s);
    sqlite3_bind_text(st, 4, a->answer, -1, SQLITE_TRANSIENT);
    if (a->minutes > 0)
        sqlite3_bind_int(st, 5, a->minutes);
    else
        sqlite3_bind_null(st, 5);
    sqlite3_bind_int64(st, 6, a->answered_ms);
    sqlite3_bind_text(st, 7, req_id, -1, SQLITE_TRANSIENT);
    int n = hm_db_step_done(db, st, "answer_insert");
    if (n == 1) {
        a->id = sqlite3_last_insert_rowid(db);
        return 1;
    }
    return n == 0 && s_answer_by_req(db, req_id, a) == 1 ? 0 : -1;
}

/* ---- history ---------------------------------------------------------------- */

static json_t *
s_iso(int64_t ms)
{
    char buf[32];
    return json_string(hm_clock_iso8601(ms, buf, sizeof buf));
}

/* One fires row of the history query as JSON. */
static json_t *
s_fire_json(sqlite3_stmt *st)
{
    json_t *j = json_pack("{s:s, s:I, s:o, s:I, s:I, s:i, s:b, s:s, s:b, s:i}", "reminder_id",
                          (const char *)sqlite3_column_text(st, 0), "occurrence",
                          (json_int_t)sqlite3_column_int64(st, 1), "occurrence_at",
                          s_iso(sqlite3_column_int64(st, 1) * 1000), "fire_at",
                          (json_int_t)sqlite3_column_int64(st, 2), "instance",
                          (json_int_t)sqlite3_column_int64(st, 3), "offset_min",
                          sqlite3_column_int(st, 4), "snooze", sqlite3_column_int(st, 5), "status",
                          (const char *)sqlite3_column_text(st, 6), "late",
                          sqlite3_column_int(st, 7), "attempts", sqlite3_column_int(st, 9));
    if (j && sqlite3_column_type(st, 8) != SQLITE_NULL)
        json_object_set_new(j, "notification_id",
                            json_string((const char *)sqlite3_column_text(st, 8)));
    if (j && sqlite3_column_type(st, 10) != SQLITE_NULL)
        json_object_set_new(j, "fired_at", s_iso(sqlite3_column_int64(st, 10)));
    return j;
}

/* One answers row of the history query as JSON. */
static json_t *
s_answer_json(sqlite3_stmt *st)
{
    json_t *j = json_pack(
        "{s:I, s:s, s:I, s:s, s:o}", "id", (json_int_t)sqlite3_column_int64(st, 0), "reminder_id",
        (const char *)sqlite3_column_text(st, 1), "occurrence",
        (json_int_t)sqlite3_column_int64(st, 2), "answer", (const char *)sqlite3_column_text(st, 3),
        "answered_at", s_iso(sqlite3_column_int64(st, 5)));
    if (j && sqlite3_column_type(st, 4) != SQLITE_NULL)
        json_object_set_new(j, "minutes", json_integer(sqlite3_column_int(st, 4)));
    return j;
}

/* Runs a history query and collects its rows with fn. NULL on error. */
static json_t *
s_rows(sqlite3 *db, const char *sql, int64_t user_id, const char *reminder_id, int limit,
       json_t *(*fn)(sqlite3_stmt *))
{
    sqlite3_stmt *st = hm_db_prepare(db, sql);
    json_t *a = st ? json_array() : NULL;
    if (!a) {
        sqlite3_finalize(st);
        return NULL;
    }
    sqlite3_bind_int64(st, 1, user_id);
    if (reminder_id)
        sqlite3_bind_text(st, 2, reminder_id, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_int(st, 3, limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(a, fn(st));
    if (rc != SQLITE_DONE) {
        hm_db_log_error(db, "history");
        json_decref(a);
        a = NULL;
    }
    sqlite3_finalize(st);
    return a;
}

json_t *
sched_occ_history(sqlite3 *db, int64_t user_id, const char *reminder_id, int limit)
{
    json_t *fires = s_rows(db,
                           "SELECT reminder_id, occurrence, fire_at, instance, offset_min, snooze, "
                           "status, late, notification_id, attempts, fired_at FROM fires "
                           "WHERE user_id = ?1 AND (?2 IS NULL OR reminder_id = ?2) "
                           "ORDER BY fire_at DESC, id DESC LIMIT ?3",
                           user_id, reminder_id, limit, s_fire_json);
    json_t *answers = s_rows(db,
                             "SELECT id, reminder_id, occurrence, answer, minutes, answered_at "
                             "FROM answers WHERE user_id = ?1 AND (?2 IS NULL OR reminder_id = ?2) "
                             "ORDER BY answered_at DESC, id DESC LIMIT ?3",
                             user_id, reminder_id, limit, s_answer_json);
    if (!fires || !answers) {
        json_decref(fires);
        json_decref(answers);
        return NULL;
    }
    return json_pack("{s:o, s:o}", "occurrences", fires, "answers", answers);
}
