/*
 * hm_backoff.h - exponential backoff with equal jitter, capped.
 *
 * d(n) = min(base*factor^n, cap_ms); delay(n) = random in [d(n)/2 rounded
 * up, d(n)] ("equal jitter": never zero, never above the cap).
 */
#ifndef HM_BACKOFF_H
#define HM_BACKOFF_H

#include <stdint.h>

typedef struct {
    int64_t base_ms; /* first delay before jitter */
    double factor;   /* growth per attempt, >= 1 */
    int64_t cap_ms;  /* no delay exceeds this */
    int attempt;     /* attempts made so far */
    uint64_t rng;    /* xorshift state; seeded by hm_backoff_init */
} hm_backoff_t;

/* Initialises; seeds the jitter from OpenSSL's RNG. Out-of-range values are
 * clamped: base_ms to >= 1, factor to >= 1, cap_ms to >= base_ms. */
void hm_backoff_init(hm_backoff_t *self, int64_t base_ms, double factor, int64_t cap_ms);

/* Returns the next delay in ms and counts the attempt. */
int64_t hm_backoff_next(hm_backoff_t *self);

/* Starts over after a success. */
void hm_backoff_reset(hm_backoff_t *self);

#endif /* HM_BACKOFF_H */
