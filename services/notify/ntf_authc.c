/*
 * ntf_authc.c - waiting requests to hm-auth keyed by envelope id.
 */
#include "ntf_authc.h"

#include <stdlib.h>
#include <string.h>

#include "hm_clock.h"
#include "hm_log.h"
#include "hm_mdp.h"
#include "hm_proto.h"

typedef struct {
    ntf_authc_fn *fn;    /* callback */
    void *arg;           /* its argument; the caller's */
    int64_t deadline_ms; /* monotonic */
} s_wait_t;

struct ntf_authc_t {
    hm_mdp_client_t *mdp; /* the client socket; owned */
    int timeout_ms;       /* deadline of each request */
    zhashx_t *waiting;    /* envelope id -> s_wait_t* (owned, freed by us) */
};

static int64_t
s_now_ms(void)
{
    return hm_clock_mono_ns() / 1000000;
}

ntf_authc_t *
ntf_authc_new(const char *requests, int timeout_ms)
{
    ntf_authc_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->timeout_ms = timeout_ms;
    self->mdp = hm_mdp_client_new(requests, timeout_ms, 0);
    self->waiting = zhashx_new();
    if (!self->mdp || !self->waiting) {
        hm_mdp_client_destroy(&self->mdp);
        zhashx_destroy(&self->waiting);
        free(self);
        return NULL;
    }
    return self;
}

/* Removes the waiting entry id and runs its callback. */
static void
s_finish(ntf_authc_t *self, const char *id, const hm_envelope_t *reply, ntf_authc_end_t end)
{
    s_wait_t *w = zhashx_lookup(self->waiting, id);
    if (!w)
        return;
    zhashx_delete(self->waiting, id);
    w->fn(w->arg, reply, end);
    free(w);
}

/* The ids of waiting requests (all, or only those past now_ms when
 * expired_only). Caller owns the list. */
static zlistx_t *
s_ids(ntf_authc_t *self, bool expired_only, int64_t now_ms)
{
    zlistx_t *ids = zlistx_new();
    if (!ids)
        return NULL;
    zlistx_set_destructor(ids, (zlistx_destructor_fn *)zstr_free);
    zlistx_set_duplicator(ids, (zlistx_duplicator_fn *)strdup);
    for (s_wait_t *w = zhashx_first(self->waiting); w; w = zhashx_next(self->waiting))
        if (!expired_only || w->deadline_ms <= now_ms)
            zlistx_add_end(ids, (void *)zhashx_cursor(self->waiting));
    return ids;
}

void
ntf_authc_destroy(ntf_authc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ntf_authc_t *self = *self_p;
    zlistx_t *ids = s_ids(self, false, 0);
    for (char *id = ids ? zlistx_first(ids) : NULL; id; id = zlistx_next(ids))
        s_finish(self, id, NULL, NTF_AUTHC_CANCELLED);
    zlistx_destroy(&ids);
    zhashx_destroy(&self->waiting);
    hm_mdp_client_destroy(&self->mdp);
    free(self);
    *self_p = NULL;
}

int
ntf_authc_request(ntf_authc_t *self, const char *verb, int64_t user_id, json_t *data,
                  ntf_authc_fn *fn, void *arg)
{
    hm_envelope_t *req = hm_envelope_new(verb);
    s_wait_t *w = calloc(1, sizeof *w);
    int rc = -1;
    if (req && w && zhashx_size(self->waiting) < NTF_AUTHC_MAX &&
        hm_envelope_set_data(req, data ? data : json_object()) == 0) {
        data = NULL;
        req->user_id = user_id;
        *w = (s_wait_t){fn, arg, s_now_ms() + self->timeout_ms};
        if (hm_mdp_client_send(self->mdp, HM_SVC_AUTH, req) == 0) {
            zhashx_insert(self->waiting, req->id, w);
            w = NULL;
            rc = 0;
        }
    }
    json_decref(data);
    free(w);
    if (rc != 0)
        hm_log_warn("auth_request_failed", "verb=%s", verb);
    hm_envelope_destroy(&req);
    return rc;
}

void
ntf_authc_drain(ntf_authc_t *self)
{
    for (int n = 0; n < 1000; n++) {
        char *service = NULL;
        hm_envelope_t *rep = NULL;
        if (hm_mdp_client_recv(self->mdp, &service, &rep) != 0)
            break;
        if (rep && rep->id)
            s_finish(self, rep->id, rep, NTF_AUTHC_REPLY); /* unknown id: a late reply, dropped */
        free(service);
        hm_envelope_destroy(&rep);
    }
}

void
ntf_authc_tick(ntf_authc_t *self)
{
    zlistx_t *ids = s_ids(self, true, s_now_ms());
    for (char *id = ids ? zlistx_first(ids) : NULL; id; id = zlistx_next(ids)) {
        hm_log_warn("auth_timeout", "pending=%zu", zhashx_size(self->waiting));
        s_finish(self, id, NULL, NTF_AUTHC_TIMEOUT);
    }
    zlistx_destroy(&ids);
}

int
ntf_authc_tick_ms(ntf_authc_t *self)
{
    int64_t next = -1, now = s_now_ms();
    for (s_wait_t *w = zhashx_first(self->waiting); w; w = zhashx_next(self->waiting))
        if (next < 0 || w->deadline_ms < next)
            next = w->deadline_ms;
    if (next < 0)
        return -1;
    return next <= now ? 0 : (int)(next - now);
}

zsock_t *
ntf_authc_sock(ntf_authc_t *self)
{
    return hm_mdp_client_sock(self->mdp);
}
