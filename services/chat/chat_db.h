/*
 * chat_db.h - hm-chat's sqlite database: schema, conversations and their
 * participants, the idempotency record of chat.send, the assistant's owed
 * replies (jobs) and owed care-team alerts. Messages and the per-user chat
 * streams (inbox) live in chat_msg.
 *
 * The assistant is participant 0 of every conversation. Functions that look
 * something up return 1 (found), 0 (not found) or -1 (database error,
 * logged without SQL text or values).
 */
#ifndef CHAT_DB_H
#define CHAT_DB_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "hm_ids.h"

#define CHAT_DB_BUSY_MS 5000 /* sqlite busy timeout */
#define CHAT_ASSISTANT_ID 0  /* the assistant's participant id */
#define CHAT_CONV_ID_MAX 64  /* conversation id bytes (a UUID, or a client's id) */

typedef enum {
    CHAT_ROLE_NONE = 0,  /* not a participant */
    CHAT_ROLE_OWNER,     /* the patient whose conversation it is */
    CHAT_ROLE_CARE_TEAM, /* a linked caregiver or clinician */
    CHAT_ROLE_ASSISTANT, /* the AI assistant */
} chat_role_t;

typedef struct {
    char id[CHAT_CONV_ID_MAX + 1]; /* conversation id */
    int64_t owner_id;              /* the patient */
    int64_t last_seq;              /* newest message's per-conversation seq */
    int64_t created_at;            /* unix ms */
    int64_t updated_at;            /* unix ms of the newest message */
} chat_conv_t;

/* Opens (creating, migrating) the database at path. Caller owns the handle
 * (hm_db_close). NULL on failure (logged). */
sqlite3 *chat_db_open(const char *path);


/* Steps a statement that returns rows; keeps it. Returns 1 (row), 0 (done)
 * or -1 (logged; the caller still finalizes). */
int chat_db_step_row(sqlite3 *db, sqlite3_stmt *stmt, const char *op);

/* ---- the batch transaction ------------------------------------------------ */

/* One transaction shared by everything a loop iteration writes (group
 * commit): begun lazily by the first write, committed once before any reply
 * or event leaves. */
typedef struct {
    sqlite3 *db; /* borrowed */
    bool open;   /* BEGIN IMMEDIATE ran and no COMMIT yet */
    bool failed; /* a write inside it failed: it will be rolled back */
} chat_tx_t;

/* Begins the transaction unless open. Returns 0 or -1. */
int chat_tx_begin(chat_tx_t *tx);

/* Marks the open transaction as failed (it will roll back). */
void chat_tx_fail(chat_tx_t *tx);

/* One unit of work inside the batch (a request, a reply of the assistant):
 * chat_tx_save begins the batch if needed and sets a savepoint; chat_tx_end
 * keeps the unit's writes (ok) or undoes only them. chat_tx_save returns 0
 * or -1 (then do not call chat_tx_end). Units do not nest. */
int chat_tx_save(chat_tx_t *tx);
void chat_tx_end(chat_tx_t *tx, bool ok);

/* Commits (or rolls back when failed). Returns 0 when nothing was open or
 * the commit succeeded, -1 when the writes were lost (logged). */
int chat_tx_commit(chat_tx_t *tx);

/* ---- conversations and participants ----------------------------------- */

/* Reads conversation id into *out. Returns 1, 0 or -1. */
int chat_db_conv_get(sqlite3 *db, const char *id, chat_conv_t *out);

/* Creates conversation id owned by owner_id with the owner and the
 * assistant as participants. Returns 0 or -1. */
int chat_db_conv_create(sqlite3 *db, const char *id, int64_t owner_id, int64_t ts);

/* Adds a participant (idempotent). Returns 0 or -1. */
int chat_db_participant_add(sqlite3 *db, const char *conv, int64_t user_id, chat_role_t role,
                            int64_t ts);

/* The role of user_id in conv (CHAT_ROLE_NONE when not a participant), or
 * -1 on error. */
int chat_db_participant_role(sqlite3 *db, const char *conv, int64_t user_id);

/* The human participants of conv (the assistant left out) into ids (max
 * entries). Returns how many were written, or -1. */
int chat_db_participants(sqlite3 *db, const char *conv, int64_t *ids, int max);

/* The care-team members known to chat for a patient: every care_team
 * participant of the patient's conversations, distinct. Returns the count
 * written into ids (max entries) or -1. */
int chat_db_care_team(sqlite3 *db, int64_t owner_id, int64_t *ids, int max);

/* The conversations user_id takes part in, newest first, at most limit:
 * [{conversation_id, owner_id, role, participants: [ids], last_seq,
 * created_at, updated_at}] (times ISO 8601). Caller owns. NULL on error. */
json_t *chat_db_conv_list(sqlite3 *db, int64_t user_id, int limit);

/* Records the message's seq and time as conv's newest. Returns 0 or -1. */
int chat_db_conv_touch(sqlite3 *db, const char *conv, int64_t seq, int64_t ts);

/* ---- chat.send idempotency ---------------------------------------------- */

/* The message stored for request req_id: 1 with msg_id (HM_UUID_STRLEN) and
 * *user_id, 0 when the request is new, -1 on error. */
int chat_db_request_get(sqlite3 *db, const char *req_id, char *msg_id, int64_t *user_id);

/* Records that request req_id stored msg_id. Returns 0 or -1. */
int chat_db_request_put(sqlite3 *db, const char *req_id, int64_t user_id, const char *msg_id,
                        int64_t ts);

/* Forgets requests older than before_ms. Returns the count or -1. */
int chat_db_request_prune(sqlite3 *db, int64_t before_ms);

/* ---- assistant jobs and care-team alerts ---------------------------------- */

/* An owed assistant reply: message msg_id (the user's) in conv of user_id
 * will be answered by reply_id. Returns 0 or -1. */
int chat_db_job_put(sqlite3 *db, const char *msg_id, const char *reply_id, const char *conv,
                    int64_t user_id, int64_t ts);
int chat_db_job_delete(sqlite3 *db, const char *msg_id);

/* Owed jobs, oldest first, at most max: [{message_id, reply_id,
 * conversation_id, user_id}]. Caller owns; NULL on error. */
json_t *chat_db_jobs(sqlite3 *db, int max);

/* An owed care-team alert for the emergency message msg_id. Returns 0/-1. */
int chat_db_alert_put(sqlite3 *db, const char *msg_id, const char *conv, int64_t user_id,
                      int64_t ts);
int chat_db_alert_delete(sqlite3 *db, const char *msg_id);

/* Owed alerts: [{message_id, conversation_id, user_id}]. NULL on error. */
json_t *chat_db_alerts(sqlite3 *db, int max);

#endif /* CHAT_DB_H */
