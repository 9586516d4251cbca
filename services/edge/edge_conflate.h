/*
 * edge_conflate.h - a subscription that asked for at most N updates per
 * second per metric (a clinician's overview of many patients) gets the
 * latest value of each metric at that rate, never a queue of stale ones.
 */
#ifndef EDGE_CONFLATE_H
#define EDGE_CONFLATE_H

#include <stdbool.h>
#include <stdint.h>

#include "edge_frame.h"

#define EDGE_CONFLATE_METRICS 16 /* metrics tracked per subscription; more pass unconflated */

typedef struct {
    uint64_t key;          /* the frame's coalesce key (user + metric) */
    int64_t last_sent_ms;  /* when a frame of this metric last went out */
    edge_frame_t *pending; /* the latest held back; owned reference or NULL */
} edge_conflate_slot_t;

typedef struct {
    int64_t interval_ms;   /* 1000 / max_rate */
    int nslots;
    edge_conflate_slot_t slots[EDGE_CONFLATE_METRICS];
} edge_conflate_t;

/* New state for max_rate updates per second (caller owns, free with
 * edge_conflate_destroy). NULL on allocation failure. */
edge_conflate_t *edge_conflate_new(int max_rate);
void edge_conflate_destroy(edge_conflate_t **self_p);

/* Decides about frame f at now_ms: returns true when it may go out now
 * (and records that), false when it was held as its metric's pending value
 * (taking a reference, dropping an older pending one). */
bool edge_conflate_admit(edge_conflate_t *self, edge_frame_t *f, int64_t now_ms);

/* Calls send(f, arg) for each pending frame whose interval has passed and
 * releases it. Returns how many are still pending. */
int edge_conflate_flush(edge_conflate_t *self, int64_t now_ms,
                        void (*send)(edge_frame_t *f, void *arg), void *arg);

#endif /* EDGE_CONFLATE_H */
