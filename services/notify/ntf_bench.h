/*
 * ntf_bench.h - `hm-notify bench COUNT [USERS [INFLIGHT [FIRST_USER]]]`:
 * throughput of a running stack (broker + hm-notify), for the notes (not a
 * test).
 *
 * Sends COUNT notify.create requests (type system, priority normal, to
 * users FIRST_USER .. FIRST_USER+USERS-1, default 1 user, 900000001) with
 * INFLIGHT (default 64) outstanding at a time, and counts the notification
 * events that come back on u.<id>.notify through the broker. Prints one JSON
 * line: created, delivered, seconds, created_per_s, delivered_per_s and the
 * create-to-event latency p50/p99 in ms. The notifications are real: use a
 * scratch data directory.
 */
#ifndef NTF_BENCH_H
#define NTF_BENCH_H

#include "hm_config.h"

/* Runs the benchmark with the bus endpoints of cfg. Returns the exit code
 * (0, 1 when something was lost or failed, 2 on bad arguments). */
int ntf_bench_run(hm_config_t *cfg, int argc, char **argv);

#endif /* NTF_BENCH_H */
