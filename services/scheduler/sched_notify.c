/*
 * sched_notify.c - notify.create requests for fires.
 */
#include "sched_notify.h"

#include <stdio.h>

#include "hm_proto.h"
#include "sched_spec.h"
#include "sched_tz.h"

/* "in 1 hour", "in 2 days", "in 90 minutes", "now". */
static void
s_lead(int offset_min, char *out, size_t len)
{
    if (offset_min == 0)
        snprintf(out, len, "now");
    else if (offset_min % 1440 == 0)
        snprintf(out, len, "in %d day%s", offset_min / 1440, offset_min == 1440 ? "" : "s");
    else if (offset_min % 60 == 0)
        snprintf(out, len, "in %d hour%s", offset_min / 60, offset_min == 60 ? "" : "s");
    else
        snprintf(out, len, "in %d minute%s", offset_min, offset_min == 1 ? "" : "s");
}

/* The title and message the user sees. */
static void
s_text(const sched_fire_row_t *f, const sched_reminder_t *r, char *title, size_t tlen, char *msg,
       size_t mlen)
{
    const char *again = f->snooze ? " (snoozed)" : "";
    if (r->kind == SCHED_KIND_MEDICATION) {
        snprintf(title, tlen, "Medication reminder%s", again);
        if (r->dose[0])
            snprintf(msg, mlen, "Time to take %s (%s)", r->title, r->dose);
        else
            snprintf(msg, mlen, "Time to take %s", r->title);
        return;
    }
    char lead[32];
    struct icaltimetype t = sched_tz_local(sched_tz_get(r->tz), f->instance_s);
    s_lead(f->snooze ? 0 : f->offset_min, lead, sizeof lead);
    snprintf(title, tlen, "Appointment reminder%s", again);
    snprintf(msg, mlen, "%s at %02d:%02d on %04d-%02d-%02d (%s)", r->title, t.hour, t.minute,
             t.year, t.month, t.day, f->snooze ? "snoozed" : lead);
}

hm_envelope_t *
sched_notify_request(const sched_fire_row_t *f, const sched_reminder_t *r)
{
    char title[64], msg[SCHED_TITLE_MAX + SCHED_DOSE_MAX + 64];
    s_text(f, r, title, sizeof title, msg, sizeof msg);
    bool med = r->kind == SCHED_KIND_MEDICATION;
    json_t *inner =
        json_pack("{s:s, s:I, s:b, s:s, s:I, s:b, s:I, s:i}", "reminder_id", f->reminder_id,
                  "occurrence", (json_int_t)f->occurrence_s, "late", f->late, "kind",
                  sched_spec_kind_name(r->kind), "fire_at", (json_int_t)f->fire_s, "snooze",
                  f->snooze, "instance", (json_int_t)f->instance_s, "offset_min", f->offset_min);
    json_t *data =
        inner ? json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o}", "user_id", (json_int_t)f->user_id,
                          "type", med ? SCHED_NOTIFY_MED_TYPE : SCHED_NOTIFY_APPT_TYPE, "priority",
                          SCHED_NOTIFY_PRIORITY, "title", title, "message", msg, "idempotency_key",
                          f->key, "data", inner)
              : NULL;
    hm_envelope_t *env = data ? hm_envelope_new(HM_VERB_NOTIFY_CREATE) : NULL;
    if (!env || hm_envelope_set_id(env, f->req_id) != 0) {
        json_decref(data);
        hm_envelope_destroy(&env);
        return NULL;
    }
    env->user_id = 0;
    hm_envelope_set_data(env, data);
    return env;
}
