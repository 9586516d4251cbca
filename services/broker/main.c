/*
 * hm-broker - the bus: the event proxy and the Majordomo request broker in
 * one poll loop.
 */
#include <czmq.h>
#include <stdlib.h>

#include "brk_curve.h"
#include "brk_mdp.h"
#include "brk_proxy.h"
#include "hm_bus.h"
#include "hm_config.h"
#include "hm_log.h"

static const hm_cfg_opt_t s_opts[] = {
    HM_CFG_BUS_OPTS,
    {"heartbeat_ms", HM_CFG_INT, "1000", 50, 60000, "Majordomo heartbeat interval (ms)"},
    {"queue_max", HM_CFG_INT, "10000", 1, 10000000, "requests queued per service before refusing"},
    {"request_deadline_ms", HM_CFG_INT, "10000", 100, 3600000,
     "how long a request waits for a worker before service_unavailable (ms)"},
    {"curve_clients", HM_CFG_STR, "", 0, 0,
     "CURVE: directory of authorized client public certs (\"*\": any key); needs curve_cert"},
    {"stats_interval_ms", HM_CFG_INT, "60000", 0, 86400000, "log stats this often (0: never)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

#define BATCH 1024

static void
s_log_stats(brk_mdp_t *mdp)
{
    json_t *stats = brk_mdp_stats(mdp);
    hm_log_info("stats", "requests=%lld replies=%lld unavailable=%lld garbage=%lld queued=%lld "
                         "events=%lld curve_denied=%lld",
                (long long) json_integer_value(json_object_get(stats, "requests")),
                (long long) json_integer_value(json_object_get(stats, "replies")),
                (long long) json_integer_value(json_object_get(stats, "unavailable")),
                (long long) json_integer_value(json_object_get(stats, "garbage")),
                (long long) json_integer_value(json_object_get(stats, "queued")),
                (long long) json_integer_value(json_object_get(stats, "events")),
                (long long) json_integer_value(json_object_get(stats, "curve_denied")));
    json_decref(stats);
}

/* The loop: forwards events both ways, handles Majordomo traffic, runs the
 * broker's timers and counts refused CURVE handshakes, until SIGINT/SIGTERM. */
static void
s_run(brk_proxy_t *proxy, zsock_t *router, brk_mdp_t *mdp, brk_curve_t *curve,
      int64_t stats_ms)
{
    zmq_pollitem_t items[3 + BRK_CURVE_SOCKS] = {
        {zsock_resolve(proxy->xsub), 0, ZMQ_POLLIN, 0},
        {zsock_resolve(proxy->xpub), 0, ZMQ_POLLIN, 0},
        {zsock_resolve(router), 0, ZMQ_POLLIN, 0},
    };
    int nitems = 3 + brk_curve_pollitems(curve, items + 3, BRK_CURVE_SOCKS);
    int64_t stats_at = zclock_mono() + stats_ms;
    while (!zsys_interrupted) {
        int rc = zmq_poll(items, nitems, brk_mdp_tick_ms(mdp));
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
        brk_curve_drain(curve);
        brk_mdp_tick(mdp);
        if (stats_ms > 0 && zclock_mono() >= stats_at) {
            s_log_stats(mdp);
            stats_at = zclock_mono() + stats_ms;
        }
    }
}

/* The CURVE server when the broker has a certificate (NULL otherwise, or
 * on error with *err set). */
static brk_curve_t *
s_curve_new(hm_config_t *cfg, bool *err)
{
    const char *clients = hm_config_str(cfg, "curve_clients");
    *err = false;
    if (!hm_bus_curve_on()) {
        if (*clients) {
            hm_log_error("startup_failed", "reason=\"curve_clients needs curve_cert\"");
            *err = true;
        }
        return NULL;
    }
    if (!*clients) {
        hm_log_error("startup_failed",
                     "reason=\"curve_cert needs curve_clients (a directory, or * for any key)\"");
        *err = true;
        return NULL;
    }
    brk_curve_t *curve = brk_curve_new(hm_bus_curve_cert(), clients);
    *err = curve == NULL;
    return curve;
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

    bool curve_err = false;
    brk_curve_t *curve = s_curve_new(cfg, &curve_err);
    brk_proxy_t proxy = {0};
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_set_linger(router, 0);
    zsock_set_router_mandatory(router, 0);
    zsock_set_sndhwm(router, 100000);
    zsock_set_rcvhwm(router, 100000);
    if (curve_err
        || brk_proxy_bind(&proxy, hm_config_str(cfg, "events_in"),
                          hm_config_str(cfg, "events_out"), curve)
               != 0
        || brk_curve_serve(curve, router, "requests") != 0
        || zsock_bind(router, "%s", hm_config_str(cfg, "requests")) < 0) {
        if (!curve_err)
            hm_log_error("startup_failed", "reason=bind requests=%s",
                         hm_config_str(cfg, "requests"));
        brk_proxy_close(&proxy);
        zsock_destroy(&router);
        brk_curve_destroy(&curve);
        hm_config_destroy(&cfg);
        return curve_err ? 2 : 1;
    }
    brk_mdp_cfg_t mcfg = {
        .heartbeat_ms = (int) hm_config_int(cfg, "heartbeat_ms"),
        .queue_max = (int) hm_config_int(cfg, "queue_max"),
        .request_deadline_ms = (int) hm_config_int(cfg, "request_deadline_ms"),
        .events = &proxy.events,
        .subscriptions = &proxy.subscriptions,
        .curve_denied = curve ? brk_curve_denied(curve) : NULL,
    };
    brk_mdp_t *mdp = brk_mdp_new(router, &mcfg);
    hm_log_info("started", "events_in=%s events_out=%s requests=%s curve=%s",
                hm_config_str(cfg, "events_in"), hm_config_str(cfg, "events_out"),
                hm_config_str(cfg, "requests"), curve ? "on" : "off");
    s_run(&proxy, router, mdp, curve, hm_config_int(cfg, "stats_interval_ms"));
    s_log_stats(mdp);
    hm_log_info("stopped", NULL);
    brk_mdp_destroy(&mdp);
    zsock_destroy(&router);
    brk_proxy_close(&proxy);
    brk_curve_destroy(&curve);
    hm_config_destroy(&cfg);
    return 0;
}
