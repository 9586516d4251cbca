/*
 * hm-bench - load generator and benchmark for the edge (DESIGN.md section 9).
 *
 *   hm-bench [options]                    run one scenario, print its report
 *   hm-bench [options] table FILE.jsonl   print the table of saved reports
 *
 * Scenarios:
 *   broadcast  N connections on /ws/notifications; EVENTS system
 *              notifications on all.notify, each to every connection
 *   peruser    N connections on /ws/health, one user each; EVENTS
 *              health_update events round-robin on u.<id>.health
 *   connect    N connections opened as fast as the edge takes them
 *              (INFLIGHT handshakes at a time per worker): connect +
 *              authenticate + subscribed per second
 *   idle       N connections held for HOLD_S: edge memory per connection
 *   fullpath   N connections on /ws/health, one user each; the clients send
 *              EVENTS health_update readings (steps, value = the
 *              connection's message number) at RATE (0: WINDOW in flight per
 *              connection); hm-health stores and publishes each, the same
 *              connection receives it: submit-to-receipt latency
 *   reconnect  N connections on /ws/combined following their own health
 *              stream; hm-bench stores ROUNDS_BEFORE readings per user
 *              through hm-health (health.device_reading on the bus), runs
 *              RESTART_CMD (restarts the edge) while it keeps storing
 *              readings, then every connection the edge closed reconnects
 *              at once and subscribes with since_seq; ROUNDS_AFTER more
 *              rounds go on meanwhile. Reports when every connection had
 *              all it missed, and every seq skipped or lost
 *   chat       N/2 pairs on /ws/chat: the first of a pair (a patient) sends
 *              "rtt T K" in a conversation with the second (a linked
 *              clinician), who answers "echo T K"; EVENTS round trips in
 *              all, one in flight per pair, at RATE (0: closed loop)
 *
 * Events are published on the bus by hm-bench itself (PUB to the broker's
 * events-in) with the CLOCK_MONOTONIC publish time in their data, and timed
 * on receipt. Connections authenticate with real tokens: from --tokens-file
 * (see bench_tokens.h), signed here with --secret when the file holds user
 * ids only. Above ~19,000 connections the work is spread over worker
 * processes (one process may hold 20,000 files) and the sockets over source
 * addresses 127.0.0.2, .3, ... (ephemeral ports are per source address).
 *
 * HM_BENCH_DEBUG=1 in the environment: each worker prints every
 * connection's state, last seq and events at the end (stderr).
 *
 * Exit codes: 0 the scenario ran (the report says what was lost), 1 it
 * could not run to the end, 2 bad usage.
 */
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_proc.h"
#include "bench_report.h"
#include "bench_run.h"
#include "bench_tokens.h"
#include "hm_bus.h"
#include "hm_config.h"

/* clang-format off */
static const hm_cfg_opt_t s_opts[] = {
    HM_CFG_BUS_OPTS,
    {"url", HM_CFG_STR, "", 0, 0, "ws://HOST:PORT[/PATH] of the edge (instead of host, port, path)"},
    {"host", HM_CFG_STR, "127.0.0.1", 0, 0, "edge address (IPv4)"},
    {"port", HM_CFG_INT, "8000", 1, 65535, "edge port"},
    {"path", HM_CFG_STR, "", 0, 0,
     "WebSocket path (default /ws/health for peruser, else /ws/notifications)"},
    {"scenario", HM_CFG_STR, "broadcast", 0, 0,
     "broadcast, peruser, connect, idle, fullpath, reconnect or chat"},
    {"connections", HM_CFG_INT, "100", 1, 1000000, "WebSocket connections (N)"},
    {"rate", HM_CFG_DOUBLE, "0", 0, 10000000,
     "events per second (0: as fast as possible; chat: round trips, reconnect: readings)"},
    {"window", HM_CFG_INT, "4", 1, 1000, "fullpath: readings in flight per connection"},
    {"rounds_before", HM_CFG_DOUBLE, "1", 1, 1000000,
     "reconnect: readings per user before the restart"},
    {"rounds_after", HM_CFG_DOUBLE, "1", 0, 1000000,
     "reconnect: readings per user stored after the edge is back, while clients resume"},
    {"restart_cmd", HM_CFG_STR, "", 0, 0,
     "reconnect: shell command that restarts the edge and prints its new PID(s)"},
    {"restart_how", HM_CFG_STR, "", 0, 0, "reconnect: how the command stops the edge (report)"},
    {"events", HM_CFG_INT, "100", 0, 10000000000.0, "events to publish"},
    {"payload", HM_CFG_INT, "100", 0, 262144, "bytes of padding in each event's data"},
    {"tokens_file", HM_CFG_STR, "", 0, 0,
     "one credential per line: \"ID TOKEN\", \"TOKEN\" or \"ID\" (signed with the secret)"},
    {"secret", HM_CFG_STR, "", 0, 0, "HS256 secret of hm-auth, to sign tokens (prefer secret_file)"},
    {"secret_file", HM_CFG_STR, "", 0, 0, "file holding the HS256 secret"},
    {"iss", HM_CFG_STR, "healthmate", 0, 0, "iss of signed tokens (hm-auth's issuer)"},
    {"aud", HM_CFG_STR, "healthmate-realtime", 0, 0, "aud of signed tokens (hm-auth's audience)"},
    {"token_ttl", HM_CFG_INT, "7200", 60, 2592000, "lifetime of signed tokens (s)"},
    {"source_addrs", HM_CFG_INT, "0", -1, 250,
     "bind to 127.0.0.B .. B+K-1 (0: one per 20,000 connections, -1: do not bind)"},
    {"source_base", HM_CFG_INT, "2", 1, 254, "B: last byte of the first source address"},
    {"workers", HM_CFG_INT, "0", 0, 63, "worker processes (0: one per 19,000 connections)"},
    {"inflight", HM_CFG_INT, "1000", 1, 100000, "handshakes in flight per worker"},
    {"edge_pid", HM_CFG_STR, "", 0, 0, "hm-edge PIDs, comma-separated (default: the only hm-edge)"},
    {"broker_pid", HM_CFG_STR, "", 0, 0, "hm-broker PID (default: the only hm-broker)"},
    {"auth_pid", HM_CFG_STR, "", 0, 0, "hm-auth PID (default: the only hm-auth)"},
    {"health_pid", HM_CFG_STR, "", 0, 0, "hm-health PID (default: the only hm-health)"},
    {"chat_pid", HM_CFG_STR, "", 0, 0, "hm-chat PID (default: the only hm-chat)"},
    {"hold_s", HM_CFG_DOUBLE, "5", 0, 86400, "idle: how long to hold the connections, after a settle second (s)"},
    {"drain_ms", HM_CFG_INT, "3000", 10, 600000,
     "after the last publish, give up when nothing arrived for this long (ms)"},
    {"setup_timeout_s", HM_CFG_INT, "120", 1, 3600, "connections not subscribed by then fail"},
    {"warmup_s", HM_CFG_DOUBLE, "10", 0.1, 600, "longest warm-up (subscriptions reaching us)"},
    {"label", HM_CFG_STR, "", 0, 0, "name of this run in the report and the table"},
    {"json", HM_CFG_BOOL, "false", 0, 0, "print the report as one JSON line instead of a table"},
    {NULL, 0, NULL, 0, 0, NULL},
};
/* clang-format on */

#define USAGE                                                                                      \
    "hm-bench [options]\n"                                                                         \
    "       hm-bench [options] table FILE.jsonl ..."

#define S_CONNS_PER_WORKER 19000
#define S_CONNS_PER_ADDR 20000

static const char *s_scenarios[BENCH_SCENARIO_COUNT] = {
    "broadcast", "peruser", "connect", "idle", "fullpath", "reconnect", "chat",
};

/* Splits ws://HOST:PORT[/PATH] into the buffers. Returns 0 or -1. */
static int
s_parse_url(const char *url, char *host, size_t hlen, int *port, char *path, size_t plen)
{
    if (strncmp(url, "ws://", 5) != 0)
        return -1;
    const char *h = url + 5, *colon = strchr(h, ':'), *slash = strchr(h, '/');
    if (!colon || (slash && slash < colon) || (size_t)(colon - h) >= hlen || colon == h)
        return -1;
    snprintf(host, hlen, "%.*s", (int)(colon - h), h);
    char *end = NULL;
    long p = strtol(colon + 1, &end, 10);
    if (p < 1 || p > 65535 || (*end && *end != '/'))
        return -1;
    *port = (int)p;
    if (*end == '/')
        snprintf(path, plen, "%s", end);
    return 0;
}

/* Resolves the scenario, the edge's address and the derived counts.
 * Returns 0 or -1 (printed). */
static int
s_settings(hm_config_t *cfg, bench_cfg_t *b, char *host, char *path)
{
    memset(b, 0, sizeof(*b));
    const char *name = hm_config_str(cfg, "scenario");
    b->scenario = BENCH_SCENARIO_COUNT;
    for (int i = 0; i < BENCH_SCENARIO_COUNT; i++)
        if (strcmp(name, s_scenarios[i]) == 0)
            b->scenario = (bench_scenario_t)i;
    if (b->scenario == BENCH_SCENARIO_COUNT) {
        fprintf(stderr, "hm-bench: unknown scenario '%s' (see --help)\n", name);
        return -1;
    }
    b->scenario_name = s_scenarios[b->scenario];
    snprintf(host, 64, "%s", hm_config_str(cfg, "host"));
    snprintf(path, 256, "%s", hm_config_str(cfg, "path"));
    b->port = (int)hm_config_int(cfg, "port");
    const char *url = hm_config_str(cfg, "url");
    if (*url && s_parse_url(url, host, 64, &b->port, path, 256) != 0) {
        fprintf(stderr, "hm-bench: --url must be ws://HOST:PORT[/PATH]\n");
        return -1;
    }
    if (!*path)
        snprintf(path, 256, "%s",
                 b->scenario == BENCH_PERUSER || b->scenario == BENCH_FULLPATH ? "/ws/health"
                 : b->scenario == BENCH_RECONNECT                              ? "/ws/combined"
                 : b->scenario == BENCH_CHAT                                   ? "/ws/chat"
                                             : "/ws/notifications");
    b->host = host;
    b->path = path;
    b->connections = (int)hm_config_int(cfg, "connections");
    b->rate = hm_config_double(cfg, "rate");
    b->events = hm_config_int(cfg, "events");
    b->payload = (int)hm_config_int(cfg, "payload");
    b->inflight = (int)hm_config_int(cfg, "inflight");
    b->hold_s = hm_config_double(cfg, "hold_s");
    b->drain_ms = (int)hm_config_int(cfg, "drain_ms");
    b->setup_timeout_s = (int)hm_config_int(cfg, "setup_timeout_s");
    b->warmup_s = hm_config_double(cfg, "warmup_s");
    b->events_in = hm_config_str(cfg, "events_in");
    b->requests = hm_config_str(cfg, "requests");
    b->window = (int)hm_config_int(cfg, "window");
    b->rounds_before = hm_config_double(cfg, "rounds_before");
    b->rounds_after = hm_config_double(cfg, "rounds_after");
    b->restart_cmd = hm_config_str(cfg, "restart_cmd");
    b->restart_how = hm_config_str(cfg, "restart_how");
    b->health_pids = hm_config_str(cfg, "health_pid");
    b->chat_pids = hm_config_str(cfg, "chat_pid");
    unsigned char rnd[8];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return -1;
    for (int i = 0; i < 8; i++)
        snprintf(b->nonce + 2 * i, 3, "%02x", rnd[i]);
    if (b->scenario == BENCH_RECONNECT && !*b->restart_cmd) {
        fprintf(stderr, "hm-bench: reconnect needs --restart-cmd (see --help)\n");
        return -1;
    }
    if (b->scenario == BENCH_CHAT && (int)hm_config_int(cfg, "connections") % 2 != 0) {
        fprintf(stderr, "hm-bench: chat needs an even number of connections (pairs)\n");
        return -1;
    }
    b->edge_pids = hm_config_str(cfg, "edge_pid");
    b->broker_pids = hm_config_str(cfg, "broker_pid");
    b->auth_pids = hm_config_str(cfg, "auth_pid");
    b->label = hm_config_str(cfg, "label");
    b->json = hm_config_bool(cfg, "json");
    return 0;
}

/* Workers and source addresses for N connections under the open-files
 * limit. Returns 0 or -1 (printed). */
static int
s_spread(hm_config_t *cfg, bench_cfg_t *b)
{
    long nofile = bench_raise_nofile();
    int n = b->connections;
    b->workers = (int)hm_config_int(cfg, "workers");
    if (b->workers == 0)
        b->workers = (n + S_CONNS_PER_WORKER - 1) / S_CONNS_PER_WORKER;
    if (b->workers > n)
        b->workers = n;
    int share = (n + b->workers - 1) / b->workers;
    if (nofile > 0 && share > nofile - 64) {
        fprintf(stderr,
                "hm-bench: %d connections per worker exceed the open-files limit %ld: "
                "use more --workers\n",
                share, nofile);
        return -1;
    }
    b->source_base = (int)hm_config_int(cfg, "source_base");
    b->source_addrs = (int)hm_config_int(cfg, "source_addrs");
    if (b->source_addrs == 0)
        b->source_addrs =
            strncmp(b->host, "127.", 4) == 0 ? (n + S_CONNS_PER_ADDR - 1) / S_CONNS_PER_ADDR : -1;
    if (b->source_addrs < 0)
        b->source_addrs = 0; /* do not bind */
    if (b->source_base + b->source_addrs - 1 > 254) {
        fprintf(stderr, "hm-bench: source addresses past 127.0.0.254\n");
        return -1;
    }
    return 0;
}

/* Loads the credentials. Returns 0 or -1 (printed). */
static int
s_creds(hm_config_t *cfg, const bench_cfg_t *b, bench_cred_t **creds, size_t *n)
{
    const char *file = hm_config_str(cfg, "tokens_file");
    const char *secret = hm_config_str(cfg, "secret");
    const char *secret_file = hm_config_str(cfg, "secret_file");
    if (!*file) {
        fprintf(stderr, "hm-bench: --tokens-file is required (see --help)\n");
        return -1;
    }
    size_t len = strlen(secret);
    unsigned char *key = NULL;
    if (*secret_file && !(key = bench_secret_read(secret_file, &len)))
        return -1;
    bench_signer_t signer = {.secret = key ? key : (len ? (const unsigned char *)secret : NULL),
                             .secret_len = len,
                             .issuer = hm_config_str(cfg, "iss"),
                             .audience = hm_config_str(cfg, "aud"),
                             .ttl_s = hm_config_int(cfg, "token_ttl")};
    int rc = bench_creds_load(file, &signer, creds, n);
    free(key);
    bool one_each = b->scenario == BENCH_PERUSER || b->scenario >= BENCH_FULLPATH;
    if (rc == 0 && one_each && *n < (size_t)b->connections) {
        fprintf(stderr,
                "hm-bench: %s needs one user per connection: %zu credentials for "
                "%d connections\n",
                b->scenario_name, *n, b->connections);
        bench_creds_free(creds, *n);
        rc = -1;
    }
    return rc;
}

/* Prints the report: a JSON line, or the table. */
static void
s_print(const bench_cfg_t *b, const bench_result_t *r)
{
    json_t *j = bench_report_json(b, r);
    if (b->json) {
        char *line = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
        if (line)
            printf("%s\n", line);
        free(line);
    } else if (j) {
        bench_report_header(stdout);
        bench_report_row(stdout, j);
        bench_report_legend(stdout);
    }
    fflush(stdout);
    json_decref(j);
}

/* Runs the scenario. Returns the exit code; *worker is set in a worker. */
static int
s_bench(hm_config_t *cfg, bool *worker)
{
    bench_cfg_t b;
    char host[64], path[256];
    bench_cred_t *creds = NULL;
    size_t ncreds = 0;
    if (s_settings(cfg, &b, host, path) != 0 || s_spread(cfg, &b) != 0 ||
        s_creds(cfg, &b, &creds, &ncreds) != 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    bench_result_t *r = malloc(sizeof(*r));
    int worker_rc = -1;
    int rc = r ? bench_run(&b, creds, ncreds, r, &worker_rc) : -1;
    *worker = worker_rc >= 0;
    if (!*worker && r)
        s_print(&b, r);
    free(r);
    bench_creds_free(&creds, ncreds);
    return *worker ? worker_rc : rc == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
    hm_config_t *cfg = hm_config_new("bench", USAGE, s_opts);
    int first = 0;
    int rc = cfg ? hm_config_load(cfg, argc, argv, &first) : -1;
    bool worker = false;
    if (rc == 1) {
        rc = 0;
    } else if (rc != 0 || hm_bus_curve_configure(cfg) != 0) {
        rc = 2;
    } else if (first < argc && strcmp(argv[first], "table") == 0 && first + 1 < argc) {
        rc = bench_report_files(stdout, argc - first - 1, argv + first + 1);
    } else if (first < argc) {
        fprintf(stderr, "hm-bench: unexpected argument '%s' (see --help)\n", argv[first]);
        rc = 2;
    } else {
        rc = s_bench(cfg, &worker);
    }
    hm_config_destroy(&cfg);
    return rc;
}
