/*
 * bench_fleet.h - the worker processes and their reports.
 *
 * bench_fleet_start forks cfg->workers processes; worker w holds global
 * connections [w * N / K, (w + 1) * N / K) in a bench_pool and reports its
 * bench_counts_t over a pipe (at most every 100 ms while something changes,
 * and at once when its share is settled or its events are all in). The
 * coordinator sends commands on the command pipe (bench_cmd_t): 'q' ends a
 * worker (it reports a final time with its three histograms and exits), 'g'
 * starts the client messages (fullpath, chat), 'r' reconnects the
 * connections the server closed (reconnect). A worker whose command pipe
 * closes (the coordinator died) ends too.
 */
#ifndef BENCH_FLEET_H
#define BENCH_FLEET_H

#include <stddef.h>

#include "bench.h"

typedef struct bench_fleet bench_fleet_t;

/* A command to the workers: one atomic write. */
typedef struct {
    char cmd;    /* 'q' quit, 'g' go, 'r' reconnect */
    int64_t arg; /* 'r': readings per user stored before the edge came back */
    int64_t t;   /* 'r': when the edge came back (monotonic ns) */
} bench_cmd_t;

/* Sends a command to every worker. Returns 0 or -1. */
int bench_fleet_command(bench_fleet_t *self, char cmd, int64_t arg, int64_t t);

/* Forks the workers. In the coordinator returns the fleet (caller owns);
 * in a worker runs it to the end and returns NULL with *worker_rc set
 * (>= 0: the caller cleans up and exits with it). NULL with *worker_rc -1
 * when forking failed (printed). Call before anything starts ZeroMQ. */
bench_fleet_t *bench_fleet_start(const bench_cfg_t *cfg, const bench_cred_t *creds, size_t ncreds,
                                 int *worker_rc);

/* The workers' PIDs into pids (at most max). Returns the count. */
int bench_fleet_pids(bench_fleet_t *self, int *pids, int max);

/* Waits up to timeout_ms for reports and reads all that arrived. Returns
 * the number read, or -1 when every worker is gone. */
int bench_fleet_poll(bench_fleet_t *self, int timeout_ms);

/* Sum of the latest reports (times: earliest first, latest last). */
void bench_fleet_total(bench_fleet_t *self, bench_counts_t *total);

/* Ends the workers and collects their final counts and histograms (added
 * into lat, setup and aux). Returns 0, or -1 when a worker died before its
 * final report. */
int bench_fleet_finish(bench_fleet_t *self, bench_counts_t *total, bench_hist_t *lat,
                       bench_hist_t *setup, bench_hist_t *aux);

void bench_fleet_destroy(bench_fleet_t **self_p);

#endif /* BENCH_FLEET_H */
