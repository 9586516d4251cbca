/*
 * chat_authz.c - the care-team authorization cache and its questions to
 * hm-auth.
 */
#include "chat_authz.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hm_log.h"
#include "hm_proto.h"

#define S_UNAVAILABLE_MS 3000 /* how long an unreachable auth is remembered */

/* One cached answer. */
typedef struct {
    chat_authz_rc_t rc; /* ALLOW, DENY, PENDING or UNAVAILABLE */
    int64_t expires_ms; /* monotonic ms */
    bool fresh;         /* an answer not yet used: serves one check even when
                         * expired, so that the request held for it runs on it
                         * (with a ttl of 0 it would otherwise ask again forever) */
} s_entry_t;

struct chat_authz_t {
    chat_call_t *call; /* borrowed */
    zhashx_t *cache;   /* "actor:target" -> s_entry_t; owned */
    int64_t ttl_ms;    /* how long an ALLOW is kept */
    int timeout_ms;    /* per question */
    bool last_fresh;   /* the last check was answered by a fresh reply */
};

static void
s_entry_free(void **item)
{
    free(*item);
    *item = NULL;
}

chat_authz_t *
chat_authz_new(chat_call_t *call, int64_t ttl_ms, int timeout_ms)
{
    chat_authz_t *self = calloc(1, sizeof *self);
    if (!self || !(self->cache = zhashx_new())) {
        free(self);
        return NULL;
    }
    zhashx_set_destructor(self->cache, s_entry_free);
    self->call = call;
    self->ttl_ms = ttl_ms;
    self->timeout_ms = timeout_ms;
    return self;
}

void
chat_authz_destroy(chat_authz_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->cache);
    free(*self_p);
    *self_p = NULL;
}

/* Stores rc for key until now + ms. */
static void
s_remember(chat_authz_t *self, const char *key, chat_authz_rc_t rc, int64_t until)
{
    if (zhashx_size(self->cache) >= CHAT_AUTHZ_CACHE_MAX && !zhashx_lookup(self->cache, key))
        zhashx_purge(self->cache);
    s_entry_t *e = zhashx_lookup(self->cache, key);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e)
            return;
        zhashx_insert(self->cache, key, e);
    }
    e->rc = rc;
    e->expires_ms = until;
    e->fresh = rc != CHAT_AUTHZ_PENDING;
}

/* Sends auth.authorize for actor/target. Returns 0 or -1. */
static int
s_ask(chat_authz_t *self, const char *key, int64_t actor, int64_t target)
{
    hm_envelope_t *req = hm_envelope_new(HM_VERB_AUTH_AUTHORIZE);
    if (!req)
        return -1;
    req->user_id = actor;
    hm_envelope_set_data(req, json_pack("{s:s, s:I}", "action", HM_ACTION_SUBSCRIBE_CHAT,
                                        "target_user_id", (json_int_t)target));
    return chat_call_start(self->call, HM_SVC_AUTH, &req, self->timeout_ms,
                           self->timeout_ms / 3 > 0 ? self->timeout_ms / 3 : 0, CHAT_CALL_AUTHZ, 0,
                           key);
}

chat_authz_rc_t
chat_authz_check(chat_authz_t *self, int64_t actor, int64_t target, int64_t now_ms)
{
    self->last_fresh = false;
    if (actor > 0 && actor == target)
        return CHAT_AUTHZ_ALLOW;
    if (actor <= 0 || target <= 0)
        return CHAT_AUTHZ_DENY;
    char key[48];
    snprintf(key, sizeof key, "%" PRId64 ":%" PRId64, actor, target);
    s_entry_t *e = zhashx_lookup(self->cache, key);
    if (e && (e->rc == CHAT_AUTHZ_PENDING || e->fresh || now_ms < e->expires_ms)) {
        self->last_fresh = e->fresh;
        e->fresh = false;
        return e->rc;
    }
    if (s_ask(self, key, actor, target) != 0) {
        s_remember(self, key, CHAT_AUTHZ_UNAVAILABLE, now_ms + 100);
        return CHAT_AUTHZ_UNAVAILABLE;
    }
    s_remember(self, key, CHAT_AUTHZ_PENDING, now_ms + self->timeout_ms);
    return CHAT_AUTHZ_PENDING;
}

bool
chat_authz_audited(const chat_authz_t *self)
{
    return self->last_fresh;
}

void
chat_authz_on_reply(chat_authz_t *self, const char *tag, const hm_envelope_t *rep, int64_t now_ms)
{
    if (!rep) {
        hm_log_warn("authorize_unavailable", "reason=timeout");
        s_remember(self, tag, CHAT_AUTHZ_UNAVAILABLE, now_ms + S_UNAVAILABLE_MS);
        return;
    }
    if (strcmp(rep->type, HM_MSG_ERROR) != 0) {
        bool allowed = json_is_true(json_object_get(rep->data, "allowed"));
        s_remember(self, tag, allowed ? CHAT_AUTHZ_ALLOW : CHAT_AUTHZ_DENY,
                   now_ms + (allowed ? self->ttl_ms : self->ttl_ms / 10));
        return;
    }
    const char *code = json_string_value(json_object_get(rep->data, "code"));
    if (code && (strcmp(code, HM_ERR_FORBIDDEN) == 0 || strcmp(code, HM_ERR_BAD_REQUEST) == 0)) {
        s_remember(self, tag, CHAT_AUTHZ_DENY, now_ms + self->ttl_ms / 10);
    } else {
        hm_log_warn("authorize_unavailable", "code=%s", code ? code : "-");
        s_remember(self, tag, CHAT_AUTHZ_UNAVAILABLE, now_ms + S_UNAVAILABLE_MS);
    }
}
