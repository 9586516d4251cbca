/*
 * ntf_escalate.h - escalation beyond the socket: a critical notification
 * for a user with no live connection, or still unacknowledged after its
 * re-sends, is POSTed to the configured webhook (ntf_webhook.h), retried
 * with backoff, at most once successfully per notification.
 *
 * State per notification in the escalations table, so that a restart
 * neither loses nor repeats one:
 *   CONFIRM   the user looked offline: ask hm-auth (auth.sessions) first
 *   PENDING   to be POSTed (again)
 *   DONE      a 2xx answer came (never POSTed again)
 *   FAILED    every attempt failed
 *   CANCELLED the user acknowledged it first
 *   ONLINE    auth found the user online: left to the re-sends; re-armed
 *             as "unacked" if they run out
 * A POST in flight when the process dies is sent again after the restart
 * (at least once; the X-HM-Delivery header lets the receiver deduplicate).
 * Due times live in memory (monotonic clock): waiting rows are due at once
 * after a restart.
 */
#ifndef NTF_ESCALATE_H
#define NTF_ESCALATE_H

#include <sqlite3.h>
#include <stdbool.h>

#include "ntf_authc.h"
#include "ntf_model.h"
#include "ntf_presence.h"
#include "ntf_resend.h"
#include "ntf_webhook.h"

typedef enum {
    NTF_ESC_CONFIRM = 0,
    NTF_ESC_PENDING = 1,
    NTF_ESC_DONE = 2,
    NTF_ESC_FAILED = 3,
    NTF_ESC_CANCELLED = 4,
    NTF_ESC_ONLINE = 5,
} ntf_esc_state_t;

typedef struct {
    sqlite3 *db;                /* borrowed */
    ntf_webhook_t *webhook;     /* borrowed; NULL: escalation off */
    ntf_authc_t *authc;         /* borrowed; NULL: trust presence, no confirmation */
    ntf_presence_t *presence;   /* borrowed: updated from auth's answers */
    ntf_presence_fn *on_online; /* called for a user auth found online (may be NULL) */
    void *on_online_arg;        /* its argument */
    ntf_backoff_cfg_t retry;    /* spacing of POST retries; retry.max = attempts in all */
    int inflight_max;           /* POSTs queued to the webhook thread at a time */
} ntf_escalate_cfg_t;

typedef struct ntf_escalate_t ntf_escalate_t;

ntf_escalate_t *ntf_escalate_new(const ntf_escalate_cfg_t *cfg);
void ntf_escalate_destroy(ntf_escalate_t **self_p);

/* Whether a webhook is configured. */
bool ntf_escalate_enabled(ntf_escalate_t *self);

/* Escalates row (a user's critical notification) for reason "offline"
 * (confirmed with hm-auth first when a client is configured) or "unacked".
 * Writes in the caller's transaction. Once per notification: an existing
 * escalation is left as it is, except ONLINE, which is re-armed. Returns 0
 * or -1; 0 without doing anything when escalation is off. */
int ntf_escalate_add(ntf_escalate_t *self, const ntf_row_t *row, const char *reason);

/* The user acknowledged nid: a waiting escalation is cancelled. Returns 0
 * or -1. */
int ntf_escalate_cancel(ntf_escalate_t *self, int64_t nid);

/* Makes the waiting escalations (CONFIRM, PENDING) due now: after a start.
 * Returns their number or -1. */
int ntf_escalate_load(ntf_escalate_t *self);

/* Starts due confirmations and POSTs. */
void ntf_escalate_tick(ntf_escalate_t *self);

/* Milliseconds until ntf_escalate_tick has work (-1: none). */
int ntf_escalate_tick_ms(ntf_escalate_t *self);

/* Records the POSTs the webhook thread finished. */
void ntf_escalate_drain(ntf_escalate_t *self);

/* The state of nid's escalation, or -1 when there is none. For tests. */
int ntf_escalate_state(ntf_escalate_t *self, int64_t nid);

#endif /* NTF_ESCALATE_H */
