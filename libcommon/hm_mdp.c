/*
 * hm_mdp.c - Majordomo MDP/0.1 client and worker (ZeroMQ RFC 7).
 *
 * Client frames (DEALER):  [""][MDPC01][service][envelope]
 * Worker frames (DEALER):  [""][MDPW01][command][...]
 *   READY      [service]
 *   REQUEST    [client address][""][envelope]
 *   REPLY      [client address][""][envelope]
 *   HEARTBEAT  -
 *   DISCONNECT -
 */
#include "hm_mdp.h"

#include <stdlib.h>
#include <string.h>

#include "hm_backoff.h"
#include "hm_bus.h"
#include "hm_log.h"

/* ---- shared helpers -------------------------------------------------- */

/* A DEALER connected to the broker. Sends never block: after a refused
 * handshake (CURVE: no key, unknown key, wrong server key) libzmq drops the
 * connection's queue and does not reconnect, and a blocking send would wait
 * forever; it fails instead, and the callers' timeout and reconnect paths
 * make a fresh socket. */
static zsock_t *
s_dealer_new(const char *endpoint)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_linger(sock, 0);
    zsock_set_sndtimeo(sock, 0);
    zsock_set_sndhwm(sock, 100000);
    zsock_set_rcvhwm(sock, 100000);
    zsock_set_reconnect_ivl(sock, 100);
    zsock_set_reconnect_ivl_max(sock, 2000);
    if (hm_bus_curve_client(sock) != 0) {
        zsock_destroy(&sock);
        return NULL;
    }
    if (zsock_connect(sock, "%s", endpoint) != 0) {
        hm_log_error("mdp_connect_failed", "endpoint=%s", endpoint);
        zsock_destroy(&sock);
    }
    return sock;
}

/* Sends *msg_p and always consumes it: czmq keeps a message whose send
 * failed (with sndtimeo 0, EAGAIN while no broker connection is up), and
 * every caller drops it then. Returns 0 or -1. */
static int
s_send(zmsg_t **msg_p, zsock_t *sock)
{
    int rc = zmsg_send(msg_p, sock);
    zmsg_destroy(msg_p); /* already NULL after a successful send */
    return rc;
}

/* Appends a packed envelope as one frame. Returns 0 or -1. */
static int
s_append_envelope(zmsg_t *msg, const hm_envelope_t *env)
{
    char *buf = NULL;
    size_t len = 0;
    if (hm_envelope_encode(env, &buf, &len) != 0)
        return -1;
    int rc = zmsg_addmem(msg, buf, len);
    free(buf);
    return rc;
}

/* True when the frame holds exactly the string s. */
static bool
s_frame_is(zframe_t *frame, const char *s)
{
    return frame && zframe_size(frame) == strlen(s) && memcmp(zframe_data(frame), s, strlen(s)) == 0;
}

/* Receives a message only when one is waiting. NULL otherwise. */
static zmsg_t *
s_recv_ready(zsock_t *sock)
{
    if (!(zsock_events(sock) & ZMQ_POLLIN))
        return NULL;
    return zmsg_recv(sock);
}

hm_envelope_t *
hm_mdp_error_reply(const hm_envelope_t *req, const char *code, const char *message)
{
    hm_envelope_t *rep = hm_envelope_new(HM_MSG_ERROR);
    if (!rep)
        return NULL;
    if (req) {
        hm_envelope_set_id(rep, req->id);
        hm_envelope_set_correlation_id(rep, req->correlation_id);
        hm_envelope_set_conn_id(rep, req->conn_id);
        hm_envelope_set_edge(rep, req->edge);
        rep->user_id = req->user_id;
    }
    hm_envelope_set_data(rep, json_pack("{s:s, s:s}", "code", code, "message",
                                        message ? message : code));
    return rep;
}

/* ---- client ---------------------------------------------------------- */

struct hm_mdp_client_t {
    char *broker;        /* request endpoint; owned */
    zsock_t *sock;       /* DEALER to the broker; owned */
    int timeout_ms;      /* per attempt */
    int retries;         /* attempts after the first */
    hm_backoff_t backoff; /* delay between attempts */
};

hm_mdp_client_t *
hm_mdp_client_new(const char *broker, int timeout_ms, int retries)
{
    hm_mdp_client_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->broker = strdup(broker);
    self->sock = self->broker ? s_dealer_new(broker) : NULL;
    if (!self->sock) {
        hm_mdp_client_destroy(&self);
        return NULL;
    }
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : 2500;
    self->retries = retries >= 0 ? retries : 0;
    hm_backoff_init(&self->backoff, 100, 2.0, 2000);
    return self;
}

void
hm_mdp_client_destroy(hm_mdp_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hm_mdp_client_t *self = *self_p;
    zsock_destroy(&self->sock);
    free(self->broker);
    free(self);
    *self_p = NULL;
}

zsock_t *
hm_mdp_client_sock(hm_mdp_client_t *self)
{
    return self->sock;
}

int
hm_mdp_client_reconnect(hm_mdp_client_t *self)
{
    zsock_destroy(&self->sock);
    self->sock = s_dealer_new(self->broker);
    return self->sock ? 0 : -1;
}

int
hm_mdp_client_send(hm_mdp_client_t *self, const char *service, const hm_envelope_t *req)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "");
    zmsg_addstr(msg, HM_MDPC);
    zmsg_addstr(msg, service);
    if (s_append_envelope(msg, req) != 0) {
        zmsg_destroy(&msg);
        return -1;
    }
    return s_send(&msg, self->sock);
}

/* Parses a client-side reply message; takes ownership of *msg_p. */
static int
s_client_parse(zmsg_t **msg_p, char **service, hm_envelope_t **reply)
{
    zmsg_t *msg = *msg_p;
    int rc = -1;
    if (zmsg_size(msg) != 4)
        goto done;
    zframe_t *empty = zmsg_first(msg);
    zframe_t *proto = zmsg_next(msg);
    zframe_t *svc = zmsg_next(msg);
    zframe_t *body = zmsg_next(msg);
    if (zframe_size(empty) != 0 || !s_frame_is(proto, HM_MDPC))
        goto done;
    if (hm_envelope_decode(zframe_data(body), zframe_size(body), reply) != 0)
        goto done;
    if (service)
        *service = zframe_strdup(svc);
    rc = 0;
done:
    zmsg_destroy(msg_p);
    return rc;
}

int
hm_mdp_client_recv(hm_mdp_client_t *self, char **service, hm_envelope_t **reply)
{
    zmsg_t *msg = s_recv_ready(self->sock);
    if (!msg)
        return -1;
    return s_client_parse(&msg, service, reply);
}

/* Waits up to timeout_ms for the reply whose id is id. Returns 0 with
 * *reply, or -1 on timeout or interrupt. Replies to other ids are dropped. */
static int
s_client_wait(hm_mdp_client_t *self, const char *id, int timeout_ms, hm_envelope_t **reply)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    while (!zsys_interrupted) {
        int64_t left = deadline - zclock_mono();
        if (left <= 0)
            return -1;
        zmq_pollitem_t item = {zsock_resolve(self->sock), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long) left) <= 0)
            continue;
        zmsg_t *msg = zmsg_recv(self->sock);
        if (!msg)
            continue;
        hm_envelope_t *rep = NULL;
        if (s_client_parse(&msg, NULL, &rep) != 0)
            continue;
        if (rep->id && strcmp(rep->id, id) == 0) {
            *reply = rep;
            return 0;
        }
        hm_envelope_destroy(&rep); /* a stale reply to an earlier request */
    }
    return -1;
}

int
hm_mdp_client_request(hm_mdp_client_t *self, const char *service, const hm_envelope_t *req,
                      hm_envelope_t **reply)
{
    hm_backoff_reset(&self->backoff);
    for (int attempt = 0; attempt <= self->retries && !zsys_interrupted; attempt++) {
        if (attempt > 0) {
            zclock_sleep((int) hm_backoff_next(&self->backoff));
            if (hm_mdp_client_reconnect(self) != 0)
                continue;
        }
        if (hm_mdp_client_send(self, service, req) != 0)
            continue;
        if (s_client_wait(self, req->id, self->timeout_ms, reply) == 0)
            return 0;
        hm_log_debug("mdp_request_timeout", "service=%s attempt=%d", service, attempt + 1);
    }
    return -1;
}

/* The code in an MMI reply [""][MDPC01][mmi.service][NNN], or -1 for any
 * other message (a stale reply to an earlier request). */
static int
s_mmi_code(zmsg_t *msg)
{
    if (!msg || zmsg_size(msg) != 4)
        return -1;
    zframe_t *empty = zmsg_first(msg);
    zframe_t *proto = zmsg_next(msg);
    zframe_t *svc = zmsg_next(msg);
    zframe_t *body = zmsg_next(msg);
    if (zframe_size(empty) != 0 || !s_frame_is(proto, HM_MDPC) || !s_frame_is(svc, HM_MMI_SERVICE)
        || zframe_size(body) != 3)
        return -1;
    const unsigned char *d = zframe_data(body);
    for (int i = 0; i < 3; i++)
        if (d[i] < '0' || d[i] > '9')
            return -1;
    return (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
}

int
hm_mdp_client_mmi_service(hm_mdp_client_t *self, const char *service)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "");
    zmsg_addstr(msg, HM_MDPC);
    zmsg_addstr(msg, HM_MMI_SERVICE);
    zmsg_addstr(msg, service);
    if (s_send(&msg, self->sock) != 0)
        return -1;
    int64_t deadline = zclock_mono() + self->timeout_ms;
    while (!zsys_interrupted) {
        int64_t left = deadline - zclock_mono();
        if (left <= 0)
            break;
        zmq_pollitem_t item = {zsock_resolve(self->sock), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long) left) <= 0)
            continue;
        msg = zmsg_recv(self->sock);
        int code = s_mmi_code(msg);
        zmsg_destroy(&msg);
        if (code >= 0)
            return code;
    }
    hm_mdp_client_reconnect(self); /* a late answer must not answer the next query */
    return -1;
}

/* ---- worker ---------------------------------------------------------- */

struct hm_mdp_worker_t {
    char *broker;         /* request endpoint; owned */
    char *service;        /* service name registered; owned */
    zsock_t *sock;        /* DEALER to the broker; owned */
    int heartbeat_ms;     /* heartbeat interval */
    int64_t heartbeat_at; /* when to send the next heartbeat (zclock_mono) */
    int64_t expiry;       /* broker is dead when nothing arrives by then */
};

/* Sends a command frame set; body may be NULL. Returns 0 or -1. */
static int
s_worker_send_cmd(hm_mdp_worker_t *self, const char *cmd, const char *arg)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "");
    zmsg_addstr(msg, HM_MDPW);
    zmsg_addstr(msg, cmd);
    if (arg)
        zmsg_addstr(msg, arg);
    return s_send(&msg, self->sock);
}

/* (Re)creates the socket and registers with READY. Returns 0 or -1. */
static int
s_worker_connect(hm_mdp_worker_t *self)
{
    zsock_destroy(&self->sock);
    self->sock = s_dealer_new(self->broker);
    if (!self->sock)
        return -1;
    int64_t now = zclock_mono();
    self->heartbeat_at = now + self->heartbeat_ms;
    self->expiry = now + (int64_t) self->heartbeat_ms * HM_MDP_LIVENESS;
    return s_worker_send_cmd(self, HM_MDPW_READY, self->service);
}

hm_mdp_worker_t *
hm_mdp_worker_new(const char *broker, const char *service, int heartbeat_ms)
{
    hm_mdp_worker_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->broker = strdup(broker);
    self->service = strdup(service);
    self->heartbeat_ms = heartbeat_ms > 0 ? heartbeat_ms : HM_MDP_HEARTBEAT_MS;
    if (!self->broker || !self->service || s_worker_connect(self) != 0) {
        hm_mdp_worker_destroy(&self);
        return NULL;
    }
    hm_log_info("mdp_worker_ready", "service=%s broker=%s", service, broker);
    return self;
}

void
hm_mdp_worker_destroy(hm_mdp_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hm_mdp_worker_t *self = *self_p;
    if (self->sock)
        s_worker_send_cmd(self, HM_MDPW_DISCONNECT, NULL);
    zsock_destroy(&self->sock);
    free(self->broker);
    free(self->service);
    free(self);
    *self_p = NULL;
}

zsock_t *
hm_mdp_worker_sock(hm_mdp_worker_t *self)
{
    return self->sock;
}

/* Handles a REQUEST message (frames after the command). Returns 1 with the
 * request, or 0 when the body was garbage (answered with an error). */
static int
s_worker_request(hm_mdp_worker_t *self, zmsg_t *msg, hm_envelope_t **req, zframe_t **reply_to)
{
    zframe_t *client = zmsg_pop(msg);
    zframe_t *empty = zmsg_pop(msg);
    zframe_t *body = zmsg_pop(msg);
    int rc = 0;
    if (client && empty && body && zframe_size(empty) == 0 && zmsg_size(msg) == 0) {
        hm_envelope_t *env = NULL;
        if (hm_envelope_decode(zframe_data(body), zframe_size(body), &env) == 0) {
            *req = env;
            *reply_to = client;
            client = NULL;
            rc = 1;
        } else {
            hm_log_warn("mdp_bad_request", "service=%s", self->service);
            hm_envelope_t *err = hm_mdp_error_reply(NULL, HM_ERR_BAD_REQUEST,
                                                    "request body is not a valid envelope");
            if (err)
                hm_mdp_worker_send(self, &client, err);
            hm_envelope_destroy(&err);
        }
    }
    zframe_destroy(&client);
    zframe_destroy(&empty);
    zframe_destroy(&body);
    return rc;
}

int
hm_mdp_worker_recv(hm_mdp_worker_t *self, hm_envelope_t **req, zframe_t **reply_to)
{
    zmsg_t *msg = s_recv_ready(self->sock);
    if (!msg)
        return -1;
    self->expiry = zclock_mono() + (int64_t) self->heartbeat_ms * HM_MDP_LIVENESS;
    int rc = 0;
    zframe_t *empty = zmsg_pop(msg);
    zframe_t *proto = zmsg_pop(msg);
    zframe_t *cmd = zmsg_pop(msg);
    if (!empty || zframe_size(empty) != 0 || !s_frame_is(proto, HM_MDPW) || !cmd)
        hm_log_warn("mdp_garbage", "service=%s", self->service);
    else if (s_frame_is(cmd, HM_MDPW_REQUEST))
        rc = s_worker_request(self, msg, req, reply_to);
    else if (s_frame_is(cmd, HM_MDPW_DISCONNECT)) {
        hm_log_info("mdp_broker_disconnect", "service=%s", self->service);
        s_worker_connect(self);
    } else if (!s_frame_is(cmd, HM_MDPW_HEARTBEAT))
        hm_log_warn("mdp_unknown_command", "service=%s", self->service);
    zframe_destroy(&empty);
    zframe_destroy(&proto);
    zframe_destroy(&cmd);
    zmsg_destroy(&msg);
    return rc;
}

int
hm_mdp_worker_send(hm_mdp_worker_t *self, zframe_t **reply_to, const hm_envelope_t *reply)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "");
    zmsg_addstr(msg, HM_MDPW);
    zmsg_addstr(msg, HM_MDPW_REPLY);
    zmsg_append(msg, reply_to);
    zmsg_addstr(msg, "");
    if (s_append_envelope(msg, reply) != 0) {
        zmsg_destroy(&msg);
        return -1;
    }
    return s_send(&msg, self->sock);
}

void
hm_mdp_worker_tick(hm_mdp_worker_t *self)
{
    int64_t now = zclock_mono();
    if (now >= self->expiry) {
        hm_log_warn("mdp_broker_silent", "service=%s action=reconnect", self->service);
        s_worker_connect(self);
        return;
    }
    if (now >= self->heartbeat_at) {
        s_worker_send_cmd(self, HM_MDPW_HEARTBEAT, NULL);
        self->heartbeat_at = now + self->heartbeat_ms;
    }
}

int
hm_mdp_worker_tick_ms(hm_mdp_worker_t *self)
{
    int64_t left = self->heartbeat_at - zclock_mono();
    if (self->expiry - zclock_mono() < left)
        left = self->expiry - zclock_mono();
    return left < 0 ? 0 : (int) left;
}
