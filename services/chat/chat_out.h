/*
 * chat_out.h - what the service sends, held until its writes are durable.
 *
 * Replies to requests and events for the bus are queued while a batch runs
 * and leave, in order, after its transaction committed (SPEC 5: stored
 * before published or acknowledged). When the commit fails, the replies
 * become internal_error and the events are dropped: nothing reported was
 * stored. Only the main thread flushes (it owns the sockets).
 *
 * Bound: a batch queues what its requests and completions produce (a few
 * entries per participant); past CHAT_OUT_MAX entries events are dropped
 * (logged; clients recover them with since_seq) while replies still queue.
 */
#ifndef CHAT_OUT_H
#define CHAT_OUT_H

#include <czmq.h>
#include <stdint.h>

#include "hm_envelope.h"

#define CHAT_OUT_MAX 100000 /* queued entries before events are dropped */

typedef struct chat_out_t chat_out_t;

/* Where flushed entries go. reply takes *to (the reply address); publish
 * borrows everything. */
typedef struct {
    void (*reply)(void *arg, zframe_t **to, const hm_envelope_t *rep);
    void (*publish)(void *arg, const char *topic, const hm_envelope_t *ev);
    void *arg;
} chat_sink_t;

chat_out_t *chat_out_new(void);
void chat_out_destroy(chat_out_t **self_p);

/* Queues the reply *rep to the request req (its id, for an error reply if
 * the batch fails) at address *to. Takes *to and *rep (NULL rep: out of
 * memory, answered internal_error). Returns 0 or -1. */
int chat_out_reply(chat_out_t *self, const hm_envelope_t *req, zframe_t **to, hm_envelope_t **rep);

/* Queues event *ev (taken) for u.<user_id>.chat; the envelope user_id is set
 * to user_id. Returns 0, or -1 (dropped) at the bound or on ENOMEM. */
int chat_out_publish(chat_out_t *self, int64_t user_id, hm_envelope_t **ev);

/* Entries queued. */
size_t chat_out_size(chat_out_t *self);

/* The batch's transaction failed: replies become internal_error, events are
 * dropped. */
void chat_out_fail(chat_out_t *self);

/* Sends everything queued, in order, and empties the queue. */
void chat_out_flush(chat_out_t *self, const chat_sink_t *sink);

#endif /* CHAT_OUT_H */
