/*
 * edge_conn.c - one WebSocket connection: lifecycle, the send queue, client
 * messages and the replies that answer them.
 */
#include <string.h>

#include "edge.h"
#include "hm_clock.h"
#include "hm_ids.h"
#include "hm_log.h"

static const char *s_ep_names[] = {"/ws/health", "/ws/chat", "/ws/notifications", "/ws/combined"};

const char *
edge_state_name(edge_state_t st)
{
    static const char *names[] = {"connecting", "connected", "authenticated", "error",
                                  "disconnected"};
    return st <= EDGE_ST_DISCONNECTED ? names[st] : "?";
}

static char *
s_now_iso(char *buf, int len)
{
    return hm_clock_iso8601(hm_clock_wall_ms(), buf, len);
}

/* ---- sending ----------------------------------------------------------- */

/* In a backed-up queue, a newer frame with the same coalesce key replaces
 * the queued one (the latest value per metric, never stale ones). Returns
 * true when f took an old frame's place. */
static bool
s_coalesce(edge_conn_t *c, edge_frame_t *f)
{
    for (int i = c->qlen - 1; i >= 0; i--) {
        edge_frame_t **slot = &c->q[(c->qhead + i) % c->qcap];
        if ((*slot)->coalesce == f->coalesce) {
            c->qbytes = c->qbytes - (*slot)->len + f->len;
            edge_frame_unref(slot);
            *slot = edge_frame_ref(f);
            c->edge->stats.coalesced++;
            return true;
        }
    }
    return false;
}

/* Grows the ring (doubling). Returns 0 or -1. */
static int
s_grow(edge_conn_t *c)
{
    int ncap = c->qcap ? c->qcap * 2 : 4;
    edge_frame_t **nq = malloc(sizeof(*nq) * (size_t) ncap);
    if (!nq)
        return -1;
    for (int i = 0; i < c->qlen; i++)
        nq[i] = c->q[(c->qhead + i) % c->qcap];
    free(c->q);
    c->q = nq;
    c->qcap = ncap;
    c->qhead = 0;
    return 0;
}

int
edge_conn_send(edge_conn_t *c, edge_frame_t *f)
{
    edge_t *e = c->edge;
    if (c->close_code || !c->wsi)
        return -1;
    /* Past half the bound the client is behind: coalesce what can be. */
    bool behind = c->qlen >= e->cfg.queue_max_frames / 2 || c->qbytes >= e->cfg.queue_max_bytes / 2;
    if (behind && f->coalesce && s_coalesce(c, f))
        return 0;
    if (c->qlen >= e->cfg.queue_max_frames || c->qbytes + f->len > e->cfg.queue_max_bytes) {
        e->stats.queue_drops++;
        e->stats.slow_closes++;
        edge_stat_error(e, HM_ERR_SLOW_CONSUMER);
        hm_log_info("slow_consumer", "conn=%s queued=%d bytes=%zu", c->id, c->qlen, c->qbytes);
        edge_conn_close(c, HM_CLOSE_SLOW_CONSUMER, "slow consumer: reconnect and resume");
        /* The close frame waits behind what the client has not read; a
         * client that never reads again is dropped when this runs out. */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, EDGE_SLOW_CLOSE_S);
        return -1;
    }
    if (c->qlen == c->qcap && s_grow(c) != 0)
        return -1;
    c->q[(c->qhead + c->qlen) % c->qcap] = edge_frame_ref(f);
    c->qlen++;
    c->qbytes += f->len;
    if (c->qlen == 1)
        lws_callback_on_writable(c->wsi);
    return 0;
}

int
edge_conn_send_json(edge_conn_t *c, json_t *json)
{
    char ts[40];
    if (!json_object_get(json, "timestamp"))
        json_object_set_new(json, "timestamp", json_string(s_now_iso(ts, sizeof(ts))));
    edge_frame_t *f = edge_frame_json(json);
    json_decref(json);
    if (!f)
        return -1;
    int rc = edge_conn_send(c, f);
    edge_frame_unref(&f);
    return rc;
}

void
edge_conn_send_error(edge_conn_t *c, const char *code, const char *msg, const char *cid)
{
    edge_stat_error(c->edge, code);
    json_t *j = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "type", HM_MSG_ERROR, "code", code,
                          "message", msg, "data", "code", code, "message", msg);
    if (cid)
        json_object_set_new(j, "correlation_id", json_string(cid));
    edge_conn_send_json(c, j);
}

void
edge_conn_close(edge_conn_t *c, uint32_t code, const char *reason)
{
    if (c->close_code)
        return;
    c->close_code = code;
    c->close_reason = reason;
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
}

/* Writes as many queued frames as fit in one raw write. Returns -1 to close. */
int
edge_conn_writable(edge_t *e, edge_conn_t *c)
{
    if (c->qlen > 0) {
        unsigned char *out = e->scratch + LWS_PRE;
        size_t n = 0;
        edge_frame_t *big = NULL;
        while (c->qlen > 0) {
            edge_frame_t *f = c->q[c->qhead];
            if (f->len > EDGE_SCRATCH - n) {
                if (n == 0)
                    big = f; /* larger than the scratch: write it on its own */
                break;
            }
            memcpy(out + n, edge_frame_bytes(f), f->len);
            n += f->len;
            c->q[c->qhead] = NULL;
            c->qhead = (c->qhead + 1) % c->qcap;
            c->qlen--;
            c->qbytes -= f->len;
            e->stats.msgs_out++;
            edge_frame_unref(&f);
        }
        if (big) {
            n = big->len;
            int rc = lws_write(c->wsi, edge_frame_bytes(big), n, LWS_WRITE_RAW);
            c->q[c->qhead] = NULL;
            c->qhead = (c->qhead + 1) % c->qcap;
            c->qlen--;
            c->qbytes -= n;
            e->stats.msgs_out++;
            edge_frame_unref(&big);
            if (rc < 0)
                return -1;
        } else if (n > 0 && lws_write(c->wsi, out, n, LWS_WRITE_RAW) < 0) {
            return -1;
        }
        e->stats.bytes_out += n;
        if (c->qlen > 0) {
            lws_callback_on_writable(c->wsi);
            return 0;
        }
    }
    if (c->close_code) {
        lws_close_reason(c->wsi, (enum lws_close_status) c->close_code,
                         (unsigned char *) c->close_reason, strlen(c->close_reason));
        return -1;
    }
    return 0;
}

/* ---- open and close ---------------------------------------------------- */

static bool
s_addr_allowed(edge_t *e, edge_conn_t *c)
{
    if (e->cfg.conn_rate_per_addr <= 0)
        return true;
    hm_ratelimit_t *rl = zhashx_lookup(e->addr_rates, c->remote);
    int64_t now = hm_clock_mono_ns();
    if (!rl) {
        if (zhashx_size(e->addr_rates) > 100000)
            zhashx_purge(e->addr_rates); /* bound: forget everyone */
        rl = calloc(1, sizeof(*rl));
        hm_ratelimit_init(rl, e->cfg.conn_rate_per_addr, e->cfg.conn_rate_per_addr, now);
        zhashx_insert(e->addr_rates, c->remote, rl);
    }
    return hm_ratelimit_take(rl, now, 1);
}

int
edge_conn_open(edge_t *e, edge_conn_t *c, struct lws *wsi, edge_endpoint_t ep)
{
    memset(c, 0, sizeof(*c));
    c->wsi = wsi;
    c->edge = e;
    c->endpoint = ep;
    c->state = EDGE_ST_CONNECTING;
    hm_uuid4(c->id);
    c->connected_ms = c->last_activity_ms = hm_clock_wall_ms();
    c->last_rx_mono_ms = hm_clock_mono_ns() / 1000000;
    c->next_heartbeat_ms = c->connected_ms + e->cfg.heartbeat_ms;
    lws_get_peer_simple(wsi, c->remote, sizeof(c->remote));
    hm_ratelimit_init(&c->rate, e->cfg.rate, e->cfg.burst, hm_clock_mono_ns());
    e->stats.total_connections++;
    if ((int) zhashx_size(e->conns) >= e->cfg.max_connections) {
        edge_stat_error(e, HM_ERR_TOO_MANY_CONNECTIONS);
        edge_conn_close(c, HM_CLOSE_TRY_AGAIN_LATER, "edge is full, try again later");
        return 0;
    }
    if (!s_addr_allowed(e, c)) {
        edge_stat_error(e, HM_ERR_RATE_LIMITED);
        edge_conn_close(c, HM_CLOSE_RATE_LIMITED, "too many new connections from this address");
        return 0;
    }
    zhashx_insert(e->conns, c->id, c);
    c->registered = true;
    c->state = EDGE_ST_CONNECTED;
    char ts[40];
    edge_conn_send_json(
        c, json_pack("{s:s, s:s, s:{s:s, s:I, s:s, s:s}}", "type", HM_MSG_WELCOME,
                     "connection_id", c->id, "data", "connection_id", c->id,
                     "heartbeat_interval", (json_int_t) (e->cfg.heartbeat_ms / 1000),
                     "server_time", s_now_iso(ts, sizeof(ts)), "endpoint", s_ep_names[ep]));
    edge_bus_lifecycle(e, c, "conn_open");
    return 0;
}

void
edge_conn_closed(edge_t *e, edge_conn_t *c)
{
    edge_bus_unfollow_all(e, c);
    free(c->subs);
    c->subs = NULL;
    c->subcap = 0;
    free(c->jti);
    c->jti = NULL;
    if (c->conflating) {
        zlist_remove(e->conflating, c);
        c->conflating = false;
    }
    if (c->registered) {
        zhashx_delete(e->conns, c->id);
        c->registered = false;
        edge_bus_lifecycle(e, c, "conn_close");
        if (c->user_id > 0)
            edge_bus_request(e, c, EDGE_REQ_FIRE, HM_SVC_AUTH, HM_VERB_AUTH_SESSION_CLOSE, NULL,
                             NULL, 0);
    }
    while (c->qlen > 0) {
        edge_frame_unref(&c->q[c->qhead]);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
    free(c->q);
    c->q = NULL;
    free(c->rx);
    c->rx = NULL;
    for (int i = 0; i < c->nheld; i++)
        free(c->held[i].text);
    free(c->held);
    c->held = NULL;
    c->nheld = 0;
    c->state = EDGE_ST_DISCONNECTED;
    c->wsi = NULL;
}

void
edge_conn_heard(edge_conn_t *c)
{
    c->last_rx_mono_ms = hm_clock_mono_ns() / 1000000;
    c->ping_out = false;
}

void
edge_conn_keepalive(edge_t *e, edge_conn_t *c, int64_t mono_ms)
{
    if (!c->wsi || e->cfg.ping_ms <= 0)
        return;
    int64_t silent = mono_ms - c->last_rx_mono_ms;
    if (c->ping_out && silent >= 2 * e->cfg.ping_ms) {
        /* No pong, no frame: the peer or the path is gone. */
        hm_log_info("keepalive_timeout", "conn=%s silent_ms=%lld", c->id, (long long) silent);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    if (!c->ping_out && silent >= e->cfg.ping_ms && e->ping && edge_conn_send(c, e->ping) == 0)
        c->ping_out = true;
}
