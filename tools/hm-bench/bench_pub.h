/*
 * bench_pub.h - hm-bench's publisher: a PUB socket on the broker's
 * events-in, publishing what hm-notify and hm-health would, with the
 * publish time (CLOCK_MONOTONIC ns) in each event's data:
 *
 *   broadcast: all.notify, type notification, envelope seq i + 1, data
 *              {"t_ns", "seq", "id", "type", "title", "message", "priority",
 *               "created_at", "pad"}
 *   peruser:   u.<id>.health round-robin over the connections' users, type
 *              health_update, user_id, per-user seq, data {"t_ns", "seq",
 *              "id", "metric", "value", "unit", "timestamp", "source", "pad"}
 *
 * "t_ns" comes first and "seq" right after it so that a receiver finds both
 * without parsing the JSON (bench_ws_classify). Warm-up probes carry
 * {"probe": 1} and no seq: they prove that the subscriptions have reached
 * this publisher (ZeroMQ drops what nobody has subscribed to yet); fullpath
 * and reconnect probe u.<id>.health, chat u.<id>.chat.
 */
#ifndef BENCH_PUB_H
#define BENCH_PUB_H

#include <stddef.h>

#include "bench.h"

typedef struct bench_pub bench_pub_t;

/* Connects to cfg->events_in. cfg and creds are borrowed. NULL on failure
 * (printed). */
bench_pub_t *bench_pub_new(const bench_cfg_t *cfg, const bench_cred_t *creds, size_t ncreds);
void bench_pub_destroy(bench_pub_t **self_p);

/* One round of warm-up probes: one on all.notify, or one per user topic.
 * Returns 0 or -1. */
int bench_pub_probe(bench_pub_t *self);

/* Publishes event i (0-based), timestamped now. Returns 0 or -1. */
int bench_pub_event(bench_pub_t *self, long long i);

#endif /* BENCH_PUB_H */
