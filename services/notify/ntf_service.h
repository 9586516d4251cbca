/*
 * ntf_service.h - the Majordomo service "notify" (proto/SPEC.md 8, 11):
 * request verbs in, replies out; sys.conn events in; notification events
 * out on u.<id>.notify and all.notify; timers for re-sends, quiet hours,
 * expiry, escalation. No sockets of its own except what cfg lends: main.c
 * owns the loop, so tests drive the handlers directly.
 *
 *   notify.create     {user_id | all: true, type, priority?, title, message?,
 *                     data?, idempotency_key?, ttl_s? | expires_at?}
 *                     -> ack {id, seq, created, status}
 *   notify.ack        {id | notification_id} -> ack {id, acked: true}
 *   notify.mark_read  {id | ids: [...] | all: true} -> ack {updated, unread}
 *   notify.list       {limit?, before?, unread_only?}
 *                     -> ack {notifications, next_cursor, unread}
 *   notify.prefs_get  {} -> ack {preferences}
 *   notify.prefs_set  {types?, quiet_hours?} -> ack {preferences}
 *   notify.replay     {user_id, since_seq} -> ack {user_id, events, more}
 *
 * Writes are stored before anything is published or answered: events made
 * by a request wait in an outbox until its transaction commits.
 */
#ifndef NTF_SERVICE_H
#define NTF_SERVICE_H

#include <czmq.h>
#include <sqlite3.h>

#include "hm_envelope.h"
#include "hm_mdp.h"
#include "ntf_authc.h"
#include "ntf_resend.h"
#include "ntf_webhook.h"

typedef struct {
    sqlite3 *db;              /* borrowed; opened by ntf_store_open */
    zsock_t *pub;             /* borrowed PUB to events_in; NULL: publish nothing */
    ntf_authc_t *authc;       /* borrowed, destroyed before the service (its callbacks point
                                 into it); NULL: no presence sync, replay of others refused */
    ntf_webhook_t *webhook;   /* borrowed; NULL: escalation off */
    const char *tzdir;        /* zoneinfo root; borrowed */
    ntf_backoff_cfg_t resend; /* re-sends of unacked high and critical */
    ntf_backoff_cfg_t retry;  /* webhook retries (max = attempts in all) */
    int queue_max;            /* open notifications per user before eviction */
    int64_t expire_ms;        /* default lifetime (0: never expire) */
    int64_t flush_delay_ms;   /* conn_auth -> re-publish of the open queue */
    int64_t hold_check_ms;    /* how often held notifications are looked at */
    int64_t sync_ms;          /* presence resync with auth.sessions (0: at start only) */
    int64_t retention_ms;     /* finished notifications are deleted after this (0: never) */
    size_t resend_entries;    /* bound of the re-send schedule */
} ntf_service_cfg_t;

typedef struct ntf_service_t ntf_service_t;

/* Creates the service; borrows what cfg points to. NULL on failure. */
ntf_service_t *ntf_service_new(const ntf_service_cfg_t *cfg);
void ntf_service_destroy(ntf_service_t **self_p);

/* After the sockets are up: asks auth who is online (and re-publishes
 * their open queues when it answers), loads waiting escalations. */
void ntf_service_start(ntf_service_t *self);

/* Handles one request that arrived on worker (may be NULL: nothing is
 * deferred). Returns the reply (caller owns). Returns NULL when the answer
 * is deferred (notify.replay of another user's stream, waiting for
 * auth.authorize): then *reply_to was taken (set to NULL) and the reply goes
 * out later through the same worker, which must outlive the service. NULL
 * with *reply_to kept: out of memory. */
hm_envelope_t *ntf_service_handle(ntf_service_t *self, const hm_envelope_t *req,
                                  zframe_t **reply_to, hm_mdp_worker_t *worker);

/* Group commit: requests handled between begin and commit share one
 * transaction. commit returns 0 and then publishes the events they made;
 * on -1 nothing was stored (rolled back, logged) and nothing is published:
 * answer internal_error instead. begin returns 0 or -1. */
int ntf_service_begin(ntf_service_t *self);
int ntf_service_commit(ntf_service_t *self);

/* Handles one bus event (sys.conn: conn_auth, conn_close; others ignored). */
void ntf_service_on_event(ntf_service_t *self, const char *topic, const hm_envelope_t *ev);

/* Runs what is due: re-publishing for new connections, re-sends, release
 * of held notifications, expiry, presence resync, escalations, purging. */
void ntf_service_tick(ntf_service_t *self);

/* Milliseconds until ntf_service_tick has work (at most 1000). */
int ntf_service_tick_ms(ntf_service_t *self);

/* Reads the results of webhook POSTs and auth replies that arrived. */
void ntf_service_drain(ntf_service_t *self);

/* Counters for logs and tests. */
typedef struct {
    uint64_t created;   /* notifications stored */
    uint64_t published; /* events published (first sends and replays) */
    uint64_t resent;    /* re-sends of unacked ones */
    size_t online;      /* users online now */
    size_t scheduled;   /* re-sends waiting */
} ntf_service_stats_t;
void ntf_service_stats(ntf_service_t *self, ntf_service_stats_t *out);

#endif /* NTF_SERVICE_H */
