/*
 * bus_bench.h - throughput measurements through a running broker.
 * Both print one JSON line and return 0 when nothing was lost, else 1.
 */
#ifndef BUS_BENCH_H
#define BUS_BENCH_H

int bus_bench_events(const char *events_in, const char *events_out, long long count);
int bus_bench_req(const char *requests, const char *service, long long count, int inflight);

#endif /* BUS_BENCH_H */
