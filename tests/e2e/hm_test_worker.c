/*
 * hm-test-worker - a Majordomo worker for the end-to-end tests of the bus.
 *
 * Registers for --service (default "echo") and answers every request with
 * type "ack", the request's id and correlation_id, and data
 * {"echo": <request data>, "worker": <--name>, "verb", "user_id", "conn_id"}
 * (what the service saw of the caller). --delay-ms holds each reply
 * back, so a test can kill the worker while a request waits.
 */
#include <czmq.h>

#include "hm_config.h"
#include "hm_log.h"
#include "hm_mdp.h"

static const hm_cfg_opt_t s_opts[] = {
    HM_CFG_BUS_OPTS,
    {"service", HM_CFG_STR, "echo", 0, 0, "service name to register"},
    {"name", HM_CFG_STR, "worker", 0, 0, "name put in replies"},
    {"delay_ms", HM_CFG_INT, "0", 0, 600000, "wait this long before each reply"},
    {"heartbeat_ms", HM_CFG_INT, "1000", 50, 60000, "heartbeat interval (ms)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static void
s_answer(hm_mdp_worker_t *w, hm_config_t *cfg, hm_envelope_t *req, zframe_t **reply_to)
{
    if (hm_config_int(cfg, "delay_ms") > 0)
        zclock_sleep((int) hm_config_int(cfg, "delay_ms"));
    hm_envelope_t *rep = hm_envelope_new(HM_MSG_ACK);
    hm_envelope_set_id(rep, req->id);
    hm_envelope_set_correlation_id(rep, req->correlation_id);
    json_t *data = json_object();
    json_object_set(data, "echo", req->data ? req->data : json_null());
    json_object_set_new(data, "worker", json_string(hm_config_str(cfg, "name")));
    json_object_set_new(data, "verb", json_string(req->type));
    json_object_set_new(data, "user_id", json_integer(req->user_id));
    if (req->conn_id)
        json_object_set_new(data, "conn_id", json_string(req->conn_id));
    hm_envelope_set_data(rep, data);
    hm_mdp_worker_send(w, reply_to, rep);
    hm_envelope_destroy(&rep);
}

int
main(int argc, char **argv)
{
    hm_config_t *cfg = hm_config_new("test_worker", "hm-test-worker [options]", s_opts);
    int rc = hm_config_start(cfg, argc, argv, "hm-test-worker", NULL);
    if (rc != 0) {
        hm_config_destroy(&cfg);
        return rc == 1 ? 0 : 2;
    }
    hm_mdp_worker_t *w = hm_mdp_worker_new(hm_config_str(cfg, "requests"),
                                           hm_config_str(cfg, "service"),
                                           (int) hm_config_int(cfg, "heartbeat_ms"));
    while (w && !zsys_interrupted) {
        zmq_pollitem_t item = {zsock_resolve(hm_mdp_worker_sock(w)), 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, hm_mdp_worker_tick_ms(w));
        hm_envelope_t *req = NULL;
        zframe_t *reply_to = NULL;
        while (hm_mdp_worker_recv(w, &req, &reply_to) >= 0) {
            if (req)
                s_answer(w, cfg, req, &reply_to);
            hm_envelope_destroy(&req);
            zframe_destroy(&reply_to);
        }
        hm_mdp_worker_tick(w);
    }
    hm_mdp_worker_destroy(&w);
    hm_config_destroy(&cfg);
    return 0;
}
