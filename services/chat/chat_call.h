/*
 * chat_call.h - requests hm-chat makes to other services (auth, health,
 * scheduler, notify) without blocking its loop.
 *
 * A call is sent through a transport function (main.c: the asynchronous
 * Majordomo client), re-sent with the same envelope id every retry_ms until
 * timeout_ms passed, and finished exactly once: with the reply (the first
 * one; duplicates of a retried request are dropped) or with NULL at the
 * deadline. Each call carries a kind and a cookie for its owner.
 *
 * Bound: at most CHAT_CALL_MAX calls in flight; chat_call_send refuses more.
 */
#ifndef CHAT_CALL_H
#define CHAT_CALL_H

#include <stdint.h>

#include "hm_envelope.h"

#define CHAT_CALL_MAX 4096 /* calls in flight */
#define CHAT_CALL_TAG_MAX 96

/* Sends req to service. Returns 0 or -1. */
typedef int(chat_call_send_fn)(void *arg, const char *service, const hm_envelope_t *req);

/* Finishes a call: rep is the reply (borrowed) or NULL when the deadline
 * passed. tag is the caller's string (borrowed). */
typedef void(chat_call_done_fn)(void *arg, int kind, int64_t cookie, const char *tag,
                                const hm_envelope_t *rep);

typedef struct chat_call_t chat_call_t;

/* send and done are called with their args; both borrowed. NULL on ENOMEM. */
chat_call_t *chat_call_new(chat_call_send_fn *send, void *send_arg, chat_call_done_fn *done,
                           void *done_arg);
void chat_call_destroy(chat_call_t **self_p);

/* Starts a call of *req (taken; its id must be unique) to service, finished
 * by done(kind, cookie, tag). retry_ms 0: no retries. Returns 0, or -1 when
 * refused (bound, ENOMEM): then done is not called. */
int chat_call_start(chat_call_t *self, const char *service, hm_envelope_t **req, int timeout_ms,
                    int retry_ms, int kind, int64_t cookie, const char *tag);

/* Feeds a reply that arrived (borrowed). Unknown ids are dropped. */
void chat_call_on_reply(chat_call_t *self, const hm_envelope_t *rep);

/* Retries and deadlines due at now_ms (monotonic). */
void chat_call_tick(chat_call_t *self, int64_t now_ms);

/* Milliseconds until the next retry or deadline (INT32_MAX-ish when idle). */
int chat_call_tick_ms(chat_call_t *self, int64_t now_ms);

/* Calls in flight. */
size_t chat_call_pending(chat_call_t *self);

#endif /* CHAT_CALL_H */
