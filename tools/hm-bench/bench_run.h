/*
 * bench_run.h - one scenario from start to end: fork the workers, wait for
 * their connections, drive the scenario (publish, or hold), sample the
 * server processes, collect the results.
 */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "bench.h"

/* Roles whose CPU is sampled; BENCH_CLIENT is hm-bench itself (all its
 * processes), to tell whether the load generator was the limit. */
enum {
    BENCH_EDGE = 0,
    BENCH_BROKER,
    BENCH_AUTH,
    BENCH_CLIENT,
    BENCH_HEALTH,  /* hm-health (fullpath, reconnect) */
    BENCH_CHATSVC, /* hm-chat (chat) */
    BENCH_ROLES
};

typedef struct {
    bench_counts_t total;      /* the workers' counters, summed */
    bench_hist_t lat;          /* publish to receipt (ns) */
    bench_hist_t setup;        /* connect() to subscribed (ns) */
    bench_hist_t aux;          /* fullpath: submit to ack; chat: one way; reconnect: edge
                                  back to resumed, per connection (ns) */
    double cpu_s[BENCH_ROLES]; /* CPU seconds in the measured window; -1: unknown */
    long long rss_base_kb;     /* edge RSS before connecting; -1: unknown */
    long long rss_kb;          /* edge RSS with the connections open; -1: unknown */
    long long published;       /* events published */
    int64_t t_pub_first;       /* first publish (monotonic ns) */
    int64_t t_pub_last;        /* last publish */
    double window_s;           /* the window the CPU figures cover */
    bool setup_complete;       /* every connection settled before the timeout */
    bool warm_complete;        /* every ready connection saw a warm-up probe */
    int64_t t_kill;            /* reconnect: the restart command started (monotonic ns) */
    int64_t t_up;              /* reconnect: it ended, the edge is back */
    long long rounds;          /* reconnect: readings stored per user */
    long long rounds_up;       /* reconnect: ... of them before the edge was back */
} bench_result_t;

/* Runs cfg's scenario. Returns 0 with r filled (in the coordinator), -1 on
 * failure (printed). In a worker process it returns -1 with *worker_rc >= 0:
 * clean up and exit with that code. */
int bench_run(const bench_cfg_t *cfg, const bench_cred_t *creds, size_t ncreds, bench_result_t *r,
              int *worker_rc);

#endif /* BENCH_RUN_H */
