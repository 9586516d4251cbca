/*
 * ntf_authc.h - asynchronous requests from hm-notify to hm-auth
 * (auth.sessions, auth.authorize) over a Majordomo client socket that the
 * service's loop polls, so that waiting for auth never stalls delivery.
 *
 * Each request carries a callback; it runs exactly once: with the reply,
 * on the deadline, or when the client is destroyed (see ntf_authc_end_t). At most
 * NTF_AUTHC_MAX requests wait at a time; past that a request is refused.
 */
#ifndef NTF_AUTHC_H
#define NTF_AUTHC_H

#include <czmq.h>
#include <jansson.h>
#include <stdint.h>

#include "hm_envelope.h"

#define NTF_AUTHC_MAX 10000 /* requests waiting for a reply */

/* How a request ended. */
typedef enum {
    NTF_AUTHC_REPLY = 0, /* reply is auth's answer (an ack or an error) */
    NTF_AUTHC_TIMEOUT,   /* no answer before the deadline; reply is NULL */
    NTF_AUTHC_CANCELLED, /* the client is being destroyed; reply is NULL: free arg only */
} ntf_authc_end_t;

/* reply is borrowed; arg is the caller's. */
typedef void(ntf_authc_fn)(void *arg, const hm_envelope_t *reply, ntf_authc_end_t end);

typedef struct ntf_authc_t ntf_authc_t;

/* Connects to the broker's request endpoint; timeout_ms is the deadline of
 * each request. NULL on failure. */
ntf_authc_t *ntf_authc_new(const char *requests, int timeout_ms);

/* Calls every waiting callback with NTF_AUTHC_CANCELLED, then frees. */
void ntf_authc_destroy(ntf_authc_t **self_p);

/* Sends verb with data (taken; NULL: {}) and user_id in the envelope to
 * service "auth". fn(arg, reply) runs later. Returns 0, or -1 (full, or
 * send failed) in which case fn is not called. */
int ntf_authc_request(ntf_authc_t *self, const char *verb, int64_t user_id, json_t *data,
                      ntf_authc_fn *fn, void *arg);

/* Reads the replies that arrived and runs their callbacks. */
void ntf_authc_drain(ntf_authc_t *self);

/* Runs the callbacks of requests past their deadline (NTF_AUTHC_TIMEOUT). */
void ntf_authc_tick(ntf_authc_t *self);

/* Milliseconds until the next deadline (-1: none waiting). */
int ntf_authc_tick_ms(ntf_authc_t *self);

/* The socket to poll for replies. */
zsock_t *ntf_authc_sock(ntf_authc_t *self);

#endif /* NTF_AUTHC_H */
