/*
 * hlth_service.c - the "health" service: dispatch, group commit, the
 * effects that wait for the commit, and helpers the handlers share.
 */
#include "hlth_service_int.h"

#include <stdio.h>
#include <string.h>

#include "hm_bus.h"
#include "hm_clock.h"
#include "hm_log.h"
#include "hm_mdp.h"

#define S_VERB_LOG_MAX 255 /* bytes of an unknown verb in the log */

typedef hm_envelope_t *(s_handler_fn)(hlth_service_t *self, const hm_envelope_t *req,
                                      const hlth_grant_t *grant, hlth_grant_t *need);

hlth_service_t *
hlth_service_new(const hlth_service_cfg_t *cfg)
{
    hlth_service_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    if (self->cfg.sync_limit <= 0 || self->cfg.sync_limit > HLTH_PAGE_MAX)
        self->cfg.sync_limit = 100;
    return self;
}

void
hlth_service_destroy(hlth_service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hlth_service_t *self = *self_p;
    hlth_svc_unstage(self, 0, 0);
    free(self->pubs);
    free(self->notes);
    free(self);
    *self_p = NULL;
}

const hlth_stats_t *
hlth_service_stats(hlth_service_t *self)
{
    return &self->stats;
}

/* ---- staged effects ----------------------------------------------------------- */

/* Grows an array of elem-byte entries to hold one more. Returns 0 or -1. */
static int
s_grow(void **arr, int n, int *cap, size_t elem)
{
    if (n < *cap)
        return 0;
    int ncap = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

int
hlth_svc_stage_event(hlth_service_t *self, const hlth_event_t *ev)
{
    if (s_grow((void **)&self->pubs, self->npubs, &self->cap_pubs, sizeof *self->pubs) != 0)
        return -1;
    hm_envelope_t *env = hm_envelope_new(ev->type);
    if (!env || hm_envelope_set_data(env, json_incref(ev->data)) != 0) {
        hm_envelope_destroy(&env);
        return -1;
    }
    env->user_id = ev->user_id;
    env->seq = ev->seq;
    env->ts = ev->ts;
    hlth_pub_t *p = &self->pubs[self->npubs++];
    snprintf(p->topic, sizeof p->topic, HM_TOPIC_USER_HEALTH_FMT, (long long)ev->user_id);
    p->env = env;
    return 0;
}

int
hlth_svc_stage_note(hlth_service_t *self, const char *id, json_t *payload, int64_t created_at)
{
    if (!payload ||
        s_grow((void **)&self->notes, self->nnotes, &self->cap_notes, sizeof *self->notes) != 0) {
        json_decref(payload);
        return -1;
    }
    hlth_note_t *n = &self->notes[self->nnotes++];
    snprintf(n->id, sizeof n->id, "%s", id);
    n->payload = payload;
    n->created_at = created_at;
    return 0;
}

void
hlth_svc_unstage(hlth_service_t *self, int npubs, int nnotes)
{
    while (self->npubs > npubs)
        hm_envelope_destroy(&self->pubs[--self->npubs].env);
    while (self->nnotes > nnotes)
        json_decref(self->notes[--self->nnotes].payload);
}

/* After a commit: publishes the staged events in order, queues the staged
 * notifications, and empties both lists. */
static void
s_flush(hlth_service_t *self)
{
    for (int i = 0; i < self->npubs; i++) {
        hlth_pub_t *p = &self->pubs[i];
        if (self->cfg.pub && hm_bus_publish(self->cfg.pub, p->topic, p->env) == 0)
            self->stats.published++;
        else if (self->cfg.pub)
            hm_log_error("publish_failed", "topic=%s", p->topic);
    }
    for (int i = 0; i < self->nnotes && self->cfg.outbox; i++)
        hlth_outbox_add(self->cfg.outbox, self->notes[i].id, self->notes[i].payload,
                        self->notes[i].created_at);
    hlth_svc_unstage(self, 0, 0);
}

/* ---- transactions ------------------------------------------------------------ */

int
hlth_service_begin(hlth_service_t *self)
{
    if (self->in_batch)
        return 0;
    if (hlth_db_begin(self->cfg.db) != 0)
        return -1;
    self->in_batch = true;
    return 0;
}

int
hlth_service_commit(hlth_service_t *self)
{
    if (!self->in_batch)
        return 0;
    self->in_batch = false;
    if (hlth_db_commit(self->cfg.db) != 0) {
        hlth_svc_unstage(self, 0, 0);
        return -1;
    }
    s_flush(self);
    return 0;
}

/* ---- shared helpers ---------------------------------------------------------- */

hm_envelope_t *
hlth_svc_ack(const hm_envelope_t *req, json_t *data)
{
    hm_envelope_t *rep = hm_envelope_new(HM_MSG_ACK);
    if (!rep || !data || hm_envelope_set_id(rep, req->id) != 0 ||
        hm_envelope_set_correlation_id(rep, req->correlation_id) != 0 ||
        hm_envelope_set_conn_id(rep, req->conn_id) != 0 ||
        hm_envelope_set_edge(rep, req->edge) != 0) {
        json_decref(data);
        hm_envelope_destroy(&rep);
        return NULL;
    }
    rep->user_id = req->user_id;
    hm_envelope_set_data(rep, data);
    return rep;
}

int
hlth_svc_allowed(hlth_service_t *self, const hm_envelope_t *req, const char *action, int64_t target,
                 const hlth_grant_t *grant, hlth_grant_t *need)
{
    if (req->user_id == 0) /* a service or bus tool: the bus is trusted (SPEC 9) */
        return 1;
    bool owner_action = strcmp(action, HLTH_ACTION_PUBLISH) != 0;
    if (owner_action && target == req->user_id)
        return 1;
    hlth_grant_t g = {.actor = req->user_id, .target = target};
    snprintf(g.action, sizeof g.action, "%s", action);
    if (grant && grant->actor == g.actor && grant->target == g.target &&
        strcmp(grant->action, g.action) == 0)
        return 1;
    if (self->cfg.authz && hlth_authz_cached(self->cfg.authz, &g))
        return 1;
    *need = g;
    return 0;
}

int
hlth_svc_limits(hlth_service_t *self, int64_t user_id, const hlth_metric_t *check,
                hlth_limits_t *out)
{
    *out = self->cfg.defaults[hlth_metric_index(check)];
    return hlth_db_threshold_get(self->cfg.db, user_id, check->name, out);
}

int
hlth_svc_owner(const hm_envelope_t *req, int64_t *owner, hm_envelope_t **err)
{
    json_t *v = json_object_get(req->data, "user_id");
    *owner = req->user_id;
    *err = NULL;
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            *err = hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD,
                                      "'user_id' must be a positive integer");
            return -1;
        }
        *owner = json_integer_value(v);
    }
    if (*owner <= 0) {
        *err = hm_mdp_error_reply(req, HM_ERR_MISSING_FIELD,
                                  "'user_id' is required without an authenticated user");
        return -1;
    }
    return 0;
}

json_t *
hlth_svc_event_json(const hlth_event_t *ev)
{
    char ts[40];
    return json_pack("{s:s, s:O, s:I, s:s, s:I}", "type", ev->type, "data", ev->data, "seq",
                     (json_int_t)ev->seq, "timestamp", hm_clock_iso8601(ev->ts, ts, sizeof ts),
                     "user_id", (json_int_t)ev->user_id);
}

/* ---- dispatch --------------------------------------------------------------------- */

static const struct {
    const char *verb;      /* request type */
    s_handler_fn *handler; /* its handler */
} s_verbs[] = {
    {HM_VERB_HEALTH_READING, hlth_ingest_reading},
    {HM_VERB_HEALTH_DEVICE_READING, hlth_ingest_device},
    {HM_VERB_HEALTH_SYNC, hlth_query_sync},
    {HM_VERB_HEALTH_REPLAY, hlth_query_replay},
    {HM_VERB_HEALTH_THRESHOLD, hlth_query_threshold},
};

/* Runs handler in the open batch, or in a transaction of its own. */
static hm_envelope_t *
s_run(hlth_service_t *self, s_handler_fn *handler, const hm_envelope_t *req,
      const hlth_grant_t *grant, hlth_grant_t *need)
{
    if (self->in_batch && !hlth_db_in_tx(self->cfg.db)) /* rolled back by sqlite */
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    if (self->in_batch)
        return handler(self, req, grant, need);
    if (hlth_service_begin(self) != 0)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database busy");
    hm_envelope_t *rep = handler(self, req, grant, need);
    if (hlth_service_commit(self) != 0) {
        hm_envelope_destroy(&rep);
        rep = hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    }
    return rep;
}

hm_envelope_t *
hlth_service_handle(hlth_service_t *self, const hm_envelope_t *req, const hlth_grant_t *grant,
                    hlth_grant_t *need)
{
    memset(need, 0, sizeof *need);
    for (size_t i = 0; i < sizeof s_verbs / sizeof s_verbs[0]; i++) {
        if (strcmp(req->type, s_verbs[i].verb) != 0)
            continue;
        if (req->data && !json_is_object(req->data))
            return hm_mdp_error_reply(req, HM_ERR_BAD_REQUEST, "data must be an object");
        if (req->user_id < 0)
            return hm_mdp_error_reply(req, HM_ERR_BAD_REQUEST, "user_id must not be negative");
        hm_envelope_t *rep = s_run(self, s_verbs[i].handler, req, grant, need);
        hm_log_debug("request", "verb=%s result=%s", req->type,
                     rep               ? rep->type
                     : need->action[0] ? "authorize"
                                       : "nomem");
        return rep;
    }
    char q[S_VERB_LOG_MAX * 4 + 8];
    hm_log_info("unknown_verb", "verb=%s", hm_log_quote(req->type, q, sizeof q));
    return hm_mdp_error_reply(req, HM_ERR_UNKNOWN_VERB, "health does not know this verb");
}
