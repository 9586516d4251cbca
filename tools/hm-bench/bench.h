/*
 * bench.h - hm-bench's shared settings and the counters a worker process
 * reports to the coordinator. Internal to tools/hm-bench.
 *
 * Processes: the coordinator (main process) forks K workers before it
 * touches ZeroMQ. Each worker holds a share of the WebSocket connections in
 * its own epoll loop and reports bench_counts_t over a pipe; the coordinator
 * publishes on the bus, samples the server processes from /proc and
 * aggregates. CLOCK_MONOTONIC is system-wide, so a timestamp taken by the
 * publisher is comparable with the receipt time in any worker.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "bench_hist.h"

typedef enum {
    BENCH_BROADCAST = 0, /* all.notify to every connection */
    BENCH_PERUSER,       /* u.<id>.health, one user per connection, round-robin */
    BENCH_CONNECT,       /* connect + authenticate + subscribe per second */
    BENCH_IDLE,          /* connections held: edge memory per connection */
    BENCH_FULLPATH,      /* client health_update -> hm-health -> u.<id>.health -> the client */
    BENCH_RECONNECT,     /* edge restart, reconnect storm with since_seq resume */
    BENCH_CHAT,          /* chat_message round trip between a patient and a clinician */
    BENCH_SCENARIO_COUNT,
} bench_scenario_t;

/* Settings, from the config table in main.c. Strings are borrowed from the
 * config and live as long as it does. */
typedef struct {
    bench_scenario_t scenario;
    const char *scenario_name;
    const char *host;        /* edge address (IPv4 literal) */
    int port;                /* edge port */
    const char *path;        /* WebSocket path */
    int connections;         /* N */
    double rate;             /* events per second, 0: as fast as possible */
    long long events;        /* events to publish */
    int payload;             /* bytes of padding in each event's data */
    int workers;             /* worker processes (resolved, >= 1) */
    int source_addrs;        /* source addresses 127.0.0.(base..), 0: do not bind */
    int source_base;         /* last byte of the first source address */
    int inflight;            /* handshakes in flight per worker */
    double hold_s;           /* idle: how long connections are held */
    int drain_ms;            /* stop waiting this long after the last progress */
    int setup_timeout_s;     /* give up on connections not ready by then */
    double warmup_s;         /* give up on warm-up probes after this long */
    int window;              /* fullpath: readings in flight per connection */
    double rounds_before;    /* reconnect: readings per user before the restart */
    double rounds_after;     /* reconnect: readings per user fed after the edge is back */
    const char *restart_cmd; /* reconnect: shell command that restarts the edge */
    const char *restart_how; /* reconnect: how it stops the edge, for the report */
    char nonce[20];          /* chat: this run's conversation id prefix */
    const char *events_in;   /* broker XSUB endpoint */
    const char *requests;    /* broker Majordomo endpoint */
    const char *edge_pids;   /* comma-separated PIDs (or "" to look up by name) */
    const char *broker_pids;
    const char *auth_pids;
    const char *health_pids;
    const char *chat_pids;
    const char *label; /* free text copied into the report */
    bool json;         /* print the JSON line instead of the table */
} bench_cfg_t;

/* One connection's credentials: the user it authenticates as. */
typedef struct {
    int64_t user_id; /* from the file or the token's sub */
    char *token;     /* JWT; owned by the credential list */
} bench_cred_t;

#define BENCH_ERR_LEN 32

/* A worker's counters. Sent whole over a pipe (under PIPE_BUF, so each
 * write is atomic); the final report is followed by two histograms. */
typedef struct {
    int32_t worker;          /* index */
    int32_t final;           /* 1: last report, histograms follow */
    int64_t share;           /* connections this worker opens */
    int64_t settled;         /* connections ready or failed */
    int64_t ready;           /* subscribed */
    int64_t warm;            /* ready connections that saw a warm-up probe */
    int64_t received;        /* events received */
    int64_t expected;        /* events the ready connections should receive */
    int64_t duplicates;      /* events at or below the last seq seen */
    int64_t fail_connect;    /* TCP connect failed */
    int64_t fail_upgrade;    /* no 101, or a bad handshake */
    int64_t fail_auth;       /* error before subscribed */
    int64_t fail_closed;     /* closed by the server before subscribed */
    int64_t closed_ready;    /* closed by the server after subscribed */
    int64_t bytes_in;        /* bytes read */
    int64_t t_first_connect; /* monotonic ns, 0: none */
    int64_t t_last_ready;
    int64_t t_first_rx;     /* first event */
    int64_t t_last_rx;      /* last event */
    int64_t sent;           /* fullpath, chat: client messages sent (readings, rtt messages) */
    int64_t acked;          /* their ack replies */
    int64_t refused;        /* their error replies (never delivered: not expected) */
    int64_t gaps;           /* seqs skipped on a stream (reconnect, fullpath) */
    int64_t dropped;        /* reconnect: ready connections the server closed */
    int64_t reconnected;    /* reconnect: connections subscribed again */
    int64_t resumed;        /* reconnect: connections that got everything they missed */
    int64_t retries;        /* reconnect: connection attempts that failed and were retried */
    int64_t other;          /* chat: other messages received (assistant replies, own echoes) */
    int64_t t_last_resumed; /* reconnect: the last connection resumed (monotonic ns) */
    int64_t t_first_send;   /* fullpath, chat: first client message */
    int32_t last_close;     /* last close code seen from the server */
    char last_error[BENCH_ERR_LEN]; /* last error code seen ("" none) */
} bench_counts_t;

/* Events connection idx (0..n-1) of n receives out of events published
 * round-robin. */
static inline int64_t
bench_peruser_share(long long events, int n, int idx)
{
    return events / n + (idx < events % n ? 1 : 0);
}

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);

#endif /* BENCH_H */
