/*
 * ntf_verbs.c - the request verbs of the "notify" service (ntf_service.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_audit.h"
#include "hm_clock.h"
#include "hm_log.h"
#include "hm_mdp.h"
#include "hm_proto.h"
#include "ntf_query.h"
#include "ntf_service_int.h"
#include "ntf_store.h"

#define S_IDS_MAX 100 /* ids per notify.mark_read */

/* A verb's handler. reply_to and worker matter only to a deferred answer. */
typedef struct {
    zframe_t **reply_to;     /* the request's return address */
    hm_mdp_worker_t *worker; /* the worker it came through; NULL: none */
} s_from_t;
typedef hm_envelope_t *(s_handler_fn)(ntf_service_t *self, const hm_envelope_t *req,
                                      s_from_t *from);

/* An ack reply for req with data (taken). */
static hm_envelope_t *
s_ack(const hm_envelope_t *req, json_t *data)
{
    hm_envelope_t *rep = data ? hm_envelope_new(HM_MSG_ACK) : NULL;
    if (!rep || hm_envelope_set_id(rep, req->id) != 0 ||
        hm_envelope_set_correlation_id(rep, req->correlation_id) != 0) {
        json_decref(data);
        hm_envelope_destroy(&rep);
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "out of memory");
    }
    if (hm_envelope_set_data(rep, data) != 0) { /* data released */
        hm_envelope_destroy(&rep);
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "out of memory");
    }
    rep->user_id = req->user_id;
    return rep;
}

static hm_envelope_t *
s_bad(const hm_envelope_t *req, const char *why)
{
    return hm_mdp_error_reply(req, HM_ERR_BAD_REQUEST, why);
}

static hm_envelope_t *
s_db_error(const hm_envelope_t *req)
{
    return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
}

/* A string field of 1..max bytes, or absent. Returns 0 (value or NULL in
 * *out) or -1 when present and wrong. */
static int
s_opt_str(const json_t *data, const char *key, size_t max, const char **out)
{
    json_t *v = json_object_get(data, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
        return -1;
    *out = json_string_value(v);
    return 0;
}

/* ---- notify.create -------------------------------------------------------------- */

/* A create request's fields. */
typedef struct {
    ntf_new_t n;                 /* what to store */
    char idem[NTF_IDEM_MAX + 8]; /* the idempotency key used */
} s_create_t;

/* The expiry of a new notification: expires_at, ttl_s or the default.
 * Returns 0 or -1. */
static int
s_parse_expiry(ntf_service_t *self, const json_t *data, int64_t now, int64_t *out)
{
    json_t *ttl = json_object_get(data, "ttl_s");
    const char *at = json_string_value(json_object_get(data, "expires_at"));
    *out = self->cfg.expire_ms > 0 ? now + self->cfg.expire_ms : 0;
    if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) <= 0 ||
                json_integer_value(ttl) > 10LL * 365 * 86400))
        return -1;
    if (ttl)
        *out = now + json_integer_value(ttl) * 1000;
    if (json_object_get(data, "expires_at") && (!at || hm_clock_parse_iso8601(at, out) != 0))
        return -1;
    return 0;
}

/* Parses the target, type, priority, texts and data. Returns NULL or the
 * reason it is refused. */
static const char *
s_parse_create(ntf_service_t *self, const hm_envelope_t *req, s_create_t *c)
{
    const json_t *d = req->data;
    json_t *uid = json_object_get(d, "user_id"), *all = json_object_get(d, "all");
    bool to_all = json_is_true(all);
    if (to_all == (uid != NULL && !json_is_null(uid)) ||
        (!to_all && (!json_is_integer(uid) || json_integer_value(uid) <= 0)))
        return "needs user_id (a positive integer) or all: true";
    c->n.user_id = to_all ? 0 : json_integer_value(uid);
    int type = ntf_type_parse(json_string_value(json_object_get(d, "type")));
    json_t *prio_v = json_object_get(d, "priority");
    int prio = prio_v ? ntf_prio_parse(json_string_value(prio_v)) : NTF_PRIO_NORMAL;
    if (type < 0)
        return "type must be health_alert, medication_reminder, appointment_reminder or system";
    if (prio < 0)
        return "priority must be low, normal, high or critical";
    c->n.type = (ntf_type_t)type;
    c->n.prio = (ntf_prio_t)prio;
    const char *key = NULL;
    if (s_opt_str(d, "title", NTF_TITLE_MAX, &c->n.title) != 0 || !c->n.title)
        return "title must be a string of 1 to 200 bytes";
    json_t *msg = json_object_get(d, "message");
    c->n.message = msg ? json_string_value(msg) : "";
    if (!c->n.message || strlen(c->n.message) > NTF_MESSAGE_MAX)
        return "message must be a string of at most 4000 bytes";
    json_t *data = json_object_get(d, "data");
    char *text = json_is_object(data) ? json_dumps(data, JSON_COMPACT) : NULL;
    bool data_ok = !data || json_is_null(data) || (text && strlen(text) <= NTF_DATA_MAX);
    free(text);
    if (!data_ok)
        return "data must be an object of at most 8192 bytes as JSON";
    c->n.data = json_is_object(data) ? data : NULL;
    if (s_opt_str(d, "idempotency_key", NTF_IDEM_MAX, &key) != 0)
        return "idempotency_key must be a string of 1 to 200 bytes";
    snprintf(c->idem, sizeof c->idem, "%s%s", key ? "k:" : "r:", key ? key : req->id);
    c->n.idem_key = c->idem;
    c->n.created_at = hm_clock_wall_ms();
    if (s_parse_expiry(self, d, c->n.created_at, &c->n.expires_at) != 0)
        return "ttl_s must be a positive integer, expires_at an ISO 8601 time";
    return NULL;
}

/* The reply to a create: {id, seq, created, status}. */
static hm_envelope_t *
s_created(const hm_envelope_t *req, const ntf_row_t *row, bool created)
{
    return s_ack(req, json_pack("{s:s, s:I, s:b, s:s}", "id", row->id, "seq", (json_int_t)row->seq,
                                "created", created, "status", ntf_status_name(row->status)));
}

/* The status of a new notification of a user, from their preferences. */
static int
s_decide(ntf_service_t *self, s_create_t *c)
{
    ntf_prefs_t prefs;
    if (ntf_service_prefs(self, c->n.user_id, &prefs) != 0)
        return -1;
    ntf_decide_t d = ntf_prefs_decide(&prefs, c->n.type, c->n.prio, self->tz, c->n.created_at);
    c->n.status = d == NTF_DECIDE_MUTE   ? NTF_ST_MUTED
                  : d == NTF_DECIDE_HOLD ? NTF_ST_HELD
                                         : NTF_ST_PENDING;
    c->n.muted = d == NTF_DECIDE_MUTE;
    return 0;
}

/* Publishes a new PENDING notification (unless a re-publish for a new
 * connection is about to carry it), schedules its re-sends, escalates a
 * critical one for an offline user. */
static void
s_dispatch_new(ntf_service_t *self, const ntf_row_t *row)
{
    if (row->status != NTF_ST_PENDING)
        return;
    if (row->user_id == 0 || !ntf_deliver_flush_waiting(self, row->user_id))
        ntf_deliver_publish(self, row, true, 0);
    if (row->user_id == 0)
        return;
    ntf_deliver_schedule(self, row);
    if (row->prio == NTF_PRIO_CRITICAL && ntf_presence_count(self->presence, row->user_id) == 0)
        ntf_escalate_add(self->esc, row, "offline");
}

static hm_envelope_t *
s_create(ntf_service_t *self, const hm_envelope_t *req, s_from_t *from)
{
    if (req->conn_id) {
        hm_audit_denied(self->cfg.pub, req, HM_SVC_NOTIFY, 0, NULL);
        return hm_mdp_error_reply(req, HM_ERR_FORBIDDEN, "notifications are created by services");
    }
    s_create_t c;
    memset(&c, 0, sizeof c);
    const char *why = s_parse_create(self, req, &c);
    if (why)
        return s_bad(req, why);
    ntf_row_t row;
    int found = ntf_store_find_idem(self->cfg.db, c.n.user_id, c.n.idem_key, &row);
    if (found != 0) {
        hm_envelope_t *rep = found > 0 ? s_created(req, &row, false) : s_db_error(req);
        ntf_row_clear(&row);
        return rep;
    }
    c.n.status = NTF_ST_PENDING;
    if (c.n.user_id > 0 && s_decide(self, &c) != 0)
        return s_db_error(req);
    if (c.n.status == NTF_ST_PENDING &&
        (c.n.user_id == 0 || !ntf_deliver_flush_waiting(self, c.n.user_id)))
        c.n.sent_at = c.n.created_at; /* s_dispatch_new publishes it at commit */
    if (ntf_store_insert(self->cfg.db, &c.n, &row) != 0)
        return s_db_error(req);
    if (row.user_id > 0 && row.status != NTF_ST_MUTED) {
        int evicted = ntf_query_evict(self->cfg.db, row.user_id, self->cfg.queue_max);
        if (evicted > 0) {
            hm_log_info("evicted", "user_id=%lld count=%d", (long long)row.user_id, evicted);
            int64_t nid = row.nid;
            ntf_row_clear(&row);
            if (ntf_store_get_nid(self->cfg.db, nid, &row) != 1)
                return s_db_error(req);
        }
    }
    s_dispatch_new(self, &row);
    self->stats.created++;
    hm_log_info("created", "nid=%lld user_id=%lld type=%s priority=%s status=%s",
                (long long)row.nid, (long long)row.user_id, ntf_type_name(row.type),
                ntf_prio_name(row.prio), ntf_status_name(row.status));
    hm_envelope_t *rep = s_created(req, &row, true);
    ntf_row_clear(&row);
    return rep;
}

/* ---- notify.ack, notify.mark_read -------------------------------------------------- */

/* The notification named by data.id (or data.notification_id) that the
 * requester may touch: 1 with *row, or an error reply in *err. */
static int
s_owned(ntf_service_t *self, const hm_envelope_t *req, const char *id, ntf_row_t *row,
        hm_envelope_t **err)
{
    if (req->user_id <= 0) {
        *err = s_bad(req, "needs the envelope user_id");
        return 0;
    }
    int found = ntf_store_get(self->cfg.db, id, req->user_id, row);
    if (found < 0)
        *err = s_db_error(req);
    else if (found == 0)
        *err = hm_mdp_error_reply(req, HM_ERR_NOT_FOUND, "no such notification");
    else if (row->user_id != 0 && row->user_id != req->user_id) {
        hm_audit_denied(self->cfg.pub, req, HM_SVC_NOTIFY, row->user_id, id);
        ntf_row_clear(row);
        *err = hm_mdp_error_reply(req, HM_ERR_FORBIDDEN, "not your notification");
        hm_log_info("not_owner", "verb=%s user_id=%lld", req->type, (long long)req->user_id);
        return 0;
    }
    return found == 1;
}

/* The id a request names: data.id or data.notification_id. */
static const char *
s_req_id(const hm_envelope_t *req)
{
    const char *id = NULL;
    if (s_opt_str(req->data, "id", HM_ENVELOPE_MAX_STR, &id) != 0 || !id)
        s_opt_str(req->data, "notification_id", HM_ENVELOPE_MAX_STR, &id);
    return id;
}

static hm_envelope_t *
s_ack_verb(ntf_service_t *self, const hm_envelope_t *req, s_from_t *from)
{
    const char *id = s_req_id(req);
    if (!id)
        return s_bad(req, "needs data.id (the notification id)");
    ntf_row_t row;
    hm_envelope_t *err = NULL;
    if (!s_owned(self, req, id, &row, &err))
        return err;
    int rc = ntf_store_ack(self->cfg.db, &row, req->user_id, hm_clock_wall_ms());
    if (rc > 0 && row.user_id > 0)
        rc = ntf_escalate_cancel(self->esc, row.nid) == 0 ? 1 : -1;
    if (rc > 0)
        hm_log_debug("acked", "nid=%lld user_id=%lld", (long long)row.nid, (long long)req->user_id);
    hm_envelope_t *rep = rc < 0 ? s_db_error(req)
                                : s_ack(req, json_pack("{s:s, s:b, s:b}", "id", row.id, "acked", 1,
                                                       "already", rc == 0));
    ntf_row_clear(&row);
    return rep;
}

/* Marks one id read. Returns 1 (newly), 0 (already), or -1 with *err set. */
static int
s_read_one(ntf_service_t *self, const hm_envelope_t *req, const char *id, hm_envelope_t **err)
{
    ntf_row_t row;
    if (!s_owned(self, req, id, &row, err))
        return -1;
    int rc = ntf_store_read(self->cfg.db, &row, req->user_id, hm_clock_wall_ms());
    ntf_row_clear(&row);
    if (rc < 0)
        *err = s_db_error(req);
    return rc;
}

/* Marks a list of ids read (all strings, each the user's). Returns the
 * number newly read, or -1 with *err set (those before the bad one stay
 * read: harmless, reading is idempotent). */
static int
s_read_ids(ntf_service_t *self, const hm_envelope_t *req, const json_t *ids, hm_envelope_t **err)
{
    size_t i;
    json_t *v;
    int n = 0;
    json_array_foreach(ids, i, v)
    {
        if (!json_is_string(v)) {
            *err = s_bad(req, "ids must be strings");
            return -1;
        }
    }
    json_array_foreach(ids, i, v)
    {
        int rc = s_read_one(self, req, json_string_value(v), err);
        if (rc < 0)
            return -1;
        n += rc;
    }
    return n;
}

static hm_envelope_t *
s_mark_read(ntf_service_t *self, const hm_envelope_t *req, s_from_t *from)
{
    json_t *ids = json_object_get(req->data, "ids");
    const char *id = s_req_id(req);
    bool all = json_is_true(json_object_get(req->data, "all"));
    if (req->user_id <= 0)
        return s_bad(req, "needs the envelope user_id");
    if (!all && !id &&
        (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > S_IDS_MAX))
        return s_bad(req, "needs data.id, data.ids (1 to 100) or data.all: true");
    hm_envelope_t *err = NULL;
    int updated = all  ? ntf_store_read_all(self->cfg.db, req->user_id, hm_clock_wall_ms())
                  : id ? s_read_one(self, req, id, &err)
                       : s_read_ids(self, req, ids, &err);
    if (err)
        return err;
    int64_t unread = updated < 0 ? -1 : ntf_store_unread(self->cfg.db, req->user_id);
    if (unread < 0)
        return s_db_error(req);
    return s_ack(req, json_pack("{s:i, s:I}", "updated", updated, "unread", (json_int_t)unread));
}

/* ---- notify.list, notify.prefs_get, notify.prefs_set ----------------------------- */

static hm_envelope_t *
s_list(ntf_service_t *self, const hm_envelope_t *req, s_from_t *from)
{
    json_t *lim = json_object_get(req->data, "limit"),
           *before = json_object_get(req->data, "before");
    json_t *unread_only = json_object_get(req->data, "unread_only");
    if (req->user_id <= 0)
        return s_bad(req, "needs the envelope user_id");
    if ((lim && (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
                 json_integer_value(lim) > NTF_LIST_MAX)) ||
        (before && !json_is_null(before) &&
         (!json_is_integer(before) || json_integer_value(before) < 0)) ||
        (unread_only && !json_is_boolean(unread_only)))
        return s_bad(req, "limit is 1 to 100, before a cursor from next_cursor, "
                          "unread_only a boolean");
    int64_t next = 0;
    json_t *items = ntf_query_list(
        self->cfg.db, req->user_id, json_is_integer(before) ? json_integer_value(before) : 0,
        lim ? (int)json_integer_value(lim) : 20, json_is_true(unread_only), &next);
    int64_t unread = items ? ntf_store_unread(self->cfg.db, req->user_id) : -1;
    if (!items || unread < 0) {
        json_decref(items);
        return s_db_error(req);
    }
    return s_ack(req,
                 json_pack("{s:o, s:o, s:I}", "notifications", items, "next_cursor",
                           next ? json_integer(next) : json_null(), "unread", (json_int_t)unread));
}

static hm_envelope_t *
s_prefs_get(ntf_service_t *self, const hm_envelope_t *req, s_from_t *from)
{
    ntf_prefs_t p;
    if (req->user_id <= 0)
        return s_bad(req, "needs the envelope user_id");
    if (ntf_service_prefs(self, req->user_id, &p) != 0)
        return s_db_error(req);
    return s_ack(req, json_pack("{s:o}", "preferences", ntf_prefs_to_json(&p)));
}

static hm_envelope_t *
s_prefs_set(ntf_service_t *self, const hm_envelope_t *req, s_from_t *from)
{
    ntf_prefs_t p;
    char why[160];
    if (req->user_id <= 0)
        return s_bad(req, "needs the envelope user_id");
    if (ntf_prefs_get(self->cfg.db, req->user_id, &p) != 0)
        return s_db_error(req);
    if (ntf_prefs_apply(&p, req->data, self->tz, why, sizeof why) != 0)
        return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD, why);
    ntf_service_prefs_forget(self, req->user_id);
    if (ntf_prefs_put(self->cfg.db, req->user_id, &p, hm_clock_wall_ms()) != 0)
        return s_db_error(req);
    self->hold_at = ntf_now_ms(); /* quiet hours may have ended for held ones */
    hm_log_info("prefs_updated", "user_id=%lld", (long long)req->user_id);
    return s_ack(req, json_pack("{s:o}", "preferences", ntf_prefs_to_json(&p)));
}

/* ---- notify.replay ------------------------------------------------------------------- */

/* Appends the client JSON of row to the array in arg. */
static int
s_append_event(const ntf_row_t *row, void *arg)
{
    json_t *ev = ntf_render_client(row);
    return !ev || json_array_append_new(arg, ev) != 0;
}

/* The replay answer for user_id after since. */
static hm_envelope_t *
s_replay_answer(ntf_service_t *self, const hm_envelope_t *req, int64_t user_id, int64_t since)
{
    json_t *events = json_array();
    bool more = false;
    int n = events ? ntf_query_since(self->cfg.db, user_id, since, NTF_REPLAY_MAX, &more,
                                     s_append_event, events)
                   : -1;
    if (n < 0 || (size_t)n != json_array_size(events)) {
        json_decref(events);
        return s_db_error(req);
    }
    return s_ack(req, json_pack("{s:I, s:o, s:b}", "user_id", (json_int_t)user_id, "events", events,
                                "more", more));
}

/* A replay waiting for auth.authorize. */
typedef struct {
    ntf_service_t *self;     /* borrowed */
    hm_envelope_t *req;      /* the request; owned */
    zframe_t *reply_to;      /* its return address; owned */
    hm_mdp_worker_t *worker; /* the worker it came through (the reply must too); borrowed */
    int64_t user_id;         /* stream owner */
    int64_t since;           /* after this seq */
} s_replay_wait_t;

static void
s_on_authorized(void *arg, const hm_envelope_t *reply, ntf_authc_end_t end)
{
    s_replay_wait_t *w = arg;
    hm_envelope_t *rep = NULL;
    if (end == NTF_AUTHC_CANCELLED)
        ; /* shutting down: the edge retries elsewhere or times out */
    else if (!reply)
        rep = hm_mdp_error_reply(w->req, HM_ERR_SERVICE_UNAVAILABLE, "auth did not answer");
    else if (strcmp(reply->type, HM_MSG_ERROR) == 0)
        rep = hm_mdp_error_reply(w->req, HM_ERR_FORBIDDEN, "not allowed");
    else
        rep = s_replay_answer(w->self, w->req, w->user_id, w->since);
    if (end != NTF_AUTHC_CANCELLED &&
        (!rep || hm_mdp_worker_send(w->worker, &w->reply_to, rep) != 0))
        hm_log_error("reply_failed", "verb=%s", HM_VERB_NOTIFY_REPLAY);
    hm_envelope_destroy(&rep);
    hm_envelope_destroy(&w->req);
    zframe_destroy(&w->reply_to);
    free(w);
}

/* Asks auth whether the requester may read user_id's stream; the reply
 * goes out from s_on_authorized. Returns NULL (deferred) or an error. */
static hm_envelope_t *
s_replay_authorize(ntf_service_t *self, const hm_envelope_t *req, s_from_t *from, int64_t user_id,
                   int64_t since)
{
    if (!self->cfg.authc || !from->worker || !*from->reply_to) {
        hm_audit_denied(self->cfg.pub, req, HM_SVC_NOTIFY, user_id, NULL);
        return hm_mdp_error_reply(req, HM_ERR_FORBIDDEN, "not your stream");
    }
    s_replay_wait_t *w = calloc(1, sizeof *w);
    if (!w || !(w->req = hm_envelope_dup(req))) {
        free(w);
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "out of memory");
    }
    w->self = self;
    w->user_id = user_id;
    w->since = since;
    w->reply_to = *from->reply_to;
    w->worker = from->worker;
    json_t *data = json_pack("{s:s, s:I}", "action", "subscribe:" HM_SUB_NOTIFICATIONS,
                             "target_user_id", (json_int_t)user_id);
    if (ntf_authc_request(self->cfg.authc, HM_VERB_AUTH_AUTHORIZE, req->user_id, data,
                          s_on_authorized, w) != 0) {
        hm_envelope_destroy(&w->req);
        free(w);
        return hm_mdp_error_reply(req, HM_ERR_SERVICE_UNAVAILABLE, "auth unreachable");
    }
    *from->reply_to = NULL;
    return NULL;
}

static hm_envelope_t *
s_replay(ntf_service_t *self, const hm_envelope_t *req, s_from_t *from)
{
    json_t *uid = json_object_get(req->data, "user_id"),
           *since = json_object_get(req->data, "since_seq");
    int64_t user_id = uid ? json_integer_value(uid) : req->user_id;
    if ((uid && (!json_is_integer(uid) || json_integer_value(uid) <= 0)) || user_id <= 0 ||
        (since && !json_is_null(since) &&
         (!json_is_integer(since) || json_integer_value(since) < 0)))
        return s_bad(req, "needs user_id (a positive integer) and since_seq (>= 0)");
    int64_t after = json_is_integer(since) ? json_integer_value(since) : 0;
    if (req->user_id > 0 && req->user_id != user_id)
        return s_replay_authorize(self, req, from, user_id, after);
    return s_replay_answer(self, req, user_id, after);
}

/* ---- dispatch --------------------------------------------------------------------------- */

static const struct {
    const char *verb;      /* request type */
    s_handler_fn *handler; /* its handler */
} s_verbs[] = {
    {HM_VERB_NOTIFY_CREATE, s_create},       {HM_VERB_NOTIFY_ACK, s_ack_verb},
    {HM_VERB_NOTIFY_MARK_READ, s_mark_read}, {HM_VERB_NOTIFY_LIST, s_list},
    {HM_VERB_NOTIFY_PREFS_GET, s_prefs_get}, {HM_VERB_NOTIFY_PREFS_SET, s_prefs_set},
    {HM_VERB_NOTIFY_REPLAY, s_replay},
};

hm_envelope_t *
ntf_verbs_handle(ntf_service_t *self, const hm_envelope_t *req, zframe_t **reply_to,
                 hm_mdp_worker_t *worker)
{
    s_from_t from = {reply_to, worker};
    for (size_t i = 0; i < sizeof s_verbs / sizeof s_verbs[0]; i++) {
        if (strcmp(req->type, s_verbs[i].verb) != 0)
            continue;
        hm_envelope_t *rep = s_verbs[i].handler(self, req, &from);
        hm_log_debug("request", "verb=%s result=%s", req->type, rep ? rep->type : "deferred");
        return rep;
    }
    char q[HM_ENVELOPE_MAX_STR * 4 + 8];
    hm_log_info("unknown_verb", "verb=%s", hm_log_quote(req->type, q, sizeof q));
    return hm_mdp_error_reply(req, HM_ERR_UNKNOWN_VERB, "notify does not know this verb");
}
