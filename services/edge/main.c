/*
 * hm-edge - the WebSocket edge: /ws/health, /ws/chat, /ws/notifications,
 * /ws/combined on one port; frames in, bus messages out, bus events back to
 * the connections that follow them.
 */
#include <ctype.h>
#include <ev.h>
#include <string.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include "edge.h"
#include "hm_clock.h"
#include "hm_config.h"
#include "hm_ids.h"
#include "hm_json.h"
#include "hm_log.h"

static const hm_cfg_opt_t s_opts[] = {
    HM_CFG_BUS_OPTS,
    {"port", HM_CFG_INT, "8000", 0, 65535, "TCP port for WebSocket and HTTP (0: any free)"},
    {"host", HM_CFG_STR, "127.0.0.1", 0, 0, "interface address to listen on"},
    {"edge_id", HM_CFG_STR, "", 0, 0, "this edge's id (default: a random UUID)"},
    {"max_connections", HM_CFG_INT, "1000", 1, 1000000, "connections held by this edge"},
    {"max_frame", HM_CFG_INT, "65536", 256, 16777216, "largest client message (bytes)"},
    {"rate", HM_CFG_DOUBLE, "20", 0.1, 100000, "client messages per second per connection"},
    {"burst", HM_CFG_DOUBLE, "40", 1, 100000, "client message burst per connection"},
    {"rate_strikes_close", HM_CFG_INT, "10", 1, 1000000,
     "consecutive rate-limited messages before the connection is closed"},
    {"conn_rate_per_addr", HM_CFG_INT, "200", 0, 1000000,
     "new connections per second per client address (0: no limit)"},
    {"auth_timeout_ms", HM_CFG_INT, "10000", 100, 3600000, "time to authenticate"},
    {"idle_timeout_ms", HM_CFG_INT, "3600000", 1000, 86400000,
     "automatic logoff after this long without a client message"},
    {"heartbeat_ms", HM_CFG_INT, "30000", 100, 3600000, "application heartbeat interval"},
    {"ping_s", HM_CFG_INT, "30", 1, 3600, "WebSocket ping after this idle time (s)"},
    {"token_warn_ms", HM_CFG_INT, "60000", 0, 86400000, "token_expiring this long before exp"},
    {"queue_max_frames", HM_CFG_INT, "1024", 4, 1000000, "send queue bound (frames)"},
    {"queue_max_bytes", HM_CFG_INT, "1048576", 1024, 1073741824, "send queue bound (bytes)"},
    {"request_timeout_ms", HM_CFG_INT, "1000", 10, 600000, "first retry of a service request"},
    {"request_deadline_ms", HM_CFG_INT, "5000", 10, 600000,
     "service_unavailable after this long without a reply"},
    {"bus_heartbeat_ms", HM_CFG_INT, "1000", 50, 60000,
     "Majordomo heartbeat of this edge's worker (match the broker's)"},
    {"cleanup_ms", HM_CFG_INT, "300000", 1000, 86400000,
     "cleanup sweep: forget idle address buckets and silent peers, log figures"},
    {"recovery_ms", HM_CFG_INT, "60000", 100, 86400000,
     "recovery pass over connections in ERROR (a service stopped answering)"},
    {"recovery_max_attempts", HM_CFG_INT, "5", 1, 1000,
     "recovery passes before an ERROR connection is closed with 1011"},
    {"edge_beat_ms", HM_CFG_INT, "5000", 100, 60000, "sys.edge heartbeat interval"},
    {"tls_cert", HM_CFG_STR, "", 0, 0, "TLS certificate (PEM): wss and https only"},
    {"tls_key", HM_CFG_STR, "", 0, 0, "TLS private key (PEM)"},
    {"www_dir", HM_CFG_STR, "", 0, 0, "serve the dashboard's files from this folder at /"},
    {"origins", HM_CFG_STR, "", 0, 0, "comma-separated Origin allow-list (empty: any)"},
    {"event_loop", HM_CFG_STR, "ev", 0, 0,
     "ev (libev: epoll, cost per ready socket) or poll (lws's own loop: cost per open socket)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

/* ---- protocols ---------------------------------------------------------- */

static edge_t *
s_edge(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* Maps the request path to an endpoint; -1 for anything else. */
static int
s_endpoint(struct lws *wsi)
{
    char uri[128];
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
        return -1;
    char *q = strchr(uri, '?');
    if (q)
        *q = '\0';
    static const char *paths[] = {"/ws/health", "/ws/chat", "/ws/notifications", "/ws/combined"};
    for (int i = 0; i < 4; i++)
        if (strcmp(uri, paths[i]) == 0)
            return i;
    return -1;
}

/* True when the Origin header is allowed (or no allow-list is set). */
static bool
s_origin_ok(edge_t *e, struct lws *wsi)
{
    if (!e->cfg.origins[0])
        return true;
    char origin[256];
    if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
        return false;
    size_t n = strlen(origin);
    for (const char *p = e->cfg.origins; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t) (end - p) : strlen(p);
        if (len == n && strncmp(p, origin, n) == 0)
            return true;
        p += len + (end ? 1 : 0);
    }
    return false;
}

/* RFC 6455 4.2.1: Sec-WebSocket-Version must be 13 (else 426 naming 13)
 * and Sec-WebSocket-Key the base64 of 16 bytes (else 400). lws 4.1.6 also
 * accepts the draft versions and any key. Returns 0, or the HTTP status
 * already sent. */
static int
s_handshake_check(struct lws *wsi)
{
    char v[16], key[64];
    int vlen = lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_VERSION);
    int klen = lws_hdr_copy(wsi, key, sizeof(key), WSI_TOKEN_KEY);
    if (vlen <= 0 || strcmp(v, "13") != 0) {
        static const char resp[] = "HTTP/1.1 426 Upgrade Required\r\n"
                                   "Sec-WebSocket-Version: 13\r\n"
                                   "Content-Length: 0\r\nConnection: close\r\n\r\n";
        unsigned char buf[LWS_PRE + sizeof(resp)];
        memcpy(buf + LWS_PRE, resp, sizeof(resp) - 1);
        lws_write(wsi, buf + LWS_PRE, sizeof(resp) - 1, LWS_WRITE_HTTP_HEADERS);
        return 426;
    }
    /* 16 bytes in base64: 22 characters and "==". */
    bool ok = klen == 24 && key[22] == '=' && key[23] == '=';
    for (int i = 0; ok && i < 22; i++)
        ok = isalnum((unsigned char) key[i]) || key[i] == '+' || key[i] == '/';
    if (!ok) {
        lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, "bad Sec-WebSocket-Key");
        return 400;
    }
    return 0;
}

static int
s_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    edge_conn_t *c = user;
    edge_t *e = s_edge(wsi);
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        if (s_handshake_check(wsi) != 0) {
            edge_stat_error(e, HM_ERR_BAD_REQUEST);
            return 1;
        }
        int ep = s_endpoint(wsi);
        if (ep < 0 || !s_origin_ok(e, wsi)) {
            edge_stat_error(e, ep < 0 ? HM_ERR_NOT_FOUND : HM_ERR_FORBIDDEN);
            return 1;
        }
        c->endpoint = (edge_endpoint_t) ep;
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        return edge_conn_open(e, c, wsi, c->endpoint);
    case LWS_CALLBACK_RECEIVE_PONG:
        edge_conn_heard(c);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        edge_conn_heard(c);
        return edge_conn_receive(e, c, in, len, lws_is_first_fragment(wsi) != 0,
                                 lws_is_final_fragment(wsi) != 0, lws_frame_is_binary(wsi) != 0);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return edge_conn_writable(e, c);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        /* A close body of one byte cannot hold a status code (RFC 6455
         * 5.5.1): answer 1002. lws 4.1.6 would echo an empty close. */
        if (len == 1) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, (unsigned char *) "bad close", 9);
            return -1;
        }
        /* RFC 6455 7.1.6 / 8.1: the reason is UTF-8, or the close fails
         * the connection with 1007. */
        if (len > 2 && !hm_utf8_valid((const char *) in + 2, len - 2)) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD,
                             (unsigned char *) "invalid UTF-8", 13);
            return -1;
        }
        return 0;
    case LWS_CALLBACK_CLOSED:
        edge_conn_closed(e, c);
        return 0;
    default:
        return 0;
    }
}

static int
s_bus_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
               size_t len)
{
    edge_t *e = s_edge(wsi);
    if (reason == LWS_CALLBACK_RAW_RX_FILE && e && !e->stopping)
        edge_bus_drain(e);
    return 0;
}

static int
s_listen_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    edge_t *e = s_edge(wsi);
    if (reason == LWS_CALLBACK_RAW_RX_FILE && e && !e->stopping)
        edge_listen_accept(e, wsi);
    return 0;
}

static struct lws_protocols s_protocols[] = {
    /* the first protocol serves plain HTTP (management) */
    {"http", edge_http_callback, 0, 0, 0, NULL, 0}, /* pss size set in s_run */
    /* rx 128: lws keeps this buffer per connection (0 would mean 4 KiB);
     * it still holds any control frame (payload <= 125), and larger
     * messages arrive in pieces that edge_conn_receive reassembles up to
     * max_frame. */
    {"hm-ws", s_ws_callback, sizeof(edge_conn_t), 128, 0, NULL, 65536},
    {"hm-bus-fd", s_bus_callback, 0, 0, 0, NULL, 0},
    {"hm-listen", s_listen_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct lws_protocol_vhost_options s_pvo_default = {NULL, NULL, "default", "1"};
static const struct lws_protocol_vhost_options s_pvo = {NULL, &s_pvo_default, "hm-ws", ""};

/* ---- timers ---------------------------------------------------------------- */

static void
s_tick(lws_sorted_usec_list_t *sul)
{
    edge_t *e = lws_container_of(sul, edge_t, sul_tick);
    edge_bus_tick(e);
    edge_bus_flush_conflated(e);
    edge_mgmt_poll(e);
    if (zsys_interrupted && !e->stopping) {
        e->stopping = true;
        if (e->loop)
            ev_break(e->loop, EVBREAK_ALL);
        else
            lws_cancel_service(e->ctx);
    }
    lws_sul_schedule(e->ctx, 0, &e->sul_tick, s_tick, 100 * LWS_US_PER_MS);
}

/* The cleanup sweep: forgets per-address buckets that are full again (idle
 * addresses) and logs the edge's figures. */
static void
s_cleanup(edge_t *e)
{
    int64_t now = hm_clock_mono_ns();
    zlist_t *idle = zlist_new();
    for (hm_ratelimit_t *rl = zhashx_first(e->addr_rates); rl; rl = zhashx_next(e->addr_rates))
        if (hm_ratelimit_wait_ms(rl, now, rl->burst) == 0)
            zlist_append(idle, (void *) zhashx_cursor(e->addr_rates));
    for (const char *k = zlist_first(idle); k; k = zlist_next(idle))
        zhashx_delete(e->addr_rates, k);
    zlist_destroy(&idle);
    hm_log_info("edge_stats", "connections=%zu topics=%zu pending=%zu addresses=%zu",
                zhashx_size(e->conns), zhashx_size(e->topics), zhashx_size(e->pending),
                zhashx_size(e->addr_rates));
}

static void
s_sweep(lws_sorted_usec_list_t *sul)
{
    edge_t *e = lws_container_of(sul, edge_t, sul_sweep);
    int64_t now = hm_clock_wall_ms();
    int64_t mono = hm_clock_mono_ns() / 1000000;
    for (edge_conn_t *c = zhashx_first(e->conns); c; c = zhashx_next(e->conns)) {
        edge_conn_keepalive(e, c, mono);
        edge_conn_sweep(e, c, now);
    }
    if (mono >= e->recovery_at) {
        for (edge_conn_t *c = zhashx_first(e->conns); c; c = zhashx_next(e->conns))
            edge_conn_recover(e, c);
        e->recovery_at = mono + e->cfg.recovery_ms;
    }
    if (mono >= e->cleanup_at) {
        s_cleanup(e);
        e->cleanup_at = mono + e->cfg.cleanup_ms;
    }
    if (hm_clock_mono_ns() / 1000000 >= e->edge_beat_at) {
        edge_bus_lifecycle(e, NULL, "edge_beat");
        e->edge_beat_at = hm_clock_mono_ns() / 1000000 + e->beat_ms;
    }
    lws_sul_schedule(e->ctx, 0, &e->sul_sweep, s_sweep, 1000 * LWS_US_PER_MS);
}

/* ---- main -------------------------------------------------------------------- */

static void
s_edge_cfg(edge_t *e, hm_config_t *cfg, const char *edge_id)
{
    e->cfg = (edge_cfg_t){
        .edge_id = edge_id,
        .max_connections = (int) hm_config_int(cfg, "max_connections"),
        .max_frame = (size_t) hm_config_int(cfg, "max_frame"),
        .rate = hm_config_double(cfg, "rate"),
        .burst = hm_config_double(cfg, "burst"),
        .rate_strikes_close = (int) hm_config_int(cfg, "rate_strikes_close"),
        .conn_rate_per_addr = (int) hm_config_int(cfg, "conn_rate_per_addr"),
        .auth_timeout_ms = hm_config_int(cfg, "auth_timeout_ms"),
        .idle_timeout_ms = hm_config_int(cfg, "idle_timeout_ms"),
        .heartbeat_ms = hm_config_int(cfg, "heartbeat_ms"),
        .token_warn_ms = hm_config_int(cfg, "token_warn_ms"),
        .queue_max_frames = (int) hm_config_int(cfg, "queue_max_frames"),
        .queue_max_bytes = (size_t) hm_config_int(cfg, "queue_max_bytes"),
        .request_timeout_ms = (int) hm_config_int(cfg, "request_timeout_ms"),
        .request_deadline_ms = (int) hm_config_int(cfg, "request_deadline_ms"),
        .bus_heartbeat_ms = (int) hm_config_int(cfg, "bus_heartbeat_ms"),
        .cleanup_ms = hm_config_int(cfg, "cleanup_ms"),
        .recovery_ms = hm_config_int(cfg, "recovery_ms"),
        .recovery_max_attempts = (int) hm_config_int(cfg, "recovery_max_attempts"),
        .origins = hm_config_str(cfg, "origins"),
        .www_dir = hm_config_str(cfg, "www_dir"),
    };
}

static void
s_free_rate(void **item)
{
    free(*item);
    *item = NULL;
}

static int
s_run(hm_config_t *cfg, const char *edge_id)
{
    edge_t e = {0};
    s_edge_cfg(&e, cfg, edge_id);
    e.conns = zhashx_new();
    /* Keyed by the connection's own id (it outlives its entry). */
    zhashx_set_key_duplicator(e.conns, NULL);
    zhashx_set_key_destructor(e.conns, NULL);
    e.addr_rates = zhashx_new();
    zhashx_set_destructor(e.addr_rates, s_free_rate);
    e.stats.errors = zhashx_new();
    e.scratch = malloc(LWS_PRE + EDGE_SCRATCH);
    e.http = zhashx_new();
    s_protocols[0].per_session_data_size = edge_http_pss_size();
    /* Keepalive pings are the edge's own (edge_conn_keepalive, from the 1 s
     * sweep), not lws's validity policy: lws keeps one sorted timer per
     * connection, and inserting each new one walks the whole list, which
     * made connection set-up cost grow with the connections held. */
    e.cfg.ping_ms = hm_config_int(cfg, "ping_s") * 1000;
    e.ping = edge_frame_ping();
    /* A policy with no hangup time turns lws's timers off; with none at all
     * lws would use its default (ping 300 s, hangup 310 s) and keep them. */
    static const lws_retry_bo_t no_validity = {.secs_since_valid_ping = 0,
                                               .secs_since_valid_hangup = 0};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.options = LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    /* The vhost listens nowhere: edge_listen opens the port with SO_REUSEPORT. */
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    const char *cert = hm_config_str(cfg, "tls_cert"), *key = hm_config_str(cfg, "tls_key");
    e.tls = cert[0] || key[0];
    if (e.tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cert;
        info.ssl_private_key_filepath = key;
        /* TLS 1.2 or newer only. */
        info.ssl_options_set = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
    }
    info.protocols = s_protocols;
    info.pvo = &s_pvo;
    info.user = &e;
    info.retry_and_idle_policy = &no_validity;
    info.fd_limit_per_thread = 0;
    /* libev over epoll: the default poll() loop walks every open socket on
     * each wake-up, which dominates connection set-up and per-user events
     * once thousands are open. lws drives the loop we own (foreign loop),
     * so the 100 ms tick can break it on SIGINT/SIGTERM. */
    const char *evl = hm_config_str(cfg, "event_loop");
    void *loops[1] = {NULL};
    if (strcmp(evl, "ev") == 0) {
        e.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
        if (!e.loop) {
            hm_log_error("startup_failed", "reason=ev_loop");
            return 1;
        }
        loops[0] = e.loop;
        info.options |= LWS_SERVER_OPTION_LIBEV;
        info.foreign_loops = loops;
    } else if (strcmp(evl, "poll") != 0) {
        hm_log_error("startup_failed", "reason=event_loop value=%s", evl);
        return 2;
    }
    int rc = 1;
    e.ctx = lws_create_context(&info);
    if (!e.ctx) {
        hm_log_error("startup_failed", "reason=lws_context port=%d", info.port);
        goto out;
    }
    e.vhost = lws_get_vhost_by_name(e.ctx, "default");
    if (edge_listen_start(&e, hm_config_str(cfg, "host"), (int) hm_config_int(cfg, "port")) != 0)
        goto out;
    if (edge_bus_start(&e, hm_config_str(cfg, "events_in"), hm_config_str(cfg, "events_out"),
                       hm_config_str(cfg, "requests"))
        != 0) {
        hm_log_error("startup_failed", "reason=bus");
        goto out;
    }
    if (edge_mgmt_start(&e, hm_config_str(cfg, "requests")) != 0) {
        hm_log_error("startup_failed", "reason=edge_worker");
        goto out;
    }
    e.beat_ms = hm_config_int(cfg, "edge_beat_ms");
    hm_log_info("started", "edge=%s port=%d tls=%s", edge_id, e.port, cert[0] ? "on" : "off");
    lws_sul_schedule(e.ctx, 0, &e.sul_tick, s_tick, 100 * LWS_US_PER_MS);
    e.recovery_at = hm_clock_mono_ns() / 1000000 + e.cfg.recovery_ms;
    e.cleanup_at = hm_clock_mono_ns() / 1000000 + e.cfg.cleanup_ms;
    lws_sul_schedule(e.ctx, 0, &e.sul_sweep, s_sweep, 1000 * LWS_US_PER_MS);
    if (e.loop)
        ev_run(e.loop, 0); /* until s_tick breaks it */
    else
        while (!e.stopping && lws_service(e.ctx, 0) >= 0)
            if (zsys_interrupted)
                e.stopping = true;
    rc = 0;
out:
    e.stopping = true;
    if (e.ctx)
        lws_context_destroy(e.ctx); /* closes every connection (edge_conn_closed) */
    if (e.loop)
        ev_loop_destroy(e.loop);
    edge_mgmt_stop(&e);
    edge_bus_stop(&e);
    zhashx_destroy(&e.http);
    zhashx_destroy(&e.conns);
    zhashx_destroy(&e.addr_rates);
    zhashx_destroy(&e.stats.errors);
    free(e.scratch);
    edge_frame_unref(&e.ping);
    free(e.text.buf);
    hm_log_info("stopped", "edge=%s", edge_id);
    return rc;
}

int
main(int argc, char **argv)
{
    hm_config_t *cfg = hm_config_new("edge", "hm-edge [options]", s_opts);
    int rc = hm_config_start(cfg, argc, argv, "hm-edge", NULL);
    if (rc != 0) {
        hm_config_destroy(&cfg);
        return rc == 1 ? 0 : 2;
    }
    lws_set_log_level(hm_log_get_level() >= HM_LOG_DEBUG ? LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO
                                            : LLL_ERR | LLL_WARN,
                      hm_log_lws_emit);
    char edge_id[HM_UUID_STRLEN];
    snprintf(edge_id, sizeof(edge_id), "%s", hm_config_str(cfg, "edge_id"));
    if (!edge_id[0])
        hm_uuid4(edge_id);
    rc = s_run(cfg, edge_id);
    hm_config_destroy(&cfg);
    return rc;
}
