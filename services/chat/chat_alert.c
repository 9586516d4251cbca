/*
 * chat_alert.c - care-team notifications for emergency messages.
 */
#include "chat_alert.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hm_clock.h"
#include "hm_log.h"
#include "hm_proto.h"

/* One alert in progress. */
typedef struct {
    int64_t id;                              /* cookie of its calls */
    char msg_id[HM_UUID_STRLEN];             /* the emergency message */
    char conv[CHAT_CONV_ID_MAX + 1];         /* its conversation */
    int64_t user_id;                         /* the patient */
    bool team_known;                         /* the members are decided */
    int nmembers;                            /* recipients */
    int64_t members[CHAT_ALERT_MEMBERS_MAX]; /* user ids (the patient when nobody else) */
    bool acked[CHAT_ALERT_MEMBERS_MAX];      /* notify.create acknowledged */
    bool to_patient;                         /* nobody known: the patient, care_team=true */
    int pending;                             /* calls in flight */
    int64_t retry_at_ms;                     /* next try of what failed (monotonic) */
} s_alert_t;

struct chat_alert_t {
    sqlite3 *db;       /* borrowed */
    chat_tx_t *tx;     /* borrowed */
    chat_call_t *call; /* borrowed */
    int timeout_ms;    /* per call */
    zlistx_t *alerts;  /* s_alert_t * in progress; owned */
    zlistx_t *owed;    /* s_alert_t * owed in the open batch; owned */
    int64_t next_id;   /* next alert id */
};

static int64_t
s_now_ms(void)
{
    return hm_clock_mono_ns() / 1000000;
}

static void
s_free(void **item)
{
    free(*item);
    *item = NULL;
}

chat_alert_t *
chat_alert_new(sqlite3 *db, chat_tx_t *tx, chat_call_t *call, int timeout_ms)
{
    chat_alert_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->alerts = zlistx_new();
    self->owed = zlistx_new();
    if (!self->alerts || !self->owed) {
        chat_alert_destroy(&self);
        return NULL;
    }
    zlistx_set_destructor(self->alerts, s_free);
    zlistx_set_destructor(self->owed, s_free);
    self->db = db;
    self->tx = tx;
    self->call = call;
    self->timeout_ms = timeout_ms;
    self->next_id = 1;
    return self;
}

void
chat_alert_destroy(chat_alert_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zlistx_destroy(&(*self_p)->alerts);
    zlistx_destroy(&(*self_p)->owed);
    free(*self_p);
    *self_p = NULL;
}

/* A new alert record (not yet listed). */
static s_alert_t *
s_alert_new(chat_alert_t *self, const char *msg_id, const char *conv, int64_t user_id)
{
    s_alert_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->id = self->next_id++;
    snprintf(a->msg_id, sizeof a->msg_id, "%s", msg_id);
    snprintf(a->conv, sizeof a->conv, "%s", conv);
    a->user_id = user_id;
    return a;
}

static s_alert_t *
s_find(chat_alert_t *self, int64_t id)
{
    for (s_alert_t *a = zlistx_first(self->alerts); a; a = zlistx_next(self->alerts))
        if (a->id == id)
            return a;
    return NULL;
}

/* Asks hm-auth who is in the patient's care team. */
static void
s_ask_team(chat_alert_t *self, s_alert_t *a)
{
    hm_envelope_t *req = hm_envelope_new(HM_VERB_AUTH_CARE_TEAM);
    if (req)
        hm_envelope_set_data(req, json_pack("{s:I}", "user_id", (json_int_t)a->user_id));
    if (!req || chat_call_start(self->call, HM_SVC_AUTH, &req, self->timeout_ms,
                                self->timeout_ms / 3, CHAT_CALL_CARE_TEAM, a->id, NULL) != 0)
        a->retry_at_ms = s_now_ms() + CHAT_ALERT_RETRY_MS;
    else
        a->pending++;
}

/* The notify.create data for recipient i of a. Caller owns. */
static json_t *
s_notification(const s_alert_t *a, int i)
{
    char key[160];
    snprintf(key, sizeof key, "chat-emergency:%s:%" PRId64, a->msg_id, a->members[i]);
    const char *title = a->to_patient ? "Urgent: your message may describe an emergency"
                                      : "Urgent: a patient may need help now";
    const char *message = a->to_patient
                              ? "If you have not yet, call your local emergency number now."
                              : "A patient in your care sent a chat message that may describe an "
                                "emergency. Please check on them now.";
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:{s:I, s:s, s:s, s:b, s:s}, s:s}", "user_id",
                     (json_int_t)a->members[i], "type", HM_NOTIFY_TYPE_HEALTH_ALERT, "priority",
                     HM_NOTIFY_PRIORITY_HIGH, "title", title, "message", message, "data",
                     "patient_user_id", (json_int_t)a->user_id, "conversation_id", a->conv,
                     "message_id", a->msg_id, "care_team", 1, "source", "chat", "idempotency_key",
                     key);
}

/* Sends notify.create to every recipient not yet acknowledged. */
static void
s_notify(chat_alert_t *self, s_alert_t *a)
{
    for (int i = 0; i < a->nmembers; i++) {
        if (a->acked[i])
            continue;
        hm_envelope_t *req = hm_envelope_new(HM_VERB_NOTIFY_CREATE);
        if (req)
            hm_envelope_set_data(req, s_notification(a, i));
        char tag[24];
        snprintf(tag, sizeof tag, "%d", i);
        if (req && chat_call_start(self->call, HM_SVC_NOTIFY, &req, self->timeout_ms,
                                   self->timeout_ms / 5, CHAT_CALL_NOTIFY, a->id, tag) == 0)
            a->pending++;
    }
    a->retry_at_ms = s_now_ms() + CHAT_ALERT_RETRY_MS;
}

/* Decides the recipients from auth's reply (may be NULL) and chat's own
 * knowledge, then notifies them. */
static void
s_on_team(chat_alert_t *self, s_alert_t *a, const hm_envelope_t *rep)
{
    if (!rep || strcmp(rep->type, HM_MSG_ERROR) == 0)
        hm_log_info("care_team_unknown_to_auth", "user_id=%" PRId64 " reason=%s", a->user_id,
                    rep ? "error_reply" : "timeout"); /* chat's own knowledge still counts */
    size_t i;
    json_t *m;
    json_array_foreach(rep ? json_object_get(rep->data, "members") : NULL, i, m)
    {
        json_t *id = m;
        if (json_is_object(m)) /* SPEC 7: {id, display_name, role} */
            id =
                json_object_get(m, "id") ? json_object_get(m, "id") : json_object_get(m, "user_id");
        if (json_is_integer(id) && json_integer_value(id) > 0 &&
            a->nmembers < CHAT_ALERT_MEMBERS_MAX)
            a->members[a->nmembers++] = json_integer_value(id);
    }
    int64_t known[CHAT_ALERT_MEMBERS_MAX];
    int n = chat_db_care_team(self->db, a->user_id, known, CHAT_ALERT_MEMBERS_MAX);
    for (int k = 0; k < n; k++) {
        bool dup = false;
        for (int j = 0; j < a->nmembers; j++)
            dup = dup || a->members[j] == known[k];
        if (!dup && a->nmembers < CHAT_ALERT_MEMBERS_MAX)
            a->members[a->nmembers++] = known[k];
    }
    if (a->nmembers == 0) {
        a->members[a->nmembers++] = a->user_id;
        a->to_patient = true;
    }
    a->team_known = true;
    hm_log_info("emergency_alert", "user_id=%" PRId64 " recipients=%d to_patient=%d", a->user_id,
                a->nmembers, a->to_patient ? 1 : 0);
    s_notify(self, a);
}

static bool s_all_acked(const s_alert_t *a);

/* Deletes a finished alert's row and forgets it. */
static void
s_finish(chat_alert_t *self, s_alert_t *a)
{
    if (chat_tx_save(self->tx) != 0)
        return; /* tried again on the next tick */
    bool ok = chat_db_alert_delete(self->db, a->msg_id) == 0;
    chat_tx_end(self->tx, ok);
    if (!ok)
        return;
    void *h = zlistx_find(self->alerts, a);
    if (h)
        zlistx_delete(self->alerts, h);
}

void
chat_alert_on_call(chat_alert_t *self, int kind, int64_t cookie, const char *tag,
                   const hm_envelope_t *rep)
{
    s_alert_t *a = s_find(self, cookie);
    if (!a)
        return;
    a->pending--;
    if (kind == CHAT_CALL_CARE_TEAM) {
        s_on_team(self, a, rep);
        return;
    }
    int i = atoi(tag);
    bool ok = rep && strcmp(rep->type, HM_MSG_ERROR) != 0;
    if (i >= 0 && i < a->nmembers && ok)
        a->acked[i] = true;
    if (!ok)
        hm_log_warn("alert_notify_failed", "user_id=%" PRId64 " reason=%s", a->user_id,
                    rep ? json_string_value(json_object_get(rep->data, "code")) : "timeout");
    if (a->pending == 0 && s_all_acked(a))
        s_finish(self, a);
}

int
chat_alert_owe(chat_alert_t *self, const char *msg_id, const char *conv, int64_t user_id)
{
    if (chat_db_alert_put(self->db, msg_id, conv, user_id, hm_clock_wall_ms()) != 0)
        return -1;
    s_alert_t *a = s_alert_new(self, msg_id, conv, user_id);
    if (a && !zlistx_add_end(self->owed, a)) {
        free(a);
        a = NULL;
    }
    return 0; /* in memory or not, the row makes it happen (resume) */
}

void
chat_alert_committed(chat_alert_t *self, bool ok)
{
    s_alert_t *a;
    while ((a = zlistx_detach(self->owed, NULL))) {
        if (!ok || zlistx_size(self->alerts) >= CHAT_ALERT_MAX ||
            !zlistx_add_end(self->alerts, a)) {
            free(a);
            continue;
        }
        s_ask_team(self, a);
    }
}

/* Whether message msg_id's alert is in memory. */
static bool
s_known(chat_alert_t *self, const char *msg_id)
{
    for (s_alert_t *a = zlistx_first(self->alerts); a; a = zlistx_next(self->alerts))
        if (strcmp(a->msg_id, msg_id) == 0)
            return true;
    return false;
}

int
chat_alert_resume(chat_alert_t *self)
{
    json_t *rows = chat_db_alerts(self->db, CHAT_ALERT_MAX);
    if (!rows)
        return -1;
    int n = 0;
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        const char *msg_id = json_string_value(json_object_get(r, "message_id"));
        if (!msg_id || s_known(self, msg_id) || zlistx_size(self->alerts) >= CHAT_ALERT_MAX)
            continue;
        s_alert_t *a =
            s_alert_new(self, msg_id, json_string_value(json_object_get(r, "conversation_id")),
                        json_integer_value(json_object_get(r, "user_id")));
        if (a && zlistx_add_end(self->alerts, a)) {
            s_ask_team(self, a);
            n++;
        } else {
            free(a);
        }
    }
    json_decref(rows);
    return n;
}

/* Whether every recipient of a acknowledged. */
static bool
s_all_acked(const s_alert_t *a)
{
    for (int k = 0; k < a->nmembers; k++)
        if (!a->acked[k])
            return false;
    return a->team_known;
}

void
chat_alert_tick(chat_alert_t *self, int64_t now_ms)
{
    zlist_t *done = zlist_new();
    for (s_alert_t *a = zlistx_first(self->alerts); a; a = zlistx_next(self->alerts)) {
        if (a->pending > 0 || now_ms < a->retry_at_ms)
            continue;
        if (!a->team_known)
            s_ask_team(self, a);
        else if (s_all_acked(a))
            zlist_append(done, a); /* its row delete failed before */
        else
            s_notify(self, a); /* the unacknowledged ones again */
    }
    for (s_alert_t *a = zlist_first(done); a; a = zlist_next(done))
        s_finish(self, a);
    zlist_destroy(&done);
}

size_t
chat_alert_active(chat_alert_t *self)
{
    return zlistx_size(self->alerts);
}
