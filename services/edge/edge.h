/*
 * edge.h - hm-edge's shared state: the edge (one per process, the lws vhost
 * data) and a connection (the WebSocket per-session data). Internal to
 * services/edge.
 *
 * Ownership: the edge owns the bus sockets, the connection index, the topic
 * table and the pending requests. lws owns each edge_conn_t's memory (its
 * per-session data); the connection owns its queued frame references, its
 * receive buffer and held messages.
 */
#ifndef EDGE_H
#define EDGE_H

#include <czmq.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#include "edge_conflate.h"
#include "edge_frame.h"
#include "edge_msg.h"
#include "hm_json_text.h"
#include "hm_mdp.h"
#include "hm_ratelimit.h"

typedef enum {
    EDGE_ST_CONNECTING = 0,
    EDGE_ST_CONNECTED,
    EDGE_ST_AUTHENTICATED,
    EDGE_ST_ERROR,
    EDGE_ST_DISCONNECTED,
} edge_state_t;

typedef enum {
    EDGE_EP_HEALTH = 0,
    EDGE_EP_CHAT,
    EDGE_EP_NOTIFICATIONS,
    EDGE_EP_COMBINED,
} edge_endpoint_t;

#define EDGE_MAX_SUBS 12   /* topics one connection follows */
#define EDGE_MAX_HELD 16   /* messages held while authentication is in flight */
#define EDGE_CONN_ID_LEN 37

struct ev_loop; /* libev */
typedef struct edge_topic edge_topic_t;
typedef struct edge edge_t;

typedef struct {
    edge_topic_t *topic; /* borrowed from the edge's topic table */
    edge_channel_t ch;   /* channel it belongs to (for status and heartbeats) */
    int64_t user;        /* whose stream */
    int64_t last_seq;    /* last seq delivered on it (-1: none) */
    edge_conflate_t *cf; /* max_rate per metric, or NULL; owned */
    struct edge_resume *resume; /* a replay in flight: live events held; owned */
} edge_sub_t;

/* While a subscription's replay (since_seq) is in flight its live events
 * are held here, then delivered after the replayed ones, so none is dropped
 * as "older than the last delivered" and none is doubled. */
#define EDGE_RESUME_HOLD 512
#define EDGE_RESUME_ROUNDS 20
struct edge_resume {
    int rounds;                /* replay requests made */
    bool overflow;             /* more live events came than fit: replay again */
    int n;                     /* held */
    struct {
        edge_frame_t *f;       /* owned reference */
        int64_t seq;
    } held[EDGE_RESUME_HOLD];
};

typedef struct edge_conn {
    struct lws *wsi;              /* borrowed */
    edge_t *edge;                 /* borrowed */
    char id[EDGE_CONN_ID_LEN];    /* connection UUID */
    edge_state_t state;           /* public state */
    edge_endpoint_t endpoint;     /* which /ws/ path */
    bool authenticating;          /* auth.verify in flight */
    bool refreshing;              /* refresh_token in flight */
    bool registered;              /* in the edge's index */
    bool conflating;              /* in the edge's list of held-back ticks */
    int64_t user_id;              /* 0 until authenticated */
    char role[16];                /* from auth */
    char *jti;                    /* token id, for revocation; owned, NULL before auth */
    int64_t token_exp_ms;         /* token expiry (unix ms), 0 none */
    bool expiring_sent;           /* token_expiring already sent */
    int64_t connected_ms;         /* unix ms */
    int64_t last_activity_ms;     /* last message from the client (unix ms) */
    int64_t last_rx_mono_ms;      /* last frame of any kind, pongs too (monotonic ms) */
    bool ping_out;                /* a keepalive ping is unanswered */
    int64_t next_heartbeat_ms;    /* when the next app heartbeat is due */
    int retry_count;              /* service retries on this connection's requests */
    int recovery_attempts;        /* recovery passes while in ERROR */
    char remote[48];              /* peer address */
    edge_sub_t *subs;             /* followed topics (at most EDGE_MAX_SUBS); owned */
    int nsubs, subcap;
    /* send queue: ring of shared frames */
    edge_frame_t **q;             /* ring storage; owned */
    int qcap, qhead, qlen;        /* ring geometry */
    size_t qbytes;                /* bytes queued */
    uint32_t close_code;          /* non-zero: close after the queue drains */
    const char *close_reason;     /* reason sent with close_code (a string literal) */
    /* receive */
    unsigned char *rx;            /* reassembly of a fragmented message; owned */
    size_t rxlen, rxcap;
    bool rx_binary;               /* the message being received is binary */
    bool rx_discard;              /* over max_frame: dropping it, then closing */
    /* held while authenticating: raw texts (array of EDGE_MAX_HELD, allocated
     * only when something is held), owned */
    struct edge_held {
        char *text;
        size_t len;
    } *held;
    int nheld;
    hm_ratelimit_t rate;          /* messages per second */
    int rate_strikes;             /* consecutive limited messages */
} edge_conn_t;

/* Settings (from the config table in main.c). */
typedef struct {
    const char *edge_id;
    int max_connections;
    size_t max_frame;
    double rate, burst;
    int rate_strikes_close;
    int conn_rate_per_addr;
    int64_t auth_timeout_ms, idle_timeout_ms, heartbeat_ms;
    int64_t token_warn_ms;
    int queue_max_frames;
    size_t queue_max_bytes;
    int request_timeout_ms, request_deadline_ms;
    int bus_heartbeat_ms; /* Majordomo heartbeat of the edge.<id> worker */
    int64_t cleanup_ms, recovery_ms; /* the cleanup sweep and the recovery pass */
    int64_t ping_ms;                 /* keepalive ping after this much silence */
    int recovery_max_attempts;
    const char *origins; /* comma-separated allow-list, "" = any */
    const char *www_dir; /* the dashboard's files, "" = none */
    const char *jwt_secret; /* admin tokens for management: verified through auth */
} edge_cfg_t;

/* Counters for /metrics. */
typedef struct {
    uint64_t total_connections, msgs_in, msgs_out, bytes_in, bytes_out;
    uint64_t auth_failures, queue_drops, slow_closes, coalesced, bus_events, bus_garbage;
    uint64_t rate_limited, requests, request_retries, request_unavailable;
    uint64_t bus_latency_us_sum, bus_latency_count;
    uint64_t gap_replays;   /* stream gaps filled by a replay */
    uint64_t fast_events;   /* events framed straight from msgpack */
    zhashx_t *errors; /* code -> (uintptr_t) count */
} edge_stats_t;

struct edge {
    struct lws_context *ctx;  /* borrowed */
    struct ev_loop *loop;     /* libev loop lws runs on, or NULL (poll); owned */
    struct lws_vhost *vhost;  /* borrowed */
    edge_cfg_t cfg;           /* settings */
    edge_frame_t *ping;       /* the shared keepalive ping; owned */
    hm_text_t text;           /* scratch for framing events; owned */
    edge_stats_t stats;       /* counters */
    zsock_t *sub;             /* bus SUB; owned */
    zsock_t *pub;             /* bus PUB; owned */
    hm_mdp_client_t *mdp;     /* requests; owned */
    struct lws *sub_wsi, *mdp_wsi; /* adopted dup()s of ZMQ_FD */
    zhashx_t *conns;          /* conn id -> edge_conn_t* (borrowed) */
    zhashx_t *topics;         /* topic -> edge_topic_t* (owned) */
    zhashx_t *pending;        /* request id -> edge_pending_t* (owned) */
    zhashx_t *addr_rates;     /* remote address -> hm_ratelimit_t* (owned) */
    zhashx_t *http;           /* management request id -> edge_http_t* (borrowed) */
    hm_mdp_worker_t *worker;  /* this edge's "edge.<id>" service; owned */
    zhashx_t *peers;          /* edge id -> last heartbeat (mono ms, as intptr) */
    zlist_t *conflating;      /* edge_conn_t* with held-back ticks (borrowed) */
    unsigned char *scratch;   /* LWS_PRE + EDGE_SCRATCH bytes for coalesced writes */
    lws_sorted_usec_list_t sul_tick;  /* 100 ms: pending requests, drains */
    lws_sorted_usec_list_t sul_sweep; /* 1 s: timeouts, heartbeats */
    lws_sorted_usec_list_t sul_drain; /* continue an unfinished drain */
    int64_t edge_beat_at;     /* next sys.edge heartbeat (mono ms) */
    int64_t beat_ms;          /* sys.edge heartbeat interval */
    int64_t cleanup_at, recovery_at; /* next cleanup sweep / recovery pass (mono ms) */
    int port;                 /* the port we listen on */
    bool tls;                 /* the vhost serves TLS only */
    struct lws *listen_wsi;   /* adopted listen socket (SO_REUSEPORT) */
    bool stopping;
};

#define EDGE_SCRATCH 65536
#define EDGE_SLOW_CLOSE_S 30 /* a slow consumer's close may wait this long */

/* ---- edge_conn.c ---- */
int edge_conn_open(edge_t *e, edge_conn_t *c, struct lws *wsi, edge_endpoint_t ep);
void edge_conn_closed(edge_t *e, edge_conn_t *c);
/* One received fragment. Returns 0, or -1 to close now (the close reason
 * is already set). */
int edge_conn_receive(edge_t *e, edge_conn_t *c, const void *in, size_t len, bool first,
                      bool final, bool binary);
int edge_conn_writable(edge_t *e, edge_conn_t *c);
/* Queues a shared frame (takes a new reference). Returns 0, or -1 when the
 * queue is over its bound (the connection is then closed as slow). */
int edge_conn_send(edge_conn_t *c, edge_frame_t *f);
/* Builds and queues {"type":type, ...json fields}. Takes json's reference. */
int edge_conn_send_json(edge_conn_t *c, json_t *json);
void edge_conn_send_error(edge_conn_t *c, const char *code, const char *msg, const char *cid);
void edge_conn_close(edge_conn_t *c, uint32_t code, const char *reason);
void edge_conn_sweep(edge_t *e, edge_conn_t *c, int64_t now_ms);
void edge_conn_recover(edge_t *e, edge_conn_t *c);
/* A durable stream jumped from s->last_seq to seq (events lost on the bus,
 * e.g. while a restarted broker was re-learning subscriptions): replay the
 * missing ones from the owning service, holding live events meanwhile, as
 * a resume does. No-op while a replay is in flight. */
void edge_conn_replay_gap(edge_t *e, edge_conn_t *c, edge_sub_t *s, int64_t seq);
/* Keepalive, from the 1 s sweep: a ping after ping_ms without a frame from
 * the peer, a drop after twice that. */
void edge_conn_keepalive(edge_t *e, edge_conn_t *c, int64_t mono_ms);
/* The peer sent a frame (any opcode): it is alive. */
void edge_conn_heard(edge_conn_t *c);
json_t *edge_conn_health(edge_conn_t *c);
const char *edge_state_name(edge_state_t st);

/* ---- edge_bus.c ---- */
int edge_bus_start(edge_t *e, const char *events_in, const char *events_out,
                   const char *requests);
void edge_bus_stop(edge_t *e);
void edge_bus_drain(edge_t *e);
void edge_bus_tick(edge_t *e);
/* Follows / unfollows a topic for c. max_rate > 0 conflates its metric
 * ticks to that many per second per metric. Returns 0 or -1 (too many). */
int edge_bus_follow(edge_t *e, edge_conn_t *c, const char *topic, edge_channel_t ch,
                    int64_t user, int max_rate);
/* Frees a subscription's resume state and the frames it holds. */
void edge_resume_free(struct edge_resume **r_p);
/* Sends held-back ticks that are due (called from the 100 ms tick). */
void edge_bus_flush_conflated(edge_t *e);
void edge_bus_unfollow(edge_t *e, edge_conn_t *c, int idx);
void edge_bus_unfollow_all(edge_t *e, edge_conn_t *c);
int64_t edge_bus_topic_seq(edge_topic_t *t);
/* Sends a request for c; the reply is routed back by kind. */
typedef enum {
    EDGE_REQ_AUTH,
    EDGE_REQ_REFRESH,
    EDGE_REQ_SUBSCRIBE,
    EDGE_REQ_FORWARD,
    EDGE_REQ_RESUME, /* replay of a stream since a seq */
    EDGE_REQ_FIRE, /* no client reply expected */
    EDGE_REQ_HTTP, /* a management HTTP request's step; aux says which */
} edge_req_kind_t;
int edge_bus_request(edge_t *e, edge_conn_t *c, edge_req_kind_t kind, const char *service,
                     const char *verb, json_t *data, const char *cid, int64_t aux);
/* The same for an owner that is not a connection (a management request):
 * owner_id is looked up in e->http when the reply comes. Takes data. */
int edge_bus_request_for(edge_t *e, const char *owner_id, int64_t user_id,
                         edge_req_kind_t kind, const char *service, const char *verb,
                         json_t *data, const char *cid, int64_t aux);
void edge_bus_lifecycle(edge_t *e, edge_conn_t *c, const char *what);
void edge_stat_error(edge_t *e, const char *code);

/* ---- replies handled in edge_conn.c ---- */
void edge_conn_on_reply(edge_t *e, edge_conn_t *c, edge_req_kind_t kind,
                        const hm_envelope_t *req, hm_envelope_t *rep, const char *cid,
                        int64_t aux);
void edge_conn_on_ctl(edge_t *e, edge_conn_t *c, hm_envelope_t *env);

/* ---- edge_http.c ---- */
typedef struct edge_http edge_http_t;
int edge_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len);
size_t edge_http_pss_size(void);
void edge_http_on_reply(edge_t *e, edge_http_t *h, const hm_envelope_t *req,
                        hm_envelope_t *rep, int64_t aux);

/* ---- edge_listen.c ---- */
/* Opens host:port with SO_REUSEPORT and adopts it into the loop. 0 or -1. */
int edge_listen_start(edge_t *e, const char *host, int port);
void edge_listen_accept(edge_t *e, struct lws *wsi);

/* ---- edge_mgmt.c ---- */
int edge_mgmt_start(edge_t *e, const char *requests);
void edge_mgmt_stop(edge_t *e);
void edge_mgmt_poll(edge_t *e);
void edge_mgmt_on_beat(edge_t *e, const hm_envelope_t *env);
/* Ids of the live edges, this one first (caller owns). */
json_t *edge_mgmt_peers(edge_t *e);
/* Prometheus text for /metrics (caller owns, free). */
char *edge_mgmt_metrics(edge_t *e);

#endif /* EDGE_H */
