/*
 * hm-scheduler - medication and appointment reminders (proto/SPEC.md
 * section 12): schedules, RFC 5545 recurrence, firing each occurrence
 * exactly once through hm-notify, across restarts.
 *
 * Runs the Majordomo service "scheduler" and a Majordomo client to
 * "notify" in one poll loop until SIGTERM/SIGINT. Wall time comes only from
 * hm_clock_wall_ms() (HM_FAKE_CLOCK_FILE drives it in tests).
 */
#include <czmq.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "hm_bus.h"
#include "hm_config.h"
#include "hm_db.h"
#include "hm_log.h"
#include "hm_mdp.h"
#include "sched_db.h"
#include "sched_fire.h"
#include "sched_service.h"
#include "sched_tz.h"

#define S_BATCH 256 /* requests or replies handled per wake-up before the timers run */

static const hm_cfg_opt_t s_opts[] = {
    HM_CFG_BUS_OPTS,
    {"data_dir", HM_CFG_STR, "./var", 0, 0, "data directory"},
    {"db", HM_CFG_STR, "", 0, 0, "sqlite database (default <data_dir>/scheduler.db)"},
    {"heartbeat_ms", HM_CFG_INT, "1000", 50, 60000, "Majordomo heartbeat interval (ms)"},
    {"grace_s", HM_CFG_INT, "3600", 0, 30 * 86400,
     "an occurrence seen (e.g. after downtime) later than this after its time is skipped and "
     "recorded as missed (s)"},
    {"late_s", HM_CFG_INT, "60", 0, 86400, "fired later than this after its time: marked late (s)"},
    {"tick_ms", HM_CFG_INT, "200", 10, 60000,
     "longest sleep between looks at the wall clock (it may jump) (ms)"},
    {"notify_timeout_ms", HM_CFG_INT, "3000", 50, 600000,
     "wait this long for hm-notify's reply before asking again (ms)"},
    {"notify_retry_max_ms", HM_CFG_INT, "30000", 100, 3600000,
     "longest pause between notify.create attempts (ms)"},
    {"max_inflight", HM_CFG_INT, "32", 1, SCHED_FIRE_SLOTS_MAX,
     "notify.create requests outstanding at once"},
    {"max_per_user", HM_CFG_INT, "500", 1, 100000, "reminders per user"},
    {"snooze_max_min", HM_CFG_INT, "1440", 1, 10080, "longest snooze (minutes)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

#define USAGE "hm-scheduler [options]            run the scheduler service"

/* Everything the loop uses; owned by s_serve. */
typedef struct {
    hm_mdp_worker_t *worker; /* the "scheduler" service */
    hm_mdp_client_t *client; /* requests to "notify" */
    sched_fire_t *fire;      /* the firing engine */
    sched_service_t *svc;    /* the verb handlers */
    zsock_t *pub;            /* sys.audit events */
    int tick_ms;             /* longest sleep */
} s_app_t;

/* The engine's way out: one notify.create on the client socket. */
static int
s_send_notify(void *arg, const hm_envelope_t *req)
{
    s_app_t *app = arg;
    return hm_mdp_client_send(app->client, HM_SVC_NOTIFY, req);
}

/* Answers up to S_BATCH waiting requests. */
static void
s_drain_requests(s_app_t *app)
{
    hm_envelope_t *req = NULL;
    zframe_t *to = NULL;
    int rc;
    for (int n = 0; n < S_BATCH && (rc = hm_mdp_worker_recv(app->worker, &req, &to)) >= 0; n++) {
        if (rc == 0)
            continue; /* heartbeat or garbage */
        hm_envelope_t *rep = sched_service_handle(app->svc, req);
        if (!rep)
            rep = hm_mdp_error_reply(req, HM_ERR_INTERNAL, "out of memory");
        if (!rep || hm_mdp_worker_send(app->worker, &to, rep) != 0)
            hm_log_error("reply_failed", "verb=%s", req->type);
        hm_envelope_destroy(&rep);
        hm_envelope_destroy(&req);
        zframe_destroy(&to);
    }
}

/* Hands up to S_BATCH replies from hm-notify to the engine. */
static void
s_drain_replies(s_app_t *app)
{
    for (int n = 0; n < S_BATCH; n++) {
        if (!(zsock_events(hm_mdp_client_sock(app->client)) & ZMQ_POLLIN))
            return;
        char *service = NULL;
        hm_envelope_t *rep = NULL;
        if (hm_mdp_client_recv(app->client, &service, &rep) == 0)
            sched_fire_on_reply(app->fire, rep);
        else
            hm_log_warn("notify_garbage", "dropped=1");
        free(service);
        hm_envelope_destroy(&rep);
    }
}

/* The loop: requests, notify replies and the clock until SIGINT/SIGTERM. */
static void
s_loop(s_app_t *app)
{
    while (!zsys_interrupted) {
        zmq_pollitem_t items[] = {
            {zsock_resolve(hm_mdp_worker_sock(app->worker)), 0, ZMQ_POLLIN, 0},
            {zsock_resolve(hm_mdp_client_sock(app->client)), 0, ZMQ_POLLIN, 0},
        };
        int wait = hm_mdp_worker_tick_ms(app->worker);
        int due = sched_fire_wait_ms(app->fire, app->tick_ms);
        if (zmq_poll(items, 2, due < wait ? due : wait) < 0 && zmq_errno() != EINTR)
            break;
        s_drain_requests(app);
        s_drain_replies(app);
        sched_fire_run(app->fire);
        hm_mdp_worker_tick(app->worker);
    }
}

/* Opens the database named by the configuration. NULL on failure. */
static sqlite3 *
s_open_db(hm_config_t *cfg)
{
    char path[PATH_MAX];
    const char *db = hm_config_str(cfg, "db");
    int n = *db ? snprintf(path, sizeof path, "%s", db)
                : snprintf(path, sizeof path, "%s/scheduler.db", hm_config_str(cfg, "data_dir"));
    return n > 0 && (size_t)n < sizeof path ? sched_db_open(path) : NULL;
}

/* Builds the engine and the service on db. Returns 0 or -1. */
static int
s_build(s_app_t *app, hm_config_t *cfg, sqlite3 *db)
{
    sched_fire_cfg_t fcfg = {.db = db,
                             .grace_s = hm_config_int(cfg, "grace_s"),
                             .late_s = hm_config_int(cfg, "late_s"),
                             .timeout_ms = (int)hm_config_int(cfg, "notify_timeout_ms"),
                             .retry_max_ms = (int)hm_config_int(cfg, "notify_retry_max_ms"),
                             .max_inflight = (int)hm_config_int(cfg, "max_inflight"),
                             .send = s_send_notify,
                             .send_arg = app};
    app->fire = sched_fire_new(&fcfg);
    sched_service_cfg_t scfg = {db, app->fire, (int)hm_config_int(cfg, "max_per_user"),
                                (int)hm_config_int(cfg, "snooze_max_min"), app->pub};
    app->svc = app->fire ? sched_service_new(&scfg) : NULL;
    app->tick_ms = (int)hm_config_int(cfg, "tick_ms");
    return app->svc ? 0 : -1;
}

/* Runs the service. Returns the exit code. */
static int
s_serve(hm_config_t *cfg)
{
    s_app_t app = {0};
    sqlite3 *db = s_open_db(cfg);
    const char *requests = hm_config_str(cfg, "requests");
    int rc = 1;
    if (db) {
        app.client = hm_mdp_client_new(requests, (int)hm_config_int(cfg, "notify_timeout_ms"), 0);
        app.worker =
            hm_mdp_worker_new(requests, HM_SVC_SCHEDULER, (int)hm_config_int(cfg, "heartbeat_ms"));
        app.pub = hm_bus_pub_new(hm_config_str(cfg, "events_in"));
    }
    if (app.client && app.worker && app.pub && s_build(&app, cfg, db) == 0) {
        hm_log_info("started", "requests=%s grace_s=%lld late_s=%lld tick_ms=%d", requests,
                    hm_config_int(cfg, "grace_s"), hm_config_int(cfg, "late_s"), app.tick_ms);
        s_loop(&app);
        hm_log_info("stopped", "inflight=%d", sched_fire_inflight(app.fire));
        rc = 0;
    } else {
        hm_log_error("startup_failed", "reason=%s", db ? "bus" : "database");
    }
    sched_service_destroy(&app.svc);
    sched_fire_destroy(&app.fire);
    hm_mdp_worker_destroy(&app.worker);
    hm_mdp_client_destroy(&app.client);
    zsock_destroy(&app.pub);
    hm_db_close(&db);
    sched_tz_shutdown();
    return rc;
}

int
main(int argc, char **argv)
{
    hm_config_t *cfg = hm_config_new("scheduler", USAGE, s_opts);
    int rc = hm_config_start(cfg, argc, argv, "hm-scheduler", NULL);
    if (rc != 0) {
        hm_config_destroy(&cfg);
        return rc == 1 ? 0 : 2;
    }
    rc = s_serve(cfg);
    hm_config_destroy(&cfg);
    return rc;
}
