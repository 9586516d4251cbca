/*
 * chat_ctx.c - a user's data for one question, read leniently from other
 * services' replies.
 */
#include "chat_ctx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hm_clock.h"

/* Stored names of each metric (hm-health's first), and its label. */
static const struct {
    const char *names[5]; /* names other services store it under */
    const char *label;    /* for people */
} s_metrics[CHAT_M_COUNT] = {
    [CHAT_M_BP] = {{"blood_pressure", "bp", "systolic", "diastolic", NULL}, "blood pressure"},
    [CHAT_M_HEART_RATE] = {{"heart_rate", "pulse", "hr", NULL}, "heart rate"},
    [CHAT_M_GLUCOSE] = {{"glucose", "blood_glucose", "blood_sugar", NULL}, "blood glucose"},
    [CHAT_M_WEIGHT] = {{"weight", "body_weight", NULL}, "weight"},
    [CHAT_M_TEMPERATURE] = {{"temperature", "body_temperature", NULL}, "temperature"},
    [CHAT_M_OXYGEN] = {{"spo2", "oxygen_saturation", "blood_oxygen", NULL}, "blood oxygen"},
    [CHAT_M_STEPS] = {{"steps", "step_count", NULL}, "steps"},
    [CHAT_M_SLEEP] = {{"sleep_minutes", "sleep", "sleep_hours", NULL}, "sleep"},
    [CHAT_M_RESPIRATORY] = {{"respiratory_rate", "respiration_rate", NULL}, "breathing rate"},
};

const char *
chat_metric_name(chat_metric_t m)
{
    return m < CHAT_M_COUNT ? s_metrics[m].names[0] : "";
}

const char *
chat_metric_label(chat_metric_t m)
{
    return m < CHAT_M_COUNT ? s_metrics[m].label : "reading";
}

int
chat_metric_parse(const char *name)
{
    for (int m = 0; name && m < CHAT_M_COUNT; m++)
        for (int i = 0; i < 5 && s_metrics[m].names[i]; i++)
            if (strcasecmp(name, s_metrics[m].names[i]) == 0)
                return m;
    return -1;
}

void
chat_ctx_init(chat_ctx_t *self, unsigned asked, unsigned metrics)
{
    memset(self, 0, sizeof *self);
    self->asked = asked;
    self->metrics = metrics;
}

/* A number from a JSON number or numeric string. Returns 0 or -1. */
static int
s_number(const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    char *end = NULL;
    if (!s || !*s)
        return -1;
    *out = strtod(s, &end);
    return end && *end == '\0' && isfinite(*out) ? 0 : -1;
}

/* A time from an ISO 8601 string or unix ms / s integer; 0 when unknown. */
static int64_t
s_time(const json_t *v)
{
    int64_t ms = 0;
    if (json_is_integer(v)) {
        ms = json_integer_value(v);
        return ms > 0 && ms < 100000000000LL ? ms * 1000 : ms; /* seconds look small */
    }
    const char *s = json_string_value(v);
    return s && hm_clock_parse_iso8601(s, &ms) == 0 ? ms : 0;
}

/* Blood pressure from systolic/diastolic fields, a {systolic, diastolic}
 * value or a "120/80" string. Returns true when found. */
static bool
s_blood_pressure(const json_t *rd, chat_reading_t *r)
{
    const json_t *v = json_object_get(rd, "value");
    const json_t *src = json_is_object(v) ? v : rd;
    double sys, dia;
    if (s_number(json_object_get(src, "systolic"), &sys) == 0 &&
        s_number(json_object_get(src, "diastolic"), &dia) == 0) {
        r->value = sys;
        r->diastolic = dia;
        return r->has_bp = true;
    }
    const char *s = json_string_value(v);
    if (s && sscanf(s, "%lf/%lf", &sys, &dia) == 2) {
        r->value = sys;
        r->diastolic = dia;
        return r->has_bp = true;
    }
    return false;
}

/* Adds one reading object. */
static void
s_add_reading(chat_ctx_t *self, const json_t *rd)
{
    int m = chat_metric_parse(json_string_value(json_object_get(rd, "metric")));
    if (m < 0 || (self->metrics && !(self->metrics & (1u << m))))
        return;
    chat_reading_t r = {0};
    if (!(m == CHAT_M_BP && s_blood_pressure(rd, &r)) &&
        s_number(json_object_get(rd, "value"), &r.value) != 0)
        return;
    const char *unit = json_string_value(json_object_get(rd, "unit"));
    snprintf(r.unit, sizeof r.unit, "%s", unit ? unit : "");
    r.ts_ms = s_time(json_object_get(rd, "timestamp"));
    if (!r.ts_ms)
        r.ts_ms = s_time(json_object_get(rd, "measured_at"));
    chat_series_t *s = &self->series[m];
    s->n++;
    s->sum += r.value;
    s->sum_dia += r.diastolic;
    if (s->n == 1 || r.ts_ms >= s->last.ts_ms) /* ties: the later in the reply */
        s->last = r;
}

/* Adds one alert object: the last state of a metric wins, "normal"
 * clears it. */
static void
s_add_alert(chat_ctx_t *self, const json_t *al)
{
    const char *state = json_string_value(json_object_get(al, "state"));
    const char *metric = json_string_value(json_object_get(al, "metric"));
    int m = chat_metric_parse(metric);
    if (self->metrics && m >= 0 && !(self->metrics & (1u << m)))
        return;
    int i = 0;
    while (i < self->nalerts && strcmp(self->alerts[i].metric, metric ? metric : "") != 0)
        i++;
    if (state && strcmp(state, "normal") == 0) {
        if (i < self->nalerts)
            memmove(&self->alerts[i], &self->alerts[i + 1],
                    (size_t)(--self->nalerts - i) * sizeof self->alerts[0]);
        return;
    }
    if (i == self->nalerts && self->nalerts >= CHAT_CTX_ALERTS_MAX)
        return;
    if (i == self->nalerts)
        self->nalerts++;
    chat_ctx_alert_t *a = &self->alerts[i];
    const char *sev = json_string_value(json_object_get(al, "severity"));
    const char *msg = json_string_value(json_object_get(al, "message"));
    snprintf(a->metric, sizeof a->metric, "%s", metric ? metric : "");
    snprintf(a->severity, sizeof a->severity, "%s", sev ? sev : "");
    snprintf(a->message, sizeof a->message, "%s", msg ? msg : "");
}

/* One item of a health reply: a reading, or an event wrapping one. Returns
 * its seq (-1 when none). */
static int64_t
s_add_item(chat_ctx_t *self, const json_t *item, unsigned take)
{
    const char *type = json_string_value(json_object_get(item, "type"));
    const json_t *inner = json_object_get(item, "data");
    const json_t *rd = type && json_is_object(inner) ? inner : item;
    const json_t *seq = json_object_get(item, "seq");
    if (!json_is_integer(seq))
        seq = json_object_get(rd, "seq");
    if (type && strcmp(type, "health_alert") == 0) {
        if (take & CHAT_NEED_ALERTS)
            s_add_alert(self, rd);
    } else if (take & CHAT_NEED_READINGS) {
        s_add_reading(self, rd);
    }
    return json_is_integer(seq) ? json_integer_value(seq) : -1;
}

int64_t
chat_ctx_add_health(chat_ctx_t *self, const json_t *data, unsigned take)
{
    static const char *const keys[] = {"readings", "events", "items"};
    int64_t max_seq = -1;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const json_t *list = json_object_get(data, keys[k]);
        size_t i;
        const json_t *item;
        json_array_foreach(list, i, item)
        {
            int64_t seq = json_is_object(item) ? s_add_item(self, item, take) : -1;
            if (seq > max_seq)
                max_seq = seq;
        }
    }
    const json_t *alerts = json_object_get(data, "alerts");
    if (json_is_array(alerts) && (take & CHAT_NEED_ALERTS)) {
        self->alerts_known = true;
        size_t i;
        const json_t *al;
        json_array_foreach(alerts, i, al) if (json_is_object(al)) s_add_alert(self, al);
    }
    if (!json_is_true(json_object_get(data, "more")))
        return -1;
    const json_t *next = json_object_get(data, "next_seq");
    if (!json_is_integer(next))
        next = json_object_get(data, "next_since_seq");
    return json_is_integer(next) ? json_integer_value(next) : max_seq;
}

/* Whether a reminder is off (active/enabled false). */
static bool
s_inactive(const json_t *r)
{
    return json_is_false(json_object_get(r, "active")) ||
           json_is_false(json_object_get(r, "enabled"));
}

/* Whether a reminder's days (null: every day; else codes such as "MO")
 * include the UTC weekday of now_ms. */
static bool
s_on_day(const json_t *days, int64_t now_ms)
{
    static const char *const codes[] = {"TH", "FR", "SA", "SU", "MO", "TU", "WE"}; /* 1970-01-01 */
    if (!days || json_is_null(days))
        return true;
    const char *today = codes[(now_ms / 86400000) % 7];
    size_t i;
    const json_t *d;
    json_array_foreach(days, i, d)
    {
        const char *s = json_string_value(d);
        if (s && strncasecmp(s, today, 2) == 0)
            return true;
    }
    return false;
}

/* The times of a reminder that repeats on now_ms's weekday ("08:00, 20:00")
 * into when. Returns true when there are some. */
static bool
s_daily_times(const json_t *r, int64_t now_ms, char *when, size_t len)
{
    const json_t *times = json_object_get(r, "times");
    if (!json_is_array(times) || json_array_size(times) == 0 ||
        !s_on_day(json_object_get(r, "days"), now_ms))
        return false;
    size_t n = 0, i;
    const json_t *t;
    *when = '\0';
    json_array_foreach(times, i, t)
    {
        const char *s = json_string_value(t);
        if (s && n + strlen(s) + 3 < len)
            n += (size_t)snprintf(when + n, len - n, "%s%s", n ? ", " : "", s);
    }
    return n > 0;
}

/* The reminder's time: 1 when it is today (when set), 0 when another day,
 * -1 unknown. */
static int
s_reminder_when(const json_t *r, int64_t now_ms, char *when, size_t len)
{
    static const char *const keys[] = {
        "next_occurrence_at", "next_occurrence", "next_at", "next_fire_at", "due_at", "at", "time"};
    *when = '\0';
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const json_t *v = json_object_get(r, keys[k]);
        int64_t ms = s_time(v);
        if (ms > 0 && ms / 86400000 == now_ms / 86400000) {
            char iso[40];
            hm_clock_iso8601(ms, iso, sizeof iso);
            snprintf(when, len, "%.5s UTC", iso + 11);
            return 1;
        }
        if (ms > 0) /* another day: a daily schedule still counts today */
            return s_daily_times(r, now_ms, when, len) ? 1 : 0;
        const char *s = json_string_value(v);
        int hh, mm;
        if (s && sscanf(s, "%2d:%2d", &hh, &mm) == 2) { /* a daily time */
            snprintf(when, len, "%02d:%02d", hh % 100, mm % 100);
            return 1;
        }
    }
    return s_daily_times(r, now_ms, when, len) ? 1 : -1;
}

void
chat_ctx_add_reminders(chat_ctx_t *self, const json_t *data, int64_t now_ms)
{
    static const char *const lists[] = {"reminders", "items", "schedules"};
    static const char *const titles[] = {"title", "name", "medication", "description", "message"};
    char when[sizeof self->reminders[0].when];
    for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
        size_t i;
        const json_t *r;
        json_array_foreach(json_object_get(data, lists[k]), i, r)
        {
            if (!json_is_object(r) || s_inactive(r) || self->nreminders >= CHAT_CTX_REMINDERS_MAX)
                continue;
            chat_ctx_reminder_t *out = &self->reminders[self->nreminders];
            if (s_reminder_when(r, now_ms, when, sizeof when) == 0)
                continue;
            snprintf(out->when, sizeof out->when, "%s", when);
            const char *title = NULL;
            for (size_t t = 0; !title && t < sizeof titles / sizeof titles[0]; t++)
                title = json_string_value(json_object_get(r, titles[t]));
            snprintf(out->title, sizeof out->title, "%s", title ? title : "a reminder");
            self->nreminders++;
        }
    }
}

/* A number without a needless ".0". */
static void
s_num(double v, char *out, size_t len)
{
    if (fabs(v - round(v)) < 0.05)
        snprintf(out, len, "%.0f", v);
    else
        snprintf(out, len, "%.1f", v);
}

void
chat_ctx_format_value(chat_metric_t m, const chat_reading_t *r, char *out, size_t len)
{
    char a[32], b[32];
    s_num(r->value, a, sizeof a);
    const char *unit = *r->unit ? r->unit : m == CHAT_M_BP ? "mmHg" : "";
    if (m == CHAT_M_BP && r->has_bp) {
        s_num(r->diastolic, b, sizeof b);
        snprintf(out, len, "%s/%s%s%s", a, b, *unit ? " " : "", unit);
    } else {
        snprintf(out, len, "%s%s%s", a, *unit ? " " : "", unit);
    }
}

/* The readings part of chat_ctx_describe. */
static void
s_describe_readings(const chat_ctx_t *self, FILE *f)
{
    if (!(self->answered & CHAT_NEED_READINGS)) {
        fprintf(f, "Readings: unavailable (the health service did not answer).\n");
        return;
    }
    bool any = false;
    for (int m = 0; m < CHAT_M_COUNT; m++) {
        const chat_series_t *s = &self->series[m];
        if (s->n == 0)
            continue;
        char v[64], when[40] = "unknown time", avg[64];
        chat_ctx_format_value((chat_metric_t)m, &s->last, v, sizeof v);
        if (s->last.ts_ms)
            hm_clock_iso8601(s->last.ts_ms, when, sizeof when);
        chat_reading_t mean = s->last;
        mean.value = s->sum / s->n;
        mean.diastolic = s->sum_dia / s->n;
        chat_ctx_format_value((chat_metric_t)m, &mean, avg, sizeof avg);
        fprintf(f, "Latest %s: %s at %s (average of %d readings: %s).\n",
                chat_metric_label((chat_metric_t)m), v, when, s->n, avg);
        any = true;
    }
    if (!any)
        fprintf(f, "Readings: none recorded for what was asked.\n");
}

char *
chat_ctx_describe(const chat_ctx_t *self)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    if (self->asked & CHAT_NEED_READINGS)
        s_describe_readings(self, f);
    if (self->asked & CHAT_NEED_ALERTS) {
        if (!self->alerts_known)
            fprintf(f, "Active alerts: unknown.\n");
        else if (self->nalerts == 0)
            fprintf(f, "Active alerts: none.\n");
        for (int i = 0; i < self->nalerts; i++)
            fprintf(f, "Active alert (%s, %s): %s\n", self->alerts[i].metric,
                    self->alerts[i].severity, self->alerts[i].message);
    }
    if (self->asked & CHAT_NEED_REMINDERS) {
        if (!(self->answered & CHAT_NEED_REMINDERS))
            fprintf(f, "Today's reminders: unavailable.\n");
        else if (self->nreminders == 0)
            fprintf(f, "Today's reminders: none.\n");
        for (int i = 0; i < self->nreminders; i++)
            fprintf(f, "Reminder today: %s%s%s\n", self->reminders[i].title,
                    *self->reminders[i].when ? " at " : "", self->reminders[i].when);
    }
    fclose(f);
    return buf;
}
