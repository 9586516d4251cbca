/*
 * hlth_outbox.h - notify.create requests for alerts, delivered at least once
 * without ever blocking hm-health.
 *
 * The service stores a notification in the outbox table in the same
 * transaction as its alert, and after the commit hands it here. The outbox
 * sends it with hm_mdp_client_send (asynchronous) and forgets it (deleting
 * the row) when hm-notify acknowledges it. No answer within timeout_ms, or
 * service_unavailable / timeout / internal_error: sent again with the same
 * envelope id (and the alert id as idempotency_key, so hm-notify stores it
 * once) after an exponential backoff capped at retry_max_ms. Any other
 * error: dropped (logged). Older than ttl_ms: dropped (logged). After a
 * restart the rows still in the table are loaded and sent again.
 *
 * Bounds: at most `max` notifications wait (the service checks
 * hlth_outbox_full and drops new ones, logged: the alert itself is still
 * stored and published), at most `inflight_max` requests outstanding.
 */
#ifndef HLTH_OUTBOX_H
#define HLTH_OUTBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hlth_db.h"
#include "hm_envelope.h"
#include "hm_mdp.h"

typedef struct {
    int64_t timeout_ms;   /* per attempt */
    int64_t retry_max_ms; /* backoff cap */
    int64_t ttl_ms;       /* give up on notifications older than this */
    int max;              /* notifications waiting at most */
    int inflight_max;     /* requests outstanding at most */
} hlth_outbox_cfg_t;

typedef struct hlth_outbox_t hlth_outbox_t;

/* Creates the outbox. db and client are borrowed; client may be NULL (then
 * nothing is sent: tests). NULL on ENOMEM. */
hlth_outbox_t *hlth_outbox_new(hlth_db_t *db, hm_mdp_client_t *client,
                               const hlth_outbox_cfg_t *cfg);
void hlth_outbox_destroy(hlth_outbox_t **self_p);

/* Loads what the table holds (after a restart). Returns the count or -1. */
int hlth_outbox_load(hlth_outbox_t *self);

/* True when no more notifications may be added. */
bool hlth_outbox_full(hlth_outbox_t *self);

/* Number of notifications waiting. */
int hlth_outbox_size(hlth_outbox_t *self);

/* Adds a committed notification: id is its row id and request id, payload
 * the notify.create data (a reference is taken), created_at wall ms. */
void hlth_outbox_add(hlth_outbox_t *self, const char *id, json_t *payload, int64_t created_at);

/* Handles a reply from service "notify". */
void hlth_outbox_on_reply(hlth_outbox_t *self, const hm_envelope_t *rep);

/* Sends what is due. Call outside a database transaction (it deletes rows). */
void hlth_outbox_tick(hlth_outbox_t *self);

/* Milliseconds until hlth_outbox_tick has something to do (at most 1000). */
int hlth_outbox_tick_ms(hlth_outbox_t *self);

#endif /* HLTH_OUTBOX_H */
