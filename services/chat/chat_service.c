/*
 * chat_service.c - the "chat" service: lifecycle, dispatch, requests held
 * for hm-auth, the batch flush, bus events and timers.
 */
#include "chat_service.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "chat_msg.h"
#include "chat_service_int.h"
#include "hm_clock.h"
#include "hm_log.h"
#include "hm_mdp.h"
#include "hm_proto.h"

#define S_PRUNE_MS (3600 * 1000)             /* prune old request ids hourly */
#define S_REQUEST_KEEP_MS (24 * 3600 * 1000) /* ... older than a day */
#define S_FLUSH_ROUNDS 8                     /* commit/flush rounds per loop iteration */
#define S_REPUBLISH_MAX 10000                /* events published again at start */

/* A request waiting for hm-auth. */
typedef struct {
    hm_envelope_t *req; /* owned */
    zframe_t *to;       /* reply address; owned */
    chat_verb_fn *fn;   /* its handler */
} s_held_t;

static const struct {
    const char *verb; /* request type */
    chat_verb_fn *fn; /* its handler */
} s_verbs[] = {
    {HM_VERB_CHAT_SEND, chat_verb_send},
    {HM_VERB_CHAT_TYPING, chat_verb_typing},
    {HM_VERB_CHAT_HISTORY, chat_verb_history},
    {HM_VERB_CHAT_REPLAY, chat_verb_replay},
};

static int64_t
s_now_ms(void)
{
    return hm_clock_mono_ns() / 1000000;
}

static void s_on_call(void *arg, int kind, int64_t cookie, const char *tag,
                      const hm_envelope_t *rep);

chat_service_t *
chat_service_new(const chat_service_cfg_t *cfg)
{
    chat_service_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->db = cfg->db;
    self->tx.db = cfg->db;
    self->out = chat_out_new();
    self->call = chat_call_new(cfg->send, cfg->send_arg, s_on_call, self);
    self->authz =
        self->call ? chat_authz_new(self->call, cfg->authz_ttl_ms, cfg->call_timeout_ms) : NULL;
    self->typing = chat_typing_new(cfg->typing_timeout_ms, cfg->typing_rate, cfg->typing_burst);
    self->alert =
        self->call ? chat_alert_new(cfg->db, &self->tx, self->call, cfg->call_timeout_ms) : NULL;
    chat_assist_cfg_t acfg = {cfg->db,
                              &self->tx,
                              self->out,
                              self->call,
                              cfg->backend,
                              cfg->rules,
                              self->alert,
                              cfg->context_timeout_ms,
                              cfg->generate_timeout_ms,
                              cfg->history};
    self->assist = self->alert ? chat_assist_new(&acfg) : NULL;
    self->held = zlist_new();
    if (!self->out || !self->authz || !self->typing || !self->assist || !self->held)
        chat_service_destroy(&self);
    return self;
}

void
chat_service_destroy(chat_service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    chat_service_t *self = *self_p;
    s_held_t *h;
    while (self->held && (h = zlist_pop(self->held))) {
        hm_envelope_destroy(&h->req);
        zframe_destroy(&h->to);
        free(h);
    }
    zlist_destroy(&self->held);
    chat_assist_destroy(&self->assist);
    chat_alert_destroy(&self->alert);
    chat_typing_destroy(&self->typing);
    chat_authz_destroy(&self->authz);
    chat_call_destroy(&self->call);
    chat_out_destroy(&self->out);
    if (self->tx.open)
        chat_tx_commit(&self->tx);
    free(self);
    *self_p = NULL;
}

int
chat_service_start(chat_service_t *self)
{
    int n = chat_msg_republish_since(self->db, self->out,
                                     hm_clock_wall_ms() - self->cfg.republish_ms, S_REPUBLISH_MAX);
    int jobs = chat_assist_resume(self->assist);
    int alerts = chat_alert_resume(self->alert);
    hm_log_info("resumed", "republished=%d jobs=%d alerts=%d", n, jobs, alerts);
    return n < 0 || jobs < 0 || alerts < 0 ? -1 : 0;
}

/* ---- requests ------------------------------------------------------------------ */

/* Runs fn for req. Returns the reply, or NULL when held. */
static hm_envelope_t *
s_run(chat_service_t *self, chat_verb_fn *fn, const hm_envelope_t *req, bool *held)
{
    *held = false;
    hm_envelope_t *rep = fn(self, req, held);
    if (!rep && !*held)
        rep = hm_mdp_error_reply(req, HM_ERR_INTERNAL, "out of memory");
    if (rep)
        hm_log_debug("request", "verb=%s result=%s", req->type, rep->type);
    return rep;
}

/* Holds req for hm-auth's answer; answers service_unavailable at the bound. */
static void
s_hold(chat_service_t *self, chat_verb_fn *fn, hm_envelope_t **req, zframe_t **to)
{
    s_held_t *h = zlist_size(self->held) < CHAT_HELD_MAX ? calloc(1, sizeof *h) : NULL;
    if (!h || zlist_append(self->held, h) != 0) {
        free(h);
        hm_envelope_t *rep = hm_mdp_error_reply(*req, HM_ERR_SERVICE_UNAVAILABLE, "too busy");
        chat_out_reply(self->out, *req, to, &rep);
        hm_envelope_destroy(req);
        return;
    }
    h->req = *req;
    h->to = *to;
    h->fn = fn;
    *req = NULL;
    *to = NULL;
}

void
chat_service_request(chat_service_t *self, hm_envelope_t **req, zframe_t **reply_to)
{
    hm_envelope_t *r = *req;
    chat_verb_fn *fn = NULL;
    for (size_t i = 0; !fn && i < sizeof s_verbs / sizeof s_verbs[0]; i++)
        if (strcmp(r->type, s_verbs[i].verb) == 0)
            fn = s_verbs[i].fn;
    hm_envelope_t *rep = NULL;
    bool held = false;
    if (!fn) {
        char q[HM_ENVELOPE_MAX_STR * 4 + 8];
        hm_log_info("unknown_verb", "verb=%s", hm_log_quote(r->type, q, sizeof q));
        rep = hm_mdp_error_reply(r, HM_ERR_UNKNOWN_VERB, "chat does not know this verb");
    } else if (r->data && !json_is_object(r->data)) {
        rep = hm_mdp_error_reply(r, HM_ERR_BAD_REQUEST, "data must be an object");
    } else if (!r->data && !(r->data = json_object())) {
        rep = hm_mdp_error_reply(r, HM_ERR_INTERNAL, "out of memory");
    } else if (r->user_id < 0 || (r->user_id == 0 && fn != chat_verb_replay)) {
        rep = hm_mdp_error_reply(r, HM_ERR_BAD_REQUEST, "needs the user_id of the sender");
    } else {
        rep = s_run(self, fn, r, &held);
    }
    if (held) {
        s_hold(self, fn, req, reply_to);
        return;
    }
    chat_out_reply(self->out, r, reply_to, &rep);
    hm_envelope_destroy(req);
}

/* Runs every held request again (an answer from hm-auth came). */
static void
s_rerun_held(chat_service_t *self)
{
    size_t n = zlist_size(self->held);
    for (size_t i = 0; i < n; i++) {
        s_held_t *h = zlist_pop(self->held);
        bool held = false;
        hm_envelope_t *rep = s_run(self, h->fn, h->req, &held);
        if (held) {
            zlist_append(self->held, h); /* still waiting (another question) */
            continue;
        }
        chat_out_reply(self->out, h->req, &h->to, &rep);
        hm_envelope_destroy(&h->req);
        free(h);
    }
}

/* A call to another service finished. */
static void
s_on_call(void *arg, int kind, int64_t cookie, const char *tag, const hm_envelope_t *rep)
{
    chat_service_t *self = arg;
    if (kind == CHAT_CALL_AUTHZ) {
        chat_authz_on_reply(self->authz, tag, rep, s_now_ms());
        s_rerun_held(self);
    } else if (kind == CHAT_CALL_CARE_TEAM || kind == CHAT_CALL_NOTIFY) {
        chat_alert_on_call(self->alert, kind, cookie, tag, rep);
    } else {
        chat_assist_on_call(self->assist, kind, cookie, rep);
    }
}

void
chat_service_on_reply(chat_service_t *self, const hm_envelope_t *rep)
{
    chat_call_on_reply(self->call, rep);
}

/* ---- events and timers ------------------------------------------------------ */

/* An automatic typing stop. */
static void
s_typing_stopped(void *arg, int64_t user_id, const char *conv)
{
    chat_service_t *self = arg;
    int role = chat_db_participant_role(self->db, conv, user_id);
    chat_verb_typing_event(self, conv, user_id,
                           role == CHAT_ROLE_OWNER ? HM_CHAT_SENDER_USER : HM_CHAT_SENDER_CARE_TEAM,
                           false);
}

void
chat_service_on_event(chat_service_t *self, const char *topic, const hm_envelope_t *ev)
{
    if (strcmp(topic, HM_TOPIC_SYS_CONN) != 0 || strcmp(ev->type, HM_EV_CONN_CLOSE) != 0)
        return;
    const char *conn = ev->conn_id;
    if (!conn)
        conn = json_string_value(json_object_get(ev->data, "conn_id"));
    if (conn)
        chat_typing_conn_closed(self->typing, conn, s_typing_stopped, self);
}

void
chat_service_tick(chat_service_t *self)
{
    int64_t now = s_now_ms();
    chat_typing_expire(self->typing, now, s_typing_stopped, self);
    chat_call_tick(self->call, now);
    chat_assist_tick(self->assist, now);
    chat_alert_tick(self->alert, now);
    if (now >= self->prune_at) {
        self->prune_at = now + S_PRUNE_MS;
        if (chat_tx_save(&self->tx) == 0) {
            int n = chat_db_request_prune(self->db, hm_clock_wall_ms() - S_REQUEST_KEEP_MS);
            chat_tx_end(&self->tx, n >= 0);
        }
    }
}

int
chat_service_tick_ms(chat_service_t *self)
{
    int64_t now = s_now_ms();
    int t[] = {chat_typing_next_ms(self->typing, now), chat_call_tick_ms(self->call, now),
               chat_assist_tick_ms(self->assist, now), 1000};
    int wait = self->busy ? 0 : t[0];
    for (size_t i = 1; i < sizeof t / sizeof t[0]; i++)
        wait = t[i] < wait ? t[i] : wait;
    return wait;
}

/* ---- the batch ------------------------------------------------------------------- */

void
chat_service_flush(chat_service_t *self, const chat_sink_t *sink)
{
    self->busy = true;
    for (int round = 0; round < S_FLUSH_ROUNDS && self->busy; round++) {
        chat_assist_on_backend(self->assist);
        self->busy = self->tx.open || chat_out_size(self->out) > 0;
        if (!self->busy)
            break;
        bool ok = chat_tx_commit(&self->tx) == 0;
        if (!ok)
            chat_out_fail(self->out);
        chat_out_flush(self->out, sink);
        chat_alert_committed(self->alert, ok);
        chat_assist_committed(self->assist, ok);
    }
}

size_t
chat_service_held(chat_service_t *self)
{
    return zlist_size(self->held);
}
