/*
 * hm_ratelimit.h - token bucket.
 *
 * Holds at most `burst` tokens, refilled at `rate` tokens per second. Time is
 * passed in (monotonic ns) so the bucket is pure and testable.
 */
#ifndef HM_RATELIMIT_H
#define HM_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    double rate;     /* tokens per second */
    double burst;    /* capacity */
    double tokens;   /* tokens now */
    int64_t last_ns; /* time of the last refill */
} hm_ratelimit_t;

/* Starts full at now_ns. A negative rate or burst counts as 0. */
void hm_ratelimit_init(hm_ratelimit_t *self, double rate, double burst, int64_t now_ns);

/* Takes n tokens if available. Returns true when taken, false when limited
 * (nothing taken). A time before the last refill earns no tokens. */
bool hm_ratelimit_take(hm_ratelimit_t *self, int64_t now_ns, double n);

/* Milliseconds until n tokens are available (0 if now, rounded up), or -1
 * when they never will be (n > burst, or rate 0). */
int64_t hm_ratelimit_wait_ms(hm_ratelimit_t *self, int64_t now_ns, double n);

#endif /* HM_RATELIMIT_H */
