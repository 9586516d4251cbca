/*
 * brk_mdp.c - the Majordomo request broker.
 */
#include "brk_mdp.h"

#include <string.h>

#include "hm_envelope.h"
#include "hm_log.h"
#include "hm_mdp.h"
#include "hm_proto.h"

typedef struct {
    char *name;      /* service name; owned */
    zlist_t *queue;  /* brk_request_t * waiting for a worker; owned */
    zlist_t *waiting; /* brk_worker_t * free, least recently used first; borrowed */
    size_t workers;  /* workers registered for this service */
} brk_service_t;

typedef struct {
    char *key;              /* identity as hex, the hash key; owned */
    zframe_t *identity;     /* routing identity; owned */
    brk_service_t *service; /* borrowed */
    int64_t expiry;         /* dropped when silent until then */
} brk_worker_t;

typedef struct {
    zframe_t *client; /* client routing identity; owned */
    zframe_t *body;   /* packed request envelope; owned */
    int64_t deadline; /* answered service_unavailable after this */
} brk_request_t;

struct brk_mdp_t {
    zsock_t *router;      /* borrowed */
    brk_mdp_cfg_t cfg;    /* settings */
    zhashx_t *services;   /* name -> brk_service_t; owned */
    zhashx_t *workers;    /* key -> brk_worker_t; owned */
    int64_t heartbeat_at; /* next heartbeat round */
    uint64_t requests;    /* requests received */
    uint64_t replies;     /* replies relayed */
    uint64_t unavailable; /* requests refused or expired */
    uint64_t garbage;     /* malformed messages dropped */
};

/* ---- objects --------------------------------------------------------- */

static void
s_request_destroy(brk_request_t **req_p)
{
    if (!*req_p)
        return;
    zframe_destroy(&(*req_p)->client);
    zframe_destroy(&(*req_p)->body);
    free(*req_p);
    *req_p = NULL;
}

static void
s_service_free(void **item)
{
    brk_service_t *svc = *item;
    if (!svc)
        return;
    brk_request_t *req;
    while ((req = zlist_pop(svc->queue)))
        s_request_destroy(&req);
    zlist_destroy(&svc->queue);
    zlist_destroy(&svc->waiting);
    free(svc->name);
    free(svc);
    *item = NULL;
}

static void
s_worker_free(void **item)
{
    brk_worker_t *w = *item;
    if (!w)
        return;
    zframe_destroy(&w->identity);
    free(w->key);
    free(w);
    *item = NULL;
}

brk_mdp_t *
brk_mdp_new(zsock_t *router, const brk_mdp_cfg_t *cfg)
{
    brk_mdp_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->router = router;
    self->cfg = *cfg;
    self->services = zhashx_new();
    self->workers = zhashx_new();
    zhashx_set_destructor(self->services, s_service_free);
    zhashx_set_destructor(self->workers, s_worker_free);
    self->heartbeat_at = zclock_mono() + cfg->heartbeat_ms;
    return self;
}

void
brk_mdp_destroy(brk_mdp_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    brk_mdp_t *self = *self_p;
    zhashx_destroy(&self->workers);
    zhashx_destroy(&self->services);
    free(self);
    *self_p = NULL;
}

static brk_service_t *
s_service_require(brk_mdp_t *self, const char *name)
{
    brk_service_t *svc = zhashx_lookup(self->services, name);
    if (svc)
        return svc;
    svc = calloc(1, sizeof(*svc));
    svc->name = strdup(name);
    svc->queue = zlist_new();
    svc->waiting = zlist_new();
    zhashx_insert(self->services, name, svc);
    return svc;
}

/* ---- sending ---------------------------------------------------------- */

/* Sends a worker command; body (taken) may be NULL. */
static void
s_worker_send(brk_mdp_t *self, brk_worker_t *w, const char *cmd, zmsg_t *body)
{
    zmsg_t *msg = body ? body : zmsg_new();
    zmsg_pushstr(msg, cmd);
    zmsg_pushstr(msg, HM_MDPW);
    zmsg_pushstr(msg, "");
    zframe_t *id = zframe_dup(w->identity);
    zmsg_push(msg, id);
    zmsg_send(&msg, self->router);
}

/* Sends [client][""][MDPC01][service][body]; takes *body_p. */
static void
s_client_send(brk_mdp_t *self, zframe_t *client, const char *service, zframe_t **body_p)
{
    zmsg_t *msg = zmsg_new();
    zframe_t *id = zframe_dup(client);
    zmsg_append(msg, &id);
    zmsg_addstr(msg, "");
    zmsg_addstr(msg, HM_MDPC);
    zmsg_addstr(msg, service);
    zmsg_append(msg, body_p);
    zmsg_send(&msg, self->router);
}

/* Answers a request with a service_unavailable error envelope. */
static void
s_refuse(brk_mdp_t *self, zframe_t *client, const char *service, zframe_t *body,
         const char *why)
{
    self->unavailable++;
    hm_envelope_t *req = NULL;
    hm_envelope_decode(zframe_data(body), zframe_size(body), &req);
    hm_envelope_t *err = hm_mdp_error_reply(req, HM_ERR_SERVICE_UNAVAILABLE, why);
    char *buf = NULL;
    size_t len = 0;
    if (err && hm_envelope_encode(err, &buf, &len) == 0) {
        zframe_t *frame = zframe_new(buf, len);
        s_client_send(self, client, service, &frame);
    }
    free(buf);
    hm_envelope_destroy(&err);
    hm_envelope_destroy(&req);
    hm_log_info("mdp_refused", "service=%s reason=\"%s\"", service, why);
}

/* Hands queued requests to free workers, least recently used first. */
static void
s_dispatch(brk_mdp_t *self, brk_service_t *svc)
{
    while (zlist_size(svc->waiting) > 0 && zlist_size(svc->queue) > 0) {
        brk_worker_t *w = zlist_pop(svc->waiting);
        brk_request_t *req = zlist_pop(svc->queue);
        zmsg_t *msg = zmsg_new();
        zmsg_append(msg, &req->client);
        zmsg_addstr(msg, "");
        zmsg_append(msg, &req->body);
        s_worker_send(self, w, HM_MDPW_REQUEST, msg);
        s_request_destroy(&req);
    }
}

/* ---- workers ---------------------------------------------------------- */

static void
s_worker_delete(brk_mdp_t *self, brk_worker_t *w, bool disconnect)
{
    if (disconnect)
        s_worker_send(self, w, HM_MDPW_DISCONNECT, NULL);
    if (w->service) {
        zlist_remove(w->service->waiting, w);
        w->service->workers--;
        hm_log_info("mdp_worker_gone", "service=%s workers=%zu", w->service->name,
                    w->service->workers);
    }
    zhashx_delete(self->workers, w->key);
}

static void
s_worker_waiting(brk_mdp_t *self, brk_worker_t *w)
{
    zlist_append(w->service->waiting, w);
    w->expiry = zclock_mono() + (int64_t) self->cfg.heartbeat_ms * HM_MDP_LIVENESS;
    s_dispatch(self, w->service);
}

/* READY from a worker not seen before. */
static void
s_worker_ready(brk_mdp_t *self, zframe_t *sender, const char *key, zmsg_t *msg)
{
    char *name = zmsg_popstr(msg);
    brk_worker_t *w = calloc(1, sizeof(*w));
    w->key = strdup(key);
    w->identity = zframe_dup(sender);
    zhashx_insert(self->workers, key, w);
    if (!name || !*name || strlen(name) >= HM_SVC_NAME_MAX || strncmp(name, "mmi.", 4) == 0) {
        self->garbage++;
        s_worker_delete(self, w, true);
    } else {
        w->service = s_service_require(self, name);
        w->service->workers++;
        hm_log_info("mdp_worker_ready", "service=%s workers=%zu", name, w->service->workers);
        s_worker_waiting(self, w);
    }
    free(name);
}

/* REPLY: [client][""][body] relayed to the client. */
static void
s_worker_reply(brk_mdp_t *self, brk_worker_t *w, zmsg_t *msg)
{
    zframe_t *client = zmsg_pop(msg);
    zframe_t *empty = zmsg_pop(msg);
    zframe_t *body = zmsg_pop(msg);
    if (client && empty && body && zframe_size(empty) == 0) {
        self->replies++;
        s_client_send(self, client, w->service->name, &body);
    } else
        self->garbage++;
    zframe_destroy(&client);
    zframe_destroy(&empty);
    zframe_destroy(&body);
    s_worker_waiting(self, w);
}

static void
s_worker_msg(brk_mdp_t *self, zframe_t *sender, zmsg_t *msg)
{
    char *cmd = zmsg_popstr(msg);
    char *key = zframe_strhex(sender);
    brk_worker_t *w = zhashx_lookup(self->workers, key);
    if (!cmd || strlen(cmd) != 1)
        self->garbage++;
    else if (cmd[0] == HM_MDPW_READY[0] && !w)
        s_worker_ready(self, sender, key, msg);
    else if (!w) {
        /* Unknown worker (we restarted, or it was dropped): tell it to
         * register again. */
        brk_worker_t tmp = {.key = key, .identity = sender};
        if (cmd[0] != HM_MDPW_DISCONNECT[0])
            s_worker_send(self, &tmp, HM_MDPW_DISCONNECT, NULL);
    } else if (cmd[0] == HM_MDPW_REPLY[0])
        s_worker_reply(self, w, msg);
    else if (cmd[0] == HM_MDPW_HEARTBEAT[0])
        w->expiry = zclock_mono() + (int64_t) self->cfg.heartbeat_ms * HM_MDP_LIVENESS;
    else if (cmd[0] == HM_MDPW_DISCONNECT[0])
        s_worker_delete(self, w, false);
    else
        s_worker_delete(self, w, true); /* READY twice or unknown command */
    free(key);
    free(cmd);
}

/* ---- clients ---------------------------------------------------------- */

/* mmi.* requests answered by the broker itself. */
static void
s_mmi(brk_mdp_t *self, zframe_t *client, const char *service, zframe_t *body)
{
    zframe_t *reply = NULL;
    if (strcmp(service, HM_MMI_SERVICE) == 0) {
        char *name = zframe_strdup(body);
        brk_service_t *svc = name ? zhashx_lookup(self->services, name) : NULL;
        reply = zframe_from(svc && svc->workers > 0 ? "200" : "404");
        free(name);
    } else if (strcmp(service, HM_MMI_STATS) == 0) {
        hm_envelope_t *req = NULL;
        hm_envelope_decode(zframe_data(body), zframe_size(body), &req);
        hm_envelope_t *rep = hm_envelope_new("stats");
        if (rep && req)
            hm_envelope_set_id(rep, req->id);
        if (rep)
            hm_envelope_set_data(rep, brk_mdp_stats(self));
        char *buf = NULL;
        size_t len = 0;
        if (rep && hm_envelope_encode(rep, &buf, &len) == 0)
            reply = zframe_new(buf, len);
        free(buf);
        hm_envelope_destroy(&rep);
        hm_envelope_destroy(&req);
    } else
        reply = zframe_from("501");
    if (reply)
        s_client_send(self, client, service, &reply);
}

/* [""][MDPC01][service][body] from a client (sender already popped). */
static void
s_client_msg(brk_mdp_t *self, zframe_t *sender, zmsg_t *msg)
{
    char *service = zmsg_popstr(msg);
    zframe_t *body = zmsg_pop(msg);
    if (!service || !body || zmsg_size(msg) != 0 || !*service
        || strlen(service) >= HM_SVC_NAME_MAX) {
        self->garbage++;
    } else if (strncmp(service, "mmi.", 4) == 0) {
        s_mmi(self, sender, service, body);
    } else {
        self->requests++;
        brk_service_t *svc = s_service_require(self, service);
        if (zlist_size(svc->queue) >= (size_t) self->cfg.queue_max) {
            s_refuse(self, sender, service, body, "request queue full");
        } else {
            brk_request_t *req = calloc(1, sizeof(*req));
            req->client = zframe_dup(sender);
            req->body = body;
            body = NULL;
            req->deadline = zclock_mono() + self->cfg.request_deadline_ms;
            zlist_append(svc->queue, req);
            s_dispatch(self, svc);
        }
    }
    zframe_destroy(&body);
    free(service);
}

void
brk_mdp_handle(brk_mdp_t *self, zmsg_t **msg_p)
{
    zmsg_t *msg = *msg_p;
    zframe_t *sender = zmsg_pop(msg);
    zframe_t *empty = zmsg_pop(msg);
    char *header = zmsg_popstr(msg);
    if (!sender || !empty || zframe_size(empty) != 0 || !header)
        self->garbage++;
    else if (strcmp(header, HM_MDPC) == 0)
        s_client_msg(self, sender, msg);
    else if (strcmp(header, HM_MDPW) == 0)
        s_worker_msg(self, sender, msg);
    else
        self->garbage++;
    free(header);
    zframe_destroy(&sender);
    zframe_destroy(&empty);
    zmsg_destroy(msg_p);
}

/* ---- time ------------------------------------------------------------- */

/* Refuses requests that waited past their deadline. */
static void
s_expire_requests(brk_mdp_t *self, int64_t now)
{
    for (brk_service_t *svc = zhashx_first(self->services); svc;
         svc = zhashx_next(self->services)) {
        brk_request_t *req = zlist_first(svc->queue);
        while (req && req->deadline <= now) {
            zlist_pop(svc->queue);
            s_refuse(self, req->client, svc->name, req->body, "no worker answered in time");
            s_request_destroy(&req);
            req = zlist_first(svc->queue);
        }
    }
}

void
brk_mdp_tick(brk_mdp_t *self)
{
    int64_t now = zclock_mono();
    zlist_t *dead = zlist_new();
    for (brk_worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers))
        if (w->expiry <= now)
            zlist_append(dead, w);
    for (brk_worker_t *w = zlist_first(dead); w; w = zlist_next(dead))
        s_worker_delete(self, w, false);
    zlist_destroy(&dead);
    s_expire_requests(self, now);
    if (now >= self->heartbeat_at) {
        for (brk_worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers))
            s_worker_send(self, w, HM_MDPW_HEARTBEAT, NULL);
        self->heartbeat_at = now + self->cfg.heartbeat_ms;
    }
}

int
brk_mdp_tick_ms(brk_mdp_t *self)
{
    int64_t left = self->heartbeat_at - zclock_mono();
    /* Deadlines are checked at least every 100 ms. */
    if (left > 100)
        left = 100;
    return left < 0 ? 0 : (int) left;
}

json_t *
brk_mdp_stats(brk_mdp_t *self)
{
    json_t *services = json_object();
    size_t queued = 0;
    for (brk_service_t *svc = zhashx_first(self->services); svc;
         svc = zhashx_next(self->services)) {
        queued += zlist_size(svc->queue);
        json_object_set_new(services, svc->name,
                            json_pack("{s:I, s:I, s:I}", "workers", (json_int_t) svc->workers,
                                      "waiting", (json_int_t) zlist_size(svc->waiting), "queued",
                                      (json_int_t) zlist_size(svc->queue)));
    }
    json_int_t events = self->cfg.events ? (json_int_t) *self->cfg.events : 0;
    json_int_t subs = self->cfg.subscriptions ? (json_int_t) *self->cfg.subscriptions : 0;
    json_t *stats = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "requests", (json_int_t) self->requests,
        "replies", (json_int_t) self->replies, "unavailable", (json_int_t) self->unavailable,
        "garbage", (json_int_t) self->garbage, "queued", (json_int_t) queued, "events", events,
        "subscriptions", subs, "services", services);
    if (stats && self->cfg.curve_denied)
        json_object_set_new(stats, "curve_denied",
                            json_integer((json_int_t) *self->cfg.curve_denied));
    return stats;
}
