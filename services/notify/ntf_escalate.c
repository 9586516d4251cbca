/*
 * ntf_escalate.c - escalation jobs: confirmation with hm-auth, POSTs
 * through the webhook thread, retries, the persisted state.
 */
#include "ntf_escalate.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_clock.h"
#include "hm_db.h"
#include "hm_log.h"
#include "hm_proto.h"
#include "ntf_store.h"

typedef struct {
    int64_t nid;     /* notification row id */
    int64_t user_id; /* its owner */
    bool confirm;    /* waiting to ask auth (else: to POST) */
    bool asking;     /* auth.sessions in flight */
    bool inflight;   /* POST queued or running */
    int64_t due_ms;  /* monotonic ms */
} s_job_t;

struct ntf_escalate_t {
    ntf_escalate_cfg_t cfg; /* settings; pointers borrowed */
    zhashx_t *jobs;         /* "<nid>" -> s_job_t* (owned) */
    int inflight;           /* POSTs handed to the webhook thread */
};

/* What an auth.sessions callback needs: the job it is for. */
typedef struct {
    ntf_escalate_t *self; /* borrowed */
    int64_t nid;          /* the job's key */
} s_ask_t;

static int64_t
s_now_ms(void)
{
    return hm_clock_mono_ns() / 1000000;
}

static void
s_key(int64_t nid, char *key, size_t len)
{
    snprintf(key, len, "%lld", (long long)nid);
}

static void
s_job_free(void **item)
{
    free(*item);
    *item = NULL;
}

ntf_escalate_t *
ntf_escalate_new(const ntf_escalate_cfg_t *cfg)
{
    ntf_escalate_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    if (self->cfg.inflight_max < 1)
        self->cfg.inflight_max = 1;
    self->jobs = zhashx_new();
    if (!self->jobs) {
        free(self);
        return NULL;
    }
    zhashx_set_destructor(self->jobs, s_job_free);
    return self;
}

void
ntf_escalate_destroy(ntf_escalate_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->jobs);
    free(*self_p);
    *self_p = NULL;
}

bool
ntf_escalate_enabled(ntf_escalate_t *self)
{
    return self && self->cfg.webhook;
}

/* The job of nid, created when missing (due now). NULL on ENOMEM. */
static s_job_t *
s_job(ntf_escalate_t *self, int64_t nid, int64_t user_id, bool confirm)
{
    char key[24];
    s_key(nid, key, sizeof key);
    s_job_t *job = zhashx_lookup(self->jobs, key);
    if (job)
        return job;
    job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    *job = (s_job_t){nid, user_id, confirm, false, false, s_now_ms()};
    zhashx_insert(self->jobs, key, job);
    return job;
}

static void
s_job_drop(ntf_escalate_t *self, int64_t nid)
{
    char key[24];
    s_key(nid, key, sizeof key);
    zhashx_delete(self->jobs, key);
}

/* Sets nid's state (and done_at when final). Returns 0 or -1. */
static int
s_set_state(ntf_escalate_t *self, int64_t nid, ntf_esc_state_t state, int attempts, int status)
{
    sqlite3_stmt *stmt = hm_db_prepare(
        self->cfg.db, "UPDATE escalations SET state = ?2, attempts = max(attempts, ?3), "
                      "last_status = coalesce(?4, last_status), "
                      "done_at = CASE WHEN ?2 IN (2, 3, 4) THEN ?5 ELSE done_at END "
                      "WHERE nid = ?1");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, nid);
    sqlite3_bind_int(stmt, 2, state);
    sqlite3_bind_int(stmt, 3, attempts);
    if (status >= 0)
        sqlite3_bind_int(stmt, 4, status);
    sqlite3_bind_int64(stmt, 5, hm_clock_wall_ms());
    return hm_db_step_done(self->cfg.db, stmt, "esc_state") < 0 ? -1 : 0;
}

int
ntf_escalate_state(ntf_escalate_t *self, int64_t nid)
{
    sqlite3_stmt *stmt = hm_db_prepare(self->cfg.db, "SELECT state FROM escalations WHERE nid = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, nid);
    int state = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    return state;
}

/* The attempts made for nid so far, or -1. */
static int
s_attempts(ntf_escalate_t *self, int64_t nid)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(self->cfg.db, "SELECT attempts FROM escalations WHERE nid = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, nid);
    int n = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    return n;
}

int
ntf_escalate_add(ntf_escalate_t *self, const ntf_row_t *row, const char *reason)
{
    if (!ntf_escalate_enabled(self) || row->user_id <= 0)
        return 0;
    bool confirm = strcmp(reason, "offline") == 0 && self->cfg.authc;
    sqlite3_stmt *stmt = hm_db_prepare(
        self->cfg.db, "INSERT INTO escalations (nid, user_id, reason, state, created_at) "
                      "VALUES (?, ?, ?, ?, ?) ON CONFLICT(nid) DO UPDATE SET "
                      "state = excluded.state, reason = excluded.reason WHERE state = 5");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, row->nid);
    sqlite3_bind_int64(stmt, 2, row->user_id);
    sqlite3_bind_text(stmt, 3, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 4, confirm ? NTF_ESC_CONFIRM : NTF_ESC_PENDING);
    sqlite3_bind_int64(stmt, 5, hm_clock_wall_ms());
    int n = hm_db_step_done(self->cfg.db, stmt, "esc_add");
    if (n > 0 && !s_job(self, row->nid, row->user_id, confirm))
        return -1;
    if (n > 0)
        hm_log_info("escalation_queued", "nid=%lld user_id=%lld reason=%s", (long long)row->nid,
                    (long long)row->user_id, reason);
    return n < 0 ? -1 : 0;
}

int
ntf_escalate_cancel(ntf_escalate_t *self, int64_t nid)
{
    if (!ntf_escalate_enabled(self))
        return 0;
    sqlite3_stmt *stmt =
        hm_db_prepare(self->cfg.db, "UPDATE escalations SET state = 4, done_at = ? "
                                    "WHERE nid = ? AND state IN (0, 1, 5)");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, hm_clock_wall_ms());
    sqlite3_bind_int64(stmt, 2, nid);
    int n = hm_db_step_done(self->cfg.db, stmt, "esc_cancel");
    char key[24];
    s_key(nid, key, sizeof key);
    s_job_t *job = zhashx_lookup(self->jobs, key);
    if (n > 0 && job && !job->inflight && !job->asking)
        s_job_drop(self, nid); /* else dropped when its answer comes */
    return n < 0 ? -1 : 0;
}

int
ntf_escalate_load(ntf_escalate_t *self)
{
    if (!ntf_escalate_enabled(self))
        return 0;
    sqlite3_stmt *stmt = hm_db_prepare(
        self->cfg.db, "SELECT nid, user_id, state FROM escalations WHERE state IN (0, 1)");
    if (!stmt)
        return -1;
    int n = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        bool confirm = sqlite3_column_int(stmt, 2) == NTF_ESC_CONFIRM && self->cfg.authc;
        if (s_job(self, sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1), confirm))
            n++;
    }
    sqlite3_finalize(stmt);
    return n;
}

/* ---- confirmation ---------------------------------------------------------- */

/* auth.sessions answered (or not) for a job. */
static void
s_on_sessions(void *arg, const hm_envelope_t *reply, ntf_authc_end_t end)
{
    s_ask_t *ask = arg;
    ntf_escalate_t *self = ask->self;
    char key[24];
    s_key(ask->nid, key, sizeof key);
    s_job_t *job = end == NTF_AUTHC_CANCELLED ? NULL : zhashx_lookup(self->jobs, key);
    free(ask);
    if (!job) /* cancelled: the row stays CONFIRM and is asked again after a restart */
        return;
    job->asking = false;
    int state = ntf_escalate_state(self, job->nid);
    if (state != NTF_ESC_CONFIRM) { /* acknowledged meanwhile */
        s_job_drop(self, job->nid);
        return;
    }
    json_t *sessions = reply && strcmp(reply->type, HM_MSG_ERROR) != 0
                           ? json_object_get(reply->data, "sessions")
                           : NULL;
    if (json_array_size(sessions) > 0) {
        ntf_presence_sync(self->cfg.presence, sessions, false, job->user_id, self->cfg.on_online,
                          self->cfg.on_online_arg);
        s_set_state(self, job->nid, NTF_ESC_ONLINE, 0, -1);
        hm_log_info("escalation_user_online", "nid=%lld user_id=%lld", (long long)job->nid,
                    (long long)job->user_id);
        s_job_drop(self, job->nid);
        return;
    }
    /* Offline, or auth did not answer: a critical alert must not wait. */
    if (!reply)
        hm_log_warn("escalation_unconfirmed", "nid=%lld", (long long)job->nid);
    s_set_state(self, job->nid, NTF_ESC_PENDING, 0, -1);
    job->confirm = false;
    job->due_ms = s_now_ms();
}

/* Asks auth whether job's user has a session. */
static void
s_confirm(ntf_escalate_t *self, s_job_t *job)
{
    s_ask_t *ask = malloc(sizeof *ask);
    if (!ask)
        return;
    *ask = (s_ask_t){self, job->nid};
    json_t *data = json_pack("{s:I}", "user_id", (json_int_t)job->user_id);
    if (ntf_authc_request(self->cfg.authc, HM_VERB_AUTH_SESSIONS, 0, data, s_on_sessions, ask) !=
        0) {
        free(ask);
        job->due_ms = s_now_ms() + 1000; /* try again shortly */
        return;
    }
    job->asking = true;
}

/* ---- POSTs ------------------------------------------------------------------ */

/* The webhook body for row (caller frees), or NULL. */
static char *
s_body(const ntf_row_t *row, const char *reason, int attempt)
{
    char iso[40];
    json_t *n = ntf_render_data(row, 0);
    json_t *body =
        n ? json_pack("{s:s, s:s, s:i, s:s, s:I, s:o}", "event", "notification.escalated", "reason",
                      reason, "attempt", attempt, "escalated_at",
                      hm_clock_iso8601(hm_clock_wall_ms(), iso, sizeof iso), "user_id",
                      (json_int_t)row->user_id, "notification", n)
          : NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return text;
}

/* The reason stored for nid into out. */
static void
s_reason(ntf_escalate_t *self, int64_t nid, char *out, size_t len)
{
    snprintf(out, len, "unacked");
    sqlite3_stmt *stmt =
        hm_db_prepare(self->cfg.db, "SELECT reason FROM escalations WHERE nid = ?");
    if (!stmt)
        return;
    sqlite3_bind_int64(stmt, 1, nid);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
}

/* Hands job's POST to the webhook thread. */
static void
s_post(ntf_escalate_t *self, s_job_t *job)
{
    ntf_row_t row;
    if (ntf_escalate_state(self, job->nid) != NTF_ESC_PENDING ||
        ntf_store_get_nid(self->cfg.db, job->nid, &row) != 1) {
        s_job_drop(self, job->nid);
        return;
    }
    char reason[16];
    s_reason(self, job->nid, reason, sizeof reason);
    char *body = s_body(&row, reason, s_attempts(self, job->nid) + 1);
    if (body && ntf_webhook_post(self->cfg.webhook, job->nid, row.id, body) == 0) {
        job->inflight = true;
        self->inflight++;
    } else {
        job->due_ms = s_now_ms() + 1000;
    }
    free(body);
    ntf_row_clear(&row);
}

void
ntf_escalate_tick(ntf_escalate_t *self)
{
    if (!ntf_escalate_enabled(self))
        return;
    int64_t now = s_now_ms();
    zlistx_t *due = zlistx_new();
    for (s_job_t *job = zhashx_first(self->jobs); due && job; job = zhashx_next(self->jobs))
        if (!job->asking && !job->inflight && job->due_ms <= now)
            zlistx_add_end(due, job);
    for (s_job_t *job = due ? zlistx_first(due) : NULL; job; job = zlistx_next(due)) {
        if (job->confirm)
            s_confirm(self, job);
        else if (self->inflight < self->cfg.inflight_max)
            s_post(self, job); /* may drop the job: the list is not read again */
    }
    zlistx_destroy(&due);
}

int
ntf_escalate_tick_ms(ntf_escalate_t *self)
{
    if (!ntf_escalate_enabled(self))
        return -1;
    int64_t next = -1, now = s_now_ms();
    for (s_job_t *job = zhashx_first(self->jobs); job; job = zhashx_next(self->jobs))
        if (!job->asking && !job->inflight && (next < 0 || job->due_ms < next))
            next = job->due_ms;
    return next < 0 ? -1 : next <= now ? 0 : (int)(next - now);
}

/* Records the outcome of job's POST. */
static void
s_on_result(ntf_escalate_t *self, s_job_t *job, int status)
{
    job->inflight = false;
    int attempts = s_attempts(self, job->nid) + 1;
    if (status >= 200 && status < 300) {
        s_set_state(self, job->nid, NTF_ESC_DONE, attempts, status);
        hm_log_info("escalated", "nid=%lld user_id=%lld status=%d attempts=%d", (long long)job->nid,
                    (long long)job->user_id, status, attempts);
        s_job_drop(self, job->nid);
    } else if (attempts >= self->cfg.retry.max) {
        s_set_state(self, job->nid, NTF_ESC_FAILED, attempts, status);
        hm_log_error("escalation_failed", "nid=%lld status=%d attempts=%d", (long long)job->nid,
                     status, attempts);
        s_job_drop(self, job->nid);
    } else {
        bool cancelled = ntf_escalate_state(self, job->nid) != NTF_ESC_PENDING;
        s_set_state(self, job->nid, cancelled ? NTF_ESC_CANCELLED : NTF_ESC_PENDING, attempts,
                    status);
        hm_log_warn("escalation_retry", "nid=%lld status=%d attempts=%d", (long long)job->nid,
                    status, attempts);
        if (cancelled)
            s_job_drop(self, job->nid);
        else
            job->due_ms = s_now_ms() + ntf_backoff_delay(&self->cfg.retry, attempts - 1);
    }
}

void
ntf_escalate_drain(ntf_escalate_t *self)
{
    if (!ntf_escalate_enabled(self))
        return;
    int64_t nid;
    int status;
    while (ntf_webhook_result(self->cfg.webhook, &nid, &status) == 0) {
        self->inflight = self->inflight > 0 ? self->inflight - 1 : 0;
        char key[24];
        s_key(nid, key, sizeof key);
        s_job_t *job = zhashx_lookup(self->jobs, key);
        if (job)
            s_on_result(self, job, status);
    }
}
