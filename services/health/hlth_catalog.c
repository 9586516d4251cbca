/*
 * hlth_catalog.c - the metric catalogue and reading validation.
 */
#include "hlth_catalog.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hm_clock.h"
#include "hm_proto.h"

#define S_EPOCH_MIN_MS 946684800000LL /* 2000-01-01: older timestamps are refused */

static const hlth_unit_t s_mmhg[] = {{"mmHg", 1, 0}, {NULL, 0, 0}};
static const hlth_unit_t s_bpm[] = {{"bpm", 1, 0}, {"beats/min", 1, 0}, {NULL, 0, 0}};
static const hlth_unit_t s_pct[] = {{"%", 1, 0}, {"percent", 1, 0}, {NULL, 0, 0}};
static const hlth_unit_t s_glucose[] = {
    {"mg/dL", 1, 0}, {"mmol/L", 18.0156, 0}, {NULL, 0, 0}}; /* molar mass of glucose / 10 */
static const hlth_unit_t s_temp[] = {{"C", 1, 0},
                                     {"°C", 1, 0},
                                     {"celsius", 1, 0},
                                     {"F", 5.0 / 9, -160.0 / 9},
                                     {"°F", 5.0 / 9, -160.0 / 9},
                                     {"fahrenheit", 5.0 / 9, -160.0 / 9},
                                     {NULL, 0, 0}};
static const hlth_unit_t s_weight[] = {
    {"kg", 1, 0}, {"lb", 0.45359237, 0}, {"lbs", 0.45359237, 0}, {NULL, 0, 0}};
static const hlth_unit_t s_resp[] = {{"breaths/min", 1, 0}, {"/min", 1, 0}, {NULL, 0, 0}};
static const hlth_unit_t s_steps[] = {{"steps", 1, 0}, {"count", 1, 0}, {NULL, 0, 0}};
static const hlth_unit_t s_min[] = {{"min", 1, 0}, {"minutes", 1, 0}, {NULL, 0, 0}};

#define R HLTH_READING
#define C HLTH_CHECK

static const hlth_metric_t s_catalog[] = {
    {"blood_pressure", "Blood pressure", "mmHg", s_mmhg, 50, 260, false, R},
    {"heart_rate", "Heart rate", "bpm", s_bpm, 20, 300, false, R | C},
    {"spo2", "Blood oxygen", "%", s_pct, 50, 100, false, R | C},
    {"glucose", "Blood glucose", "mg/dL", s_glucose, 10, 1000, false, R | C},
    {"temperature", "Temperature", "C", s_temp, 25, 45, false, R | C},
    {"weight", "Weight", "kg", s_weight, 0.5, 500, false, R | C},
    {"respiratory_rate", "Respiratory rate", "breaths/min", s_resp, 2, 80, false, R | C},
    {"steps", "Steps", "steps", s_steps, 0, 200000, true, R | C},
    {"sleep_minutes", "Sleep", "min", s_min, 0, 1440, false, R | C},
    {"systolic", "Systolic blood pressure", "mmHg", s_mmhg, 50, 260, false, C},
    {"diastolic", "Diastolic blood pressure", "mmHg", s_mmhg, 30, 160, false, C},
};

#undef R
#undef C

#define S_NCATALOG ((int)(sizeof s_catalog / sizeof s_catalog[0]))

const hlth_metric_t *
hlth_metric_find(const char *name, unsigned flags)
{
    for (int i = 0; name && i < S_NCATALOG; i++)
        if ((s_catalog[i].flags & flags) && strcmp(s_catalog[i].name, name) == 0)
            return &s_catalog[i];
    return NULL;
}

const hlth_metric_t *
hlth_metric_at(int i)
{
    return i >= 0 && i < S_NCATALOG ? &s_catalog[i] : NULL;
}

/* The accepted unit spelled unit (NULL: the stored one), or NULL. */
static const hlth_unit_t *
s_unit_find(const hlth_metric_t *m, const char *unit)
{
    for (const hlth_unit_t *u = m->units; u->name; u++)
        if (!unit || strcasecmp(u->name, unit) == 0)
            return u;
    return NULL;
}

/* True when u changes values (not the stored unit or one of its aliases). */
static bool
s_unit_converts(const hlth_unit_t *u)
{
    return u->factor != 1 || u->offset != 0;
}

int
hlth_metric_index(const hlth_metric_t *m)
{
    return (int)(m - s_catalog);
}

_Static_assert(sizeof s_catalog / sizeof s_catalog[0] == HLTH_CATALOG_SIZE, "catalogue size");

int
hlth_unit_convert(const hlth_metric_t *m, const char *unit, double value, double *out)
{
    const hlth_unit_t *u = s_unit_find(m, unit);
    if (!u)
        return -1;
    *out = s_unit_converts(u) ? hlth_round2(value * u->factor + u->offset) : value;
    return 0;
}

double
hlth_round2(double v)
{
    return round(v * 100.0) / 100.0;
}

json_t *
hlth_number_json(double v)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0) /* 2^53 */
        return json_integer((json_int_t)v);
    return json_real(v);
}

/* ---- validation ---------------------------------------------------------- */

/* Sets *err; returns -1. */
static int s_fail(hlth_verr_t *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
s_fail(hlth_verr_t *err, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* A number field. Returns 1 (present, *out set), 0 (absent or null) or -1
 * (another type: err set). */
static int
s_number(const json_t *data, const char *key, double *out, hlth_verr_t *err)
{
    json_t *v = json_object_get(data, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return s_fail(err, HM_ERR_INVALID_FIELD, "'%s' must be a number", key);
    *out = json_number_value(v);
    return 1;
}

/* Checks a stored-unit value against m's range. Returns 0 or -1 (err). */
static int
s_in_range(const hlth_metric_t *m, double v, const char *field, hlth_verr_t *err)
{
    if (m->integer && v != floor(v))
        return s_fail(err, HM_ERR_INVALID_FIELD, "'%s' must be a whole number", field);
    if (v < m->min || v > m->max) {
        err->code = HM_ERR_OUT_OF_RANGE;
        snprintf(err->message, sizeof err->message, "'%s' is outside the plausible range %g-%g %s",
                 field, m->min, m->max, m->unit);
        return -1;
    }
    return 0;
}

/* data.timestamp: RFC 3339 text or unix ms; absent means now. */
static int
s_timestamp(const json_t *data, int64_t now_ms, int64_t skew_ms, int64_t *out, hlth_verr_t *err)
{
    json_t *ts = json_object_get(data, "timestamp");
    *out = now_ms;
    if (!ts || json_is_null(ts))
        return 0;
    if (json_is_string(ts)) {
        if (hm_clock_parse_iso8601(json_string_value(ts), out) != 0)
            return s_fail(err, HM_ERR_INVALID_FIELD, "'%s' is not an RFC 3339 time", "timestamp");
    } else if (json_is_integer(ts) && json_integer_value(ts) >= 0) {
        *out = json_integer_value(ts);
    } else {
        return s_fail(err, HM_ERR_INVALID_FIELD, "'%s' must be RFC 3339 text or unix ms",
                      "timestamp");
    }
    if (*out < S_EPOCH_MIN_MS) /* unix seconds for ms, most likely */
        return s_fail(err, HM_ERR_INVALID_FIELD, "'%s' is before 2000", "timestamp");
    if (*out > now_ms + skew_ms)
        return s_fail(err, HM_ERR_FUTURE_TIMESTAMP, "'%s' is in the future", "timestamp");
    return 0;
}

/* Blood pressure: value (= systolic) and/or systolic, diastolic, in mmHg. */
static int
s_blood_pressure(const json_t *data, hlth_reading_t *out, bool has_value, hlth_verr_t *err)
{
    double sys = NAN, dia = NAN;
    int hs = s_number(data, "systolic", &sys, err);
    int hd = s_number(data, "diastolic", &dia, err);
    if (hs < 0 || hd < 0)
        return -1;
    if (!has_value && !hs)
        return s_fail(err, HM_ERR_MISSING_FIELD, "'%s' (or 'systolic') is required", "value");
    if (has_value && hs && sys != out->value)
        return s_fail(err, HM_ERR_INVALID_FIELD, "'%s' and 'systolic' differ", "value");
    if (!hs)
        sys = out->value;
    const hlth_metric_t *ms = hlth_metric_find("systolic", HLTH_CHECK);
    const hlth_metric_t *md = hlth_metric_find("diastolic", HLTH_CHECK);
    if (s_in_range(ms, sys, "systolic", err) != 0 || (hd && s_in_range(md, dia, "diastolic", err)))
        return -1;
    if (hd && dia >= sys)
        return s_fail(err, HM_ERR_OUT_OF_RANGE, "'%s' must be below 'systolic'", "diastolic");
    out->value = sys;
    out->systolic = sys;
    out->diastolic = hd ? dia : NAN;
    return 0;
}

/* The metric and its unit. Returns 0 or -1 (err). */
static int
s_metric_unit(const json_t *data, hlth_reading_t *out, const char **unit, hlth_verr_t *err)
{
    json_t *jm = json_object_get(data, "metric");
    if (!jm || json_is_null(jm))
        return s_fail(err, HM_ERR_MISSING_FIELD, "'%s' is required", "metric");
    if (!json_is_string(jm))
        return s_fail(err, HM_ERR_INVALID_FIELD, "'%s' must be a string", "metric");
    out->metric = hlth_metric_find(json_string_value(jm), HLTH_READING);
    if (!out->metric)
        return s_fail(err, HM_ERR_UNKNOWN_METRIC, "unknown metric (see the %s catalogue)",
                      "hm-health");
    json_t *ju = json_object_get(data, "unit");
    *unit = NULL;
    if (ju && !json_is_null(ju)) {
        if (!json_is_string(ju))
            return s_fail(err, HM_ERR_INVALID_FIELD, "'%s' must be a string", "unit");
        *unit = json_string_value(ju);
        const hlth_unit_t *u = s_unit_find(out->metric, *unit);
        if (!u)
            return s_fail(err, HM_ERR_INVALID_UNIT, "unit not accepted for this metric (use %s)",
                          out->metric->unit);
        *unit = s_unit_converts(u) ? u->name : NULL; /* canonical spelling; NULL: stored unit */
    }
    return 0;
}

int
hlth_reading_parse(const json_t *data, int64_t now_ms, int64_t future_skew_ms, hlth_reading_t *out,
                   hlth_verr_t *err)
{
    memset(out, 0, sizeof *out);
    out->systolic = out->diastolic = NAN;
    if (!json_is_object(data))
        return s_fail(err, HM_ERR_MISSING_FIELD, "'%s' is required", "metric");
    const char *unit = NULL;
    if (s_metric_unit(data, out, &unit, err) != 0)
        return -1;
    double raw = 0;
    int has = s_number(data, "value", &raw, err);
    if (has < 0)
        return -1;
    if (!has && strcmp(out->metric->name, "blood_pressure") != 0)
        return s_fail(err, HM_ERR_MISSING_FIELD, "'%s' is required", "value");
    if (has)
        hlth_unit_convert(out->metric, unit, raw, &out->value);
    if (has && unit) {
        out->original_value = raw;
        snprintf(out->original_unit, sizeof out->original_unit, "%s", unit);
    }
    if (strcmp(out->metric->name, "blood_pressure") == 0) {
        if (s_blood_pressure(data, out, has == 1, err) != 0)
            return -1;
    } else if (s_in_range(out->metric, out->value, "value", err) != 0) {
        return -1;
    }
    return s_timestamp(data, now_ms, future_skew_ms, &out->measured_at, err);
}

json_t *
hlth_reading_json(const hlth_reading_t *r, const char *id, const char *source,
                  const char *device_id)
{
    char ts[40];
    json_t *j = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s}", "id", id, "metric", r->metric->name,
                          "value", hlth_number_json(r->value), "unit", r->metric->unit, "timestamp",
                          hm_clock_iso8601(r->measured_at, ts, sizeof ts), "source", source);
    if (!j)
        return NULL;
    if (!isnan(r->systolic))
        json_object_set_new(j, "systolic", hlth_number_json(r->systolic));
    if (!isnan(r->diastolic))
        json_object_set_new(j, "diastolic", hlth_number_json(r->diastolic));
    if (r->original_unit[0]) {
        json_object_set_new(j, "original_value", hlth_number_json(r->original_value));
        json_object_set_new(j, "original_unit", json_string(r->original_unit));
    }
    if (device_id)
        json_object_set_new(j, "device_id", json_string(device_id));
    return j;
}
