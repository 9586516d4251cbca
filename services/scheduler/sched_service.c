/*
 * sched_service.c - the "scheduler" service: one handler per verb.
 */
#include "sched_service.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_audit.h"
#include "hm_clock.h"
#include "hm_db.h"
#include "hm_ids.h"
#include "hm_log.h"
#include "hm_mdp.h"
#include "hm_proto.h"
#include "sched_db.h"
#include "sched_ical.h"
#include "sched_occ.h"
#include "sched_rule.h"
#include "sched_spec.h"

struct sched_service_t {
    sched_service_cfg_t cfg; /* copy; pointers borrowed */
};

/* What every handler knows about its request. */
typedef struct {
    const hm_envelope_t *req; /* the request */
    int64_t user_id;          /* whose reminders */
    int64_t now_ms;           /* wall time when it arrived */
} s_ctx_t;

typedef hm_envelope_t *(s_handler_fn)(sched_service_t *self, const s_ctx_t *ctx);

sched_service_t *
sched_service_new(const sched_service_cfg_t *cfg)
{
    sched_service_t *self = calloc(1, sizeof *self);
    if (self)
        self->cfg = *cfg;
    return self;
}

void
sched_service_destroy(sched_service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

/* ---- replies ---------------------------------------------------------------- */

/* An ack for req carrying data (taken). NULL on ENOMEM. */
static hm_envelope_t *
s_ack(const hm_envelope_t *req, json_t *data)
{
    hm_envelope_t *rep = data ? hm_envelope_new(HM_MSG_ACK) : NULL;
    if (!rep || hm_envelope_set_id(rep, req->id) != 0 ||
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

static hm_envelope_t *
s_fail(const hm_envelope_t *req, const sched_err_t *err)
{
    return hm_mdp_error_reply(req, err->code, err->msg);
}

static hm_envelope_t *
s_error(const hm_envelope_t *req, const char *code, const char *msg)
{
    return hm_mdp_error_reply(req, code, msg);
}

static hm_envelope_t *
s_db_error(const hm_envelope_t *req)
{
    return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
}

/* ---- common steps ------------------------------------------------------------- */

static int64_t
s_floor_s(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

/* The user a request acts for. Returns 0, or -1 with err set. */
static int
s_owner(const hm_envelope_t *req, int64_t *user_id, sched_err_t *err)
{
    json_t *v = json_object_get(req->data, "user_id");
    bool given = v && !json_is_null(v);
    if (given && (!json_is_integer(v) || json_integer_value(v) <= 0)) {
        err->code = HM_ERR_INVALID_FIELD;
        snprintf(err->msg, sizeof err->msg, "'user_id' must be a positive integer");
        return -1;
    }
    if (req->user_id > 0) {
        *user_id = req->user_id;
        if (given && json_integer_value(v) != req->user_id) {
            err->code = HM_ERR_FORBIDDEN;
            snprintf(err->msg, sizeof err->msg, "reminders of another user");
            return -1;
        }
        return 0;
    }
    if (!given) {
        err->code = HM_ERR_BAD_REQUEST;
        snprintf(err->msg, sizeof err->msg, "needs the envelope user_id or data.user_id");
        return -1;
    }
    *user_id = json_integer_value(v);
    return 0;
}

/* Loads the caller's reminder named by data.reminder_id into r. Returns
 * NULL, or the error reply. */
static hm_envelope_t *
s_load(sched_service_t *self, const s_ctx_t *ctx, sched_reminder_t *r, bool deleted_ok)
{
    const char *id = json_string_value(json_object_get(ctx->req->data, "reminder_id"));
    if (!id)
        return s_error(ctx->req,
                       json_object_get(ctx->req->data, "reminder_id") ? HM_ERR_INVALID_FIELD
                                                                      : HM_ERR_MISSING_FIELD,
                       "'reminder_id' (a string) is required");
    int found = strlen(id) < HM_UUID_STRLEN ? sched_db_get(self->cfg.db, id, r) : 0;
    if (found < 0)
        return s_db_error(ctx->req);
    if (found == 0 || r->user_id != ctx->user_id || (r->deleted && !deleted_ok))
        return s_error(ctx->req, HM_ERR_NOT_FOUND, "no such reminder");
    return NULL;
}

/* Sets r's next fire after its cursor. */
static void
s_schedule(sched_reminder_t *r)
{
    sched_rule_t rule;
    sched_occ_t occ;
    r->next_fire_s = -1;
    if (!r->deleted && sched_rule_init(&rule, r) == 0 && sched_rule_next(&rule, r->cursor_s, &occ))
        r->next_fire_s = occ.fire_s;
}

static void
s_changed(sched_service_t *self)
{
    if (self->cfg.fire)
        sched_fire_changed(self->cfg.fire);
}

static hm_envelope_t *
s_reminder_reply(const s_ctx_t *ctx, const sched_reminder_t *r)
{
    json_t *j = sched_spec_render(r);
    return s_ack(ctx->req, j ? json_pack("{s:o}", "reminder", j) : NULL);
}

/* ---- scheduler.create, scheduler.import ------------------------------------- */

/* Creates a reminder from create data (idempotent on the request id). */
static hm_envelope_t *
s_create_from(sched_service_t *self, const s_ctx_t *ctx, const json_t *data)
{
    sched_reminder_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    sched_err_t err;
    hm_envelope_t *rep = NULL;
    int found = sched_db_get_by_req(self->cfg.db, ctx->req->id, r);
    if (found != 0) { /* a retry: the reminder made the first time */
        rep = found > 0 ? s_reminder_reply(ctx, r) : s_db_error(ctx->req);
    } else if (sched_spec_parse(data, ctx->now_ms, r, &err) != 0) {
        rep = s_fail(ctx->req, &err);
    } else {
        int count = sched_db_count(self->cfg.db, ctx->user_id);
        r->user_id = ctx->user_id;
        r->created_ms = r->updated_ms = ctx->now_ms;
        r->cursor_s = s_floor_s(ctx->now_ms);
        s_schedule(r);
        if (count < 0 || hm_uuid4(r->id) != 0)
            rep = s_db_error(ctx->req);
        else if (count >= self->cfg.max_per_user) {
            hm_audit_denied(self->cfg.pub, ctx->req, HM_SVC_SCHEDULER, ctx->user_id, NULL);
            rep = s_error(ctx->req, HM_ERR_FORBIDDEN, "reminder limit reached");
        } else if (sched_db_insert(self->cfg.db, r, ctx->req->id) != 0)
            rep = s_db_error(ctx->req);
        else {
            hm_log_info("reminder_created", "reminder_id=%s user_id=%" PRId64 " kind=%s", r->id,
                        r->user_id, sched_spec_kind_name(r->kind));
            s_changed(self);
            rep = s_reminder_reply(ctx, r);
        }
    }
    free(r);
    return rep;
}

static hm_envelope_t *
s_create(sched_service_t *self, const s_ctx_t *ctx)
{
    return s_create_from(self, ctx, ctx->req->data);
}

static hm_envelope_t *
s_import(sched_service_t *self, const s_ctx_t *ctx)
{
    sched_err_t err;
    json_t *data = sched_ical_import(ctx->req->data, &err);
    if (!data)
        return s_fail(ctx->req, &err);
    hm_envelope_t *rep = s_create_from(self, ctx, data);
    json_decref(data);
    return rep;
}

/* ---- scheduler.list, scheduler.history ---------------------------------------- */

/* limit: 1..SCHED_HISTORY_MAX, default SCHED_HISTORY_DEFAULT; -1 if bad. */
static int
s_limit(const json_t *data)
{
    json_t *v = json_object_get(data, "limit");
    if (!v || json_is_null(v))
        return SCHED_HISTORY_DEFAULT;
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > SCHED_HISTORY_MAX)
        return -1;
    return (int)json_integer_value(v);
}

static int
s_list_one(const sched_reminder_t *r, void *arg)
{
    json_t *j = sched_spec_render(r);
    return j ? json_array_append_new(arg, j) : -1;
}

static hm_envelope_t *
s_history(sched_service_t *self, const s_ctx_t *ctx)
{
    json_t *rid = json_object_get(ctx->req->data, "reminder_id");
    int limit = s_limit(ctx->req->data);
    if ((rid && !json_is_null(rid) && !json_is_string(rid)) || limit < 0)
        return s_error(ctx->req, HM_ERR_INVALID_FIELD,
                       "'reminder_id' must be a string and 'limit' 1 to 500");
    json_t *h = sched_occ_history(self->cfg.db, ctx->user_id, json_string_value(rid), limit);
    return h ? s_ack(ctx->req, h) : s_db_error(ctx->req);
}

static hm_envelope_t *
s_list(sched_service_t *self, const s_ctx_t *ctx)
{
    json_t *data = ctx->req->data;
    json_t *rid = json_object_get(data, "reminder_id");
    if (rid && !json_is_null(rid)) {
        sched_reminder_t *r = malloc(sizeof *r);
        hm_envelope_t *rep = r ? s_load(self, ctx, r, true) : NULL;
        json_t *one = r && !rep ? sched_spec_render(r) : NULL;
        free(r);
        if (rep || !one)
            return rep;
        json_t *h = json_is_true(json_object_get(data, "history"))
                        ? sched_occ_history(self->cfg.db, ctx->user_id, json_string_value(rid),
                                            SCHED_HISTORY_DEFAULT)
                        : NULL;
        json_t *out = json_pack("{s:[o]}", "reminders", one);
        if (out && h)
            json_object_set_new(out, "history", h);
        else
            json_decref(h);
        return s_ack(ctx->req, out);
    }
    json_t *list = json_array();
    bool deleted = json_is_true(json_object_get(data, "include_deleted"));
    if (!list || sched_db_list(self->cfg.db, ctx->user_id, deleted, s_list_one, list) < 0) {
        json_decref(list);
        return s_db_error(ctx->req);
    }
    json_t *out = json_pack("{s:o}", "reminders", list);
    if (out && json_is_true(json_object_get(data, "history"))) {
        int limit = s_limit(data);
        json_t *h = sched_occ_history(self->cfg.db, ctx->user_id, NULL,
                                      limit > 0 ? limit : SCHED_HISTORY_DEFAULT);
        if (h)
            json_object_set_new(out, "history", h);
    }
    return s_ack(ctx->req, out);
}

/* ---- scheduler.update, scheduler.delete ------------------------------------- */

static hm_envelope_t *
s_update_apply(sched_service_t *self, const s_ctx_t *ctx, sched_reminder_t *r,
               sched_reminder_t *next)
{
    const char *kind = json_string_value(json_object_get(ctx->req->data, "kind"));
    if (kind && strcmp(kind, sched_spec_kind_name(r->kind)) != 0)
        return s_error(ctx->req, HM_ERR_INVALID_FIELD, "'kind' cannot change");
    json_t *merged = sched_spec_base(r);
    if (!merged)
        return NULL;
    sched_spec_merge(merged, ctx->req->data);
    *next = *r;
    sched_err_t err;
    int rc = sched_spec_parse(merged, ctx->now_ms, next, &err);
    json_decref(merged);
    if (rc != 0)
        return s_fail(ctx->req, &err);
    next->updated_ms = ctx->now_ms;
    if (next->cursor_s < s_floor_s(ctx->now_ms))
        next->cursor_s = s_floor_s(ctx->now_ms); /* the new schedule starts now */
    s_schedule(next);
    if (sched_db_update(self->cfg.db, next) != 1)
        return s_db_error(ctx->req);
    hm_log_info("reminder_updated", "reminder_id=%s user_id=%" PRId64 " next_fire=%" PRId64,
                next->id, next->user_id, next->next_fire_s);
    s_changed(self);
    return s_reminder_reply(ctx, next);
}

static hm_envelope_t *
s_update(sched_service_t *self, const s_ctx_t *ctx)
{
    sched_reminder_t *r = malloc(2 * sizeof *r);
    if (!r)
        return NULL;
    hm_envelope_t *rep = s_load(self, ctx, r, false);
    if (!rep)
        rep = s_update_apply(self, ctx, r, r + 1);
    free(r);
    return rep;
}

static hm_envelope_t *
s_delete(sched_service_t *self, const s_ctx_t *ctx)
{
    sched_reminder_t *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    hm_envelope_t *rep = s_load(self, ctx, r, true);
    if (!rep && !r->deleted) {
        r->deleted = true;
        r->next_fire_s = -1;
        r->updated_ms = ctx->now_ms;
        if (sched_db_update(self->cfg.db, r) != 1 ||
            sched_occ_cancel(self->cfg.db, r->id, -1, true) < 0)
            rep = s_db_error(ctx->req);
        else
            hm_log_info("reminder_deleted", "reminder_id=%s user_id=%" PRId64, r->id, r->user_id);
        s_changed(self);
    }
    if (!rep)
        rep = s_ack(ctx->req, json_pack("{s:s, s:b}", "reminder_id", r->id, "deleted", 1));
    free(r);
    return rep;
}

/* ---- scheduler.answer ----------------------------------------------------------- */

/* Reads answer, occurrence and minutes from data into a. NULL or the error
 * reply. */
static hm_envelope_t *
s_answer_read(sched_service_t *self, const s_ctx_t *ctx, sched_answer_t *a)
{
    const json_t *data = ctx->req->data;
    json_t *occ = json_object_get(data, "occurrence"), *min = json_object_get(data, "minutes");
    const char *answer = json_string_value(json_object_get(data, "answer"));
    if (!occ || !json_object_get(data, "answer"))
        return s_error(ctx->req, HM_ERR_MISSING_FIELD, "'occurrence' and 'answer' are required");
    if (!json_is_integer(occ))
        return s_error(ctx->req, HM_ERR_INVALID_FIELD, "'occurrence' must be unix seconds");
    if (!answer ||
        (strcmp(answer, "taken") && strcmp(answer, "skipped") && strcmp(answer, "snooze")))
        return s_error(ctx->req, HM_ERR_INVALID_FIELD, "'answer' must be taken, skipped or snooze");
    bool snooze = strcmp(answer, "snooze") == 0;
    a->minutes = snooze ? SCHED_SNOOZE_DEFAULT_MIN : 0;
    if (snooze && min && !json_is_null(min)) {
        if (!json_is_integer(min) || json_integer_value(min) < 1 ||
            json_integer_value(min) > self->cfg.snooze_max_min)
            return s_error(ctx->req, HM_ERR_INVALID_FIELD, "'minutes' is out of range");
        a->minutes = (int)json_integer_value(min);
    }
    a->occurrence_s = json_integer_value(occ);
    snprintf(a->answer, sizeof a->answer, "%s", answer);
    a->user_id = ctx->user_id;
    a->answered_ms = ctx->now_ms;
    return NULL;
}

/* Stores the repeat of a snoozed occurrence (orig is its scheduled row). */
static int
s_snooze(sched_service_t *self, const sched_answer_t *a, const sched_fire_row_t *orig,
         int64_t *until_s)
{
    sched_fire_row_t f = *orig;
    f.fire_s = s_floor_s(a->answered_ms) + (int64_t)a->minutes * 60;
    f.snooze = true;
    f.late = false;
    snprintf(f.status, sizeof f.status, "%s", SCHED_ST_WAITING);
    sched_occ_key(f.reminder_id, f.fire_s, f.key);
    *until_s = f.fire_s;
    if (hm_uuid4(f.req_id) != 0)
        return -1;
    return sched_occ_insert(self->cfg.db, &f, a->answered_ms) < 0 ? -1 : 0;
}

/* Stores an answer whose reminder and occurrence were checked. */
static hm_envelope_t *
s_answer_store(sched_service_t *self, const s_ctx_t *ctx, sched_answer_t *a,
               const sched_fire_row_t *orig)
{
    int64_t until = -1;
    int rc = sched_occ_answer(self->cfg.db, a, ctx->req->id);
    if (rc < 0)
        return s_db_error(ctx->req);
    bool snooze = strcmp(a->answer, "snooze") == 0;
    if (rc == 1 && snooze && s_snooze(self, a, orig, &until) != 0)
        return s_db_error(ctx->req);
    if (rc == 0 && snooze)
        until = s_floor_s(a->answered_ms) + (int64_t)a->minutes * 60;
    if (rc == 1 && !snooze &&
        sched_occ_cancel(self->cfg.db, a->reminder_id, a->occurrence_s, false) < 0)
        return s_db_error(ctx->req);
    hm_log_info("answer", "reminder_id=%s occurrence=%" PRId64 " answer=%s new=%d", a->reminder_id,
                a->occurrence_s, a->answer, rc);
    s_changed(self);
    char at[32];
    json_t *j =
        json_pack("{s:I, s:s, s:I, s:s, s:s}", "id", (json_int_t)a->id, "reminder_id",
                  a->reminder_id, "occurrence", (json_int_t)a->occurrence_s, "answer", a->answer,
                  "answered_at", hm_clock_iso8601(a->answered_ms, at, sizeof at));
    if (j && a->minutes > 0)
        json_object_set_new(j, "minutes", json_integer(a->minutes));
    json_t *out = j ? json_pack("{s:o}", "answer", j) : NULL;
    if (out && until >= 0)
        json_object_set_new(out, "snooze_until", json_integer(until));
    return s_ack(ctx->req, out);
}

static hm_envelope_t *
s_answer(sched_service_t *self, const s_ctx_t *ctx)
{
    sched_reminder_t *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    sched_answer_t a = {0};
    sched_fire_row_t orig;
    hm_envelope_t *rep = s_load(self, ctx, r, false);
    if (!rep)
        rep = s_answer_read(self, ctx, &a);
    if (!rep) {
        snprintf(a.reminder_id, sizeof a.reminder_id, "%s", r->id);
        int found = sched_occ_find(self->cfg.db, r->id, a.occurrence_s, &orig);
        if (found <= 0)
            rep = found < 0 ? s_db_error(ctx->req)
                            : s_error(ctx->req, HM_ERR_NOT_FOUND, "no such occurrence yet");
        else
            rep = s_answer_store(self, ctx, &a, &orig);
    }
    free(r);
    return rep;
}

/* ---- dispatch ------------------------------------------------------------------- */

static const struct {
    const char *verb;      /* request type */
    s_handler_fn *handler; /* its handler */
} s_verbs[] = {
    {HM_VERB_SCHED_CREATE, s_create},   {HM_VERB_SCHED_IMPORT, s_import},
    {HM_VERB_SCHED_LIST, s_list},       {HM_VERB_SCHED_UPDATE, s_update},
    {HM_VERB_SCHED_DELETE, s_delete},   {HM_VERB_SCHED_ANSWER, s_answer},
    {HM_VERB_SCHED_HISTORY, s_history},
};

/* Runs handler in a transaction of its own: a failed commit turns the reply
 * into internal_error (nothing it reported was stored). */
static hm_envelope_t *
s_run(sched_service_t *self, s_handler_fn *handler, const s_ctx_t *ctx)
{
    if (hm_db_exec(self->cfg.db, "BEGIN IMMEDIATE") != 0)
        return s_error(ctx->req, HM_ERR_INTERNAL, "database busy");
    hm_envelope_t *rep = handler(self, ctx);
    bool failed = !rep || strcmp(rep->type, HM_MSG_ERROR) == 0;
    if (failed || sqlite3_get_autocommit(self->cfg.db)) {
        if (!sqlite3_get_autocommit(self->cfg.db))
            hm_db_exec(self->cfg.db, "ROLLBACK");
        if (!failed) { /* sqlite rolled the transaction back under us */
            hm_envelope_destroy(&rep);
            rep = s_db_error(ctx->req);
        }
    } else if (hm_db_exec(self->cfg.db, "COMMIT") != 0) {
        hm_db_exec(self->cfg.db, "ROLLBACK");
        hm_envelope_destroy(&rep);
        rep = s_db_error(ctx->req);
    }
    if (failed || strcmp(rep->type, HM_MSG_ERROR) == 0)
        s_changed(self); /* a rolled-back change must not stay in the engine's view */
    return rep;
}

hm_envelope_t *
sched_service_handle(sched_service_t *self, const hm_envelope_t *req)
{
    for (size_t i = 0; i < sizeof s_verbs / sizeof s_verbs[0]; i++) {
        if (strcmp(req->type, s_verbs[i].verb) != 0)
            continue;
        if (req->data && !json_is_object(req->data))
            return s_error(req, HM_ERR_BAD_REQUEST, "data must be an object");
        sched_err_t err;
        s_ctx_t ctx = {.req = req, .now_ms = hm_clock_wall_ms()};
        if (s_owner(req, &ctx.user_id, &err) != 0) {
            if (strcmp(err.code, HM_ERR_FORBIDDEN) == 0) /* data.user_id of another */
                hm_audit_denied(self->cfg.pub, req, HM_SVC_SCHEDULER,
                                json_integer_value(json_object_get(req->data, "user_id")), NULL);
            return s_fail(req, &err);
        }
        hm_envelope_t *rep = s_run(self, s_verbs[i].handler, &ctx);
        hm_log_debug("request", "verb=%s user_id=%" PRId64 " result=%s", req->type, ctx.user_id,
                     rep ? rep->type : "nomem");
        return rep;
    }
    char q[HM_ENVELOPE_MAX_STR * 4 + 8];
    hm_log_info("unknown_verb", "verb=%s", hm_log_quote(req->type, q, sizeof q));
    return s_error(req, HM_ERR_UNKNOWN_VERB, "scheduler does not know this verb");
}
