/*
 * chat_service.h - the Majordomo service "chat" (proto/SPEC.md sections 8
 * and 10): request verbs in, replies and u.<id>.chat events out, sys.conn
 * events in, requests to other services out (through a transport given by
 * main.c). No sockets of its own: main.c owns the loop, so tests drive the
 * handlers directly.
 *
 *   chat.send     {message, conversation_id?, participants?, patient_id?}
 *                 -> ack {message_id, conversation_id, seq, timestamp, created}
 *   chat.typing   {conversation_id, typing?} -> ack {relayed}
 *   chat.history  {conversation_id?, before_seq?, limit?}
 *                 -> ack {conversation_id, messages, more, before_seq}
 *                    (no conversation_id: ack {conversations})
 *   chat.replay   {user_id, since_seq} -> ack {user_id, events, more}
 *
 * Every reply and event leaves through chat_service_flush(), after the
 * batch's writes committed. A request that needs hm-auth's word (a
 * care-team member) is held until it comes and then answered.
 */
#ifndef CHAT_SERVICE_H
#define CHAT_SERVICE_H

#include <czmq.h>
#include <sqlite3.h>

#include "chat_backend.h"
#include "chat_call.h"
#include "chat_out.h"
#include "hm_envelope.h"

#define CHAT_HELD_MAX 256           /* requests waiting for hm-auth */
#define CHAT_PARTICIPANTS_NEW_MAX 8 /* data.participants of a new conversation */
#define CHAT_HISTORY_DEFAULT 50
#define CHAT_HISTORY_MAX 200
#define CHAT_CONVERSATIONS_MAX 100 /* listed by chat.history without conversation_id */

typedef struct {
    sqlite3 *db;             /* borrowed; opened by chat_db_open */
    chat_backend_t *backend; /* the assistant's backend; borrowed */
    chat_backend_t *rules;   /* the rules backend (may be backend); borrowed */
    chat_call_send_fn *send; /* transport for requests to other services */
    void *send_arg;          /* its argument; borrowed */
    int max_message_bytes;   /* chat.send message bound */
    int typing_timeout_ms;   /* automatic typing stop */
    double typing_rate;      /* typing updates per second per user */
    double typing_burst;     /* ... and burst */
    int context_timeout_ms;  /* assistant: wait for the user's data */
    int generate_timeout_ms; /* assistant: wait for the backend */
    int history;             /* assistant: messages given to a streaming backend */
    int call_timeout_ms;     /* auth and notify calls */
    int64_t authz_ttl_ms;    /* care-team answers are remembered this long */
    int64_t republish_ms;    /* at start, events this recent are published again */
    zsock_t *pub;            /* borrowed PUB for sys.audit (refusals decided here); NULL: none */
} chat_service_cfg_t;

typedef struct chat_service_t chat_service_t;

/* cfg is copied (pointers borrowed). NULL on ENOMEM. */
chat_service_t *chat_service_new(const chat_service_cfg_t *cfg);
void chat_service_destroy(chat_service_t **self_p);

/* After a (re)start: publishes recent events again, resumes owed assistant
 * replies and care-team alerts. Returns 0 or -1. */
int chat_service_start(chat_service_t *self);

/* Handles one request; takes *req and *reply_to. The reply is queued now or,
 * for a held request, later. */
void chat_service_request(chat_service_t *self, hm_envelope_t **req, zframe_t **reply_to);

/* A reply to one of our requests to another service (borrowed). */
void chat_service_on_reply(chat_service_t *self, const hm_envelope_t *rep);

/* A bus event (sys.conn conn_close stops the connection's typing). */
void chat_service_on_event(chat_service_t *self, const char *topic, const hm_envelope_t *ev);

/* Timers: typing stops, call retries and deadlines, assistant deadlines,
 * alert retries, pruning. */
void chat_service_tick(chat_service_t *self);
int chat_service_tick_ms(chat_service_t *self);

/* Commits the batch, then sends its replies and events through sink, and
 * lets the assistant go on; repeated while that produces more. */
void chat_service_flush(chat_service_t *self, const chat_sink_t *sink);

/* Requests held for hm-auth's answer. */
size_t chat_service_held(chat_service_t *self);

#endif /* CHAT_SERVICE_H */
