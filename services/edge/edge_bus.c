/*
 * edge_bus.c - the edge's side of the bus: the SUB socket and its topic
 * table (first local follower subscribes, last one unsubscribes), event
 * fan-out with one shared frame per event, Majordomo requests with retries
 * and deadlines, and lifecycle events.
 *
 * Both ZeroMQ sockets are brought into the lws loop by adopting a dup() of
 * their ZMQ_FD; the fd is edge-triggered, so every wake drains until EAGAIN
 * and a drain cut short by its batch limit continues from a timer.
 */
#include <unistd.h>

#include "edge.h"
#include "hm_backoff.h"
#include "hm_bus.h"
#include "hm_clock.h"
#include "hm_log.h"

#define DRAIN_BATCH 20000

struct edge_topic {
    edge_conn_t **conns;  /* followers; borrowed */
    int n, cap;
    int64_t last_seq;     /* newest seq seen on this topic (-1: none) */
    bool ctl;             /* ctl.user.<id>: control events, not frames */
    char name[];          /* the topic (one allocation with the struct) */
};

typedef struct {
    char *id;                /* request id; owned */
    char conn_id[EDGE_CONN_ID_LEN];
    edge_req_kind_t kind;
    char *service;           /* owned */
    hm_envelope_t *req;      /* owned */
    char *cid;               /* client correlation id; owned, may be NULL */
    int64_t aux;
    int64_t sent_us;         /* first send (monotonic us) for bus latency */
    int64_t deadline_ms, next_try_ms; /* monotonic ms */
    hm_backoff_t bo;
} edge_pending_t;

static int64_t
s_now_ms(void)
{
    return hm_clock_mono_ns() / 1000000;
}

static void
s_topic_free(void **item)
{
    edge_topic_t *t = *item;
    if (t) {
        free(t->conns);
        free(t);
    }
    *item = NULL;
}

static void
s_pending_free(void **item)
{
    edge_pending_t *p = *item;
    if (p) {
        free(p->id);
        free(p->service);
        free(p->cid);
        hm_envelope_destroy(&p->req);
        free(p);
    }
    *item = NULL;
}

/* Adopts a dup() of a ZeroMQ socket's ZMQ_FD into the lws loop. */
static struct lws *
s_adopt(edge_t *e, zsock_t *sock)
{
    lws_sock_file_fd_type fd;
    fd.filefd = dup(zsock_fd(sock));
    struct lws *wsi = lws_adopt_descriptor_vhost(e->vhost, LWS_ADOPT_RAW_FILE_DESC, fd,
                                                 "hm-bus-fd", NULL);
    if (!wsi)
        hm_log_error("bus_adopt_failed", NULL);
    return wsi;
}

int
edge_bus_start(edge_t *e, const char *events_in, const char *events_out, const char *requests)
{
    e->topics = zhashx_new();
    zhashx_set_destructor(e->topics, s_topic_free);
    /* Keyed by the topic's own name: no copy of the key per topic. */
    zhashx_set_key_duplicator(e->topics, NULL);
    zhashx_set_key_destructor(e->topics, NULL);
    e->pending = zhashx_new();
    zhashx_set_destructor(e->pending, s_pending_free);
    e->conflating = zlist_new();
    e->sub = hm_bus_sub_new(events_out);
    e->pub = hm_bus_pub_new(events_in);
    e->mdp = hm_mdp_client_new(requests, e->cfg.request_timeout_ms, 0);
    if (!e->sub || !e->pub || !e->mdp)
        return -1;
    hm_bus_subscribe(e->sub, HM_TOPIC_ALL_NOTIFY);
    hm_bus_subscribe(e->sub, "ctl.user.");
    e->sub_wsi = s_adopt(e, e->sub);
    e->mdp_wsi = s_adopt(e, hm_mdp_client_sock(e->mdp));
    return e->sub_wsi && e->mdp_wsi ? 0 : -1;
}

void
edge_bus_stop(edge_t *e)
{
    zhashx_destroy(&e->pending);
    zhashx_destroy(&e->topics);
    zlist_destroy(&e->conflating);
    zsock_destroy(&e->sub);
    zsock_destroy(&e->pub);
    hm_mdp_client_destroy(&e->mdp);
}

/* ---- topics ------------------------------------------------------------ */

int64_t
edge_bus_topic_seq(edge_topic_t *t)
{
    return t->last_seq;
}

/* Topics the edge subscribes to once at start (all.notify, and every
 * ctl.user.<id> under the "ctl.user." prefix: control events are rare, and
 * one subscription per user would cost every publisher on the bus a
 * subscription entry per connected user). */
static bool
s_prefix_covered(const char *topic)
{
    return strcmp(topic, HM_TOPIC_ALL_NOTIFY) == 0 || strncmp(topic, "ctl.user.", 9) == 0;
}

int
edge_bus_follow(edge_t *e, edge_conn_t *c, const char *topic, edge_channel_t ch, int64_t user,
                int max_rate)
{
    for (int i = 0; i < c->nsubs; i++)
        if (strcmp(c->subs[i].topic->name, topic) == 0) {
            if (max_rate > 0 && !c->subs[i].cf) /* idempotent; may add a rate */
                c->subs[i].cf = edge_conflate_new(max_rate);
            return 0;
        }
    if (c->nsubs >= EDGE_MAX_SUBS)
        return -1;
    if (c->nsubs == c->subcap) { /* most connections follow one or two topics */
        int cap = c->subcap + 1; /* exact: following is rare, memory is per connection */
        edge_sub_t *subs = realloc(c->subs, sizeof(*subs) * (size_t) cap);
        if (!subs)
            return -1;
        c->subs = subs;
        c->subcap = cap;
    }
    edge_topic_t *t = zhashx_lookup(e->topics, topic);
    if (!t) {
        t = calloc(1, sizeof(*t) + strlen(topic) + 1);
        if (!t)
            return -1;
        strcpy(t->name, topic);
        t->last_seq = -1;
        t->ctl = hm_topic_parse(topic, NULL, NULL) == HM_TOPIC_CTL_USER;
        zhashx_insert(e->topics, t->name, t);
        if (!s_prefix_covered(topic))
            hm_bus_subscribe(e->sub, topic);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1; /* most topics have one follower */
        t->conns = realloc(t->conns, sizeof(*t->conns) * (size_t) t->cap);
    }
    t->conns[t->n++] = c;
    c->subs[c->nsubs++] = (edge_sub_t){.topic = t, .ch = ch, .user = user, .last_seq = -1,
                                       .cf = max_rate > 0 ? edge_conflate_new(max_rate) : NULL};
    return 0;
}

void
edge_bus_unfollow(edge_t *e, edge_conn_t *c, int idx)
{
    edge_topic_t *t = c->subs[idx].topic;
    for (int i = 0; i < t->n; i++)
        if (t->conns[i] == c) {
            t->conns[i] = t->conns[--t->n];
            break;
        }
    edge_conflate_destroy(&c->subs[idx].cf);
    edge_resume_free(&c->subs[idx].resume);
    c->subs[idx] = c->subs[--c->nsubs];
    if (t->n == 0) {
        if (!s_prefix_covered(t->name))
            hm_bus_unsubscribe(e->sub, t->name);
        zhashx_delete(e->topics, t->name);
    }
}

void
edge_bus_unfollow_all(edge_t *e, edge_conn_t *c)
{
    while (c->nsubs > 0)
        edge_bus_unfollow(e, c, c->nsubs - 1);
}

void
edge_resume_free(struct edge_resume **r_p)
{
    if (!*r_p)
        return;
    for (int i = 0; i < (*r_p)->n; i++)
        edge_frame_unref(&(*r_p)->held[i].f);
    free(*r_p);
    *r_p = NULL;
}

/* ---- events ------------------------------------------------------------ */

/* The client JSON for a bus event: the seed's shapes. */
static json_t *
s_event_json(const hm_envelope_t *env)
{
    char ts[40];
    json_t *j = json_object();
    json_object_set_new(j, "type", json_string(env->type));
    json_object_set(j, strcmp(env->type, HM_MSG_NOTIFICATION) == 0 ? "notification" : "data",
                    env->data ? env->data : json_object());
    if (!env->data && strcmp(env->type, HM_MSG_NOTIFICATION) == 0)
        json_decref(json_object_get(j, "notification"));
    json_object_set_new(j, "timestamp", json_string(hm_clock_iso8601(env->ts, ts, sizeof(ts))));
    if (env->seq >= 0)
        json_object_set_new(j, "seq", json_integer(env->seq));
    if (env->user_id > 0)
        json_object_set_new(j, "user_id", json_integer(env->user_id));
    return j;
}

/* Health ticks coalesce per user and metric in a backed-up queue; nothing
 * else does. FNV-1a over topic and metric (up to mlen bytes or a NUL);
 * never 0, which means "never". */
static uint64_t
s_coalesce_hash(const char *topic, const char *metric, size_t mlen)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = topic; *p; p++)
        h = (h ^ (unsigned char) *p) * 1099511628211ULL;
    h = (h ^ '/') * 1099511628211ULL;
    for (size_t i = 0; i < mlen && metric[i]; i++)
        h = (h ^ (unsigned char) metric[i]) * 1099511628211ULL;
    return h ? h : 1;
}

static uint64_t
s_coalesce_key(const char *topic, const hm_envelope_t *env)
{
    const char *metric = json_string_value(json_object_get(env->data, "metric"));
    if (strcmp(env->type, HM_MSG_HEALTH_UPDATE) != 0 || !metric)
        return 0;
    return s_coalesce_hash(topic, metric, strlen(metric));
}

static void s_deliver(edge_t *e, edge_topic_t *t, int64_t seq, edge_frame_t *f);

/* Delivers one event to the followers of its topic, framed once. */
static void
s_fanout(edge_t *e, const char *topic, hm_envelope_t *env)
{
    edge_topic_t *t = zhashx_lookup(e->topics, topic);
    if (!t || t->n == 0)
        return;
    if (t->ctl) { /* parsed once, when the topic was first followed */
        for (int i = t->n - 1; i >= 0; i--)
            edge_conn_on_ctl(e, t->conns[i], env);
        return;
    }
    json_t *j = s_event_json(env);
    edge_frame_t *f = edge_frame_json(j);
    json_decref(j);
    if (!f)
        return;
    f->coalesce = s_coalesce_key(topic, env);
    s_deliver(e, t, env->seq, f);
    edge_frame_unref(&f);
}

/* The client frame of an event whose data is still msgpack (data, dlen;
 * NULL when none): the text s_event_json + jansson would give, written
 * straight into e->text. NULL when the data needs the jansson path (a
 * large map) or is refused (*refused set). */
static edge_frame_t *
s_frame_raw(edge_t *e, const char *topic, const hm_envelope_t *env, const char *data,
            size_t dlen, bool *refused)
{
    hm_text_t *t = &e->text;
    t->len = 0;
    bool notif = strcmp(env->type, HM_MSG_NOTIFICATION) == 0;
    char num[64];
    const char *key = notif ? ",\"notification\":" : ",\"data\":";
    int rc = hm_text_append(t, "{\"type\":", 8) || hm_text_string(t, env->type, strlen(env->type))
             || hm_text_append(t, key, strlen(key));
    if (rc == 0)
        rc = data ? hm_json_text_from_msgpack(t, data, dlen) : hm_text_append(t, "{}", 2);
    if (rc != 0) {
        *refused = rc != HM_JSON_TEXT_SLOW;
        return NULL;
    }
    char ts[40];
    int n = snprintf(num, sizeof num, ",\"timestamp\":\"%s\"",
                     hm_clock_iso8601(env->ts, ts, sizeof(ts)));
    rc = hm_text_append(t, num, (size_t) n);
    if (env->seq >= 0) {
        n = snprintf(num, sizeof num, ",\"seq\":%lld", (long long) env->seq);
        rc = rc || hm_text_append(t, num, (size_t) n);
    }
    if (env->user_id > 0) {
        n = snprintf(num, sizeof num, ",\"user_id\":%lld", (long long) env->user_id);
        rc = rc || hm_text_append(t, num, (size_t) n);
    }
    if (rc || hm_text_append(t, "}", 1))
        return NULL;
    edge_frame_t *f = edge_frame_text(t->buf, t->len);
    if (!f)
        return NULL;
    const char *metric;
    size_t mlen;
    if (data && strcmp(env->type, HM_MSG_HEALTH_UPDATE) == 0
        && hm_msgpack_map_str(data, dlen, "metric", &metric, &mlen) == 0)
        f->coalesce = s_coalesce_hash(topic, metric, mlen);
    return f;
}

/* Delivers f (an event of topic t with seq, -1 for none) to t's followers. */
static void
s_deliver(edge_t *e, edge_topic_t *t, int64_t seq, edge_frame_t *f)
{
    if (seq > t->last_seq)
        t->last_seq = seq;
    for (int i = t->n - 1; i >= 0; i--) {
        edge_conn_t *c = t->conns[i];
        for (int k = 0; k < c->nsubs; k++) {
            edge_sub_t *s = &c->subs[k];
            if (s->topic != t)
                continue;
            /* A jump in a health or chat stream (contiguous by design):
             * events were lost on the way (a restarted broker re-learning
             * subscriptions drops what is published meanwhile). Replay
             * them, holding this one. Notification streams skip acked
             * seqs on purpose; unacked ones are re-sent by hm-notify. */
            if (!s->resume && (s->ch == EDGE_CH_HEALTH || s->ch == EDGE_CH_CHAT) && seq >= 0
                && s->last_seq >= 0 && seq > s->last_seq + 1)
                edge_conn_replay_gap(e, c, s, seq);
            if (s->resume) { /* replay in flight: hold it for after */
                struct edge_resume *r = s->resume;
                if (r->n < EDGE_RESUME_HOLD && seq >= 0) {
                    r->held[r->n].f = edge_frame_ref(f);
                    r->held[r->n++].seq = seq;
                } else {
                    r->overflow = seq >= 0 ? true : r->overflow;
                    if (seq < 0)
                        edge_conn_send(c, f); /* no seq: nothing to order */
                }
                break;
            }
            if (seq >= 0 && seq <= s->last_seq)
                break; /* already delivered (resume overlap) */
            if (seq >= 0)
                s->last_seq = seq;
            if (s->cf && !edge_conflate_admit(s->cf, f, hm_clock_mono_ns() / 1000000)) {
                if (!c->conflating) { /* held back: the tick sends it when due */
                    c->conflating = true;
                    zlist_append(e->conflating, c);
                }
                break;
            }
            edge_conn_send(c, f);
            break;
        }
    }
}

static void
s_send_held(edge_frame_t *f, void *arg)
{
    edge_conn_send(arg, f);
}

void
edge_bus_flush_conflated(edge_t *e)
{
    int64_t now = hm_clock_mono_ns() / 1000000;
    edge_conn_t *c = zlist_first(e->conflating);
    while (c) {
        int left = 0;
        for (int i = 0; i < c->nsubs; i++)
            if (c->subs[i].cf)
                left += edge_conflate_flush(c->subs[i].cf, now, s_send_held, c);
        edge_conn_t *next = zlist_next(e->conflating);
        if (left == 0) {
            c->conflating = false;
            zlist_remove(e->conflating, c);
        }
        c = next;
    }
}

/* One event from the bus: an edge heartbeat for the peer list, then the
 * followers of its topic. */
static void
s_on_event(void *arg, const char *topic, hm_envelope_t *env)
{
    edge_t *e = arg;
    e->stats.bus_events++;
    if (strcmp(topic, HM_TOPIC_SYS_EDGE) == 0 && strcmp(env->type, "edge_beat") == 0)
        edge_mgmt_on_beat(e, env);
    s_fanout(e, topic, env);
}

/* ---- requests ---------------------------------------------------------- */

static void
s_pending_done(edge_t *e, edge_pending_t *p, hm_envelope_t *rep)
{
    if (p->kind == EDGE_REQ_HTTP) {
        edge_http_t *h = zhashx_lookup(e->http, p->conn_id);
        if (h)
            edge_http_on_reply(e, h, p->req, rep, p->aux);
    } else {
        edge_conn_t *c = zhashx_lookup(e->conns, p->conn_id);
        if (c)
            edge_conn_on_reply(e, c, p->kind, p->req, rep, p->cid, p->aux);
    }
    zhashx_delete(e->pending, p->id);
}

static int
s_drain_replies(edge_t *e)
{
    int n = 0;
    while (n < DRAIN_BATCH && (zsock_events(hm_mdp_client_sock(e->mdp)) & ZMQ_POLLIN)) {
        char *svc = NULL;
        hm_envelope_t *rep = NULL;
        if (hm_mdp_client_recv(e->mdp, &svc, &rep) != 0) {
            n++;
            continue;
        }
        n++;
        edge_pending_t *p = rep->id ? zhashx_lookup(e->pending, rep->id) : NULL;
        if (p) { /* else: a duplicate reply to a retried request */
            e->stats.bus_latency_us_sum += (uint64_t) (zclock_usecs() - p->sent_us);
            e->stats.bus_latency_count++;
            s_pending_done(e, p, rep);
        }
        free(svc);
        hm_envelope_destroy(&rep);
    }
    return n;
}

static void
s_drain_cb(lws_sorted_usec_list_t *sul);

/* One bus event [topic, envelope]. Events of a followed stream topic are
 * framed straight from the msgpack (no jansson tree: most of the per-event
 * cost); everything else is decoded and handled by s_on_event. Returns 0,
 * 1 for garbage (dropped), -1 when nothing was waiting. */
static int
s_read_event(edge_t *e)
{
    char topic[HM_TOPIC_MAX];
    zmq_msg_t bmsg;
    zmq_msg_init(&bmsg);
    int rc = hm_bus_recv_frames(e->sub, topic, &bmsg);
    if (rc != 0) {
        zmq_msg_close(&bmsg);
        return rc == -1 ? -1 : 1;
    }
    rc = 1;
    const char *buf = zmq_msg_data(&bmsg), *data;
    size_t len = zmq_msg_size(&bmsg), dlen;
    hm_envelope_t *env = NULL;
    edge_topic_t *t = zhashx_lookup(e->topics, topic);
    if (t && t->n > 0 && !t->ctl) {
        if (hm_envelope_decode_lazy(buf, len, &env, &data, &dlen) != 0)
            goto done;
        bool refused = false;
        edge_frame_t *f = s_frame_raw(e, topic, env, data, dlen, &refused);
        if (f) {
            e->stats.bus_events++;
            e->stats.fast_events++;
            s_deliver(e, t, env->seq, f);
            edge_frame_unref(&f);
            rc = 0;
            goto done;
        }
        hm_envelope_destroy(&env);
        if (refused)
            goto done;
    }
    if (hm_envelope_decode(buf, len, &env) != 0)
        goto done;
    s_on_event(e, topic, env);
    rc = 0;
done:
    hm_envelope_destroy(&env);
    zmq_msg_close(&bmsg);
    return rc;
}

static int
s_drain_events(edge_t *e)
{
    int n = 0, garbage = 0, rc;
    while (n < DRAIN_BATCH && (rc = s_read_event(e)) >= 0) {
        n++;
        garbage += rc;
    }
    if (garbage) {
        e->stats.bus_garbage += (uint64_t) garbage;
        hm_log_warn("bus_garbage", "dropped=%d", garbage);
    }
    return n;
}

void
edge_bus_drain(edge_t *e)
{
    int n = s_drain_events(e) + s_drain_replies(e);
    if (n >= DRAIN_BATCH)
        lws_sul_schedule(e->ctx, 0, &e->sul_drain, s_drain_cb, 1000);
}

static void
s_drain_cb(lws_sorted_usec_list_t *sul)
{
    edge_t *e = lws_container_of(sul, edge_t, sul_drain);
    edge_bus_drain(e);
}

int
edge_bus_request(edge_t *e, edge_conn_t *c, edge_req_kind_t kind, const char *service,
                 const char *verb, json_t *data, const char *cid, int64_t aux)
{
    return edge_bus_request_for(e, c->id, c->user_id, kind, service, verb, data, cid, aux);
}

int
edge_bus_request_for(edge_t *e, const char *owner_id, int64_t user_id, edge_req_kind_t kind,
                     const char *service, const char *verb, json_t *data, const char *cid,
                     int64_t aux)
{
    hm_envelope_t *req = hm_envelope_new(verb);
    if (!req) {
        json_decref(data);
        return -1;
    }
    req->user_id = user_id;
    /* Management requests are not a connection's: no conn_id, so auth opens
     * no session for them. */
    hm_envelope_set_conn_id(req, kind == EDGE_REQ_HTTP ? NULL : owner_id);
    hm_envelope_set_edge(req, e->cfg.edge_id);
    hm_envelope_set_correlation_id(req, cid);
    hm_envelope_set_data(req, data ? data : json_object());
    edge_pending_t *p = calloc(1, sizeof(*p));
    p->id = strdup(req->id);
    snprintf(p->conn_id, sizeof(p->conn_id), "%s", owner_id);
    p->kind = kind;
    p->service = strdup(service);
    p->req = req;
    p->cid = cid ? strdup(cid) : NULL;
    p->aux = aux;
    p->sent_us = zclock_usecs();
    hm_backoff_init(&p->bo, e->cfg.request_timeout_ms, 2.0, e->cfg.request_timeout_ms * 4);
    p->next_try_ms = s_now_ms() + hm_backoff_next(&p->bo);
    p->deadline_ms = s_now_ms() + e->cfg.request_deadline_ms;
    zhashx_insert(e->pending, p->id, p);
    e->stats.requests++;
    hm_mdp_client_send(e->mdp, service, req);
    /* ZMQ_FD is edge-triggered: look for input now that we touched the socket. */
    lws_sul_schedule(e->ctx, 0, &e->sul_drain, s_drain_cb, 1000);
    return 0;
}

void
edge_bus_tick(edge_t *e)
{
    int64_t now = s_now_ms();
    zlist_t *expired = zlist_new();
    for (edge_pending_t *p = zhashx_first(e->pending); p; p = zhashx_next(e->pending)) {
        if (now >= p->deadline_ms) {
            zlist_append(expired, p);
        } else if (now >= p->next_try_ms) {
            e->stats.request_retries++;
            edge_conn_t *c = zhashx_lookup(e->conns, p->conn_id);
            if (c)
                c->retry_count++;
            hm_mdp_client_send(e->mdp, p->service, p->req);
            p->next_try_ms = now + hm_backoff_next(&p->bo);
        }
    }
    for (edge_pending_t *p = zlist_first(expired); p; p = zlist_next(expired)) {
        e->stats.request_unavailable++;
        hm_envelope_t *err = hm_mdp_error_reply(p->req, HM_ERR_SERVICE_UNAVAILABLE,
                                                "the service did not answer in time");
        s_pending_done(e, p, err);
        hm_envelope_destroy(&err);
    }
    zlist_destroy(&expired);
    edge_bus_drain(e);
}

/* ---- lifecycle --------------------------------------------------------- */

void
edge_bus_lifecycle(edge_t *e, edge_conn_t *c, const char *what)
{
    hm_envelope_t *env = hm_envelope_new(what);
    if (!env)
        return;
    env->user_id = c ? c->user_id : 0;
    hm_envelope_set_conn_id(env, c ? c->id : NULL);
    hm_envelope_set_edge(env, e->cfg.edge_id);
    json_t *data = json_pack("{s:s}", "edge_id", e->cfg.edge_id);
    if (c)
        json_object_set_new(data, "conn_id", json_string(c->id));
    else
        json_object_set_new(data, "connections", json_integer((json_int_t) zhashx_size(e->conns)));
    hm_envelope_set_data(env, data);
    hm_bus_publish(e->pub, c ? HM_TOPIC_SYS_CONN : HM_TOPIC_SYS_EDGE, env);
    hm_envelope_destroy(&env);
}

void
edge_stat_error(edge_t *e, const char *code)
{
    uintptr_t n = (uintptr_t) zhashx_lookup(e->stats.errors, code);
    zhashx_update(e->stats.errors, code, (void *) (n + 1));
}
