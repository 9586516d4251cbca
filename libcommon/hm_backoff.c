/*
 * hm_backoff.c - exponential backoff with equal jitter, capped.
 */
#include "hm_backoff.h"

#include "hm_ids.h"

#include <limits.h>
#include <time.h>

/* xorshift64*: fast, good enough for jitter (not for secrets). */
static uint64_t
s_next_random(hm_backoff_t *self)
{
    uint64_t x = self->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    self->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* base * factor^attempt without libm, capped at cap (square and multiply,
 * stopping as soon as the cap is reached). */
static int64_t
s_undithered(const hm_backoff_t *self)
{
    double cap = (double)self->cap_ms;
    double delay = (double)self->base_ms;
    double power = self->factor;
    for (unsigned n = (unsigned)self->attempt; n > 0 && delay < cap; n >>= 1) {
        if (n & 1)
            delay *= power;
        power *= power;
    }
    return delay >= cap ? self->cap_ms : (int64_t)delay;
}

void
hm_backoff_init(hm_backoff_t *self, int64_t base_ms, double factor, int64_t cap_ms)
{
    self->base_ms = base_ms < 1 ? 1 : base_ms;
    self->factor = factor >= 1.0 ? factor : 1.0; /* also turns NaN into 1 */
    self->cap_ms = cap_ms < self->base_ms ? self->base_ms : cap_ms;
    self->attempt = 0;
    self->rng = 0;
    if (hm_random_bytes(&self->rng, sizeof self->rng) < 0 || self->rng == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        self->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uintptr_t)self;
        self->rng |= 1; /* xorshift state must not be zero */
    }
}

int64_t
hm_backoff_next(hm_backoff_t *self)
{
    int64_t high = s_undithered(self);
    int64_t low = (high + 1) / 2; /* at least 1: base_ms >= 1 */
    uint64_t span = (uint64_t)(high - low) + 1;
    if (self->attempt < INT_MAX)
        self->attempt++;
    return low + (int64_t)(s_next_random(self) % span);
}

void
hm_backoff_reset(hm_backoff_t *self)
{
    self->attempt = 0;
}
