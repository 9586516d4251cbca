/*
 * hm-broker - the bus: the event proxy and the Majordomo request broker in
 * one poll loop.
 */
#include <czmq.h>
#include <stdlib.h>

#include "brk_mdp.h"
#include "brk_proxy.h"
#include "hm_config.h"
#include "hm_log.h"

static const hm_cfg_opt_t s_opts[] = {
    HM_CFG_BUS_OPTS,
    {"heartbeat_ms", HM_CFG_INT, "1000", 50, 60000, "Majordomo heartbeat interval (ms)"},
    {"queue_max", HM_CFG_INT, "10000", 1, 10000000, "requests queued per service before refusing"},
    {"request_deadline_ms", HM_CFG_INT, "10000", 100, 3600000,
     "how long a request waits for a worker before service_unavailable (ms)"},
    {"stats_interval_ms", HM_CFG_INT, "60000", 0, 86400000, "log stats this often (0: never)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

#define BATCH 1024

static void
s_log_stats(brk_mdp_t *mdp)
{
    json_t *stats = brk_mdp_stats(mdp);
    hm_log_info("stats", "requests=%lld replies=%lld unavailable=%lld garbage=%lld queued=%lld "
                         "events=%lld",
                (long long) json_integer_value(json_object_get(stats, "requests")),
                (long long) json_integer_value(json_object_get(stats, "replies")),
                (long long) json_integer_value(json_object_get(stats, "unavailable")),
                (long long) json_integer_value(json_object_get(stats, "garbage")),
                (long long) json_integer_value(json_object_get(stats, "queued")),
                (long long) json_integer_value(json_object_get(stats, "events")));
    json_decref(stats);
}

/* The loop: forwards events both ways, handles Majordomo traffic, runs the
 * broker's timers, until SIGINT/SIGTERM. */
static void
s_run(brk_proxy_t *proxy, zsock_t *router, brk_mdp_t *mdp, int64_t stats_ms)
{
    zmq_pollitem_t items[] = {
        {zsock_resolve(proxy->xsub), 0, ZMQ_POLLIN, 0},
        {zsock_resolve(proxy->xpub), 0, ZMQ_POLLIN, 0},
        {zsock_resolve(router), 0, ZMQ_POLLIN, 0},
    };
    int64_t stats_at = zclock_mono() + stats_ms;
    while (!zsys_interrupted) {
        int rc = zmq_poll(items, 3, brk_mdp_tick_ms(mdp));
        if (rc < 0 && zmq_errno() != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN)
            brk_proxy_pump_down(proxy, BATCH);
        if (items[1].revents & ZMQ_POLLIN)
            brk_proxy_pump_up(proxy, BATCH);
        for (int n = 0; n < BATCH && (zsock_events(router) & ZMQ_POLLIN); n++) {
            zmsg_t *msg = zmsg_recv(router);
            if (!msg)
                break;
            brk_mdp_handle(mdp, &msg);
        }
        brk_mdp_tick(mdp);
        if (stats_ms > 0 && zclock_mono() >= stats_at) {
            s_log_stats(mdp);
            stats_at = zclock_mono() + stats_ms;
        }
    }
}

int
main(int argc, char **argv)
{
    hm_config_t *cfg = hm_config_new("broker", "hm-broker [options]", s_opts);
    int rc = hm_config_start(cfg, argc, argv, "hm-broker", NULL);
    if (rc != 0) {
        hm_config_destroy(&cfg);
        return rc == 1 ? 0 : 2;
    }

    brk_proxy_t proxy = {0};
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_set_linger(router, 0);
    zsock_set_router_mandatory(router, 0);
    zsock_set_sndhwm(router, 100000);
    zsock_set_rcvhwm(router, 100000);
    if (brk_proxy_bind(&proxy, hm_config_str(cfg, "events_in"), hm_config_str(cfg, "events_out"))
            != 0
        || zsock_bind(router, "%s", hm_config_str(cfg, "requests")) < 0) {
        hm_log_error("startup_failed", "reason=bind requests=%s", hm_config_str(cfg, "requests"));
        brk_proxy_close(&proxy);
        zsock_destroy(&router);
        hm_config_destroy(&cfg);
        return 1;
    }
    brk_mdp_cfg_t mcfg = {
        .heartbeat_ms = (int) hm_config_int(cfg, "heartbeat_ms"),
        .queue_max = (int) hm_config_int(cfg, "queue_max"),
        .request_deadline_ms = (int) hm_config_int(cfg, "request_deadline_ms"),
        .events = &proxy.events,
        .subscriptions = &proxy.subscriptions,
    };
    brk_mdp_t *mdp = brk_mdp_new(router, &mcfg);
    hm_log_info("started", "events_in=%s events_out=%s requests=%s",
                hm_config_str(cfg, "events_in"), hm_config_str(cfg, "events_out"),
                hm_config_str(cfg, "requests"));
    s_run(&proxy, router, mdp, hm_config_int(cfg, "stats_interval_ms"));
    s_log_stats(mdp);
    hm_log_info("stopped", NULL);
    brk_mdp_destroy(&mdp);
    zsock_destroy(&router);
    brk_proxy_close(&proxy);
    hm_config_destroy(&cfg);
    return 0;
}
