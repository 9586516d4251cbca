/*
 * sched_spec.c - reminder JSON in (validated) and out.
 */
#include "sched_spec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_clock.h"
#include "hm_proto.h"
#include "sched_rule.h"
#include "sched_tz.h"

/* Sets err (message from fmt); returns -1. */
static int s_err(sched_err_t *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
s_err(sched_err_t *err, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

const char *
sched_spec_kind_name(sched_kind_t kind)
{
    return kind == SCHED_KIND_MEDICATION    ? "medication"
           : kind == SCHED_KIND_APPOINTMENT ? "appointment"
                                            : "";
}

/* A string field into out (size max + 1). Absent or null: "" (or an error
 * when required). Returns 0 or -1. */
static int
s_string(const json_t *data, const char *key, bool required, char *out, size_t max,
         sched_err_t *err)
{
    json_t *v = json_object_get(data, key);
    out[0] = '\0';
    if (!v || json_is_null(v))
        return required ? s_err(err, HM_ERR_MISSING_FIELD, "'%s' is required", key) : 0;
    if (!json_is_string(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v))
        return s_err(err, HM_ERR_INVALID_FIELD, "'%s' must be a string of limited length", key);
    if (required && json_string_length(v) == 0)
        return s_err(err, HM_ERR_INVALID_FIELD, "'%s' must not be empty", key);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int
s_kind(const json_t *data, sched_reminder_t *r, sched_err_t *err)
{
    char kind[16];
    if (s_string(data, "kind", true, kind, sizeof kind - 1, err) != 0)
        return -1;
    if (strcmp(kind, "medication") == 0)
        r->kind = SCHED_KIND_MEDICATION;
    else if (strcmp(kind, "appointment") == 0)
        r->kind = SCHED_KIND_APPOINTMENT;
    else
        return s_err(err, HM_ERR_INVALID_FIELD, "'%s' must be medication or appointment", "kind");
    return 0;
}

static int
s_cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Sorts ascending (descending when desc) and drops duplicates. Returns the
 * new count. */
static int
s_sort_unique(int *v, int n, bool desc)
{
    qsort(v, (size_t)n, sizeof *v, s_cmp_int);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || v[m - 1] != v[i])
            v[m++] = v[i];
    for (int i = 0; desc && i < m / 2; i++) {
        int t = v[i];
        v[i] = v[m - 1 - i];
        v[m - 1 - i] = t;
    }
    return m;
}

static int
s_times(const json_t *data, sched_reminder_t *r, sched_err_t *err)
{
    json_t *v = json_object_get(data, "times");
    if (!v || json_is_null(v))
        return s_err(err, HM_ERR_MISSING_FIELD, "'%s' is required", "times");
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (n < 1 || n > SCHED_TIMES_MAX)
        return s_err(err, HM_ERR_INVALID_FIELD, "'%s' must be an array of 1 to 24 times", "times");
    for (size_t i = 0; i < n; i++)
        if (sched_tz_parse_time(json_string_value(json_array_get(v, i)), &r->times[i]) != 0)
            return s_err(err, HM_ERR_INVALID_FIELD, "'%s' entries must be \"HH:MM\"", "times");
    r->ntimes = s_sort_unique(r->times, (int)n, false);
    return 0;
}

/* days: an array of day codes or names (or one string "MO,WE,FR"). */
static int
s_days(const json_t *v, int *mask, sched_err_t *err)
{
    char buf[128];
    *mask = 0;
    if (json_is_string(v) && json_string_length(v) < sizeof buf) {
        snprintf(buf, sizeof buf, "%s", json_string_value(v));
        for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
             tok = strtok_r(NULL, ", ", &save)) {
            int d = sched_rule_day_parse(tok);
            if (d < 0)
                return s_err(err, HM_ERR_INVALID_FIELD, "'%s' holds an unknown day", "days");
            *mask |= 1 << d;
        }
    } else if (json_is_array(v) && json_array_size(v) <= 7) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int d = sched_rule_day_parse(json_string_value(json_array_get(v, i)));
            if (d < 0)
                return s_err(err, HM_ERR_INVALID_FIELD, "'%s' holds an unknown day", "days");
            *mask |= 1 << d;
        }
    }
    if (*mask == 0)
        return s_err(err, HM_ERR_INVALID_FIELD, "'%s' must list days such as [\"MO\",\"TH\"]",
                     "days");
    return 0;
}

/* start_date (default today in the zone). */
static int
s_start_date(const json_t *data, icaltimezone *zone, int64_t now_ms, sched_reminder_t *r,
             sched_err_t *err)
{
    struct icaltimetype d;
    if (s_string(data, "start_date", false, r->start_date, SCHED_DATE_LEN - 1, err) != 0)
        return -1;
    if (!r->start_date[0]) {
        d = sched_tz_local(zone, now_ms / 1000);
        snprintf(r->start_date, sizeof r->start_date, "%04d-%02d-%02d", d.year, d.month, d.day);
    }
    if (sched_tz_parse_date(r->start_date, &d) != 0)
        return s_err(err, HM_ERR_INVALID_FIELD, "'%s' must be a date YYYY-MM-DD", "start_date");
    return 0;
}

/* The recurrence of a medication: rrule as given, or days and end_date. */
static int
s_med_rule(const json_t *data, icaltimezone *zone, sched_reminder_t *r, sched_err_t *err)
{
    json_t *rrule = json_object_get(data, "rrule"), *days = json_object_get(data, "days");
    if (s_string(data, "end_date", false, r->end_date, SCHED_DATE_LEN - 1, err) != 0)
        return -1;
    if (rrule && !json_is_null(rrule)) {
        if ((days && !json_is_null(days)) || r->end_date[0])
            return s_err(err, HM_ERR_INVALID_FIELD, "give either '%s' or days/end_date", "rrule");
        char text[SCHED_RRULE_MAX + 1];
        if (s_string(data, "rrule", true, text, SCHED_RRULE_MAX, err) != 0)
            return -1;
        r->days = 0;
        return sched_rule_canon(text, r->rrule, sizeof r->rrule, err);
    }
    r->days = SCHED_DAYS_ALL;
    if (days && !json_is_null(days) && s_days(days, &r->days, err) != 0)
        return -1;
    struct icaltimetype end, start;
    if (r->end_date[0] && (sched_tz_parse_date(r->end_date, &end) != 0 ||
                           (sched_tz_parse_date(r->start_date, &start) == 0 &&
                            icaltime_compare_date_only(end, start) < 0)))
        return s_err(err, HM_ERR_INVALID_FIELD,
                     "'%s' must be a date YYYY-MM-DD on or after "
                     "start_date",
                     "end_date");
    if (sched_rule_from_days(r->days, r->end_date, zone, r->rrule, sizeof r->rrule) != 0)
        return s_err(err, HM_ERR_INVALID_FIELD, "'%s' cannot be expressed", "days");
    return 0;
}

static int
s_medication(const json_t *data, icaltimezone *zone, int64_t now_ms, sched_reminder_t *r,
             sched_err_t *err)
{
    if (s_string(data, "name", true, r->title, SCHED_TITLE_MAX, err) != 0 ||
        s_string(data, "dose", false, r->dose, SCHED_DOSE_MAX, err) != 0 ||
        s_times(data, r, err) != 0 || s_start_date(data, zone, now_ms, r, err) != 0 ||
        s_med_rule(data, zone, r, err) != 0)
        return -1;
    r->noffsets = 1;
    r->offsets_min[0] = 0;
    return 0;
}

static int
s_offsets(const json_t *data, sched_reminder_t *r, sched_err_t *err)
{
    json_t *v = json_object_get(data, "offsets_min");
    if (!v || json_is_null(v)) {
        static const int defaults[] = SCHED_OFFSETS_DEFAULT;
        r->noffsets = (int)(sizeof defaults / sizeof defaults[0]);
        memcpy(r->offsets_min, defaults, sizeof defaults);
        return 0;
    }
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (n < 1 || n > SCHED_OFFSETS_MAX)
        return s_err(err, HM_ERR_INVALID_FIELD, "'%s' must be an array of 1 to 8 minute counts",
                     "offsets_min");
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(v, i);
        if (!json_is_integer(o) || json_integer_value(o) < 0 ||
            json_integer_value(o) > SCHED_OFFSET_MAX_MIN)
            return s_err(err, HM_ERR_INVALID_FIELD, "'%s' entries must be minutes from 0 to 527040",
                         "offsets_min");
        r->offsets_min[i] = (int)json_integer_value(o);
    }
    r->noffsets = s_sort_unique(r->offsets_min, (int)n, true);
    return 0;
}

/* at: an instant with its offset ("...Z", "...+01:00") or a local time in
 * tz. Sets start_date and times[0] in the reminder's zone. */
static int
s_at(const json_t *data, icaltimezone *zone, sched_reminder_t *r, sched_err_t *err)
{
    char at[40];
    if (s_string(data, "at", true, at, sizeof at - 1, err) != 0)
        return -1;
    struct icaltimetype t;
    int64_t ms;
    if (sched_tz_parse_local(at, &t) != 0) {
        if (hm_clock_parse_iso8601(at, &ms) != 0)
            return s_err(err, HM_ERR_INVALID_FIELD,
                         "'%s' must be a time such as 2026-12-10T14:30:00+01:00", "at");
        t = sched_tz_local(zone, ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    }
    if (t.year < SCHED_YEAR_MIN || t.year > SCHED_YEAR_MAX)
        return s_err(err, HM_ERR_INVALID_FIELD, "'%s' is out of range", "at");
    snprintf(r->start_date, sizeof r->start_date, "%04d-%02d-%02d", t.year, t.month, t.day);
    r->ntimes = 1;
    r->times[0] = t.hour * 3600 + t.minute * 60 + t.second;
    return 0;
}

static int
s_appointment(const json_t *data, icaltimezone *zone, sched_reminder_t *r, sched_err_t *err)
{
    if (s_string(data, "title", true, r->title, SCHED_TITLE_MAX, err) != 0 ||
        s_at(data, zone, r, err) != 0 || s_offsets(data, r, err) != 0)
        return -1;
    char text[SCHED_RRULE_MAX + 1];
    if (s_string(data, "rrule", false, text, SCHED_RRULE_MAX, err) != 0)
        return -1;
    r->days = 0;
    r->end_date[0] = '\0';
    r->rrule[0] = '\0';
    return text[0] ? sched_rule_canon(text, r->rrule, sizeof r->rrule, err) : 0;
}

/* tz: required, except for an appointment whose `at` carries an offset
 * (then UTC). */
static int
s_tz(const json_t *data, sched_reminder_t *r, icaltimezone **zone, sched_err_t *err)
{
    if (s_string(data, "tz", false, r->tz, SCHED_TZ_MAX, err) != 0)
        return -1;
    if (!r->tz[0]) {
        const char *at = json_string_value(json_object_get(data, "at"));
        struct icaltimetype t;
        if (r->kind != SCHED_KIND_APPOINTMENT || !at || sched_tz_parse_local(at, &t) == 0)
            return s_err(err, HM_ERR_MISSING_FIELD, "'%s' (an IANA time zone) is required", "tz");
        snprintf(r->tz, sizeof r->tz, "UTC");
    }
    *zone = sched_tz_get(r->tz);
    if (!*zone)
        return s_err(err, HM_ERR_INVALID_FIELD, "'%s' is not a known IANA time zone", "tz");
    return 0;
}

int
sched_spec_parse(const json_t *data, int64_t now_ms, sched_reminder_t *r, sched_err_t *err)
{
    if (!json_is_object(data))
        return s_err(err, HM_ERR_INVALID_FIELD, "'%s' must be an object", "data");
    icaltimezone *zone = NULL;
    r->dose[0] = '\0';
    if (s_kind(data, r, err) != 0 || s_tz(data, r, &zone, err) != 0 ||
        s_string(data, "notes", false, r->notes, SCHED_NOTES_MAX, err) != 0)
        return -1;
    if (r->kind == SCHED_KIND_MEDICATION)
        return s_medication(data, zone, now_ms, r, err);
    return s_appointment(data, zone, r, err);
}

/* ---- output --------------------------------------------------------------- */

/* "08:00", or "08:00:30" when there are seconds. */
static json_t *
s_time_json(int secs)
{
    char buf[16];
    if (secs % 60)
        snprintf(buf, sizeof buf, "%02d:%02d:%02d", secs / 3600, secs / 60 % 60, secs % 60);
    else
        snprintf(buf, sizeof buf, "%02d:%02d", secs / 3600, secs / 60 % 60);
    return json_string(buf);
}

static json_t *
s_times_json(const sched_reminder_t *r)
{
    json_t *a = json_array();
    for (int i = 0; a && i < r->ntimes; i++)
        json_array_append_new(a, s_time_json(r->times[i]));
    return a;
}

static json_t *
s_days_json(int days)
{
    json_t *a = json_array();
    for (int k = 1; a && k <= 7; k++)
        if (days & (1 << (k % 7)))
            json_array_append_new(a, json_string(sched_rule_day_code(k % 7)));
    return a;
}

static json_t *
s_offsets_json(const sched_reminder_t *r)
{
    json_t *a = json_array();
    for (int i = 0; a && i < r->noffsets; i++)
        json_array_append_new(a, json_integer(r->offsets_min[i]));
    return a;
}

/* The local DTSTART "YYYY-MM-DDTHH:MM:SS" of the first time of day. */
static void
s_local_start(const sched_reminder_t *r, char *out, size_t len)
{
    int t = r->ntimes > 0 ? r->times[0] : 0;
    snprintf(out, len, "%sT%02d:%02d:%02d", r->start_date, t / 3600, t / 60 % 60, t % 60);
}

/* Adds the kind-specific keys of the output form. */
static void
s_render_kind(const sched_reminder_t *r, icaltimezone *zone, json_t *j)
{
    if (r->kind == SCHED_KIND_MEDICATION) {
        json_object_set_new(j, "name", json_string(r->title));
        json_object_set_new(j, "dose", r->dose[0] ? json_string(r->dose) : json_null());
        json_object_set_new(j, "days", r->days ? s_days_json(r->days) : json_null());
        json_object_set_new(j, "end_date", r->end_date[0] ? json_string(r->end_date) : json_null());
        return;
    }
    char local[40], iso[SCHED_TZ_ISO_LEN];
    struct icaltimetype t;
    s_local_start(r, local, sizeof local);
    json_object_set_new(j, "title", json_string(r->title));
    if (sched_tz_parse_local(local, &t) == 0)
        json_object_set_new(
            j, "at", json_string(sched_tz_iso(zone, sched_tz_to_utc(zone, t), iso, sizeof iso)));
    json_object_set_new(j, "offsets_min", s_offsets_json(r));
}

json_t *
sched_spec_render(const sched_reminder_t *r)
{
    icaltimezone *zone = sched_tz_get(r->tz);
    char iso[SCHED_TZ_ISO_LEN], created[32], updated[32];
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s*, s:s, s:s}", "id", r->id, "kind",
                          sched_spec_kind_name(r->kind), "tz", r->tz, "start_date", r->start_date,
                          "times", s_times_json(r), "rrule", r->rrule[0] ? r->rrule : NULL,
                          "created_at", hm_clock_iso8601(r->created_ms, created, sizeof created),
                          "updated_at", hm_clock_iso8601(r->updated_ms, updated, sizeof updated));
    if (!j)
        return NULL;
    s_render_kind(r, zone, j);
    if (r->notes[0])
        json_object_set_new(j, "notes", json_string(r->notes));
    bool next = r->next_fire_s >= 0 && !r->deleted;
    json_object_set_new(j, "next_occurrence", next ? json_integer(r->next_fire_s) : json_null());
    json_object_set_new(j, "next_occurrence_at",
                        next ? json_string(sched_tz_iso(zone, r->next_fire_s, iso, sizeof iso))
                             : json_null());
    if (r->deleted)
        json_object_set_new(j, "deleted", json_true());
    return j;
}

/* ---- updates -------------------------------------------------------------- */

json_t *
sched_spec_base(const sched_reminder_t *r)
{
    json_t *j = json_pack("{s:s, s:s, s:s}", "kind", sched_spec_kind_name(r->kind), "tz", r->tz,
                          "notes", r->notes);
    if (!j)
        return NULL;
    if (r->kind == SCHED_KIND_MEDICATION) {
        json_object_set_new(j, "name", json_string(r->title));
        json_object_set_new(j, "dose", json_string(r->dose));
        json_object_set_new(j, "times", s_times_json(r));
        json_object_set_new(j, "start_date", json_string(r->start_date));
        if (r->days) {
            json_object_set_new(j, "days", s_days_json(r->days));
            if (r->end_date[0])
                json_object_set_new(j, "end_date", json_string(r->end_date));
        } else {
            json_object_set_new(j, "rrule", json_string(r->rrule));
        }
        return j;
    }
    char local[40];
    s_local_start(r, local, sizeof local);
    json_object_set_new(j, "title", json_string(r->title));
    json_object_set_new(j, "at", json_string(local));
    json_object_set_new(j, "offsets_min", s_offsets_json(r));
    if (r->rrule[0])
        json_object_set_new(j, "rrule", json_string(r->rrule));
    return j;
}

json_t *
sched_spec_merge(json_t *base, const json_t *update)
{
    bool rule = json_object_get(update, "rrule") != NULL;
    bool days_form = json_object_get(update, "days") || json_object_get(update, "end_date");
    if (rule && !days_form) {
        json_object_del(base, "days");
        json_object_del(base, "end_date");
    } else if (days_form && !rule) {
        json_object_del(base, "rrule");
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)update, key, v)
    {
        if (strcmp(key, "reminder_id") == 0 || strcmp(key, "user_id") == 0)
            continue;
        if (json_is_null(v))
            json_object_del(base, key);
        else
            json_object_set(base, key, v);
    }
    return base;
}
