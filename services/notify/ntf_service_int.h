/*
 * ntf_service_int.h - the service's state, shared by ntf_service.c (the
 * shell: transactions, events, timers), ntf_verbs.c (the request verbs) and
 * ntf_deliver.c (publishing, re-publishing, re-sends, held notifications).
 * Internal to services/notify.
 */
#ifndef NTF_SERVICE_INT_H
#define NTF_SERVICE_INT_H

#include "ntf_escalate.h"
#include "ntf_model.h"
#include "ntf_prefs.h"
#include "ntf_presence.h"
#include "ntf_resend.h"
#include "ntf_service.h"
#include "ntf_tz.h"

#define NTF_FLUSH_MAX 10000   /* open notifications re-published per connection */
#define NTF_RESEND_BATCH 1000 /* re-sends per tick */
#define NTF_HOLD_USERS 1000   /* users whose held notifications are looked at per check */
#define NTF_EXPIRE_MS 1000    /* how often expiry runs */
#define NTF_PURGE_MS 3600000  /* how often finished notifications are purged */
#define NTF_PREFS_CACHE 10000 /* users whose preferences are kept in memory; past it: emptied */

struct ntf_service_t {
    ntf_service_cfg_t cfg;     /* settings; pointers borrowed */
    ntf_tz_t *tz;              /* zone cache; owned */
    ntf_presence_t *presence;  /* who is online; owned */
    ntf_resend_t *resend;      /* re-send schedule; owned */
    ntf_escalate_t *esc;       /* escalations; owned */
    bool in_batch;             /* a transaction is open */
    zlistx_t *outbox;          /* events to publish after commit (s_pub_t*); owned */
    zhashx_t *flushes;         /* "<user id>" -> due (monotonic ms, intptr_t) */
    zhashx_t *prefs;           /* "<user id>" -> ntf_prefs_t* (owned): read-through cache */
    int64_t hold_at;           /* next look at held notifications (monotonic ms) */
    int64_t expire_at;         /* next expiry run */
    int64_t sync_at;           /* next presence resync (-1: none) */
    int64_t purge_at;          /* next purge */
    bool syncing;              /* auth.sessions for everyone in flight */
    ntf_service_stats_t stats; /* counters */
};

/* Monotonic milliseconds. */
int64_t ntf_now_ms(void);

/* user_id's preferences, through the cache. Returns 0 or -1. */
int ntf_service_prefs(ntf_service_t *self, int64_t user_id, ntf_prefs_t *out);

/* Drops user_id's cached preferences (they are being changed). */
void ntf_service_prefs_forget(ntf_service_t *self, int64_t user_id);

/* ---- ntf_verbs.c ---- */

/* Dispatches req to its verb handler (see ntf_service.h). */
hm_envelope_t *ntf_verbs_handle(ntf_service_t *self, const hm_envelope_t *req, zframe_t **reply_to,
                                hm_mdp_worker_t *worker);

/* ---- ntf_deliver.c ---- */

/* Queues row's event for publication after commit (with its envelope seq,
 * or as a re-send without one) and records the first publication. */
void ntf_deliver_publish(ntf_service_t *self, const ntf_row_t *row, bool with_seq, int resend);

/* Puts a PENDING high or critical notification of an online user on the
 * re-send schedule (once; more re-sends left, or a last check). */
void ntf_deliver_schedule(ntf_service_t *self, const ntf_row_t *row);

/* A connection of user_id authenticated: its open queue is re-published
 * after cfg.flush_delay_ms. While that waits, new notifications of the user
 * are not published on their own (the re-publish carries them in order). */
void ntf_deliver_want_flush(ntf_service_t *self, int64_t user_id);
bool ntf_deliver_flush_waiting(ntf_service_t *self, int64_t user_id);

/* The timers of delivery: re-publishing, re-sends, held, expiry, purge. */
void ntf_deliver_tick(ntf_service_t *self);
int64_t ntf_deliver_next_ms(ntf_service_t *self);

/* Publishes the outbox (after commit) or drops it (after a rollback). */
void ntf_deliver_flush_outbox(ntf_service_t *self, bool publish);

#endif /* NTF_SERVICE_INT_H */
