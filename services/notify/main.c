/*
 * hm-notify - notifications: creation (idempotent), storage before
 * publication, delivery at least once with acks, re-sends with backoff,
 * replay on reconnect, quiet hours and preferences, the offline queue bound,
 * expiry, and escalation to a webhook (proto/SPEC.md sections 8 and 11).
 *
 * Without a subcommand it runs the Majordomo service "notify" and listens
 * to sys.conn until SIGTERM/SIGINT. `hm-notify bench` measures a running
 * stack (ntf_bench.h).
 */
#include <curl/curl.h>
#include <czmq.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_bus.h"
#include "hm_config.h"
#include "hm_db.h"
#include "hm_log.h"
#include "hm_mdp.h"
#include "ntf_bench.h"
#include "ntf_service.h"
#include "ntf_store.h"

#define S_BATCH 256      /* requests or events handled per wake-up before the timers run */
#define S_WORKERS_MAX 64 /* Majordomo worker sockets */

static const hm_cfg_opt_t s_opts[] = {
    HM_CFG_BUS_OPTS,
    {"data_dir", HM_CFG_STR, "./var", 0, 0, "data directory"},
    {"db", HM_CFG_STR, "", 0, 0, "sqlite database (default <data_dir>/notify.db)"},
    {"heartbeat_ms", HM_CFG_INT, "1000", 50, 60000, "Majordomo heartbeat interval (ms)"},
    {"workers", HM_CFG_INT, "8", 1, S_WORKERS_MAX,
     "Majordomo worker sockets: requests in flight at once, answered with one commit"},
    {"tzdir", HM_CFG_STR, "/usr/share/zoneinfo", 0, 0, "tz database (TZif files)"},
    {"resend_base_ms", HM_CFG_INT, "5000", 10, 3600000,
     "unacked high/critical: first re-send after about this (ms, jittered)"},
    {"resend_factor", HM_CFG_DOUBLE, "2", 1, 10, "re-send delay growth per attempt"},
    {"resend_cap_ms", HM_CFG_INT, "300000", 10, 86400000, "longest delay between re-sends (ms)"},
    {"resend_max", HM_CFG_INT, "5", 0, 100, "re-sends per notification while online"},
    {"queue_max", HM_CFG_INT, "100", 1, 1000000,
     "open notifications per user; past it the oldest low, then normal ones are evicted"},
    {"expire_s", HM_CFG_INT, "604800", 0, 315360000,
     "default lifetime of an unacknowledged notification (s, 0: never)"},
    {"flush_delay_ms", HM_CFG_INT, "250", 0, 60000,
     "wait after a connection authenticates before re-publishing its queue (ms)"},
    {"hold_check_ms", HM_CFG_INT, "5000", 50, 3600000,
     "how often held (quiet-hours) notifications are looked at (ms)"},
    {"sync_ms", HM_CFG_INT, "60000", 0, 86400000,
     "presence resync with auth.sessions (ms, 0: at start only)"},
    {"retention_days", HM_CFG_INT, "90", 0, 36500,
     "delete finished notifications after this many days (0: never)"},
    {"auth_timeout_ms", HM_CFG_INT, "3000", 100, 60000, "deadline of requests to hm-auth (ms)"},
    {"webhook_url", HM_CFG_STR, "", 0, 0, "escalation webhook (http/https URL; empty: off)"},
    {"webhook_secret", HM_CFG_STR, "", 0, 0,
     "HMAC key of the webhook (visible in ps as a flag: prefer HM_WEBHOOK_SECRET)"},
    {"webhook_secret_file", HM_CFG_STR, "", 0, 0, "file holding the webhook HMAC key"},
    {"webhook_timeout_ms", HM_CFG_INT, "5000", 100, 120000, "per POST (ms)"},
    {"webhook_base_ms", HM_CFG_INT, "1000", 10, 3600000, "first POST retry after about (ms)"},
    {"webhook_factor", HM_CFG_DOUBLE, "2", 1, 10, "POST retry delay growth"},
    {"webhook_cap_ms", HM_CFG_INT, "300000", 10, 86400000, "longest delay between POSTs (ms)"},
    {"webhook_attempts", HM_CFG_INT, "8", 1, 1000, "POSTs per escalation before giving up"},
    {NULL, 0, NULL, 0, 0, NULL},
};

#define USAGE                                                                                      \
    "hm-notify [options]                      run the notify service\n"                            \
    "       hm-notify [options] bench COUNT [USERS [INFLIGHT [FIRST_USER]]]\n"                     \
    "                                         create COUNT notifications through a running\n"      \
    "                                         stack, print created and delivered per second"

/* ---- the loop ------------------------------------------------------------ */

/* Requests read in one wake-up, answered after one commit. */
typedef struct {
    hm_envelope_t *req[S_BATCH];   /* the requests; owned */
    zframe_t *to[S_BATCH];         /* their reply addresses; owned (NULL: deferred) */
    hm_mdp_worker_t *via[S_BATCH]; /* the worker each came through; borrowed */
    hm_envelope_t *rep[S_BATCH];   /* the replies; owned */
    int n;                         /* entries used */
} s_batch_t;

/* Sends each reply through its worker (internal_error for all when failed)
 * and frees the batch. */
static void
s_batch_answer(s_batch_t *b, bool failed)
{
    for (int i = 0; i < b->n; i++) {
        if (b->to[i] && (failed || !b->rep[i])) {
            hm_envelope_destroy(&b->rep[i]);
            b->rep[i] = hm_mdp_error_reply(b->req[i], HM_ERR_INTERNAL,
                                           failed ? "database error" : "out of memory");
        }
        if (b->to[i] && (!b->rep[i] || hm_mdp_worker_send(b->via[i], &b->to[i], b->rep[i]) != 0))
            hm_log_error("reply_failed", "verb=%s", b->req[i]->type);
        hm_envelope_destroy(&b->rep[i]);
        hm_envelope_destroy(&b->req[i]);
        zframe_destroy(&b->to[i]);
    }
    b->n = 0;
}

/* Answers the requests waiting on all worker sockets (up to S_BATCH),
 * their writes in one transaction (group commit: one fsync for a burst; the
 * broker hands each worker socket one request at a time, so the number of
 * sockets bounds the burst). Events are published at commit, before the
 * replies leave. */
static void
s_drain_requests(hm_mdp_worker_t **workers, int nworkers, ntf_service_t *svc)
{
    s_batch_t b = {.n = 0};
    for (int w = 0; w < nworkers; w++) {
        int rc;
        while (b.n < S_BATCH &&
               (rc = hm_mdp_worker_recv(workers[w], &b.req[b.n], &b.to[b.n])) >= 0) {
            b.via[b.n] = workers[w];
            b.n += rc == 1 ? 1 : 0;
        }
    }
    if (b.n == 0)
        return;
    bool batched = ntf_service_begin(svc) == 0;
    for (int i = 0; i < b.n; i++)
        b.rep[i] = ntf_service_handle(svc, b.req[i], &b.to[i], b.via[i]);
    s_batch_answer(&b, batched && ntf_service_commit(svc) != 0);
}

static void
s_on_event(void *svc, const char *topic, hm_envelope_t *ev)
{
    ntf_service_on_event(svc, topic, ev);
}

/* Handles up to S_BATCH waiting bus events. */
static void
s_drain_events(zsock_t *sub, ntf_service_t *svc)
{
    hm_bus_drain(sub, S_BATCH, s_on_event, svc, NULL);
}

/* The sockets the loop polls. */
typedef struct {
    hm_mdp_worker_t *workers[S_WORKERS_MAX]; /* requests from the broker; owned */
    int nworkers;                            /* worker sockets */
    zsock_t *sub;                            /* sys.conn; owned */
    ntf_authc_t *authc;                      /* replies from hm-auth; owned */
    ntf_webhook_t *webhook;                  /* POST results; owned, NULL when off */
} s_socks_t;

/* Milliseconds the loop may sleep. */
static int
s_wait_ms(s_socks_t *k, ntf_service_t *svc)
{
    int wait = ntf_service_tick_ms(svc);
    for (int w = 0; w < k->nworkers; w++) {
        int t = hm_mdp_worker_tick_ms(k->workers[w]);
        if (t < wait)
            wait = t;
    }
    return wait;
}

/* The loop: requests, events, replies and timers until SIGINT/SIGTERM. */
static void
s_loop(s_socks_t *k, ntf_service_t *svc)
{
    zmq_pollitem_t items[S_WORKERS_MAX + 3];
    while (!zsys_interrupted) {
        int n = 0;
        for (int w = 0; w < k->nworkers; w++) /* the sockets change after a reconnect */
            items[n++] = (zmq_pollitem_t){zsock_resolve(hm_mdp_worker_sock(k->workers[w])), 0,
                                          ZMQ_POLLIN, 0};
        items[n++] = (zmq_pollitem_t){zsock_resolve(k->sub), 0, ZMQ_POLLIN, 0};
        items[n++] = (zmq_pollitem_t){zsock_resolve(ntf_authc_sock(k->authc)), 0, ZMQ_POLLIN, 0};
        if (k->webhook)
            items[n++] =
                (zmq_pollitem_t){zsock_resolve(ntf_webhook_sock(k->webhook)), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(items, n, s_wait_ms(k, svc)) < 0 && zmq_errno() != EINTR)
            break;
        s_drain_requests(k->workers, k->nworkers, svc);
        s_drain_events(k->sub, svc);
        ntf_service_drain(svc);
        for (int w = 0; w < k->nworkers; w++)
            hm_mdp_worker_tick(k->workers[w]);
        ntf_service_tick(svc);
    }
}

/* ---- configuration ----------------------------------------------------------- */

/* The database path: db, else <data_dir>/notify.db. Returns path or NULL. */
static const char *
s_db_path(hm_config_t *cfg, char *path, size_t len)
{
    const char *db = hm_config_str(cfg, "db");
    int n = *db ? snprintf(path, len, "%s", db)
                : snprintf(path, len, "%s/notify.db", hm_config_str(cfg, "data_dir"));
    return n > 0 && (size_t)n < len ? path : NULL;
}

/* The webhook secret: webhook_secret, else the first line of
 * webhook_secret_file. Returns 0 (out filled, may be "") or -1. */
static int
s_webhook_secret(hm_config_t *cfg, char *out, size_t len)
{
    const char *file = hm_config_str(cfg, "webhook_secret_file");
    snprintf(out, len, "%s", hm_config_str(cfg, "webhook_secret"));
    if (*out || !*file)
        return 0;
    FILE *f = fopen(file, "re");
    if (!f || !fgets(out, (int)len, f)) {
        fprintf(stderr, "hm-notify: cannot read webhook_secret_file %s\n", file);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

/* Starts the webhook thread when a URL is set. Returns 0 (*wh set or NULL
 * when off) or -1 (message printed). */
static int
s_webhook(hm_config_t *cfg, ntf_webhook_t **wh)
{
    const char *url = hm_config_str(cfg, "webhook_url");
    char secret[1024];
    *wh = NULL;
    if (!*url)
        return 0;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        fprintf(stderr, "hm-notify: webhook_url must be an http:// or https:// URL\n");
        return -1;
    }
    if (s_webhook_secret(cfg, secret, sizeof secret) != 0)
        return -1;
    if (!*secret) {
        fprintf(stderr, "hm-notify: webhook_url needs webhook_secret (or HM_WEBHOOK_SECRET, "
                        "webhook_secret_file)\n");
        return -1;
    }
    ntf_webhook_cfg_t wcfg = {url, secret, (int)hm_config_int(cfg, "webhook_timeout_ms")};
    *wh = ntf_webhook_new(&wcfg);
    return *wh ? 0 : -1;
}

/* The service settings from the configuration. */
static ntf_service_cfg_t
s_service_cfg(hm_config_t *cfg)
{
    ntf_service_cfg_t c = {
        .tzdir = hm_config_str(cfg, "tzdir"),
        .resend = {hm_config_int(cfg, "resend_base_ms"), hm_config_double(cfg, "resend_factor"),
                   hm_config_int(cfg, "resend_cap_ms"), (int)hm_config_int(cfg, "resend_max")},
        .retry = {hm_config_int(cfg, "webhook_base_ms"), hm_config_double(cfg, "webhook_factor"),
                  hm_config_int(cfg, "webhook_cap_ms"),
                  (int)hm_config_int(cfg, "webhook_attempts")},
        .queue_max = (int)hm_config_int(cfg, "queue_max"),
        .expire_ms = hm_config_int(cfg, "expire_s") * 1000,
        .flush_delay_ms = hm_config_int(cfg, "flush_delay_ms"),
        .hold_check_ms = hm_config_int(cfg, "hold_check_ms"),
        .sync_ms = hm_config_int(cfg, "sync_ms"),
        .retention_ms = hm_config_int(cfg, "retention_days") * 86400000LL,
        .resend_entries = 100000,
    };
    return c;
}

/* ---- serving ------------------------------------------------------------------ */

/* Connects the bus sockets. Returns 0 or -1 (logged). */
static int
s_connect(hm_config_t *cfg, zsock_t **pub, s_socks_t *k)
{
    *pub = hm_bus_pub_new(hm_config_str(cfg, "events_in"));
    k->sub = hm_bus_sub_new(hm_config_str(cfg, "events_out"));
    if (!*pub || !k->sub || hm_bus_subscribe(k->sub, HM_TOPIC_SYS_CONN) != 0)
        return -1;
    k->authc =
        ntf_authc_new(hm_config_str(cfg, "requests"), (int)hm_config_int(cfg, "auth_timeout_ms"));
    if (!k->authc)
        return -1;
    for (k->nworkers = 0; k->nworkers < (int)hm_config_int(cfg, "workers"); k->nworkers++) {
        k->workers[k->nworkers] = hm_mdp_worker_new(hm_config_str(cfg, "requests"), HM_SVC_NOTIFY,
                                                    (int)hm_config_int(cfg, "heartbeat_ms"));
        if (!k->workers[k->nworkers])
            return -1;
    }
    return 0;
}

/* Runs the service. Returns the exit code. */
static int
s_serve(hm_config_t *cfg)
{
    char path[PATH_MAX];
    s_socks_t k = {.nworkers = 0};
    if (s_webhook(cfg, &k.webhook) != 0)
        return 2;
    sqlite3 *db = s_db_path(cfg, path, sizeof path) ? ntf_store_open(path) : NULL;
    zsock_t *pub = NULL;
    ntf_service_t *svc = NULL;
    int rc = 1;
    if (db && s_connect(cfg, &pub, &k) == 0) {
        ntf_service_cfg_t scfg = s_service_cfg(cfg);
        scfg.db = db;
        scfg.pub = pub;
        scfg.authc = k.authc;
        scfg.webhook = k.webhook;
        svc = ntf_service_new(&scfg);
    }
    if (svc) {
        hm_log_info("started", "requests=%s events_out=%s escalation=%s",
                    hm_config_str(cfg, "requests"), hm_config_str(cfg, "events_out"),
                    k.webhook ? "on" : "off");
        ntf_service_start(svc);
        s_loop(&k, svc);
        hm_log_info("stopped", NULL);
        rc = 0;
    } else {
        hm_log_error("startup_failed", "reason=%s", db ? "bus" : "database");
    }
    ntf_authc_destroy(&k.authc); /* first: its callbacks point into the service */
    ntf_service_destroy(&svc);
    ntf_webhook_destroy(&k.webhook);
    for (int w = 0; w < S_WORKERS_MAX; w++)
        hm_mdp_worker_destroy(&k.workers[w]);
    zsock_destroy(&k.sub);
    zsock_destroy(&pub);
    hm_db_close(&db);
    return rc;
}

int
main(int argc, char **argv)
{
    hm_config_t *cfg = hm_config_new("notify", USAGE, s_opts);
    int first = 0;
    int rc = hm_config_start(cfg, argc, argv, "hm-notify", &first);
    if (rc != 0) {
        hm_config_destroy(&cfg);
        return rc == 1 ? 0 : 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (first < argc && strcmp(argv[first], "bench") == 0) {
        rc = ntf_bench_run(cfg, argc - first - 1, argv + first + 1);
    } else if (first < argc) {
        fprintf(stderr, "hm-notify: unknown command or option '%s' (see --help)\n", argv[first]);
        rc = 2;
    } else {
        rc = s_serve(cfg);
    }
    curl_global_cleanup();
    hm_config_destroy(&cfg);
    return rc;
}
