/*
 * ntf_model.c - names of types, priorities and states; renderings of a
 * notification for the bus, for replay and for lists.
 */
#include "ntf_model.h"

#include <stdlib.h>
#include <string.h>

#include "hm_clock.h"
#include "hm_proto.h"

static const char *const s_types[NTF_TYPE_COUNT] = {"health_alert", "medication_reminder",
                                                    "appointment_reminder", "system"};
static const char *const s_prios[NTF_PRIO_COUNT] = {"low", "normal", "high", "critical"};
static const char *const s_states[NTF_ST_COUNT] = {"pending", "held",    "muted",
                                                   "acked",   "expired", "evicted"};

void
ntf_row_clear(ntf_row_t *row)
{
    if (!row)
        return;
    free(row->title);
    free(row->message);
    json_decref(row->data);
    memset(row, 0, sizeof *row);
}

/* Index of name in a table of n names, or -1. */
static int
s_lookup(const char *const *names, int n, const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

int
ntf_type_parse(const char *name)
{
    return s_lookup(s_types, NTF_TYPE_COUNT, name);
}

const char *
ntf_type_name(ntf_type_t type)
{
    return type >= 0 && type < NTF_TYPE_COUNT ? s_types[type] : "?";
}

int
ntf_prio_parse(const char *name)
{
    return s_lookup(s_prios, NTF_PRIO_COUNT, name);
}

const char *
ntf_prio_name(ntf_prio_t prio)
{
    return prio >= 0 && prio < NTF_PRIO_COUNT ? s_prios[prio] : "?";
}

const char *
ntf_status_name(ntf_status_t status)
{
    return status >= 0 && status < NTF_ST_COUNT ? s_states[status] : "?";
}

/* Sets key to an ISO 8601 time, or null when ms is 0. */
static void
s_set_time(json_t *obj, const char *key, int64_t ms)
{
    char iso[40];
    json_object_set_new(obj, key,
                        ms ? json_string(hm_clock_iso8601(ms, iso, sizeof iso)) : json_null());
}

json_t *
ntf_render_data(const ntf_row_t *row, int resend)
{
    json_t *n = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "id", row->id, "type",
                          ntf_type_name(row->type), "title", row->title ? row->title : "",
                          "message", row->message ? row->message : "", "priority",
                          ntf_prio_name(row->prio), "seq", (json_int_t)row->seq);
    if (!n)
        return NULL;
    s_set_time(n, "created_at", row->created_at);
    if (row->data)
        json_object_set(n, "data", row->data);
    if (resend > 0)
        json_object_set_new(n, "resend", json_integer(resend));
    return n;
}

hm_envelope_t *
ntf_render_event(const ntf_row_t *row, bool with_seq, int resend)
{
    hm_envelope_t *env = hm_envelope_new(HM_MSG_NOTIFICATION);
    json_t *data = ntf_render_data(row, resend);
    if (!env || !data || hm_envelope_set_data(env, data) != 0) {
        if (!env)
            json_decref(data);
        hm_envelope_destroy(&env);
        return NULL;
    }
    env->user_id = row->user_id;
    env->seq = with_seq ? row->seq : -1;
    return env;
}

json_t *
ntf_render_client(const ntf_row_t *row)
{
    json_t *n = ntf_render_data(row, 0);
    json_t *ev = n ? json_pack("{s:s, s:o, s:I}", "type", HM_MSG_NOTIFICATION, "notification", n,
                               "seq", (json_int_t)row->seq)
                   : NULL;
    if (!ev)
        return NULL;
    s_set_time(ev, "timestamp", row->sent_at ? row->sent_at : row->created_at);
    if (row->user_id > 0)
        json_object_set_new(ev, "user_id", json_integer(row->user_id));
    return ev;
}

json_t *
ntf_render_item(const ntf_row_t *row)
{
    json_t *n = ntf_render_data(row, 0);
    if (!n)
        return NULL;
    ntf_status_t st = row->status;
    if (row->user_id == 0 && row->acked_at)
        st = NTF_ST_ACKED; /* a broadcast's state is per user */
    json_object_set_new(n, "status", json_string(ntf_status_name(st)));
    json_object_set_new(n, "muted", json_boolean(row->muted));
    json_object_set_new(n, "read", json_boolean(row->read_at != 0));
    json_object_set_new(n, "acked", json_boolean(row->acked_at != 0));
    json_object_set_new(n, "broadcast", json_boolean(row->user_id == 0));
    s_set_time(n, "read_at", row->read_at);
    s_set_time(n, "acked_at", row->acked_at);
    s_set_time(n, "expires_at", row->expires_at);
    return n;
}
