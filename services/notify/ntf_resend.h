/*
 * ntf_resend.h - the re-send schedule of unacknowledged high and critical
 * notifications: a min-heap of (due time, notification) with at most one
 * entry per notification, and the backoff that spaces the attempts.
 *
 * In memory only: entries are hints, checked against the database when due
 * (acked, expired or offline by then: dropped). After a restart the
 * schedule is rebuilt when each user connects (sys.conn conn_auth) or is
 * found online (auth.sessions). Bounded: past max entries a new one is
 * refused (the notification is still replayed on reconnect).
 */
#ifndef NTF_RESEND_H
#define NTF_RESEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The spacing of re-sends: attempt n (0 = the first re-send) waits a
 * random time in [d/2, d] with d = min(base * factor^n, cap) (equal
 * jitter, hm_backoff); at most max re-sends. */
typedef struct {
    int64_t base_ms; /* first delay before jitter */
    double factor;   /* growth per attempt, >= 1 */
    int64_t cap_ms;  /* no delay exceeds this */
    int max;         /* re-sends per notification */
} ntf_backoff_cfg_t;

/* The delay before attempt n under cfg, jittered. */
int64_t ntf_backoff_delay(const ntf_backoff_cfg_t *cfg, int n);

typedef struct {
    int64_t due_ms;  /* monotonic ms */
    int64_t nid;     /* notification row id */
    int64_t user_id; /* its owner */
} ntf_resend_item_t;

typedef struct ntf_resend_t ntf_resend_t;

ntf_resend_t *ntf_resend_new(size_t max);
void ntf_resend_destroy(ntf_resend_t **self_p);

/* Schedules item. Returns 1 when added, 0 when the notification is already
 * scheduled (kept as it was), -1 when full or out of memory. */
int ntf_resend_add(ntf_resend_t *self, const ntf_resend_item_t *item);

/* Takes the earliest entry due at or before now_ms into *out. Returns true
 * when one was taken. */
bool ntf_resend_pop_due(ntf_resend_t *self, int64_t now_ms, ntf_resend_item_t *out);

/* Monotonic ms of the earliest entry, or -1 when empty. */
int64_t ntf_resend_next(ntf_resend_t *self);

size_t ntf_resend_size(ntf_resend_t *self);

#endif /* NTF_RESEND_H */
