/*
 * hlth_service.h - the Majordomo service "health" (proto/SPEC.md section 9):
 * request verbs in, replies out, health_update / health_alert events out on
 * u.<id>.health, notify.create requests out through the outbox. No sockets
 * of its own except the borrowed PUB socket: main.c owns the loop, so tests
 * drive the handlers directly.
 *
 *   health.reading         a client's reading (envelope user_id = patient)
 *                          -> ack {id, seq, user_id, metric, value, unit,
 *                          timestamp, source, ...}
 *   health.device_reading  a device gateway's reading, data.user_id = patient;
 *                          envelope user_id 0 (trusted bus) or a user allowed
 *                          "publish" -> ack as above
 *   health.sync            {user_id?, since_seq?, since?, metric?, limit?}
 *                          -> ack {user_id, readings, more, next_seq}
 *   health.replay          {user_id, since_seq} -> ack {user_id, events, more}
 *   health.threshold       {user_id?, action?: get|set|reset, metric?, low?,
 *                          high?, critical_low?, critical_high?, unit?}
 *                          -> ack {user_id, thresholds}
 *
 * Another user's data needs auth.authorize (subscribe:health_updates to
 * read, write:health_thresholds to set): the handler does not block on it,
 * it returns NULL with *need filled and the caller parks the request
 * (hlth_authz) and hands it back with the grant once allowed.
 *
 * Writes and effects: a reading is stored (with its alerts, their alert
 * state and outbox rows) before anything about it leaves. Between
 * hlth_service_begin and hlth_service_commit the requests share one
 * transaction (group commit); commit publishes the staged events and hands
 * the staged notifications to the outbox only once the COMMIT succeeded.
 */
#ifndef HLTH_SERVICE_H
#define HLTH_SERVICE_H

#include <czmq.h>
#include <stdint.h>

#include "hlth_alert.h"
#include "hlth_authz.h"
#include "hlth_catalog.h"
#include "hlth_db.h"
#include "hlth_outbox.h"
#include "hm_envelope.h"

#define HLTH_PAGE_MAX 500 /* readings per sync page, events per replay reply */

typedef struct {
    hlth_db_t *db;                 /* borrowed */
    zsock_t *pub;                  /* borrowed PUB to events_in; NULL: publish nothing */
    hlth_outbox_t *outbox;         /* borrowed; NULL: no notifications */
    hlth_authz_t *authz;           /* borrowed; NULL: no cache of allows */
    const hlth_limits_t *defaults; /* HLTH_CATALOG_SIZE entries, indexed like the
                                      catalogue; borrowed */
    int64_t future_skew_ms;        /* readings later than now + this are refused */
    int64_t alert_max_age_ms;      /* older readings are stored, not evaluated; 0: all */
    int64_t cooldown_ms;           /* see hlth_alert.h */
    int sync_limit;                /* default page size of health.sync */
} hlth_service_cfg_t;

typedef struct hlth_service_t hlth_service_t;

/* Creates the service; borrows what cfg points to. NULL on ENOMEM. */
hlth_service_t *hlth_service_new(const hlth_service_cfg_t *cfg);
void hlth_service_destroy(hlth_service_t **self_p);

/* Handles one request. grant (may be NULL) is an authorization obtained for
 * it. Returns the reply (caller owns); or NULL with need->action set when
 * the request must wait for an authorization (nothing was written); NULL
 * with need->action empty only when out of memory. Outside a batch its
 * writes commit (and its events go out) before it returns. */
hm_envelope_t *hlth_service_handle(hlth_service_t *self, const hm_envelope_t *req,
                                   const hlth_grant_t *grant, hlth_grant_t *need);

/* Group commit. begin: 0 or -1. commit: 0 (then the staged events are
 * published and notifications queued), or -1: nothing of the batch was
 * stored and nothing goes out; answer internal_error instead. */
int hlth_service_begin(hlth_service_t *self);
int hlth_service_commit(hlth_service_t *self);

/* Counters for the log: readings stored, alerts raised, events published. */
typedef struct {
    uint64_t readings;  /* stored */
    uint64_t alerts;    /* stored */
    uint64_t published; /* events sent on the bus */
    uint64_t refused;   /* readings refused by validation */
} hlth_stats_t;

const hlth_stats_t *hlth_service_stats(hlth_service_t *self);

#endif /* HLTH_SERVICE_H */
