/*
 * hlth_authz.c - parked requests waiting for auth.authorize, and a small
 * cache of allows.
 */
#include "hlth_authz.h"

#include <stdio.h>
#include <string.h>

#include "hm_backoff.h"
#include "hm_clock.h"
#include "hm_log.h"
#include "hm_proto.h"

#define S_TICK_MAX_MS 1000
#define S_KEY_MAX (HLTH_ACTION_MAX + 48)

typedef struct {
    char id[HM_ENVELOPE_MAX_STR]; /* auth.authorize request id */
    hm_envelope_t *req;           /* the parked request; owned */
    zframe_t *reply_to;           /* its reply address; owned */
    int tag;                      /* the caller's: the worker socket it came through */
    hlth_grant_t grant;           /* what it needs */
    int64_t deadline_ms;          /* monotonic */
    int64_t next_ms;              /* next attempt, monotonic */
    hm_backoff_t bo;              /* between attempts */
    bool decided;                 /* result is set, waiting in the ready list */
    hlth_authz_result_t result;   /* the decision */
} s_parked_t;

struct hlth_authz_t {
    hm_mdp_client_t *client; /* borrowed, may be NULL */
    hlth_authz_cfg_t cfg;    /* timings and bounds */
    zhashx_t *parked;        /* authorize id -> s_parked_t (undecided); owned, with them */
    zlistx_t *ready;         /* decided s_parked_t, in order; owned */
    zhashx_t *cache;         /* "actor:target:action" -> expiry (mono ms, cast); owned */
};

static int64_t
s_now_ms(void)
{
    return hm_clock_mono_ns() / 1000000;
}

static void
s_parked_free(void **item_p)
{
    s_parked_t *p = *item_p;
    if (p) {
        hm_envelope_destroy(&p->req);
        zframe_destroy(&p->reply_to);
        free(p);
    }
    *item_p = NULL;
}

hlth_authz_t *
hlth_authz_new(hm_mdp_client_t *client, const hlth_authz_cfg_t *cfg)
{
    hlth_authz_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->client = client;
    self->cfg = *cfg;
    self->parked = zhashx_new();
    self->ready = zlistx_new();
    self->cache = zhashx_new();
    if (!self->parked || !self->ready || !self->cache) {
        hlth_authz_destroy(&self);
        return NULL;
    }
    zlistx_set_destructor(self->ready, s_parked_free); /* parked: freed by hand, items move */
    return self;
}

void
hlth_authz_destroy(hlth_authz_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hlth_authz_t *self = *self_p;
    for (void *p = self->parked ? zhashx_first(self->parked) : NULL; p;
         p = zhashx_next(self->parked))
        s_parked_free(&p);
    zhashx_destroy(&self->parked);
    zlistx_destroy(&self->ready);
    zhashx_destroy(&self->cache);
    free(self);
    *self_p = NULL;
}

/* ---- the cache --------------------------------------------------------------- */

static void
s_key(const hlth_grant_t *g, char *key)
{
    snprintf(key, S_KEY_MAX, "%lld:%lld:%s", (long long)g->actor, (long long)g->target, g->action);
}

bool
hlth_authz_cached(hlth_authz_t *self, const hlth_grant_t *g)
{
    if (self->cfg.cache_ms <= 0)
        return false;
    char key[S_KEY_MAX];
    s_key(g, key);
    void *v = zhashx_lookup(self->cache, key);
    if (!v)
        return false;
    if ((int64_t)(intptr_t)v > s_now_ms())
        return true;
    zhashx_delete(self->cache, key);
    return false;
}

void
hlth_authz_remember(hlth_authz_t *self, const hlth_grant_t *g)
{
    if (self->cfg.cache_ms <= 0)
        return;
    if (zhashx_size(self->cache) >= HLTH_AUTHZ_CACHE_MAX)
        zhashx_purge(self->cache); /* at the bound: start over */
    char key[S_KEY_MAX];
    s_key(g, key);
    zhashx_update(self->cache, key, (void *)(intptr_t)(s_now_ms() + self->cfg.cache_ms));
}

/* ---- parking ------------------------------------------------------------------- */

/* Sends (or sends again) the authorize request of p. */
static void
s_send(hlth_authz_t *self, s_parked_t *p, int64_t now)
{
    p->next_ms = now + hm_backoff_next(&p->bo);
    if (!self->client)
        return;
    hm_envelope_t *req = hm_envelope_new(HM_VERB_AUTH_AUTHORIZE);
    if (req && hm_envelope_set_id(req, p->id) == 0) {
        req->user_id = p->grant.actor;
        json_t *data = json_pack("{s:s}", "action", p->grant.action);
        if (data && p->grant.target > 0)
            json_object_set_new(data, "target_user_id", json_integer(p->grant.target));
        if (hm_envelope_set_data(req, data) == 0 &&
            hm_mdp_client_send(self->client, HM_SVC_AUTH, req) == 0) {
            hm_envelope_destroy(&req);
            return;
        }
    }
    hm_envelope_destroy(&req);
    hm_log_warn("authorize_send_failed", "id=%s", p->id);
}

int
hlth_authz_park(hlth_authz_t *self, hm_envelope_t **req, zframe_t **reply_to, int tag,
                const hlth_grant_t *g)
{
    if (hlth_authz_parked(self) >= self->cfg.max)
        return -1;
    s_parked_t *p = calloc(1, sizeof *p);
    hm_envelope_t *probe = hm_envelope_new(HM_VERB_AUTH_AUTHORIZE); /* for a fresh id */
    if (!p || !probe) {
        free(p);
        hm_envelope_destroy(&probe);
        return -1;
    }
    snprintf(p->id, sizeof p->id, "%s", probe->id);
    hm_envelope_destroy(&probe);
    p->req = *req;
    p->reply_to = *reply_to;
    p->tag = tag;
    *req = NULL;
    *reply_to = NULL;
    p->grant = *g;
    int64_t now = s_now_ms();
    p->deadline_ms = now + self->cfg.deadline_ms;
    hm_backoff_init(&p->bo, self->cfg.timeout_ms, 2.0, self->cfg.timeout_ms * 4);
    zhashx_insert(self->parked, p->id, p);
    s_send(self, p, now);
    return 0;
}

/* Moves p from the parked table to the ready list with result. */
static void
s_decide(hlth_authz_t *self, s_parked_t *p, hlth_authz_result_t result)
{
    zhashx_delete(self->parked, p->id); /* no destructor: p moves */
    p->decided = true;
    p->result = result;
    zlistx_add_end(self->ready, p);
}

void
hlth_authz_on_reply(hlth_authz_t *self, const hm_envelope_t *rep)
{
    s_parked_t *p = rep->id ? zhashx_lookup(self->parked, rep->id) : NULL;
    if (!p)
        return; /* a late answer to a request already decided */
    if (strcmp(rep->type, HM_MSG_ERROR) != 0) {
        hlth_authz_remember(self, &p->grant);
        s_decide(self, p, HLTH_AUTHZ_ALLOWED);
        return;
    }
    const char *code = json_string_value(json_object_get(rep->data, "code"));
    if (code && strcmp(code, HM_ERR_SERVICE_UNAVAILABLE) == 0)
        return; /* the broker gave up on this attempt: ours retries until the deadline */
    bool denied =
        code && (strcmp(code, HM_ERR_FORBIDDEN) == 0 || strcmp(code, HM_ERR_BAD_REQUEST) == 0);
    if (!denied)
        hm_log_warn("authorize_failed", "code=%s", code ? code : "-");
    s_decide(self, p, denied ? HLTH_AUTHZ_DENIED : HLTH_AUTHZ_UNAVAILABLE);
}

void
hlth_authz_tick(hlth_authz_t *self)
{
    int64_t now = s_now_ms();
    zlistx_t *expired = zlistx_new();
    for (s_parked_t *p = zhashx_first(self->parked); p; p = zhashx_next(self->parked)) {
        if (now >= p->deadline_ms)
            zlistx_add_end(expired, p);
        else if (now >= p->next_ms)
            s_send(self, p, now);
    }
    for (s_parked_t *p = zlistx_first(expired); p; p = zlistx_next(expired)) {
        hm_log_warn("authorize_timeout", "action=%s", p->grant.action);
        s_decide(self, p, HLTH_AUTHZ_UNAVAILABLE);
    }
    zlistx_destroy(&expired);
}

int
hlth_authz_tick_ms(hlth_authz_t *self)
{
    if (zlistx_size(self->ready) > 0)
        return 0;
    int64_t now = s_now_ms(), next = now + S_TICK_MAX_MS;
    for (s_parked_t *p = zhashx_first(self->parked); p; p = zhashx_next(self->parked)) {
        if (p->next_ms < next)
            next = p->next_ms;
        if (p->deadline_ms < next)
            next = p->deadline_ms;
    }
    return next <= now ? 0 : (int)(next - now);
}

int
hlth_authz_next(hlth_authz_t *self, hm_envelope_t **req, zframe_t **reply_to, int *tag,
                hlth_grant_t *grant, hlth_authz_result_t *result)
{
    s_parked_t *p = zlistx_first(self->ready);
    if (!p)
        return 0;
    *req = p->req;
    *reply_to = p->reply_to;
    p->req = NULL;
    p->reply_to = NULL;
    *tag = p->tag;
    *grant = p->grant;
    *result = p->result;
    zlistx_delete(self->ready, zlistx_cursor(self->ready)); /* frees the emptied p */
    return 1;
}

int
hlth_authz_parked(hlth_authz_t *self)
{
    return (int)(zhashx_size(self->parked) + zlistx_size(self->ready));
}
