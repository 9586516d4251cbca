/*
 * ntf_service.c - the shell of the "notify" service: construction,
 * transactions, sys.conn events, presence resync and the timers.
 */
#include "ntf_service.h"

#include <stdlib.h>
#include <string.h>

#include "hm_clock.h"
#include "hm_db.h"
#include "hm_log.h"
#include "hm_proto.h"
#include "ntf_service_int.h"

int64_t
ntf_now_ms(void)
{
    return hm_clock_mono_ns() / 1000000;
}

/* A user the presence sync found online: re-publish their open queue. */
static void
s_on_online(int64_t user_id, void *arg)
{
    ntf_deliver_want_flush(arg, user_id);
}

static void
s_prefs_free(void **item)
{
    free(*item);
    *item = NULL;
}

ntf_service_t *
ntf_service_new(const ntf_service_cfg_t *cfg)
{
    ntf_service_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->tz = ntf_tz_new(cfg->tzdir);
    self->presence = ntf_presence_new();
    self->resend = ntf_resend_new(cfg->resend_entries ? cfg->resend_entries : 100000);
    self->outbox = zlistx_new();
    self->flushes = zhashx_new();
    self->prefs = zhashx_new();
    if (self->prefs)
        zhashx_set_destructor(self->prefs, s_prefs_free);
    ntf_escalate_cfg_t ecfg = {cfg->db,     cfg->webhook, cfg->authc, self->presence,
                               s_on_online, self,         cfg->retry, 16};
    self->esc = ntf_escalate_new(&ecfg);
    if (!self->tz || !self->presence || !self->resend || !self->outbox || !self->flushes ||
        !self->prefs || !self->esc) {
        ntf_service_destroy(&self);
        return NULL;
    }
    int64_t now = ntf_now_ms();
    self->hold_at = now;
    self->expire_at = now;
    self->purge_at = now + 60000;
    self->sync_at = -1;
    return self;
}

void
ntf_service_destroy(ntf_service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ntf_service_t *self = *self_p;
    if (self->outbox)
        ntf_deliver_flush_outbox(self, false);
    zlistx_destroy(&self->outbox);
    zhashx_destroy(&self->flushes);
    zhashx_destroy(&self->prefs);
    ntf_escalate_destroy(&self->esc);
    ntf_resend_destroy(&self->resend);
    ntf_presence_destroy(&self->presence);
    ntf_tz_destroy(&self->tz);
    free(self);
    *self_p = NULL;
}

/* ---- presence resync -------------------------------------------------------- */

/* auth.sessions for everyone answered (or not). */
static void
s_on_sessions(void *arg, const hm_envelope_t *reply, ntf_authc_end_t end)
{
    ntf_service_t *self = arg;
    if (end == NTF_AUTHC_CANCELLED)
        return;
    self->syncing = false;
    if (!reply || strcmp(reply->type, HM_MSG_ERROR) == 0) {
        hm_log_warn("presence_sync_failed", "reason=%s", reply ? "error" : "timeout");
        self->sync_at = ntf_now_ms() + 5000; /* again soon */
        return;
    }
    json_t *sessions = json_object_get(reply->data, "sessions");
    json_int_t total = json_integer_value(json_object_get(reply->data, "total"));
    bool complete = json_is_array(sessions) && (size_t)total <= json_array_size(sessions);
    int n = ntf_presence_sync(self->presence, sessions, complete, 0, s_on_online, self);
    hm_log_info("presence_synced", "sessions=%d users_online=%zu complete=%d", n,
                ntf_presence_users(self->presence), complete);
    self->sync_at = self->cfg.sync_ms > 0 ? ntf_now_ms() + self->cfg.sync_ms : -1;
}

static void
s_sync(ntf_service_t *self)
{
    if (!self->cfg.authc || self->syncing)
        return;
    self->sync_at = -1;
    if (ntf_authc_request(self->cfg.authc, HM_VERB_AUTH_SESSIONS, 0, json_object(), s_on_sessions,
                          self) == 0)
        self->syncing = true;
    else
        self->sync_at = ntf_now_ms() + 5000;
}

void
ntf_service_start(ntf_service_t *self)
{
    s_sync(self);
    int n = ntf_escalate_load(self->esc);
    if (n > 0)
        hm_log_info("escalations_loaded", "count=%d", n);
}

/* ---- requests and transactions --------------------------------------------- */

int
ntf_service_begin(ntf_service_t *self)
{
    if (self->in_batch)
        return 0;
    if (hm_db_exec(self->cfg.db, "BEGIN IMMEDIATE") != 0)
        return -1;
    self->in_batch = true;
    return 0;
}

int
ntf_service_commit(ntf_service_t *self)
{
    if (!self->in_batch)
        return 0;
    self->in_batch = false;
    int rc = -1;
    if (sqlite3_get_autocommit(self->cfg.db)) /* sqlite rolled it back after an error */
        hm_log_error("batch_rolled_back", NULL);
    else if (hm_db_exec(self->cfg.db, "COMMIT") == 0)
        rc = 0;
    else if (!sqlite3_get_autocommit(self->cfg.db))
        hm_db_exec(self->cfg.db, "ROLLBACK");
    ntf_deliver_flush_outbox(self, rc == 0);
    if (rc != 0)
        zhashx_purge(self->prefs); /* it may hold what was rolled back */
    return rc;
}

int
ntf_service_prefs(ntf_service_t *self, int64_t user_id, ntf_prefs_t *out)
{
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)user_id);
    ntf_prefs_t *p = zhashx_lookup(self->prefs, key);
    if (p) {
        *out = *p;
        return 0;
    }
    if (ntf_prefs_get(self->cfg.db, user_id, out) != 0)
        return -1;
    p = malloc(sizeof *p);
    if (p) {
        *p = *out;
        if (zhashx_size(self->prefs) >= NTF_PREFS_CACHE)
            zhashx_purge(self->prefs);
        zhashx_insert(self->prefs, key, p);
    }
    return 0;
}

void
ntf_service_prefs_forget(ntf_service_t *self, int64_t user_id)
{
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)user_id);
    zhashx_delete(self->prefs, key);
}

hm_envelope_t *
ntf_service_handle(ntf_service_t *self, const hm_envelope_t *req, zframe_t **reply_to,
                   hm_mdp_worker_t *worker)
{
    if (req->data && !json_is_object(req->data))
        return hm_mdp_error_reply(req, HM_ERR_BAD_REQUEST, "data must be an object");
    if (self->in_batch)
        return ntf_verbs_handle(self, req, reply_to, worker);
    if (ntf_service_begin(self) != 0)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database busy");
    hm_envelope_t *rep = ntf_verbs_handle(self, req, reply_to, worker);
    if (ntf_service_commit(self) != 0 && rep) {
        hm_envelope_destroy(&rep);
        rep = hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    }
    return rep;
}

/* ---- events ---------------------------------------------------------------- */

void
ntf_service_on_event(ntf_service_t *self, const char *topic, const hm_envelope_t *ev)
{
    if (strcmp(topic, HM_TOPIC_SYS_CONN) != 0)
        return;
    const char *conn_id = ev->conn_id;
    if (!conn_id)
        conn_id = json_string_value(json_object_get(ev->data, "conn_id"));
    if (!conn_id)
        return;
    if (strcmp(ev->type, HM_EV_CONN_AUTH) == 0 && ev->user_id > 0) {
        ntf_presence_open(self->presence, conn_id, ev->user_id);
        ntf_deliver_want_flush(self, ev->user_id); /* every new connection gets the queue */
        hm_log_debug("conn_auth", "user_id=%lld", (long long)ev->user_id);
    } else if (strcmp(ev->type, HM_EV_CONN_CLOSE) == 0) {
        bool last = false;
        int64_t user_id = ntf_presence_close(self->presence, conn_id, &last);
        if (last)
            hm_log_debug("user_offline", "user_id=%lld", (long long)user_id);
    }
}

/* ---- timers ------------------------------------------------------------------ */

void
ntf_service_tick(ntf_service_t *self)
{
    if (self->cfg.authc)
        ntf_authc_tick(self->cfg.authc);
    if (self->sync_at >= 0 && ntf_now_ms() >= self->sync_at)
        s_sync(self);
    ntf_deliver_tick(self);
    ntf_escalate_tick(self->esc);
}

/* Lowers *wait to the milliseconds until at (monotonic; -1: none). */
static void
s_min_wait(int64_t *wait, int64_t at, int64_t now)
{
    if (at < 0)
        return;
    int64_t left = at <= now ? 0 : at - now;
    if (left < *wait)
        *wait = left;
}

int
ntf_service_tick_ms(ntf_service_t *self)
{
    int64_t now = ntf_now_ms(), wait = 1000;
    s_min_wait(&wait, self->sync_at, now);
    s_min_wait(&wait, ntf_deliver_next_ms(self), now);
    int esc = ntf_escalate_tick_ms(self->esc);
    if (esc >= 0 && esc < wait)
        wait = esc;
    int auth = self->cfg.authc ? ntf_authc_tick_ms(self->cfg.authc) : -1;
    if (auth >= 0 && auth < wait)
        wait = auth;
    return (int)wait;
}

void
ntf_service_drain(ntf_service_t *self)
{
    if (self->cfg.authc)
        ntf_authc_drain(self->cfg.authc);
    ntf_escalate_drain(self->esc);
}

void
ntf_service_stats(ntf_service_t *self, ntf_service_stats_t *out)
{
    *out = self->stats;
    out->online = ntf_presence_users(self->presence);
    out->scheduled = ntf_resend_size(self->resend);
}
