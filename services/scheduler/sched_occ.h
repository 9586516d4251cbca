/*
 * sched_occ.h - what happened to each occurrence: fire rows (the outbox of
 * notify.create requests and the record of what fired, late or was missed)
 * and the client's answers (taken, skipped, snooze), with the history
 * listing of both.
 *
 * A fire row's life: pending -> fired (notify acknowledged), or
 * pending -> missed (not acknowledged within the grace window), or
 * waiting (a snooze) -> pending | missed; any unfinished row ->
 * cancelled (reminder deleted, occurrence answered).
 */
#ifndef SCHED_OCC_H
#define SCHED_OCC_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "sched_reminder.h"

#define SCHED_KEY_MAX 96          /* idempotency key bytes and the NUL */
#define SCHED_NOTIF_ID_MAX 128    /* notification id bytes and the NUL */
#define SCHED_HISTORY_DEFAULT 100 /* entries per history list */
#define SCHED_HISTORY_MAX 500     /* most entries per history list */

#define SCHED_ST_WAITING "waiting"
#define SCHED_ST_PENDING "pending"
#define SCHED_ST_FIRED "fired"
#define SCHED_ST_MISSED "missed"
#define SCHED_ST_CANCELLED "cancelled"

typedef struct {
    int64_t id;                               /* row id */
    char reminder_id[HM_UUID_STRLEN];         /* the reminder */
    int64_t user_id;                          /* its owner */
    int64_t occurrence_s;                     /* the scheduled fire it belongs to */
    int64_t fire_s;                           /* when it is due (snooze: later) */
    int64_t instance_s;                       /* dose or appointment time */
    int offset_min;                           /* minutes before the instance */
    bool snooze;                              /* a snoozed repeat */
    char status[12];                          /* SCHED_ST_* */
    bool late;                                /* first sent more than late_s after fire_s */
    char key[SCHED_KEY_MAX];                  /* "<reminder_id>:<fire_s>" */
    char req_id[HM_UUID_STRLEN];              /* envelope id of every attempt */
    char notification_id[SCHED_NOTIF_ID_MAX]; /* notify's id once acknowledged */
    int attempts;                             /* notify.create requests sent */
} sched_fire_row_t;

typedef struct {
    int64_t id;                       /* row id */
    char reminder_id[HM_UUID_STRLEN]; /* the reminder */
    int64_t user_id;                  /* who answered */
    int64_t occurrence_s;             /* the occurrence answered */
    char answer[8];                   /* taken, skipped or snooze */
    int minutes;                      /* snooze minutes, 0 otherwise */
    int64_t answered_ms;              /* unix ms */
} sched_answer_t;

/* Writes the idempotency key of a fire: "<reminder_id>:<fire_s>". */
void sched_occ_key(const char *reminder_id, int64_t fire_s, char out[SCHED_KEY_MAX]);

/* Stores a new fire row (f->key and f->req_id set by the caller). Returns 1
 * when stored, 0 when a row with that key exists already, -1 on error. */
int sched_occ_insert(sqlite3 *db, const sched_fire_row_t *f, int64_t now_ms);

/* Reads fire row id. Returns 1, 0 or -1. */
int sched_occ_get(sqlite3 *db, int64_t id, sched_fire_row_t *out);

/* Up to max pending rows due by now_s, earliest first: their ids into ids.
 * Returns the count or -1. */
int sched_occ_pending(sqlite3 *db, int64_t now_s, int64_t *ids, int max);

/* Marks the row of request req_id fired (from pending or missed). Returns
 * 1, 0 (no such unfinished row) or -1. */
int sched_occ_fired(sqlite3 *db, const char *req_id, const char *notification_id, int64_t now_ms);

/* Counts one more attempt on row id. Returns 0 or -1. */
int sched_occ_attempt(sqlite3 *db, int64_t id);

/* Snoozes due by now_s: waiting -> pending (late when more than late_s
 * after their time) or missed (more than grace_s after). Then pending rows
 * more than grace_s old -> missed. Returns the number changed or -1. */
int sched_occ_promote(sqlite3 *db, int64_t now_s, int64_t grace_s, int64_t late_s);

/* The earliest waiting snooze (INT64_MAX when none) or -1. */
int64_t sched_occ_next_waiting(sqlite3 *db);

/* Cancels the unfinished rows (waiting, and pending when with_pending) of
 * reminder_id, of one occurrence or of all (occurrence_s < 0). Returns the
 * number cancelled or -1. */
int sched_occ_cancel(sqlite3 *db, const char *reminder_id, int64_t occurrence_s, bool with_pending);

/* Reads reminder_id's scheduled (not snoozed, not cancelled) row for
 * occurrence_s into out. Returns 1, 0 or -1. */
int sched_occ_find(sqlite3 *db, const char *reminder_id, int64_t occurrence_s,
                   sched_fire_row_t *out);

/* Stores an answer (a->id and a->answered_ms are set). A request id seen
 * before returns the stored answer in *a instead. Returns 1 (stored), 0
 * (retry of req_id) or -1. */
int sched_occ_answer(sqlite3 *db, sched_answer_t *a, const char *req_id);

/* user_id's history, newest first: {"occurrences": [...], "answers": [...]}
 * of one reminder or all (reminder_id NULL), limit entries each (1 to
 * SCHED_HISTORY_MAX). Caller owns; NULL on error. */
json_t *sched_occ_history(sqlite3 *db, int64_t user_id, const char *reminder_id, int limit);

#endif /* SCHED_OCC_H */
