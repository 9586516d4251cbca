/*
 * hm-health - health metrics: validation, storage with a per-user seq,
 * thresholds and alerts, sync and replay (proto/SPEC.md section 9).
 *
 * Runs the Majordomo service "health" until SIGTERM/SIGINT. One loop over
 * `workers` Majordomo worker sockets (requests) and one asynchronous client
 * socket for what hm-health asks others (auth.authorize, notify.create).
 *
 * Group commit: the broker hands a worker one request at a time and the next
 * only after its reply (MDP), so one worker socket would commit every
 * request alone (one fsync each). With N worker sockets the broker keeps up
 * to N requests in hm-health at once; what is waiting on all of them is
 * handled in one sqlite transaction and answered, each through the socket it
 * came in on, after its COMMIT.
 */
#include <czmq.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlth_alert.h"
#include "hlth_authz.h"
#include "hlth_catalog.h"
#include "hlth_db.h"
#include "hlth_outbox.h"
#include "hlth_service.h"
#include "hm_bus.h"
#include "hm_config.h"
#include "hm_log.h"
#include "hm_mdp.h"

#define S_BATCH_MAX 1024       /* requests in one transaction, at most */
#define S_WORKERS_MAX 256      /* worker sockets, at most */
#define S_REPLIES_MAX 1024     /* client replies read per wake-up */
#define S_STATS_MS (60 * 1000) /* counters to the log this often */

/* clang-format off */
static const hm_cfg_opt_t s_opts[] = {
    HM_CFG_BUS_OPTS,
    {"data_dir", HM_CFG_STR, "./var", 0, 0, "data directory"},
    {"db", HM_CFG_STR, "", 0, 0, "sqlite database (default <data_dir>/health.db)"},
    {"heartbeat_ms", HM_CFG_INT, "1000", 50, 60000, "Majordomo heartbeat interval (ms)"},
    {"workers", HM_CFG_INT, "32", 1, S_WORKERS_MAX,
     "Majordomo worker sockets: requests the broker hands over at once (group commit)"},
    {"batch_max", HM_CFG_INT, "256", 1, S_BATCH_MAX, "requests committed in one transaction"},
    {"future_skew_ms", HM_CFG_INT, "300000", 0, 86400000,
     "refuse readings timestamped later than now + this (ms)"},
    {"alert_max_age_ms", HM_CFG_INT, "3600000", 0, 1e12,
     "readings older than this are stored but not checked against thresholds (0: all)"},
    {"cooldown_ms", HM_CFG_INT, "900000", 0, 1e12,
     "no new alert of the same direction and level within this after the last (ms)"},
    {"sync_limit", HM_CFG_INT, "100", 1, 500, "health.sync page size when none is asked"},
    {"threshold_heart_rate", HM_CFG_STR,
     "low=40 high=120 critical_low=30 critical_high=150 margin=5", 0, 0,
     "default thresholds, bpm (keys low, high, critical_low, critical_high, margin)"},
    {"threshold_spo2", HM_CFG_STR, "low=92 critical_low=88 margin=1", 0, 0,
     "default thresholds, %"},
    {"threshold_glucose", HM_CFG_STR, "low=70 high=250 critical_low=54 critical_high=400 margin=5",
     0, 0, "default thresholds, mg/dL"},
    {"threshold_temperature", HM_CFG_STR,
     "low=35 high=38 critical_low=34 critical_high=39.5 margin=0.3", 0, 0,
     "default thresholds, C"},
    {"threshold_weight", HM_CFG_STR, "", 0, 0, "default thresholds, kg (none)"},
    {"threshold_respiratory_rate", HM_CFG_STR,
     "low=10 high=24 critical_low=8 critical_high=30 margin=1", 0, 0,
     "default thresholds, breaths/min"},
    {"threshold_steps", HM_CFG_STR, "", 0, 0, "default thresholds, steps (none)"},
    {"threshold_sleep_minutes", HM_CFG_STR, "", 0, 0, "default thresholds, min (none)"},
    {"threshold_systolic", HM_CFG_STR, "low=90 high=140 critical_high=180 margin=5", 0, 0,
     "default thresholds, systolic mmHg"},
    {"threshold_diastolic", HM_CFG_STR, "low=60 high=90 critical_high=120 margin=3", 0, 0,
     "default thresholds, diastolic mmHg"},
    {"auth_timeout_ms", HM_CFG_INT, "1000", 10, 600000,
     "auth.authorize: wait this long per attempt (ms)"},
    {"auth_deadline_ms", HM_CFG_INT, "5000", 10, 3600000,
     "auth.authorize: answer service_unavailable after this (ms)"},
    {"authz_cache_ms", HM_CFG_INT, "5000", 0, 3600000,
     "remember an allowed authorization this long (ms, 0: never)"},
    {"authz_max", HM_CFG_INT, "1024", 1, 1000000, "requests waiting for authorization, at most"},
    {"notify_timeout_ms", HM_CFG_INT, "3000", 10, 600000,
     "notify.create: send again after this without an answer (ms)"},
    {"notify_retry_max_ms", HM_CFG_INT, "60000", 10, 86400000, "notify.create: longest backoff"},
    {"notify_ttl_ms", HM_CFG_INT, "86400000", 0, 1e12,
     "notify.create: give up on a notification this old (ms, 0: never)"},
    {"notify_outbox_max", HM_CFG_INT, "10000", 1, 10000000,
     "notifications waiting for hm-notify, at most (past it new ones are dropped, logged)"},
    {"notify_inflight_max", HM_CFG_INT, "64", 1, 100000, "notify.create requests outstanding"},
    {NULL, 0, NULL, 0, 0, NULL},
};
/* clang-format on */

/* What the loop works with. */
typedef struct {
    hm_mdp_worker_t *workers[S_WORKERS_MAX]; /* service "health"; owned */
    int nworkers;                            /* worker sockets in use */
    int next_worker;                         /* where the next drain starts (fairness) */
    hm_mdp_client_t *client;                 /* asynchronous: auth and notify; owned */
    zsock_t *pub;                            /* events out; owned */
    hlth_db_t *db;                           /* owned */
    hlth_outbox_t *outbox;                   /* owned */
    hlth_authz_t *authz;                     /* owned */
    hlth_service_t *svc;                     /* owned */
    int batch_max;                           /* requests per transaction */
    int64_t stats_at;                        /* next counters line (zclock_mono) */
    uint64_t batches;                        /* transactions of requests */
    uint64_t batched;                        /* requests in them */
} s_app_t;

/* Requests handled in one transaction. */
typedef struct {
    hm_envelope_t *req[S_BATCH_MAX]; /* owned; NULL once parked */
    zframe_t *to[S_BATCH_MAX];       /* reply addresses; owned */
    int via[S_BATCH_MAX];            /* the worker socket each came through */
    hm_envelope_t *rep[S_BATCH_MAX]; /* replies; owned */
    hlth_grant_t grant[S_BATCH_MAX]; /* authorization obtained, action "" when none */
    int n;                           /* entries used */
} s_batch_t;

/* ---- configuration ------------------------------------------------------------- */

/* Reads the default thresholds into lim (HLTH_CATALOG_SIZE entries).
 * Returns 0 or -1 (printed). */
static int
s_read_thresholds(hm_config_t *cfg, hlth_limits_t *lim)
{
    for (int i = 0; i < HLTH_CATALOG_SIZE; i++) {
        const hlth_metric_t *m = hlth_metric_at(i);
        char name[64], why[128];
        hlth_verr_t err;
        lim[i] = (hlth_limits_t){NAN, NAN, NAN, NAN, 0};
        if (!(m->flags & HLTH_CHECK))
            continue;
        snprintf(name, sizeof name, "threshold_%s", m->name);
        if (hlth_limits_parse(hm_config_str(cfg, name), &lim[i], why, sizeof why) != 0) {
            fprintf(stderr, "hm-health: %s: %s\n", name, why);
            return -1;
        }
        if (hlth_limits_check(m, &lim[i], &err) != 0) {
            fprintf(stderr, "hm-health: %s: %s\n", name, err.message);
            return -1;
        }
    }
    return 0;
}

/* ---- requests -------------------------------------------------------------------- */

/* Sends rep (or an internal_error) to *to and frees the entry. */
static void
s_answer(hm_mdp_worker_t *worker, hm_envelope_t **req, zframe_t **to, hm_envelope_t **rep,
         const char *fail)
{
    if (fail || !*rep) {
        hm_envelope_destroy(rep);
        *rep = hm_mdp_error_reply(*req, HM_ERR_INTERNAL, fail ? fail : "out of memory");
    }
    if (!*rep || hm_mdp_worker_send(worker, to, *rep) != 0)
        hm_log_error("reply_failed", "verb=%s", (*req)->type);
    hm_envelope_destroy(rep);
    hm_envelope_destroy(req);
    zframe_destroy(to);
}

/* Takes the decided authorizations: allowed ones join the batch, the others
 * are answered now. */
static void
s_fill_decided(s_app_t *app, s_batch_t *b)
{
    hm_envelope_t *req = NULL;
    zframe_t *to = NULL;
    int via = 0;
    hlth_grant_t grant;
    hlth_authz_result_t res;
    while (b->n < app->batch_max &&
           hlth_authz_next(app->authz, &req, &to, &via, &grant, &res) == 1) {
        if (res == HLTH_AUTHZ_ALLOWED) {
            b->req[b->n] = req;
            b->to[b->n] = to;
            b->via[b->n] = via;
            b->grant[b->n++] = grant;
            continue;
        }
        hm_envelope_t *rep =
            res == HLTH_AUTHZ_DENIED
                ? hm_mdp_error_reply(req, HM_ERR_FORBIDDEN, "not allowed")
                : hm_mdp_error_reply(req, HM_ERR_SERVICE_UNAVAILABLE, "auth did not answer");
        s_answer(app->workers[via], &req, &to, &rep, NULL);
    }
}

/* Reads what waits on the worker sockets, starting at a different one each
 * time, until the batch is full. */
static void
s_fill_requests(s_app_t *app, s_batch_t *b)
{
    for (int k = 0; k < app->nworkers && b->n < app->batch_max; k++) {
        int w = (app->next_worker + k) % app->nworkers;
        int rc;
        while (b->n < app->batch_max &&
               (rc = hm_mdp_worker_recv(app->workers[w], &b->req[b->n], &b->to[b->n])) >= 0) {
            if (rc == 1) /* 0: heartbeat or garbage, nothing set */
                b->via[b->n++] = w;
        }
    }
    app->next_worker = (app->next_worker + 1) % app->nworkers;
}

/* Puts entries [from, n) in the order their senders made them (envelope
 * ts; stable, so equal times keep their order): requests that came through
 * different worker sockets are read socket by socket, and a client's
 * readings must reach the alert state machine in its order. */
static void
s_sort_batch(s_batch_t *b, int from)
{
    for (int i = from + 1; i < b->n; i++) {
        hm_envelope_t *req = b->req[i];
        zframe_t *to = b->to[i];
        int via = b->via[i], j = i;
        for (; j > from && b->req[j - 1]->ts > req->ts; j--) {
            b->req[j] = b->req[j - 1];
            b->to[j] = b->to[j - 1];
            b->via[j] = b->via[j - 1];
        }
        b->req[j] = req;
        b->to[j] = to;
        b->via[j] = via;
    }
}

/* Handles one entry; parks it when it needs an authorization. */
static void
s_handle_one(s_app_t *app, s_batch_t *b, int i)
{
    hlth_grant_t need;
    const hlth_grant_t *grant = b->grant[i].action[0] ? &b->grant[i] : NULL;
    b->rep[i] = hlth_service_handle(app->svc, b->req[i], grant, &need);
    if (b->rep[i] || !need.action[0])
        return;
    if (hlth_authz_park(app->authz, &b->req[i], &b->to[i], b->via[i], &need) != 0)
        b->rep[i] = hm_mdp_error_reply(b->req[i], HM_ERR_SERVICE_UNAVAILABLE,
                                       "too many requests waiting for authorization");
}

/* Answers what waits (up to batch_max requests), their writes in one
 * transaction (group commit: one fsync for a burst of readings). */
static void
s_drain_requests(s_app_t *app, s_batch_t *b)
{
    b->n = 0;
    memset(b->grant, 0, sizeof b->grant);
    s_fill_decided(app, b);
    int decided = b->n;
    s_fill_requests(app, b);
    s_sort_batch(b, decided);
    if (b->n == 0)
        return;
    bool batched = hlth_service_begin(app->svc) == 0;
    app->batches++;
    app->batched += (uint64_t)b->n;
    for (int i = 0; i < b->n; i++)
        s_handle_one(app, b, i);
    bool failed = batched && hlth_service_commit(app->svc) != 0;
    for (int i = 0; i < b->n; i++)
        if (b->req[i]) /* NULL: parked */
            s_answer(app->workers[b->via[i]], &b->req[i], &b->to[i], &b->rep[i],
                     failed ? "database error" : NULL);
}

/* Reads the answers to what hm-health asked (auth.authorize, notify.create). */
static void
s_drain_replies(s_app_t *app)
{
    for (int n = 0; n < S_REPLIES_MAX; n++) {
        zsock_t *sock = hm_mdp_client_sock(app->client);
        if (!(zsock_events(sock) & ZMQ_POLLIN))
            break;
        char *service = NULL;
        hm_envelope_t *rep = NULL;
        if (hm_mdp_client_recv(app->client, &service, &rep) != 0)
            continue; /* garbage, consumed */
        if (strcmp(service, HM_SVC_AUTH) == 0)
            hlth_authz_on_reply(app->authz, rep);
        else if (strcmp(service, HM_SVC_NOTIFY) == 0)
            hlth_outbox_on_reply(app->outbox, rep);
        free(service);
        hm_envelope_destroy(&rep);
    }
}

/* Logs the counters (no values: counts only) every S_STATS_MS, or now. */
static void
s_stats(s_app_t *app, bool now)
{
    if (!now && zclock_mono() < app->stats_at)
        return;
    app->stats_at = zclock_mono() + S_STATS_MS;
    const hlth_stats_t *st = hlth_service_stats(app->svc);
    hm_log_info("stats",
                "readings=%llu alerts=%llu published=%llu refused=%llu batches=%llu "
                "avg_batch=%.1f outbox=%d parked=%d",
                (unsigned long long)st->readings, (unsigned long long)st->alerts,
                (unsigned long long)st->published, (unsigned long long)st->refused,
                (unsigned long long)app->batches,
                app->batches ? (double)app->batched / (double)app->batches : 0.0,
                hlth_outbox_size(app->outbox), hlth_authz_parked(app->authz));
}

/* How long the loop may sleep: until the first timer is due. */
static int
s_wait_ms(s_app_t *app)
{
    int wait = hlth_outbox_tick_ms(app->outbox);
    int t = hlth_authz_tick_ms(app->authz);
    wait = t < wait ? t : wait;
    for (int i = 0; i < app->nworkers; i++) {
        t = hm_mdp_worker_tick_ms(app->workers[i]);
        wait = t < wait ? t : wait;
    }
    return wait;
}

/* The loop: requests, replies and timers until SIGINT/SIGTERM. */
static void
s_loop(s_app_t *app)
{
    s_batch_t *b = calloc(1, sizeof *b);
    zmq_pollitem_t items[S_WORKERS_MAX + 1];
    while (b && !zsys_interrupted) {
        items[0] =
            (zmq_pollitem_t){zsock_resolve(hm_mdp_client_sock(app->client)), 0, ZMQ_POLLIN, 0};
        for (int i = 0; i < app->nworkers; i++) /* a worker's socket changes on reconnect */
            items[i + 1] = (zmq_pollitem_t){zsock_resolve(hm_mdp_worker_sock(app->workers[i])), 0,
                                            ZMQ_POLLIN, 0};
        if (zmq_poll(items, app->nworkers + 1, s_wait_ms(app)) < 0 && zmq_errno() != EINTR)
            break;
        s_drain_replies(app);
        s_drain_requests(app, b);
        for (int i = 0; i < app->nworkers; i++)
            hm_mdp_worker_tick(app->workers[i]);
        hlth_authz_tick(app->authz);
        hlth_outbox_tick(app->outbox);
        s_stats(app, false);
    }
    s_stats(app, true);
    free(b);
}

/* ---- wiring ---------------------------------------------------------------------- */

/* Opens the database and the sockets, builds the modules. 0 or -1 (logged). */
static int
s_open(s_app_t *app, hm_config_t *cfg, const hlth_limits_t *defaults)
{
    char path[PATH_MAX];
    const char *db = hm_config_str(cfg, "db");
    int n = *db ? snprintf(path, sizeof path, "%s", db)
                : snprintf(path, sizeof path, "%s/health.db", hm_config_str(cfg, "data_dir"));
    if (n < 0 || (size_t)n >= sizeof path || !(app->db = hlth_db_open(path)))
        return -1;
    app->pub = hm_bus_pub_new(hm_config_str(cfg, "events_in"));
    app->client = hm_mdp_client_new(hm_config_str(cfg, "requests"),
                                    (int)hm_config_int(cfg, "auth_timeout_ms"), 0);
    app->nworkers = (int)hm_config_int(cfg, "workers");
    for (int i = 0; i < app->nworkers; i++)
        if (!(app->workers[i] = hm_mdp_worker_new(hm_config_str(cfg, "requests"), HM_SVC_HEALTH,
                                                  (int)hm_config_int(cfg, "heartbeat_ms"))))
            return -1;
    if (!app->pub || !app->client)
        return -1;
    hlth_outbox_cfg_t ocfg = {
        hm_config_int(cfg, "notify_timeout_ms"), hm_config_int(cfg, "notify_retry_max_ms"),
        hm_config_int(cfg, "notify_ttl_ms"), (int)hm_config_int(cfg, "notify_outbox_max"),
        (int)hm_config_int(cfg, "notify_inflight_max")};
    hlth_authz_cfg_t acfg = {
        hm_config_int(cfg, "auth_timeout_ms"), hm_config_int(cfg, "auth_deadline_ms"),
        hm_config_int(cfg, "authz_cache_ms"), (int)hm_config_int(cfg, "authz_max")};
    app->outbox = hlth_outbox_new(app->db, app->client, &ocfg);
    app->authz = hlth_authz_new(app->client, &acfg);
    if (!app->outbox || !app->authz || hlth_outbox_load(app->outbox) < 0)
        return -1;
    hlth_service_cfg_t scfg = {app->db,
                               app->pub,
                               app->outbox,
                               app->authz,
                               defaults,
                               hm_config_int(cfg, "future_skew_ms"),
                               hm_config_int(cfg, "alert_max_age_ms"),
                               hm_config_int(cfg, "cooldown_ms"),
                               (int)hm_config_int(cfg, "sync_limit")};
    app->svc = hlth_service_new(&scfg);
    app->batch_max = (int)hm_config_int(cfg, "batch_max");
    return app->svc ? 0 : -1;
}

/* Frees everything s_open made, in reverse order. */
static void
s_close(s_app_t *app)
{
    hlth_service_destroy(&app->svc);
    hlth_authz_destroy(&app->authz);
    hlth_outbox_destroy(&app->outbox);
    for (int i = 0; i < S_WORKERS_MAX; i++)
        hm_mdp_worker_destroy(&app->workers[i]);
    hm_mdp_client_destroy(&app->client);
    zsock_destroy(&app->pub);
    hlth_db_destroy(&app->db);
}

int
main(int argc, char **argv)
{
    hm_config_t *cfg = hm_config_new("health", "hm-health [options]", s_opts);
    int rc = hm_config_start(cfg, argc, argv, "hm-health", NULL);
    hlth_limits_t defaults[HLTH_CATALOG_SIZE];
    if (rc != 0 || s_read_thresholds(cfg, defaults) != 0) {
        hm_config_destroy(&cfg);
        return rc == 1 ? 0 : 2;
    }
    s_app_t app = {.stats_at = zclock_mono() + S_STATS_MS};
    if (s_open(&app, cfg, defaults) == 0) {
        hm_log_info("started", "requests=%s events_in=%s workers=%d batch_max=%d",
                    hm_config_str(cfg, "requests"), hm_config_str(cfg, "events_in"), app.nworkers,
                    app.batch_max);
        s_loop(&app);
        hm_log_info("stopped", NULL);
        rc = 0;
    } else {
        hm_log_error("startup_failed", "reason=%s", app.db ? "bus" : "database");
        rc = 1;
    }
    s_close(&app);
    hm_config_destroy(&cfg);
    return rc;
}
