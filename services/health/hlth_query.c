/*
 * hlth_query.c - health.sync (readings since a seq or a time, paged),
 * health.replay (the stream since a seq, as the edge renders it) and
 * health.threshold (get, set or reset a user's thresholds).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hlth_service_int.h"
#include "hm_clock.h"
#include "hm_log.h"
#include "hm_mdp.h"

static const char *const s_bound_keys[] = {"low", "high", "critical_low", "critical_high"};

/* ---- request fields -------------------------------------------------------------- */

/* An optional non-negative integer. Returns 0 (*out set or left at its
 * default) or -1. */
static int
s_opt_count(const json_t *data, const char *key, int64_t *out)
{
    json_t *v = json_object_get(data, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = json_integer_value(v);
    return 0;
}

/* An optional time: RFC 3339 text or unix ms. Returns 0 or -1. */
static int
s_opt_time(const json_t *data, const char *key, int64_t *out)
{
    json_t *v = json_object_get(data, key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return hm_clock_parse_iso8601(json_string_value(v), out);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = json_integer_value(v);
    return 0;
}

/* An optional metric (of the given catalogue flags). Returns 0 (*out NULL
 * when absent) or -1 with *err. */
static int
s_opt_metric(const hm_envelope_t *req, unsigned flags, const hlth_metric_t **out,
             hm_envelope_t **err)
{
    json_t *v = json_object_get(req->data, "metric");
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        *err = hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD, "'metric' must be a string");
        return -1;
    }
    *out = hlth_metric_find(json_string_value(v), flags);
    if (!*out) {
        bool bp = strcmp(json_string_value(v), "blood_pressure") == 0;
        *err = hm_mdp_error_reply(req, HM_ERR_UNKNOWN_METRIC,
                                  bp ? "blood pressure thresholds are 'systolic' and 'diastolic'"
                                     : "unknown metric");
        return -1;
    }
    return 0;
}

/* ---- health.sync ----------------------------------------------------------------- */

/* Collects one page of readings. */
typedef struct {
    json_t *readings; /* the page */
    int limit;        /* page size */
    int64_t last_seq; /* seq of the last reading on the page */
    bool more;        /* a reading beyond the page exists */
} s_page_t;

static int
s_on_reading(const hlth_event_t *ev, void *arg)
{
    s_page_t *p = arg;
    if ((int)json_array_size(p->readings) >= p->limit) {
        p->more = true;
        return 1;
    }
    json_t *r = json_copy(ev->data);
    if (r) {
        json_object_set_new(r, "seq", json_integer(ev->seq));
        json_array_append_new(p->readings, r);
    }
    p->last_seq = ev->seq;
    return 0;
}

/* Reads since_seq, since, limit and metric into q. NULL, or the refusal. */
static hm_envelope_t *
s_sync_params(hlth_service_t *self, const hm_envelope_t *req, hlth_db_query_t *q)
{
    int64_t limit = self->cfg.sync_limit;
    if (s_opt_count(req->data, "since_seq", &q->after_seq) != 0)
        return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD,
                                  "'since_seq' must be a non-negative integer");
    if (s_opt_time(req->data, "since", &q->since_ms) != 0)
        return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD,
                                  "'since' must be RFC 3339 text or unix ms");
    if (s_opt_count(req->data, "limit", &limit) != 0 || limit < 1 || limit > HLTH_PAGE_MAX)
        return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD, "'limit' must be 1 to 500");
    q->limit = (int)limit + 1; /* one more tells whether there is more */
    const hlth_metric_t *m = NULL;
    hm_envelope_t *err = NULL;
    if (s_opt_metric(req, HLTH_READING, &m, &err) != 0)
        return err;
    q->metric = m ? m->name : NULL;
    return NULL;
}

hm_envelope_t *
hlth_query_sync(hlth_service_t *self, const hm_envelope_t *req, const hlth_grant_t *grant,
                hlth_grant_t *need)
{
    int64_t owner;
    hm_envelope_t *err;
    if (hlth_svc_owner(req, &owner, &err) != 0)
        return err;
    if (!hlth_svc_allowed(self, req, HLTH_ACTION_READ, owner, grant, need))
        return NULL;
    hlth_db_query_t q = {owner, 0, INT64_MIN, HLTH_EV_READING, NULL, 0};
    if ((err = s_sync_params(self, req, &q)))
        return err;
    s_page_t page = {json_array(), q.limit - 1, q.after_seq, false};
    if (!page.readings || hlth_db_events(self->cfg.db, &q, s_on_reading, &page) < 0) {
        json_decref(page.readings);
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    }
    return hlth_svc_ack(req, json_pack("{s:I, s:o, s:b, s:I}", "user_id", (json_int_t)owner,
                                       "readings", page.readings, "more", page.more, "next_seq",
                                       (json_int_t)page.last_seq));
}

/* ---- health.replay ----------------------------------------------------------------- */

/* Collects up to HLTH_PAGE_MAX events as the client sees them. */
typedef struct {
    json_t *events; /* rendered events */
    bool more;      /* another call is needed */
} s_replay_t;

static int
s_on_event(const hlth_event_t *ev, void *arg)
{
    s_replay_t *r = arg;
    if (json_array_size(r->events) >= HLTH_PAGE_MAX) {
        r->more = true;
        return 1;
    }
    json_array_append_new(r->events, hlth_svc_event_json(ev));
    return 0;
}

hm_envelope_t *
hlth_query_replay(hlth_service_t *self, const hm_envelope_t *req, const hlth_grant_t *grant,
                  hlth_grant_t *need)
{
    int64_t owner;
    hm_envelope_t *err;
    if (hlth_svc_owner(req, &owner, &err) != 0)
        return err;
    if (!hlth_svc_allowed(self, req, HLTH_ACTION_READ, owner, grant, need))
        return NULL;
    hlth_db_query_t q = {owner, 0, INT64_MIN, NULL, NULL, HLTH_PAGE_MAX + 1};
    if (s_opt_count(req->data, "since_seq", &q.after_seq) != 0)
        return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD,
                                  "'since_seq' must be a non-negative integer");
    s_replay_t r = {json_array(), false};
    if (!r.events || hlth_db_events(self->cfg.db, &q, s_on_event, &r) < 0) {
        json_decref(r.events);
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    }
    return hlth_svc_ack(req, json_pack("{s:I, s:o, s:b}", "user_id", (json_int_t)owner, "events",
                                       r.events, "more", r.more));
}

/* ---- health.threshold -------------------------------------------------------------- */

/* {low, high, critical_low, critical_high, margin, unit, source} of one
 * check of owner. NULL on error. */
static json_t *
s_threshold_json(hlth_service_t *self, int64_t owner, const hlth_metric_t *check)
{
    hlth_limits_t lim;
    int rc = hlth_svc_limits(self, owner, check, &lim);
    json_t *j = rc < 0 ? NULL : hlth_limits_json(&lim);
    if (j) {
        json_object_set_new(j, "unit", json_string(check->unit));
        json_object_set_new(j, "source", json_string(rc == 1 ? "user" : "default"));
    }
    return j;
}

/* The thresholds of one check (m) or of all, as the reply. */
static hm_envelope_t *
s_threshold_reply(hlth_service_t *self, const hm_envelope_t *req, int64_t owner,
                  const hlth_metric_t *m)
{
    json_t *all = json_object();
    for (int i = 0; all && i < HLTH_CATALOG_SIZE; i++) {
        const hlth_metric_t *c = hlth_metric_at(i);
        if (!(c->flags & HLTH_CHECK) || (m && m != c))
            continue;
        json_t *j = s_threshold_json(self, owner, c);
        if (!j) {
            json_decref(all);
            return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
        }
        json_object_set_new(all, c->name, j);
    }
    json_t *data = json_pack("{s:I, s:o}", "user_id", (json_int_t)owner, "thresholds", all);
    if (data && m)
        json_object_set_new(data, "metric", json_string(m->name));
    return hlth_svc_ack(req, data);
}

/* Applies the bounds present in data (in unit) to *lim. Returns the number
 * of bounds present, or -1 with *err. */
static int
s_apply_bounds(const hm_envelope_t *req, const hlth_metric_t *m, hlth_limits_t *lim,
               hm_envelope_t **err)
{
    double *fields[] = {&lim->low, &lim->high, &lim->critical_low, &lim->critical_high};
    json_t *ju = json_object_get(req->data, "unit");
    const char *unit = json_is_string(ju) ? json_string_value(ju) : NULL;
    double probe;
    if ((ju && !json_is_null(ju) && !unit) || hlth_unit_convert(m, unit, 0, &probe) != 0) {
        *err = hm_mdp_error_reply(req, HM_ERR_INVALID_UNIT, "unit not accepted for this metric");
        return -1;
    }
    int n = 0;
    for (int i = 0; i < 4; i++) {
        json_t *v = json_object_get(req->data, s_bound_keys[i]);
        if (!v)
            continue;
        n++;
        if (json_is_null(v)) {
            *fields[i] = NAN;
        } else if (json_is_number(v)) {
            hlth_unit_convert(m, unit, json_number_value(v), fields[i]);
        } else {
            *err = hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD, "bounds must be numbers or null");
            return -1;
        }
    }
    return n;
}

/* set: merges the bounds given into the limits in force, stores them. */
static hm_envelope_t *
s_threshold_set(hlth_service_t *self, const hm_envelope_t *req, int64_t owner,
                const hlth_metric_t *m)
{
    hlth_limits_t lim;
    hm_envelope_t *err = NULL;
    if (hlth_svc_limits(self, owner, m, &lim) < 0)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    int n = s_apply_bounds(req, m, &lim, &err);
    if (n < 0)
        return err;
    if (n == 0)
        return hm_mdp_error_reply(req, HM_ERR_MISSING_FIELD,
                                  "set needs low, high, critical_low or critical_high");
    hlth_verr_t verr;
    if (hlth_limits_check(m, &lim, &verr) != 0)
        return hm_mdp_error_reply(req, verr.code, verr.message);
    if (hlth_db_threshold_put(self->cfg.db, owner, m->name, &lim, req->user_id) != 0)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    hm_log_info("threshold_set", "user_id=%lld by=%lld metric=%s", (long long)owner,
                (long long)req->user_id, m->name);
    return s_threshold_reply(self, req, owner, m);
}

/* The action asked for: get, set or reset (default: set when a bound is
 * given, else get). NULL when invalid. */
static const char *
s_threshold_action(const json_t *data)
{
    json_t *a = json_object_get(data, "action");
    if (a && !json_is_null(a)) {
        const char *s = json_string_value(a);
        if (s && (strcmp(s, "get") == 0 || strcmp(s, "set") == 0 || strcmp(s, "reset") == 0))
            return s;
        return NULL;
    }
    for (int i = 0; i < 4; i++)
        if (json_object_get(data, s_bound_keys[i]))
            return "set";
    return "get";
}

hm_envelope_t *
hlth_query_threshold(hlth_service_t *self, const hm_envelope_t *req, const hlth_grant_t *grant,
                     hlth_grant_t *need)
{
    int64_t owner;
    hm_envelope_t *err = NULL;
    if (hlth_svc_owner(req, &owner, &err) != 0)
        return err;
    const char *action = s_threshold_action(req->data);
    if (!action)
        return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD, "'action' must be get, set or reset");
    bool get = strcmp(action, "get") == 0;
    if (!hlth_svc_allowed(self, req, get ? HLTH_ACTION_READ : HLTH_ACTION_WRITE_THRESHOLDS, owner,
                          grant, need))
        return NULL;
    const hlth_metric_t *m = NULL;
    if (s_opt_metric(req, HLTH_CHECK, &m, &err) != 0)
        return err;
    if (get)
        return s_threshold_reply(self, req, owner, m);
    if (!m)
        return hm_mdp_error_reply(req, HM_ERR_MISSING_FIELD, "'metric' is required");
    if (strcmp(action, "set") == 0)
        return s_threshold_set(self, req, owner, m);
    if (hlth_db_threshold_put(self->cfg.db, owner, m->name, NULL, req->user_id) != 0)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    return s_threshold_reply(self, req, owner, m);
}
