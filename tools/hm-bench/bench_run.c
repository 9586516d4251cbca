/*
 * bench_run.c - the coordinator's side of a scenario (bench_run.h).
 *
 * Windows the figures cover:
 *   connect:   first connect() to the last subscribed (rate); server CPU
 *              until 1 s later (the servers' tail: session bookkeeping)
 *   idle:      the hold, from 1 s after the set-up (server CPU); RSS before
 *              connecting and at the end
 *   broadcast,
 *   peruser:   first publish to the last receipt (rates, server CPU per
 *              delivered event), after a warm-up that proves every
 *              connection's subscription reached the publisher
 */
#include "bench_run.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_fleet.h"
#include "bench_proc.h"
#include "bench_pub.h"

#define S_NS 1000000000LL
#define S_MS 1000000LL
#define S_SETTLE_MS 1000 /* the servers' tail after the set-up (connect, idle) */

int64_t
bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * S_NS + ts.tv_nsec;
}

typedef struct {
    const bench_cfg_t *cfg;
    bench_fleet_t *fleet;
    bench_procs_t procs[BENCH_ROLES];
    bench_result_t *r;
    double cpu0[BENCH_ROLES]; /* at the start of the window */
} s_run_t;

static void
s_cpu_sample(s_run_t *run, double out[BENCH_ROLES])
{
    for (int i = 0; i < BENCH_ROLES; i++)
        out[i] = bench_procs_cpu_s(&run->procs[i]);
}

/* Closes the CPU window opened by s_cpu_sample(run, run->cpu0). */
static void
s_cpu_window(s_run_t *run, int64_t t0)
{
    double now[BENCH_ROLES];
    s_cpu_sample(run, now);
    for (int i = 0; i < BENCH_ROLES; i++)
        run->r->cpu_s[i] = now[i] >= 0 && run->cpu0[i] >= 0 ? now[i] - run->cpu0[i] : -1;
    run->r->window_s = (double)(bench_now_ns() - t0) / S_NS;
}

/* Polls the workers for ms. Returns -1 when all are gone or on SIGINT. */
static int
s_poll_for(s_run_t *run, int64_t ms)
{
    int64_t until = bench_now_ns() + ms * S_MS;
    do {
        int64_t left = (until - bench_now_ns()) / S_MS;
        if (bench_fleet_poll(run->fleet, (int)(left > 0 ? left : 0)) < 0 || zsys_interrupted)
            return -1;
    } while (bench_now_ns() < until);
    bench_fleet_total(run->fleet, &run->r->total);
    return 0;
}

/* Waits until every connection is ready or failed. Returns 0 or -1. */
static int
s_wait_setup(s_run_t *run)
{
    int64_t deadline = bench_now_ns() + (int64_t)run->cfg->setup_timeout_s * S_NS;
    bench_counts_t *t = &run->r->total;
    while (bench_now_ns() < deadline) {
        if (s_poll_for(run, 20) != 0)
            return -1;
        if (t->settled >= run->cfg->connections) {
            run->r->setup_complete = true;
            break;
        }
    }
    if (!run->r->setup_complete)
        fprintf(stderr, "hm-bench: %lld of %d connections not ready after %d s\n",
                (long long)(run->cfg->connections - t->settled), run->cfg->connections,
                run->cfg->setup_timeout_s);
    if (t->ready < run->cfg->connections)
        fprintf(stderr, "hm-bench: %lld connections failed (last error %s, last close %d)\n",
                (long long)(t->settled - t->ready), t->last_error[0] ? t->last_error : "-",
                t->last_close);
    return 0;
}

/* Probes until every ready connection has seen one. Returns 0 or -1. */
static int
s_warm_up(s_run_t *run, bench_pub_t *pub)
{
    int64_t deadline = bench_now_ns() + (int64_t)(run->cfg->warmup_s * S_NS);
    bench_counts_t *t = &run->r->total;
    while (t->warm < t->ready && bench_now_ns() < deadline) {
        if (bench_pub_probe(pub) != 0 || s_poll_for(run, 200) != 0)
            return -1;
    }
    run->r->warm_complete = t->warm >= t->ready;
    if (!run->r->warm_complete)
        fprintf(stderr, "hm-bench: %lld ready connections saw no warm-up probe in %.1f s\n",
                (long long)(t->ready - t->warm), run->cfg->warmup_s);
    return s_poll_for(run, 100); /* probes still on their way land before the events */
}

/* Waits until due, reading worker reports meanwhile. Returns 0 or -1. */
static int
s_wait_until(s_run_t *run, int64_t due)
{
    int64_t now;
    while ((now = bench_now_ns()) < due) {
        int64_t left = due - now;
        if (left > 2 * S_MS) {
            if (bench_fleet_poll(run->fleet, (int)(left / S_MS - 1)) < 0 || zsys_interrupted)
                return -1;
        } else {
            struct timespec ts = {0, (long)left};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}

/* Publishes the events at the rate (or as fast as possible). */
static int
s_publish(s_run_t *run, bench_pub_t *pub)
{
    const bench_cfg_t *cfg = run->cfg;
    bench_result_t *r = run->r;
    r->t_pub_first = bench_now_ns();
    for (long long i = 0; i < cfg->events; i++) {
        if (cfg->rate > 0) {
            if (s_wait_until(run, r->t_pub_first + (int64_t)((double)i * S_NS / cfg->rate)))
                return -1;
        } else if (i % 1024 == 1023 && (bench_fleet_poll(run->fleet, 0) < 0 || zsys_interrupted)) {
            return -1;
        }
        if (bench_pub_event(pub, i) != 0) {
            fprintf(stderr, "hm-bench: publishing event %lld failed\n", i);
            return -1;
        }
        r->published++;
    }
    r->t_pub_last = bench_now_ns();
    return 0;
}

/* Waits for the events still on their way: until all are in, or nothing
 * has arrived for drain_ms. */
static int
s_drain(s_run_t *run)
{
    bench_counts_t *t = &run->r->total;
    int64_t last = bench_now_ns(), seen = -1;
    while (t->received < t->expected && bench_now_ns() - last < run->cfg->drain_ms * S_MS) {
        if (s_poll_for(run, 20) != 0)
            return -1;
        if (t->received != seen) {
            seen = t->received;
            last = bench_now_ns();
        }
    }
    return 0;
}

/* broadcast and peruser. */
static int
s_events(s_run_t *run, const bench_cred_t *creds, size_t ncreds)
{
    bench_pub_t *pub = bench_pub_new(run->cfg, creds, ncreds);
    if (!pub)
        return -1;
    int rc = s_warm_up(run, pub);
    s_cpu_sample(run, run->cpu0);
    if (rc == 0)
        rc = s_publish(run, pub);
    if (rc == 0)
        rc = s_drain(run);
    s_cpu_window(run, run->r->t_pub_first);
    bench_pub_destroy(&pub);
    return rc;
}

/* idle: hold the connections, watching for closes. The window opens after
 * a settle second: the servers finish the set-up's tail (auth's session
 * bookkeeping, the edge's lifecycle events) first. */
static int
s_hold(s_run_t *run)
{
    if (s_poll_for(run, S_SETTLE_MS) != 0)
        return -1;
    int64_t t0 = bench_now_ns();
    s_cpu_sample(run, run->cpu0);
    int rc = s_poll_for(run, (int64_t)(run->cfg->hold_s * 1000));
    s_cpu_window(run, t0);
    return rc;
}

static int
s_scenario(s_run_t *run, const bench_cred_t *creds, size_t ncreds)
{
    switch (run->cfg->scenario) {
    case BENCH_CONNECT: /* CPU: with the set-up's tail, a settle second */
        if (s_poll_for(run, S_SETTLE_MS) != 0)
            return -1;
        s_cpu_window(run, run->r->total.t_first_connect ? run->r->total.t_first_connect
                                                        : bench_now_ns());
        return 0;
    case BENCH_IDLE:
        return s_hold(run);
    case BENCH_BROADCAST:
    case BENCH_PERUSER:
        return s_events(run, creds, ncreds);
    default: /* hooks: main refuses them before anything starts */
        fprintf(stderr, "hm-bench: scenario %s is not implemented yet\n", run->cfg->scenario_name);
        return -1;
    }
}

int
bench_run(const bench_cfg_t *cfg, const bench_cred_t *creds, size_t ncreds, bench_result_t *r,
          int *worker_rc)
{
    memset(r, 0, sizeof(*r));
    bench_hist_init(&r->lat);
    bench_hist_init(&r->setup);
    s_run_t run = {.cfg = cfg, .r = r};
    bench_procs_init(&run.procs[BENCH_EDGE], "edge", cfg->edge_pids, "hm-edge", 0);
    bench_procs_init(&run.procs[BENCH_BROKER], "broker", cfg->broker_pids, "hm-broker", 0);
    bench_procs_init(&run.procs[BENCH_AUTH], "auth", cfg->auth_pids, "hm-auth", 1);
    bench_procs_t *client = &run.procs[BENCH_CLIENT];
    client->role = "bench";
    bench_procs_add(client, getpid());
    r->rss_base_kb = bench_procs_rss_kb(&run.procs[BENCH_EDGE]);
    s_cpu_sample(&run, run.cpu0);
    run.fleet = bench_fleet_start(cfg, creds, ncreds, worker_rc);
    if (!run.fleet)
        return -1;
    int pids[BENCH_PIDS_MAX];
    int n = bench_fleet_pids(run.fleet, pids, BENCH_PIDS_MAX - 1);
    for (int i = 0; i < n; i++)
        bench_procs_add(client, pids[i]);
    run.cpu0[BENCH_CLIENT] = bench_procs_cpu_s(client); /* workers start at 0 */
    int rc = s_wait_setup(&run);
    if (rc == 0)
        rc = s_scenario(&run, creds, ncreds);
    r->rss_kb = bench_procs_rss_kb(&run.procs[BENCH_EDGE]);
    if (bench_fleet_finish(run.fleet, &r->total, &r->lat, &r->setup) != 0)
        rc = -1;
    bench_fleet_destroy(&run.fleet);
    return rc;
}
