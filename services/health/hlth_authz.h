/*
 * hlth_authz.h - asking hm-auth whether a caller may touch another user's
 * health data, without blocking the worker loop.
 *
 * A request that needs a decision (a caregiver's health_sync of a patient, a
 * clinician's threshold change, ...) is parked here while an auth.authorize
 * request {action, target_user_id} (envelope user_id = the caller) goes out
 * through hm_mdp_client_send. The answer releases it: allowed requests are
 * handled again with the grant, the others are answered forbidden (auth
 * said no) or service_unavailable (no answer by deadline_ms; each attempt
 * waits timeout_ms, then the same request id is sent again).
 *
 * An allow is remembered for cache_ms (0: never), so a burst of replays for
 * one clinician asks once. Denials are never cached.
 * Bounds: at most `max` parked requests (hlth_authz_park refuses more) and
 * HLTH_AUTHZ_CACHE_MAX cached allows (the cache is emptied at the bound).
 */
#ifndef HLTH_AUTHZ_H
#define HLTH_AUTHZ_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "hm_envelope.h"
#include "hm_mdp.h"

#define HLTH_ACTION_READ "subscribe:health_updates" /* another user's readings */
#define HLTH_ACTION_WRITE_THRESHOLDS "write:health_thresholds"
#define HLTH_ACTION_PUBLISH "publish" /* device readings from a signed-in tool */
#define HLTH_ACTION_MAX 40
#define HLTH_AUTHZ_CACHE_MAX 10000

/* What a request needs to be allowed: actor may do action on target's data
 * (target 0: no particular user). */
typedef struct {
    char action[HLTH_ACTION_MAX]; /* auth.authorize action; "" when none */
    int64_t actor;                /* envelope user_id of the request */
    int64_t target;               /* whose data */
} hlth_grant_t;

typedef enum {
    HLTH_AUTHZ_ALLOWED = 0,
    HLTH_AUTHZ_DENIED,      /* answer forbidden */
    HLTH_AUTHZ_UNAVAILABLE, /* answer service_unavailable */
} hlth_authz_result_t;

typedef struct {
    int64_t timeout_ms;  /* per attempt */
    int64_t deadline_ms; /* give up after this */
    int64_t cache_ms;    /* remember allows this long; 0: never */
    int max;             /* parked requests at most */
} hlth_authz_cfg_t;

typedef struct hlth_authz_t hlth_authz_t;

/* client is borrowed (asynchronous use only) and may be NULL (tests: every
 * parked request ends unavailable at its deadline). NULL on ENOMEM. */
hlth_authz_t *hlth_authz_new(hm_mdp_client_t *client, const hlth_authz_cfg_t *cfg);
void hlth_authz_destroy(hlth_authz_t **self_p);

/* True when g was allowed within the last cache_ms. */
bool hlth_authz_cached(hlth_authz_t *self, const hlth_grant_t *g);

/* Remembers that g is allowed (tests, and the reply handler). */
void hlth_authz_remember(hlth_authz_t *self, const hlth_grant_t *g);

/* Parks *req (reply address *reply_to, and the caller's tag: which worker
 * socket it came through) until g is decided; takes both and sets the
 * pointers to NULL. Returns 0, or -1 when full (nothing taken). */
int hlth_authz_park(hlth_authz_t *self, hm_envelope_t **req, zframe_t **reply_to, int tag,
                    const hlth_grant_t *g);

/* Handles a reply from service "auth". */
void hlth_authz_on_reply(hlth_authz_t *self, const hm_envelope_t *rep);

/* Retries and deadlines. */
void hlth_authz_tick(hlth_authz_t *self);

/* Milliseconds until hlth_authz_tick has something to do (at most 1000). */
int hlth_authz_tick_ms(hlth_authz_t *self);

/* The next decided request, in order of decision: returns 1 with *req and
 * *reply_to (caller owns), its *tag, *grant and *result; 0 when none is
 * waiting. */
int hlth_authz_next(hlth_authz_t *self, hm_envelope_t **req, zframe_t **reply_to, int *tag,
                    hlth_grant_t *grant, hlth_authz_result_t *result);

/* Number of parked requests (undecided and decided-not-taken). */
int hlth_authz_parked(hlth_authz_t *self);

#endif /* HLTH_AUTHZ_H */
