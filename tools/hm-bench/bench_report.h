/*
 * bench_report.h - a scenario's results as one JSON object (a line of the
 * .jsonl results) and as a row of the readable table.
 *
 * JSON keys: scenario, label, time, connections, workers, source_addrs,
 * path, ready, failed {connect, upgrade, auth, closed, pending},
 * closed_after_ready, last_error, last_close, events, rate, payload,
 * published, expected, delivered, lost, duplicates, published_per_s,
 * delivered_per_s, duration_s, latency_us {p50, p90, p99, p999, max, mean},
 * setup_us {p50, p90, p99, p999, max, mean}, connect_per_s,
 * cpu_s {edge, broker, auth, bench}, window_s, bench_cpu_pct (hm-bench's own
 * CPU over the window, 100 = one core), server_cpu_us_per_msg (edge + broker per delivered event),
 * server_cpu_us_per_conn (connect: edge + broker + auth per connection),
 * edge_rss_base_kb, edge_rss_kb, edge_rss_per_conn_b, hold_s,
 * warm_complete, setup_complete; cpu_s also has health and chat.
 * fullpath, chat and reconnect add: sent, acked, refused (client messages
 * and their replies; refused ones are not expected), gaps (seqs skipped),
 * other (messages that were none of ours: assistant replies, own echoes),
 * window, ack_us (fullpath: submit to ack), oneway_us (chat: sender to
 * partner), resume_us (reconnect: edge back to each connection resumed),
 * restart, rounds, rounds_before_restart, rounds_until_up, dropped,
 * reconnected, resumed, retries, downtime_s, resume_s (edge back to the
 * last connection resumed), resume_complete. Figures that were not
 * measured are null.
 */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "bench.h"
#include "bench_run.h"

/* The report of one run (caller owns). */
json_t *bench_report_json(const bench_cfg_t *cfg, const bench_result_t *r);

/* The table: its header, one row per report, and a legend of the columns. */
void bench_report_header(FILE *f);
void bench_report_row(FILE *f, const json_t *report);
void bench_report_legend(FILE *f);

/* Prints the table of every JSON line in the files. Returns 0, or 1 when a
 * file could not be read or held no report. */
int bench_report_files(FILE *f, int n, char **paths);

#endif /* BENCH_REPORT_H */
