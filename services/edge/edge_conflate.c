/*
 * edge_conflate.c - per-metric rate limiting with latest-value conflation.
 */
#include "edge_conflate.h"

#include <stdlib.h>

edge_conflate_t *
edge_conflate_new(int max_rate)
{
    edge_conflate_t *self = calloc(1, sizeof(*self));
    if (self)
        self->interval_ms = 1000 / (max_rate > 0 ? max_rate : 1);
    return self;
}

void
edge_conflate_destroy(edge_conflate_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (int i = 0; i < (*self_p)->nslots; i++)
        edge_frame_unref(&(*self_p)->slots[i].pending);
    free(*self_p);
    *self_p = NULL;
}

bool
edge_conflate_admit(edge_conflate_t *self, edge_frame_t *f, int64_t now_ms)
{
    if (!f->coalesce)
        return true; /* not a metric tick */
    edge_conflate_slot_t *slot = NULL;
    for (int i = 0; i < self->nslots && !slot; i++)
        if (self->slots[i].key == f->coalesce)
            slot = &self->slots[i];
    if (!slot) {
        if (self->nslots == EDGE_CONFLATE_METRICS)
            return true; /* bound reached: the extra metrics pass as they come */
        slot = &self->slots[self->nslots++];
        slot->key = f->coalesce;
        slot->last_sent_ms = now_ms - self->interval_ms;
        slot->pending = NULL;
    }
    if (!slot->pending && now_ms - slot->last_sent_ms >= self->interval_ms) {
        slot->last_sent_ms = now_ms;
        return true;
    }
    edge_frame_unref(&slot->pending); /* a newer value replaces it */
    slot->pending = edge_frame_ref(f);
    return false;
}

int
edge_conflate_flush(edge_conflate_t *self, int64_t now_ms,
                    void (*send)(edge_frame_t *f, void *arg), void *arg)
{
    int left = 0;
    for (int i = 0; i < self->nslots; i++) {
        edge_conflate_slot_t *slot = &self->slots[i];
        if (!slot->pending)
            continue;
        if (now_ms - slot->last_sent_ms >= self->interval_ms) {
            send(slot->pending, arg);
            edge_frame_unref(&slot->pending);
            slot->last_sent_ms = now_ms;
        } else {
            left++;
        }
    }
    return left;
}
