/*
 * bench_hist.c - log-linear histogram (see bench_hist.h).
 *
 * Values below 128 have a bucket each. Above, a value whose highest set bit
 * is b (b >= 7) keeps its top 7 bits: shift = b - 6, bucket
 * (shift + 1) * 64 + (v >> shift) - 64.
 */
#include "bench_hist.h"

#include <string.h>

static int
s_index(uint64_t v)
{
    if (v < 2 * BENCH_HIST_SUB)
        return (int)v;
    int shift = 63 - __builtin_clzll(v) - 6;
    return (shift + 1) * BENCH_HIST_SUB + (int)(v >> shift) - BENCH_HIST_SUB;
}

/* The lowest value of bucket i and the bucket's width. */
static uint64_t
s_lower(int i, uint64_t *width)
{
    if (i < 2 * BENCH_HIST_SUB) {
        *width = 1;
        return (uint64_t)i;
    }
    int shift = i / BENCH_HIST_SUB - 1;
    *width = (uint64_t)1 << shift;
    return (uint64_t)(BENCH_HIST_SUB + i % BENCH_HIST_SUB) << shift;
}

void
bench_hist_init(bench_hist_t *h)
{
    memset(h, 0, sizeof(*h));
}

void
bench_hist_add(bench_hist_t *h, int64_t v)
{
    if (v < 0)
        v = 0;
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->count++;
    h->sum += (double)v;
    h->bucket[s_index((uint64_t)v)]++;
}

void
bench_hist_merge(bench_hist_t *into, const bench_hist_t *from)
{
    if (from->count == 0)
        return;
    if (into->count == 0 || from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
    into->count += from->count;
    into->sum += from->sum;
    for (int i = 0; i < BENCH_HIST_BUCKETS; i++)
        into->bucket[i] += from->bucket[i];
}

int64_t
bench_hist_pct(const bench_hist_t *h, double p)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(p / 100.0 * (double)h->count + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank >= h->count)
        return h->max;
    uint64_t seen = 0;
    for (int i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            uint64_t width;
            int64_t v = (int64_t)(s_lower(i, &width) + width / 2);
            return v < h->min ? h->min : v > h->max ? h->max : v;
        }
    }
    return h->max;
}
