/*
 * edge_mgmt.c - what an edge answers about itself over the bus: a Majordomo
 * worker for service "edge.<edge_id>" (status, one connection's health,
 * disconnect one connection, reconnect a user's connections), the list of
 * peer edges learned from their sys.edge heartbeats, and /metrics text.
 *
 * The worker socket is polled from the edge's 100 ms tick rather than
 * adopted into the lws loop: management calls tolerate that latency and the
 * worker recreates its socket when the broker restarts.
 */
#include <string.h>

#include "edge.h"
#include "hm_bus.h"
#include "hm_clock.h"
#include "hm_log.h"

#define PEER_TIMEOUT_MS 15000

int
edge_mgmt_start(edge_t *e, const char *requests)
{
    char name[HM_SVC_NAME_MAX];
    snprintf(name, sizeof(name), "%s%s", HM_SVC_EDGE_PREFIX, e->cfg.edge_id);
    e->worker = hm_mdp_worker_new(requests, name, e->cfg.bus_heartbeat_ms);
    e->peers = zhashx_new();
    hm_bus_subscribe(e->sub, HM_TOPIC_SYS_EDGE);
    return e->worker ? 0 : -1;
}

void
edge_mgmt_stop(edge_t *e)
{
    hm_mdp_worker_destroy(&e->worker);
    zhashx_destroy(&e->peers);
}

/* A sys.edge heartbeat from some edge (ours included). */
void
edge_mgmt_on_beat(edge_t *e, const hm_envelope_t *env)
{
    const char *id = json_string_value(json_object_get(env->data, "edge_id"));
    if (!id || strlen(id) >= HM_ENVELOPE_MAX_STR)
        return;
    zhashx_update(e->peers, id, (void *) (intptr_t) (hm_clock_mono_ns() / 1000000));
}

json_t *
edge_mgmt_peers(edge_t *e)
{
    int64_t now = hm_clock_mono_ns() / 1000000;
    json_t *ids = json_array();
    json_array_append_new(ids, json_string(e->cfg.edge_id));
    for (void *seen = zhashx_first(e->peers); seen; seen = zhashx_next(e->peers)) {
        const char *id = zhashx_cursor(e->peers);
        if (now - (int64_t) (intptr_t) seen > PEER_TIMEOUT_MS || strcmp(id, e->cfg.edge_id) == 0)
            continue;
        json_array_append_new(ids, json_string(id));
    }
    return ids;
}

/* This edge's figures for /ws/status. */
static json_t *
s_status(edge_t *e)
{
    int subs[EDGE_CH_COUNT] = {0};
    int states[EDGE_ST_DISCONNECTED + 1] = {0};
    json_t *users = json_array();
    for (edge_conn_t *c = zhashx_first(e->conns); c; c = zhashx_next(e->conns)) {
        states[c->state]++;
        if (c->user_id > 0)
            json_array_append_new(users, json_integer(c->user_id));
        for (int i = 0; i < c->nsubs; i++)
            if (c->subs[i].ch < EDGE_CH_COUNT)
                subs[c->subs[i].ch]++;
    }
    json_t *st = json_object();
    for (int i = 0; i <= EDGE_ST_DISCONNECTED; i++)
        json_object_set_new(st, edge_state_name((edge_state_t) i), json_integer(states[i]));
    return json_pack("{s:s, s:I, s:I, s:o, s:{s:i, s:i, s:i}, s:o}", "edge_id", e->cfg.edge_id,
                     "active_connections", (json_int_t) zhashx_size(e->conns),
                     "total_connections", (json_int_t) e->stats.total_connections, "users",
                     users, "subscriptions", HM_SUB_HEALTH, subs[EDGE_CH_HEALTH], HM_SUB_CHAT,
                     subs[EDGE_CH_CHAT], HM_SUB_NOTIFICATIONS, subs[EDGE_CH_NOTIFY], "states",
                     st);
}

/* Handles one request to edge.<id>; returns the reply (caller owns). */
static hm_envelope_t *
s_handle(edge_t *e, const hm_envelope_t *req)
{
    const char *conn_id = json_string_value(json_object_get(req->data, "conn_id"));
    edge_conn_t *c = conn_id ? zhashx_lookup(e->conns, conn_id) : NULL;
    json_t *data = NULL;
    if (strcmp(req->type, HM_VERB_EDGE_STATUS) == 0) {
        data = s_status(e);
    } else if (strcmp(req->type, HM_VERB_EDGE_CONN_HEALTH) == 0) {
        if (!c)
            return hm_mdp_error_reply(req, HM_ERR_NOT_FOUND, "no such connection here");
        data = json_pack("{s:s, s:o}", "connection_id", c->id, "health", edge_conn_health(c));
    } else if (strcmp(req->type, HM_VERB_EDGE_DISCONNECT) == 0) {
        if (!c)
            return hm_mdp_error_reply(req, HM_ERR_NOT_FOUND, "no such connection here");
        edge_conn_close(c, HM_CLOSE_NORMAL, "disconnected by an administrator");
        data = json_pack("{s:s}", "connection_id", c->id);
    } else if (strcmp(req->type, HM_VERB_EDGE_RECONNECT_USER) == 0) {
        int64_t uid = json_integer_value(json_object_get(req->data, "user_id"));
        int n = 0;
        for (edge_conn_t *k = zhashx_first(e->conns); k; k = zhashx_next(e->conns))
            if (uid > 0 && k->user_id == uid && !k->close_code) {
                edge_conn_send_json(k, json_pack("{s:s, s:s}", "type", HM_MSG_RECONNECT,
                                                 "reason", "the server asked to reconnect"));
                edge_conn_close(k, HM_CLOSE_SERVICE_RESTART, "reconnect and resume");
                n++;
            }
        data = json_pack("{s:i}", "closed", n);
    } else {
        return hm_mdp_error_reply(req, HM_ERR_UNKNOWN_VERB, "unknown verb");
    }
    hm_envelope_t *rep = hm_envelope_new(HM_MSG_ACK);
    hm_envelope_set_id(rep, req->id);
    hm_envelope_set_correlation_id(rep, req->correlation_id);
    hm_envelope_set_data(rep, data);
    return rep;
}

void
edge_mgmt_poll(edge_t *e)
{
    if (!e->worker)
        return;
    hm_envelope_t *req = NULL;
    zframe_t *reply_to = NULL;
    int rc;
    while ((rc = hm_mdp_worker_recv(e->worker, &req, &reply_to)) >= 0) {
        if (rc == 1) {
            hm_envelope_t *rep = s_handle(e, req);
            if (rep)
                hm_mdp_worker_send(e->worker, &reply_to, rep);
            hm_envelope_destroy(&rep);
        }
        hm_envelope_destroy(&req);
        zframe_destroy(&reply_to);
    }
    hm_mdp_worker_tick(e->worker);
}

/* ---- /metrics ------------------------------------------------------------ */

/* Appends printf output to a growing buffer. */
static void s_cat(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
s_cat(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t) n < *cap - *len) {
            *len += (size_t) n;
            return;
        }
        *cap = (*cap + (size_t) n) * 2;
        *buf = realloc(*buf, *cap);
    }
}

char *
edge_mgmt_metrics(edge_t *e)
{
    size_t len = 0, cap = 4096;
    char *b = malloc(cap);
    b[0] = '\0';
    int states[EDGE_ST_DISCONNECTED + 1] = {0};
    for (edge_conn_t *c = zhashx_first(e->conns); c; c = zhashx_next(e->conns))
        states[c->state]++;
    s_cat(&b, &len, &cap, "# TYPE hm_edge_connections gauge\n");
    for (int i = 0; i <= EDGE_ST_DISCONNECTED; i++)
        s_cat(&b, &len, &cap, "hm_edge_connections{state=\"%s\"} %d\n",
              edge_state_name((edge_state_t) i), states[i]);
    edge_stats_t *s = &e->stats;
    const struct {
        const char *name;
        uint64_t v;
    } counters[] = {
        {"hm_edge_connections_total", s->total_connections},
        {"hm_edge_messages_in_total", s->msgs_in},
        {"hm_edge_messages_out_total", s->msgs_out},
        {"hm_edge_bytes_in_total", s->bytes_in},
        {"hm_edge_bytes_out_total", s->bytes_out},
        {"hm_edge_auth_failures_total", s->auth_failures},
        {"hm_edge_queue_drops_total", s->queue_drops},
        {"hm_edge_slow_consumer_closes_total", s->slow_closes},
        {"hm_edge_coalesced_total", s->coalesced},
        {"hm_edge_bus_events_total", s->bus_events},
        {"hm_edge_bus_garbage_total", s->bus_garbage},
        {"hm_edge_rate_limited_total", s->rate_limited},
        {"hm_edge_requests_total", s->requests},
        {"hm_edge_request_retries_total", s->request_retries},
        {"hm_edge_requests_unavailable_total", s->request_unavailable},
    };
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
        s_cat(&b, &len, &cap, "# TYPE %s counter\n%s %llu\n", counters[i].name,
              counters[i].name, (unsigned long long) counters[i].v);
    s_cat(&b, &len, &cap, "# TYPE hm_edge_errors_total counter\n");
    for (void *n = zhashx_first(s->errors); n; n = zhashx_next(s->errors))
        s_cat(&b, &len, &cap, "hm_edge_errors_total{code=\"%s\"} %llu\n",
              (const char *) zhashx_cursor(s->errors), (unsigned long long) (uintptr_t) n);
    double avg = s->bus_latency_count ? (double) s->bus_latency_us_sum / s->bus_latency_count : 0;
    s_cat(&b, &len, &cap,
          "# TYPE hm_edge_bus_request_latency_seconds summary\n"
          "hm_edge_bus_request_latency_seconds_sum %.6f\n"
          "hm_edge_bus_request_latency_seconds_count %llu\n"
          "# average %.0f us\n",
          (double) s->bus_latency_us_sum / 1e6, (unsigned long long) s->bus_latency_count, avg);
    return b;
}
