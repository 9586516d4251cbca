/*
 * bench_pool.h - one worker's WebSocket connections in one epoll set:
 * non-blocking connect from a spread of source addresses, the upgrade,
 * authenticate, wait for "subscribed", then count events and their
 * publish-to-receipt latency.
 *
 * Per connection the state is a few dozen bytes; a connection holds a
 * buffer only while a frame is split across reads (the carry) or its
 * output is blocked. Reads go into one buffer per pool.
 */
#ifndef BENCH_POOL_H
#define BENCH_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

typedef struct bench_pool bench_pool_t;

/* A pool for global connection indices [lo, hi). cfg and creds are
 * borrowed and must outlive the pool. NULL on failure (printed). */
bench_pool_t *bench_pool_new(const bench_cfg_t *cfg, const bench_cred_t *creds, size_t ncreds,
                             int lo, int hi);
/* Closes every connection and frees the pool; NULL-safe. */
void bench_pool_destroy(bench_pool_t **self_p);

/* The epoll descriptor; the caller may add its own fds with data.u64 at or
 * above BENCH_POOL_USER_KEY. */
int bench_pool_epfd(bench_pool_t *self);
#define BENCH_POOL_USER_KEY ((uint64_t)1 << 40)

/* Starts connections until the in-flight bound or the share is reached. */
void bench_pool_open_more(bench_pool_t *self);

/* fullpath, chat: start sending client messages. */
void bench_pool_go(bench_pool_t *self);

/* reconnect: every connection the server closed connects again at once and
 * resumes from the last seq it saw; it counts as resumed once it holds
 * r_up distinct events (t_up: when the edge came back, monotonic ns). */
void bench_pool_reconnect(bench_pool_t *self, int64_t r_up, int64_t t_up);

/* Timed work: paced sends, reconnection retries. Call once per loop. */
void bench_pool_tick(bench_pool_t *self);

/* How long the loop may sleep (ms). */
int bench_pool_timeout_ms(bench_pool_t *self);

/* Handles epoll events for key (a connection's). */
void bench_pool_event(bench_pool_t *self, uint64_t key, uint32_t events);

/* Counters and histograms (borrowed). lat: publish-to-receipt of events;
 * setup: connect() to "subscribed". */
bench_counts_t *bench_pool_counts(bench_pool_t *self);
bench_hist_t *bench_pool_latency(bench_pool_t *self);
bench_hist_t *bench_pool_setup(bench_pool_t *self);
/* The scenario's third figure: fullpath submit-to-ack, chat one-way
 * (sender to partner), reconnect edge-back-to-resumed per connection. */
bench_hist_t *bench_pool_aux(bench_pool_t *self);

#endif /* BENCH_POOL_H */
