/*
 * bench_hist.h - a fixed-size log-linear histogram of non-negative values
 * (nanoseconds): 64 sub-buckets per power of two, so a percentile is within
 * about 1.6% of the true value; count, sum, min and max are exact. Fixed
 * size and no pointers, so a worker sends it over a pipe as it is.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB 64
#define BENCH_HIST_BUCKETS (59 * BENCH_HIST_SUB) /* covers 0 .. INT64_MAX */

typedef struct {
    uint64_t count;                      /* values added */
    int64_t min, max;                    /* exact; 0 when empty */
    double sum;                          /* for the mean */
    uint64_t bucket[BENCH_HIST_BUCKETS]; /* counts */
} bench_hist_t;

void bench_hist_init(bench_hist_t *h);
/* Adds v (negative values count as 0). */
void bench_hist_add(bench_hist_t *h, int64_t v);
/* Adds every value of from into into. */
void bench_hist_merge(bench_hist_t *into, const bench_hist_t *from);
/* The value at percentile p (0..100): the middle of its bucket, clamped to
 * [min, max]; the top rank is max itself; 0 when empty. */
int64_t bench_hist_pct(const bench_hist_t *h, double p);

#endif /* BENCH_HIST_H */
