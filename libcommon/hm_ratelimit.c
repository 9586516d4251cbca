/*
 * hm_ratelimit.c - token bucket; time is passed in.
 */
#include "hm_ratelimit.h"

/* Absorbs floating-point rounding so that waiting wait_ms() is enough. */
#define S_EPSILON 1e-9

/* Adds the tokens earned since last_ns. A clock going backwards earns
 * nothing and does not move last_ns back. */
static void
s_refill(hm_ratelimit_t *self, int64_t now_ns)
{
    if (now_ns <= self->last_ns)
        return;
    self->tokens += (double)(now_ns - self->last_ns) * self->rate / 1e9;
    if (self->tokens > self->burst)
        self->tokens = self->burst;
    self->last_ns = now_ns;
}

void
hm_ratelimit_init(hm_ratelimit_t *self, double rate, double burst, int64_t now_ns)
{
    self->rate = rate > 0 ? rate : 0;
    self->burst = burst > 0 ? burst : 0;
    self->tokens = self->burst;
    self->last_ns = now_ns;
}

bool
hm_ratelimit_take(hm_ratelimit_t *self, int64_t now_ns, double n)
{
    s_refill(self, now_ns);
    if (n < 0 || self->tokens + S_EPSILON < n)
        return false;
    self->tokens -= n;
    if (self->tokens < 0)
        self->tokens = 0;
    return true;
}

int64_t
hm_ratelimit_wait_ms(hm_ratelimit_t *self, int64_t now_ns, double n)
{
    s_refill(self, now_ns);
    if (self->tokens + S_EPSILON >= n)
        return 0;
    if (n > self->burst + S_EPSILON || self->rate <= 0)
        return -1;
    double ms = (n - self->tokens) * 1000.0 / self->rate;
    int64_t whole = (int64_t)ms;
    return (double)whole < ms ? whole + 1 : whole;
}
