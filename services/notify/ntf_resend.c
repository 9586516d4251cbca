/*
 * ntf_resend.c - a binary min-heap keyed by due time, with a set of the
 * notifications it holds.
 */
#include "ntf_resend.h"

#include <czmq.h>
#include <stdlib.h>

#include "hm_backoff.h"

struct ntf_resend_t {
    ntf_resend_item_t *heap; /* heap[0] is the earliest; owned */
    size_t n;                /* entries */
    size_t cap;              /* allocated entries */
    size_t max;              /* bound */
    zhashx_t *held;          /* "<nid>" -> 1: notifications scheduled */
};

int64_t
ntf_backoff_delay(const ntf_backoff_cfg_t *cfg, int n)
{
    hm_backoff_t bo;
    hm_backoff_init(&bo, cfg->base_ms, cfg->factor, cfg->cap_ms);
    bo.attempt = n < 0 ? 0 : n;
    return hm_backoff_next(&bo);
}

ntf_resend_t *
ntf_resend_new(size_t max)
{
    ntf_resend_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max;
    self->held = zhashx_new();
    if (!self->held) {
        free(self);
        return NULL;
    }
    return self;
}

void
ntf_resend_destroy(ntf_resend_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->held);
    free((*self_p)->heap);
    free(*self_p);
    *self_p = NULL;
}

static void
s_key(int64_t nid, char *key, size_t len)
{
    snprintf(key, len, "%lld", (long long)nid);
}

static void
s_swap(ntf_resend_item_t *a, ntf_resend_item_t *b)
{
    ntf_resend_item_t t = *a;
    *a = *b;
    *b = t;
}

int
ntf_resend_add(ntf_resend_t *self, const ntf_resend_item_t *item)
{
    char key[24];
    s_key(item->nid, key, sizeof key);
    if (zhashx_lookup(self->held, key))
        return 0;
    if (self->n >= self->max)
        return -1;
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        ntf_resend_item_t *heap = realloc(self->heap, cap * sizeof *heap);
        if (!heap)
            return -1;
        self->heap = heap;
        self->cap = cap;
    }
    zhashx_insert(self->held, key, (void *)1);
    size_t i = self->n++;
    self->heap[i] = *item;
    while (i > 0 && self->heap[(i - 1) / 2].due_ms > self->heap[i].due_ms) {
        s_swap(&self->heap[(i - 1) / 2], &self->heap[i]);
        i = (i - 1) / 2;
    }
    return 1;
}

bool
ntf_resend_pop_due(ntf_resend_t *self, int64_t now_ms, ntf_resend_item_t *out)
{
    if (self->n == 0 || self->heap[0].due_ms > now_ms)
        return false;
    *out = self->heap[0];
    self->heap[0] = self->heap[--self->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < self->n && self->heap[l].due_ms < self->heap[m].due_ms)
            m = l;
        if (r < self->n && self->heap[r].due_ms < self->heap[m].due_ms)
            m = r;
        if (m == i)
            break;
        s_swap(&self->heap[i], &self->heap[m]);
        i = m;
    }
    char key[24];
    s_key(out->nid, key, sizeof key);
    zhashx_delete(self->held, key);
    return true;
}

int64_t
ntf_resend_next(ntf_resend_t *self)
{
    return self->n ? self->heap[0].due_ms : -1;
}

size_t
ntf_resend_size(ntf_resend_t *self)
{
    return self->n;
}
