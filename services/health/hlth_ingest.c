/*
 * hlth_ingest.c - health.reading and health.device_reading: validate, store
 * with the next seq of the user's stream, evaluate the thresholds, store the
 * alerts and their notifications, stage the events. All in one savepoint:
 * a reading is stored with everything it caused, or not at all.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hlth_service_int.h"
#include "hm_audit.h"
#include "hm_clock.h"
#include "hm_log.h"
#include "hm_mdp.h"

#define S_SOURCE_CLIENT "client"
#define S_SOURCE_DEVICE "device"

/* A reading on its way into the stream. */
typedef struct {
    hlth_service_t *self;     /* the service */
    const hm_envelope_t *req; /* the request */
    int64_t user_id;          /* stream owner */
    hlth_reading_t r;         /* validated reading */
    char id[HM_UUID_STRLEN];  /* reading id */
    int64_t now;              /* wall ms when stored: the events' ts */
    int64_t seq;              /* last seq used */
    int64_t reading_seq;      /* the reading's seq */
    json_t *data;             /* the stored reading; owned */
} s_ingest_t;

/* ---- retried requests ------------------------------------------------------------ */

/* A retried request: the stored reading goes out again (the edge drops what
 * it delivered already, by seq) and is acknowledged again. */
typedef struct {
    hlth_service_t *self;     /* the service */
    const hm_envelope_t *req; /* the retry */
    hm_envelope_t *rep;       /* the ack; caller owns */
} s_dup_t;

/* The ack data for a stored reading: the reading, seq and user_id. */
static json_t *
s_ack_data(const json_t *reading, int64_t seq, int64_t user_id)
{
    json_t *d = json_copy((json_t *)reading);
    if (d) {
        json_object_set_new(d, "seq", json_integer(seq));
        json_object_set_new(d, "user_id", json_integer(user_id));
    }
    return d;
}

static int
s_on_dup(const hlth_event_t *ev, void *arg)
{
    s_dup_t *dup = arg;
    hlth_svc_stage_event(dup->self, ev);
    dup->rep = hlth_svc_ack(dup->req, s_ack_data(ev->data, ev->seq, ev->user_id));
    return 1;
}

/* ---- alerts ------------------------------------------------------------------------- */

/* The notify.create data for an alert (proto/SPEC.md 8.3). Caller owns. */
static json_t *
s_note_payload(const s_ingest_t *in, const json_t *alert, int level, int64_t seq)
{
    json_t *d =
        json_pack("{s:s, s:s, s:O, s:O, s:O, s:I}", "alert_id",
                  json_string_value(json_object_get(alert, "id")), "reading_id", in->id, "metric",
                  json_object_get(alert, "metric"), "severity", json_object_get(alert, "severity"),
                  "state", json_object_get(alert, "state"), "seq", (json_int_t)seq);
    if (d && json_object_get(alert, "component"))
        json_object_set(d, "component", json_object_get(alert, "component"));
    return json_pack("{s:I, s:s, s:s, s:O, s:O, s:o, s:O}", "user_id", (json_int_t)in->user_id,
                     "type", HM_MSG_HEALTH_ALERT, "priority", hlth_priority_of(level), "title",
                     json_object_get(alert, "title"), "message", json_object_get(alert, "message"),
                     "data", d, "idempotency_key", json_object_get(alert, "id"));
}

/* Stores the notification of an alert in the outbox (same transaction). */
static int
s_notify(s_ingest_t *in, const json_t *alert, const char *alert_id, int level, int64_t seq)
{
    hlth_service_t *self = in->self;
    if (!self->cfg.outbox)
        return 0;
    if (hlth_outbox_full(self->cfg.outbox)) {
        hm_log_warn("notify_dropped", "reason=outbox_full alert_id=%s", alert_id);
        return 0;
    }
    json_t *payload = s_note_payload(in, alert, level, seq);
    if (!payload ||
        hlth_db_outbox_add(self->cfg.db, alert_id, in->user_id, payload, in->now) != 0) {
        json_decref(payload);
        return -1;
    }
    return hlth_svc_stage_note(self, alert_id, payload, in->now);
}

/* The health_alert data (proto/SPEC.md 8.2). Caller owns. */
static json_t *
s_alert_data(const s_ingest_t *in, const hlth_metric_t *check, const hlth_alert_t *a, double v,
             const char *alert_id)
{
    char title[96], msg[256], ts[40];
    hlth_alert_text(check, a, v, title, sizeof title, msg, sizeof msg);
    json_t *d =
        json_pack("{s:s, s:s, s:o, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s}", "id", alert_id,
                  "metric", in->r.metric->name, "value", hlth_number_json(v), "unit", check->unit,
                  "severity", hlth_severity_name(a->level), "threshold",
                  isnan(a->threshold) ? json_null() : hlth_number_json(a->threshold), "direction",
                  hlth_dir_name(a->dir), "state", a->emit == HLTH_EMIT_NORMAL ? "normal" : "alert",
                  "message", msg, "title", title, "reading_id", in->id, "timestamp",
                  hm_clock_iso8601(in->r.measured_at, ts, sizeof ts));
    if (d && check != in->r.metric)
        json_object_set_new(d, "component", json_string(check->name));
    return d;
}

/* Stores, stages and notifies one alert. Returns 0 or -1. */
static int
s_alert(s_ingest_t *in, const hlth_metric_t *check, const hlth_alert_t *a, double v)
{
    char alert_id[HM_UUID_STRLEN];
    if (hm_uuid4(alert_id) != 0)
        return -1;
    json_t *data = s_alert_data(in, check, a, v, alert_id);
    if (!data)
        return -1;
    hlth_event_t ev = {in->user_id,        ++in->seq,         HLTH_EV_ALERT, alert_id, in->now,
                       in->r.metric->name, in->r.measured_at, NULL,          data};
    int rc = hlth_db_event_insert(in->self->cfg.db, &ev);
    if (rc == 0)
        rc = hlth_svc_stage_event(in->self, &ev);
    if (rc == 0)
        rc = s_notify(in, data, alert_id, a->level, ev.seq);
    json_decref(data);
    if (rc == 0) {
        in->self->stats.alerts++;
        hm_log_info("alert_raised", "user_id=%lld seq=%lld id=%s", (long long)in->user_id,
                    (long long)ev.seq, alert_id);
    }
    return rc;
}

static bool
s_astate_equal(const hlth_astate_t *a, const hlth_astate_t *b)
{
    return a->dir == b->dir && a->level == b->level && a->alerted == b->alerted &&
           a->last_alert_ms == b->last_alert_ms && a->last_dir == b->last_dir &&
           a->last_level == b->last_level;
}

/* Evaluates one check of the reading against the user's thresholds. */
static int
s_check(s_ingest_t *in, const hlth_metric_t *check, double v)
{
    hlth_service_t *self = in->self;
    hlth_limits_t lim;
    hlth_astate_t st, before;
    if (hlth_svc_limits(self, in->user_id, check, &lim) < 0 ||
        hlth_db_astate_get(self->cfg.db, in->user_id, check->name, &st) < 0)
        return -1;
    before = st;
    hlth_alert_t a;
    hlth_alert_eval(&lim, self->cfg.cooldown_ms, &st, v, in->now, &a);
    if (!s_astate_equal(&st, &before) &&
        hlth_db_astate_put(self->cfg.db, in->user_id, check->name, &st) != 0)
        return -1;
    return a.emit == HLTH_EMIT_NONE ? 0 : s_alert(in, check, &a, v);
}

/* Every check the reading feeds. Readings older than alert_max_age_ms
 * (a device's backlog) are stored without evaluating them. */
static int
s_checks(s_ingest_t *in)
{
    int64_t age_max = in->self->cfg.alert_max_age_ms;
    if (age_max > 0 && in->now - in->r.measured_at > age_max)
        return 0;
    if (strcmp(in->r.metric->name, "blood_pressure") != 0)
        return s_check(in, in->r.metric, in->r.value);
    if (s_check(in, hlth_metric_find("systolic", HLTH_CHECK), in->r.systolic) != 0)
        return -1;
    if (!isnan(in->r.diastolic))
        return s_check(in, hlth_metric_find("diastolic", HLTH_CHECK), in->r.diastolic);
    return 0;
}

/* ---- storing a reading ----------------------------------------------------------- */

/* Stores the reading and what it causes; stages the events. 0 or -1. */
static int
s_store(s_ingest_t *in)
{
    hlth_service_t *self = in->self;
    in->seq = in->reading_seq = hlth_db_next_seq(self->cfg.db, in->user_id);
    if (in->seq < 0)
        return -1;
    hlth_event_t ev = {in->user_id,        in->seq,           HLTH_EV_READING, in->id,  in->now,
                       in->r.metric->name, in->r.measured_at, in->req->id,     in->data};
    if (hlth_db_event_insert(self->cfg.db, &ev) != 0 || hlth_svc_stage_event(self, &ev) != 0)
        return -1;
    return s_checks(in);
}

/* The common path of both verbs. */
static hm_envelope_t *
s_ingest(hlth_service_t *self, const hm_envelope_t *req, int64_t user_id, const char *source,
         const char *device_id)
{
    s_dup_t dup = {self, req, NULL};
    int found = hlth_db_event_by_req(self->cfg.db, user_id, req->id, s_on_dup, &dup);
    if (found != 0)
        return found > 0 ? dup.rep : hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    s_ingest_t in = {.self = self, .req = req, .user_id = user_id, .now = hm_clock_wall_ms()};
    hlth_verr_t err;
    if (hlth_reading_parse(req->data, in.now, self->cfg.future_skew_ms, &in.r, &err) != 0) {
        self->stats.refused++;
        hm_log_info("reading_refused", "user_id=%lld code=%s", (long long)user_id, err.code);
        return hm_mdp_error_reply(req, err.code, err.message);
    }
    if (hm_uuid4(in.id) != 0 || !(in.data = hlth_reading_json(&in.r, in.id, source, device_id)))
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "out of memory");
    int npubs = self->npubs, nnotes = self->nnotes;
    int rc = hlth_db_savepoint(self->cfg.db);
    if (rc == 0)
        rc = s_store(&in);
    hlth_db_release(self->cfg.db, rc == 0);
    hm_envelope_t *rep;
    if (rc == 0) {
        self->stats.readings++;
        rep = hlth_svc_ack(req, s_ack_data(in.data, in.reading_seq, user_id));
    } else {
        hlth_svc_unstage(self, npubs, nnotes);
        rep = hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    }
    json_decref(in.data);
    return rep;
}

hm_envelope_t *
hlth_ingest_reading(hlth_service_t *self, const hm_envelope_t *req, const hlth_grant_t *grant,
                    hlth_grant_t *need)
{
    (void)grant;
    (void)need;
    if (req->user_id <= 0)
        return hm_mdp_error_reply(req, HM_ERR_BAD_REQUEST,
                                  "health.reading needs the authenticated user; device gateways "
                                  "use health.device_reading");
    json_t *uid = json_object_get(req->data, "user_id");
    if (uid && !json_is_null(uid) &&
        (!json_is_integer(uid) || json_integer_value(uid) != req->user_id)) {
        hm_audit_denied(self->cfg.pub, req, HM_SVC_HEALTH,
                        json_is_integer(uid) ? json_integer_value(uid) : 0, NULL);
        return hm_mdp_error_reply(req, HM_ERR_FORBIDDEN,
                                  "a reading is for the authenticated user only");
    }
    return s_ingest(self, req, req->user_id, S_SOURCE_CLIENT, NULL);
}

hm_envelope_t *
hlth_ingest_device(hlth_service_t *self, const hm_envelope_t *req, const hlth_grant_t *grant,
                   hlth_grant_t *need)
{
    json_t *uid = json_object_get(req->data, "user_id");
    if (!uid || json_is_null(uid))
        return hm_mdp_error_reply(req, HM_ERR_MISSING_FIELD, "'user_id' is required");
    if (!json_is_integer(uid) || json_integer_value(uid) <= 0)
        return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD,
                                  "'user_id' must be a positive integer");
    if (!hlth_svc_allowed(self, req, HLTH_ACTION_PUBLISH, 0, grant, need))
        return NULL;
    json_t *dev = json_object_get(req->data, "device_id");
    if (dev && !json_is_null(dev) &&
        (!json_is_string(dev) || json_string_length(dev) == 0 ||
         json_string_length(dev) > HLTH_DEVICE_ID_MAX))
        return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD,
                                  "'device_id' must be a string of 1 to 128 bytes");
    return s_ingest(self, req, json_integer_value(uid), S_SOURCE_DEVICE, json_string_value(dev));
}
