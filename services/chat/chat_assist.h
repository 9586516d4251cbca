/*
 * chat_assist.h - the AI health assistant's part in a conversation.
 *
 * Every message of a conversation's owner is owed a reply (table jobs,
 * written in the same transaction as the message). After the commit a job:
 *   1. publishes typing (sender ai_assistant) to the participants;
 *   2. classifies the message (chat_rules). An emergency gets the safety
 *      answer at once and owes a care-team alert (chat_alert);
 *   3. otherwise asks other services for the data the question needs, and
 *      nothing else (health.sync for readings of the last 30 days, of the
 *      one metric asked when there is one; health.replay for the alert
 *      states; scheduler.list for today's reminders), waiting at most
 *      context_timeout_ms; what did not answer in time counts as unknown
 *      ("I can't see your recent readings right now");
 *   4. starts the backend; a streaming backend's pieces go out as
 *      chat_message_delta events; a failure or generate_timeout_ms falls back
 *      to the rules answer with a note;
 *   5. stores the reply (its id fixed when the job was owed, so a restart
 *      cannot answer twice) and deletes the job in one unit of the batch,
 *      then publishes typing stopped and the chat_message.
 * Nothing here blocks: every wait is a call, a backend event or a timer.
 *
 * Bound: CHAT_ASSIST_JOBS_MAX jobs in memory; more wait in the table and
 * are picked up as others finish.
 */
#ifndef CHAT_ASSIST_H
#define CHAT_ASSIST_H

#include <sqlite3.h>
#include <stdbool.h>

#include "chat_alert.h"
#include "chat_backend.h"
#include "chat_call.h"
#include "chat_db.h"
#include "chat_out.h"

#define CHAT_ASSIST_JOBS_MAX 4096
#define CHAT_ASSIST_HEALTH_PAGES 20  /* health.sync pages read per question */
#define CHAT_ASSIST_HEALTH_LIMIT 500 /* readings asked per page */
#define CHAT_CALL_HEALTH 4           /* chat_call kinds: health.sync */
#define CHAT_CALL_SCHEDULER 5        /* scheduler.list */
#define CHAT_CALL_HEALTH_EVENTS 6    /* health.replay (alerts) */

typedef struct {
    sqlite3 *db;             /* borrowed */
    chat_tx_t *tx;           /* the batch transaction; borrowed */
    chat_out_t *out;         /* borrowed */
    chat_call_t *call;       /* borrowed */
    chat_backend_t *backend; /* the configured backend; borrowed */
    chat_backend_t *rules;   /* the rules backend (may be backend); borrowed */
    chat_alert_t *alert;     /* care-team alerts; borrowed */
    int context_timeout_ms;  /* wait for other services' data */
    int generate_timeout_ms; /* wait for the backend */
    int history;             /* messages of the conversation given to a streaming backend */
} chat_assist_cfg_t;

typedef struct chat_assist_t chat_assist_t;

/* cfg is copied (its pointers borrowed). NULL on ENOMEM. */
chat_assist_t *chat_assist_new(const chat_assist_cfg_t *cfg);
void chat_assist_destroy(chat_assist_t **self_p);

/* Inside the open transaction: owes a reply to message msg_id (text, by
 * the owner user_id, in conv). The job starts after
 * chat_assist_committed(true). Returns 0 or -1. */
int chat_assist_owe(chat_assist_t *self, const char *msg_id, const char *conv, int64_t user_id,
                    const char *text);

/* The batch's outcome: start what was owed in it and forget what was
 * answered (ok), or undo both (the answers are stored again later). */
void chat_assist_committed(chat_assist_t *self, bool ok);

/* Starts the jobs owed in the table and not running. Returns the number
 * started or -1. */
int chat_assist_resume(chat_assist_t *self);

/* A call of kind CHAT_CALL_HEALTH, _HEALTH_EVENTS or _SCHEDULER finished. */
void chat_assist_on_call(chat_assist_t *self, int kind, int64_t cookie, const hm_envelope_t *rep);

/* Handles what the backends reported. */
void chat_assist_on_backend(chat_assist_t *self);

/* Deadlines and retries due at now_ms (monotonic). */
void chat_assist_tick(chat_assist_t *self, int64_t now_ms);

/* Milliseconds until the next deadline (INT32_MAX-ish when idle). */
int chat_assist_tick_ms(chat_assist_t *self, int64_t now_ms);

/* Jobs in memory. */
size_t chat_assist_active(chat_assist_t *self);

#endif /* CHAT_ASSIST_H */
