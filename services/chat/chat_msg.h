/*
 * chat_msg.h - messages and the per-user chat streams (SPEC 8.1, 8.2, 10).
 *
 * Posting a message stores it with the conversation's next seq, appends it
 * to the stream (inbox) of every human participant with that user's next
 * stream seq, and queues one chat_message event per participant on
 * u.<id>.chat (envelope seq = the participant's stream seq, data.seq = the
 * conversation seq). Call inside a transaction; the events leave after the
 * commit (chat_out).
 */
#ifndef CHAT_MSG_H
#define CHAT_MSG_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "chat_db.h"
#include "chat_out.h"
#include "hm_ids.h"

#define CHAT_MSG_PARTICIPANTS_MAX 64 /* people in one conversation (assistant aside) */
#define CHAT_REPLAY_MAX 500          /* events per chat.replay answer (SPEC 8.1) */

/* A message to post. */
typedef struct {
    const char *conversation_id; /* existing conversation */
    const char *message_id;      /* the message's id (UUID), chosen by the caller */
    const char *sender;          /* HM_CHAT_SENDER_* */
    int64_t sender_id;           /* user id, 0 for the assistant */
    const char *text;            /* UTF-8 body */
    int64_t ts;                  /* unix ms */
} chat_post_t;

/* A stored message, as events and replies show it. */
typedef struct {
    char message_id[HM_UUID_STRLEN];            /* its id */
    char conversation_id[CHAT_CONV_ID_MAX + 1]; /* its conversation */
    int64_t seq;                                /* per-conversation seq */
    int64_t ts;                                 /* unix ms */
} chat_stored_t;

/* Stores p and queues its events to out (NULL: queue nothing). Returns 0
 * with *res filled (may be NULL), or -1. */
int chat_msg_post(sqlite3 *db, chat_out_t *out, const chat_post_t *p, chat_stored_t *res);

/* Reads message message_id. Returns 1 with *res, 0 when unknown, -1. */
int chat_msg_get(sqlite3 *db, const char *message_id, chat_stored_t *res);

/* Queues the events of stored message message_id again, with the stream
 * seqs it was given (the edge drops what it delivered). Returns 0 or -1. */
int chat_msg_republish(sqlite3 *db, chat_out_t *out, const char *message_id);

/* Queues again the stream events stored since since_ms (at most max), for
 * a restart after a crash between commit and publish. Returns the count or
 * -1. */
int chat_msg_republish_since(sqlite3 *db, chat_out_t *out, int64_t since_ms, int max);

/* A page of conv's history: the newest limit messages with seq < before_seq
 * (before_seq <= 0: from the newest), oldest first in the page:
 * [{message_id, conversation_id, seq, message, sender, sender_id,
 * timestamp}]. *more tells whether older ones exist. Caller owns; NULL on
 * error. */
json_t *chat_msg_history(sqlite3 *db, const char *conv, int64_t before_seq, int limit, bool *more);

/* user_id's stream events with seq > since_seq, in seq order, at most
 * CHAT_REPLAY_MAX, as the edge renders them ({type, data, seq, timestamp,
 * user_id}). *more tells whether further events exist. NULL on error. */
json_t *chat_msg_replay(sqlite3 *db, int64_t user_id, int64_t since_seq, bool *more);

/* The last n messages of conv, oldest first: [{sender, sender_id, message}]
 * (for a language model's context). NULL on error. */
json_t *chat_msg_recent(sqlite3 *db, const char *conv, int n);

/* The body of message message_id (caller frees), or NULL. */
char *chat_msg_text(sqlite3 *db, const char *message_id);

/* Queues an ephemeral event (no seq: typing, chat_message_delta) of type
 * with data (taken) to every human participant of conv except except_id
 * (0: nobody excepted). Returns the number queued or -1. */
int chat_msg_broadcast(sqlite3 *db, chat_out_t *out, const char *conv, int64_t except_id,
                       const char *type, json_t *data);

/* The newest seq of user_id's stream (0 when empty), or -1. */
int64_t chat_msg_stream_seq(sqlite3 *db, int64_t user_id);

#endif /* CHAT_MSG_H */
