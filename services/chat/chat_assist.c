/*
 * chat_assist.c - assistant jobs: typing, the user's data, the backend,
 * the stored reply.
 */
#include "chat_assist.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "chat_msg.h"
#include "chat_rules.h"
#include "hm_clock.h"
#include "hm_log.h"
#include "hm_proto.h"

#define S_RETRY_MS 500   /* a failed store is tried again after this */
#define S_RESCAN_MS 5000 /* owed jobs beyond the bound are looked for this often */

typedef enum {
    S_OWED = 0,  /* written in the open batch, not started */
    S_GATHER,    /* asking other services for data */
    S_GENERATE,  /* the backend is answering */
    S_FINISHING, /* the reply is stored in the open batch */
    S_RETRY,     /* storing the reply failed: try again */
} s_state_t;

/* One owed reply. */
typedef struct {
    int64_t id;                      /* cookie for calls and the backend */
    s_state_t state;                 /* where it is */
    char msg_id[HM_UUID_STRLEN];     /* the user's message */
    char reply_id[HM_UUID_STRLEN];   /* the reply's id, fixed when owed */
    char conv[CHAT_CONV_ID_MAX + 1]; /* the conversation */
    int64_t user_id;                 /* the owner who asked */
    char *question;                  /* the user's text; owned */
    chat_intent_t intent;            /* its classification */
    chat_ctx_t ctx;                  /* the data gathered */
    int calls;                       /* data calls in flight */
    int pages;                       /* health.sync pages asked */
    int deltas;                      /* chat_message_delta events sent */
    int64_t deadline_ms;             /* of the current state (monotonic) */
    char *text;                      /* the reply once known; owned */
} s_job_t;

struct chat_assist_t {
    chat_assist_cfg_t cfg; /* configuration; pointers borrowed */
    zlistx_t *jobs;        /* s_job_t *; owned */
    int64_t next_id;       /* next job id */
    bool overflowed;       /* owed jobs were left in the table at the bound */
    int64_t rescan_at;     /* next look for them (monotonic ms) */
};

static int64_t
s_now_ms(void)
{
    return hm_clock_mono_ns() / 1000000;
}

static void
s_job_free(void **item)
{
    s_job_t *j = *item;
    if (j) {
        free(j->question);
        free(j->text);
        free(j);
    }
    *item = NULL;
}

chat_assist_t *
chat_assist_new(const chat_assist_cfg_t *cfg)
{
    chat_assist_t *self = calloc(1, sizeof *self);
    if (!self || !(self->jobs = zlistx_new())) {
        free(self);
        return NULL;
    }
    zlistx_set_destructor(self->jobs, s_job_free);
    self->cfg = *cfg;
    self->next_id = 1;
    return self;
}

void
chat_assist_destroy(chat_assist_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zlistx_destroy(&(*self_p)->jobs);
    free(*self_p);
    *self_p = NULL;
}

static s_job_t *
s_find(chat_assist_t *self, int64_t id)
{
    for (s_job_t *j = zlistx_first(self->jobs); j; j = zlistx_next(self->jobs))
        if (j->id == id)
            return j;
    return NULL;
}

/* Forgets job j. */
static void
s_drop(chat_assist_t *self, s_job_t *j)
{
    void *h = zlistx_find(self->jobs, j);
    if (h)
        zlistx_delete(self->jobs, h);
}

/* Publishes the assistant's typing state in j's conversation. */
static void
s_typing(chat_assist_t *self, const s_job_t *j, bool typing)
{
    chat_msg_broadcast(self->cfg.db, self->cfg.out, j->conv, 0, HM_MSG_TYPING,
                       json_pack("{s:s, s:i, s:s, s:b}", "conversation_id", j->conv, "user_id",
                                 CHAT_ASSISTANT_ID, "sender", HM_CHAT_SENDER_ASSISTANT, "typing",
                                 typing));
}

/* ---- the reply ------------------------------------------------------------ */

/* Stores j's reply (j->text) in a unit of the batch. Returns 0 or -1. */
static int
s_store(chat_assist_t *self, s_job_t *j)
{
    sqlite3 *db = self->cfg.db;
    chat_stored_t had;
    int exists = chat_msg_get(db, j->reply_id, &had); /* answered before a crash */
    chat_post_t p = {j->conv,           j->reply_id, HM_CHAT_SENDER_ASSISTANT,
                     CHAT_ASSISTANT_ID, j->text,     hm_clock_wall_ms()};
    bool emergency = j->intent.flags & CHAT_I_EMERGENCY;
    return exists < 0 || (exists == 0 && chat_msg_post(db, NULL, &p, NULL) != 0) ||
                   chat_db_job_delete(db, j->msg_id) != 0 ||
                   (emergency && exists == 0 &&
                    chat_alert_owe(self->cfg.alert, j->msg_id, j->conv, j->user_id) != 0)
               ? -1
               : 0;
}

/* Finishes j with text (taken): stores it, then queues typing stopped and
 * the message. On a failed store the job is retried. */
static void
s_finish(chat_assist_t *self, s_job_t *j, char *text)
{
    if (text) {
        free(j->text);
        j->text = text;
    }
    if (!j->text || chat_tx_save(self->cfg.tx) != 0) {
        j->state = S_RETRY;
        j->deadline_ms = s_now_ms() + S_RETRY_MS;
        return;
    }
    int rc = s_store(self, j);
    chat_tx_end(self->cfg.tx, rc == 0);
    if (rc != 0) {
        hm_log_error("assistant_store_failed", "conversation_id=%s", j->conv);
        j->state = S_RETRY;
        j->deadline_ms = s_now_ms() + S_RETRY_MS;
        return;
    }
    s_typing(self, j, false);
    chat_msg_republish(self->cfg.db, self->cfg.out, j->reply_id);
    j->state = S_FINISHING;
}

/* The rules answer with the fallback note, for a failed backend. */
static void
s_fallback(chat_assist_t *self, s_job_t *j, const char *reason)
{
    hm_log_warn("assistant_fallback", "backend=%s reason=%s", self->cfg.backend->name, reason);
    bool note = self->cfg.backend != self->cfg.rules;
    s_finish(self, j,
             chat_rules_answer(&j->intent, &j->ctx, hm_clock_wall_ms(),
                               note ? CHAT_RULES_FALLBACK_NOTE : NULL));
}

/* Hands j to the backend. */
static void
s_generate(chat_assist_t *self, s_job_t *j)
{
    chat_backend_t *bk = self->cfg.backend;
    json_t *history = bk->streams && self->cfg.history > 0
                          ? chat_msg_recent(self->cfg.db, j->conv, self->cfg.history)
                          : NULL;
    chat_prompt_t p = {j->id, j->question, &j->intent, &j->ctx, history, hm_clock_wall_ms()};
    j->state = S_GENERATE;
    j->deadline_ms = s_now_ms() + self->cfg.generate_timeout_ms;
    int rc = bk->start(bk, &p);
    json_decref(history);
    if (rc != 0)
        s_fallback(self, j, "busy");
}

/* ---- the user's data ------------------------------------------------------- */

/* The one metric j asks about (hm-health's name), or NULL. */
static const char *
s_only_metric(const s_job_t *j)
{
    unsigned m = j->intent.metrics;
    if (m == 0 || (m & (m - 1)) != 0)
        return NULL;
    int i = 0;
    while (!(m & (1u << i)))
        i++;
    return chat_metric_name((chat_metric_t)i);
}

/* Asks health for a page of j's data from since_seq: readings of the last
 * CHAT_CTX_WINDOW_MS (health.sync) or the event stream (health.replay, for
 * the alert states). */
static void
s_ask_health(chat_assist_t *self, s_job_t *j, int kind, int64_t since_seq)
{
    int left = (int)(j->deadline_ms - s_now_ms());
    bool events = kind == CHAT_CALL_HEALTH_EVENTS;
    hm_envelope_t *req =
        left > 0 ? hm_envelope_new(events ? HM_VERB_HEALTH_REPLAY : HM_VERB_HEALTH_SYNC) : NULL;
    if (!req)
        return;
    req->user_id = j->user_id;
    char since[40];
    json_t *data = json_pack("{s:I, s:I}", "user_id", (json_int_t)j->user_id, "since_seq",
                             (json_int_t)since_seq);
    if (!events) {
        hm_clock_iso8601(hm_clock_wall_ms() - CHAT_CTX_WINDOW_MS, since, sizeof since);
        json_object_set_new(data, "since", json_string(since));
        json_object_set_new(data, "limit", json_integer(CHAT_ASSIST_HEALTH_LIMIT));
        if (s_only_metric(j))
            json_object_set_new(data, "metric", json_string(s_only_metric(j)));
    }
    hm_envelope_set_data(req, data);
    if (chat_call_start(self->cfg.call, HM_SVC_HEALTH, &req, left, left / 3, kind, j->id, NULL) ==
        0) {
        j->calls++;
        j->pages++;
    }
}

/* Asks scheduler.list for j's reminders. */
static void
s_ask_scheduler(chat_assist_t *self, s_job_t *j)
{
    int left = (int)(j->deadline_ms - s_now_ms());
    hm_envelope_t *req = left > 0 ? hm_envelope_new(HM_VERB_SCHED_LIST) : NULL;
    if (!req)
        return;
    req->user_id = j->user_id;
    hm_envelope_set_data(req, json_pack("{s:I}", "user_id", (json_int_t)j->user_id));
    if (chat_call_start(self->cfg.call, HM_SVC_SCHEDULER, &req, left, left / 3, CHAT_CALL_SCHEDULER,
                        j->id, NULL) == 0)
        j->calls++;
}

void
chat_assist_on_call(chat_assist_t *self, int kind, int64_t cookie, const hm_envelope_t *rep)
{
    s_job_t *j = s_find(self, cookie);
    if (!j || j->state != S_GATHER)
        return; /* late: the job went on without it */
    j->calls--;
    bool ok = rep && strcmp(rep->type, HM_MSG_ERROR) != 0;
    if (!ok)
        hm_log_info("assistant_data_missing", "service=%s reason=%s",
                    kind == CHAT_CALL_SCHEDULER ? HM_SVC_SCHEDULER : HM_SVC_HEALTH,
                    rep ? json_string_value(json_object_get(rep->data, "code")) : "timeout");
    if (ok && (kind == CHAT_CALL_HEALTH || kind == CHAT_CALL_HEALTH_EVENTS)) {
        bool events = kind == CHAT_CALL_HEALTH_EVENTS;
        j->ctx.answered |= events ? CHAT_NEED_ALERTS : CHAT_NEED_READINGS;
        j->ctx.alerts_known = j->ctx.alerts_known || events;
        int64_t next =
            chat_ctx_add_health(&j->ctx, rep->data, events ? CHAT_NEED_ALERTS : CHAT_NEED_READINGS);
        if (next >= 0 && j->pages < CHAT_ASSIST_HEALTH_PAGES)
            s_ask_health(self, j, kind, next);
    } else if (ok) {
        j->ctx.answered |= CHAT_NEED_REMINDERS;
        chat_ctx_add_reminders(&j->ctx, rep->data, hm_clock_wall_ms());
    }
    if (j->calls == 0)
        s_generate(self, j);
}

/* Starts job j: typing, then the safety answer or the data it needs. */
static void
s_begin(chat_assist_t *self, s_job_t *j)
{
    s_typing(self, j, true);
    chat_rules_classify(j->question, &j->intent);
    if (j->intent.flags & CHAT_I_EMERGENCY) {
        hm_log_info("assistant_emergency", "user_id=%" PRId64 " kind=%d", j->user_id,
                    (int)j->intent.emergency);
        s_finish(self, j, chat_rules_safety(&j->intent));
        return;
    }
    unsigned needs = chat_rules_needs(&j->intent);
    chat_ctx_init(&j->ctx, needs, j->intent.metrics);
    j->state = S_GATHER;
    j->deadline_ms = s_now_ms() + self->cfg.context_timeout_ms;
    if (needs & CHAT_NEED_READINGS)
        s_ask_health(self, j, CHAT_CALL_HEALTH, 0);
    if (needs & CHAT_NEED_ALERTS)
        s_ask_health(self, j, CHAT_CALL_HEALTH_EVENTS, 0);
    if (needs & CHAT_NEED_REMINDERS)
        s_ask_scheduler(self, j);
    if (j->calls == 0)
        s_generate(self, j);
}

/* ---- jobs ---------------------------------------------------------------- */

/* A job record; text copied. NULL on ENOMEM. */
static s_job_t *
s_job_new(chat_assist_t *self, const char *msg_id, const char *reply_id, const char *conv,
          int64_t user_id, const char *text)
{
    s_job_t *j = calloc(1, sizeof *j);
    if (!j || !(j->question = strdup(text ? text : ""))) {
        free(j);
        return NULL;
    }
    j->id = self->next_id++;
    snprintf(j->msg_id, sizeof j->msg_id, "%s", msg_id);
    snprintf(j->reply_id, sizeof j->reply_id, "%s", reply_id);
    snprintf(j->conv, sizeof j->conv, "%s", conv);
    j->user_id = user_id;
    return j;
}

int
chat_assist_owe(chat_assist_t *self, const char *msg_id, const char *conv, int64_t user_id,
                const char *text)
{
    char reply_id[HM_UUID_STRLEN];
    if (hm_uuid4(reply_id) != 0 ||
        chat_db_job_put(self->cfg.db, msg_id, reply_id, conv, user_id, hm_clock_wall_ms()) != 0)
        return -1;
    s_job_t *j = NULL;
    if (zlistx_size(self->jobs) < CHAT_ASSIST_JOBS_MAX)
        j = s_job_new(self, msg_id, reply_id, conv, user_id, text);
    if (!j || !zlistx_add_end(self->jobs, j)) {
        free(j ? j->question : NULL);
        free(j);
        self->overflowed = true; /* the row is there: picked up later */
    }
    return 0;
}

void
chat_assist_committed(chat_assist_t *self, bool ok)
{
    zlist_t *owed = zlist_new(), *done = zlist_new();
    for (s_job_t *j = zlistx_first(self->jobs); j; j = zlistx_next(self->jobs)) {
        if (j->state == S_OWED)
            zlist_append(owed, j);
        else if (j->state == S_FINISHING && ok)
            zlist_append(done, j);
        else if (j->state == S_FINISHING) {
            j->state = S_RETRY;
            j->deadline_ms = s_now_ms() + S_RETRY_MS;
        }
    }
    for (s_job_t *j = zlist_first(done); j; j = zlist_next(done))
        s_drop(self, j);
    for (s_job_t *j = zlist_first(owed); j; j = zlist_next(owed)) {
        if (ok)
            s_begin(self, j);
        else
            s_drop(self, j);
    }
    zlist_destroy(&owed);
    zlist_destroy(&done);
}

/* Whether the job answering msg_id is in memory. */
static bool
s_running(chat_assist_t *self, const char *msg_id)
{
    for (s_job_t *j = zlistx_first(self->jobs); j; j = zlistx_next(self->jobs))
        if (strcmp(j->msg_id, msg_id) == 0)
            return true;
    return false;
}

/* Loads one owed row and starts it. Returns 1 when started. */
static int
s_resume_row(chat_assist_t *self, const json_t *row)
{
    const char *msg_id = json_string_value(json_object_get(row, "message_id"));
    const char *reply_id = json_string_value(json_object_get(row, "reply_id"));
    const char *conv = json_string_value(json_object_get(row, "conversation_id"));
    if (!msg_id || !reply_id || !conv || s_running(self, msg_id) ||
        zlistx_size(self->jobs) >= CHAT_ASSIST_JOBS_MAX)
        return 0;
    char *text = chat_msg_text(self->cfg.db, msg_id);
    s_job_t *j = s_job_new(self, msg_id, reply_id, conv,
                           json_integer_value(json_object_get(row, "user_id")), text);
    free(text);
    if (!j || !zlistx_add_end(self->jobs, j)) {
        void *item = j;
        s_job_free(&item);
        return 0;
    }
    s_begin(self, j);
    return 1;
}

int
chat_assist_resume(chat_assist_t *self)
{
    json_t *rows = chat_db_jobs(self->cfg.db, CHAT_ASSIST_JOBS_MAX);
    if (!rows)
        return -1;
    int n = 0;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) n += s_resume_row(self, row);
    self->overflowed = json_array_size(rows) >= CHAT_ASSIST_JOBS_MAX;
    json_decref(rows);
    return n;
}

void
chat_assist_on_backend(chat_assist_t *self)
{
    chat_backend_t *bks[2] = {self->cfg.backend, self->cfg.rules};
    int nbk = self->cfg.rules && self->cfg.rules != self->cfg.backend ? 2 : 1;
    chat_bk_ev_t ev;
    for (int b = 0; b < nbk; b++) {
        while (bks[b]->next(bks[b], &ev) == 1) {
            s_job_t *j = s_find(self, ev.job);
            if (!j || j->state != S_GENERATE) {
                chat_bk_ev_clear(&ev); /* late: the job fell back already */
            } else if (ev.kind == CHAT_BK_DELTA) {
                if (ev.index == j->deltas)
                    chat_msg_broadcast(
                        self->cfg.db, self->cfg.out, j->conv, 0, HM_MSG_CHAT_MESSAGE_DELTA,
                        json_pack("{s:s, s:s, s:s, s:i}", "conversation_id", j->conv, "message_id",
                                  j->reply_id, "delta", ev.text, "index", j->deltas++));
                chat_bk_ev_clear(&ev);
            } else if (ev.kind == CHAT_BK_DONE) {
                s_finish(self, j, ev.text); /* takes the text */
            } else {
                s_fallback(self, j, ev.text);
                chat_bk_ev_clear(&ev);
            }
        }
    }
}

void
chat_assist_tick(chat_assist_t *self, int64_t now_ms)
{
    zlist_t *due = zlist_new();
    for (s_job_t *j = zlistx_first(self->jobs); j; j = zlistx_next(self->jobs))
        if ((j->state == S_GATHER || j->state == S_GENERATE || j->state == S_RETRY) &&
            now_ms >= j->deadline_ms)
            zlist_append(due, j);
    for (s_job_t *j = zlist_first(due); j; j = zlist_next(due)) {
        if (j->state == S_GATHER)
            s_generate(self, j); /* with the data that came in time */
        else if (j->state == S_GENERATE)
            s_fallback(self, j, "timeout");
        else
            s_finish(self, j, NULL);
    }
    zlist_destroy(&due);
    if (self->overflowed && now_ms >= self->rescan_at &&
        zlistx_size(self->jobs) < CHAT_ASSIST_JOBS_MAX / 2) {
        self->rescan_at = now_ms + S_RESCAN_MS;
        chat_assist_resume(self);
    }
}

int
chat_assist_tick_ms(chat_assist_t *self, int64_t now_ms)
{
    int64_t next = self->overflowed ? S_RESCAN_MS : INT32_MAX;
    for (s_job_t *j = zlistx_first(self->jobs); j; j = zlistx_next(self->jobs))
        if (j->state == S_GATHER || j->state == S_GENERATE || j->state == S_RETRY)
            if (j->deadline_ms - now_ms < next)
                next = j->deadline_ms - now_ms;
    return next < 0 ? 0 : (int)next;
}

size_t
chat_assist_active(chat_assist_t *self)
{
    return zlistx_size(self->jobs);
}
