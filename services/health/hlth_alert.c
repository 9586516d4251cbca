/*
 * hlth_alert.c - threshold parsing and the per-check alert state machine.
 */
#include "hlth_alert.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_proto.h"

/* ---- limits ---------------------------------------------------------------- */

/* The field of l that key names, or NULL. */
static double *
s_limit_field(hlth_limits_t *l, const char *key, size_t len)
{
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {
        {"low", offsetof(hlth_limits_t, low)},
        {"high", offsetof(hlth_limits_t, high)},
        {"critical_low", offsetof(hlth_limits_t, critical_low)},
        {"critical_high", offsetof(hlth_limits_t, critical_high)},
        {"margin", offsetof(hlth_limits_t, margin)},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strlen(keys[i].key) == len && strncmp(keys[i].key, key, len) == 0)
            return (double *)((char *)l + keys[i].off);
    return NULL;
}

int
hlth_limits_parse(const char *spec, hlth_limits_t *out, char *why, size_t whylen)
{
    *out = (hlth_limits_t){NAN, NAN, NAN, NAN, 0};
    const char *p = spec ? spec : "";
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *eq = strchr(p, '=');
        double *field = eq ? s_limit_field(out, p, (size_t)(eq - p)) : NULL;
        if (!field) {
            snprintf(why, whylen, "expected low=, high=, critical_low=, critical_high= or margin=");
            return -1;
        }
        char *end = NULL;
        errno = 0;
        double v = strtod(eq + 1, &end);
        if (end == eq + 1 || errno != 0 || !isfinite(v) || (*end && *end != ' ' && *end != ',')) {
            snprintf(why, whylen, "'%.*s' needs a number", (int)(eq - p), p);
            return -1;
        }
        *field = v;
        p = end;
    }
    if (out->margin < 0) {
        snprintf(why, whylen, "margin must not be negative");
        return -1;
    }
    return 0;
}

/* Sets *err from a limit name; returns -1. */
static int
s_limit_fail(hlth_verr_t *err, const char *code, const char *what)
{
    err->code = code;
    snprintf(err->message, sizeof err->message, "%s", what);
    return -1;
}

int
hlth_limits_check(const hlth_metric_t *m, const hlth_limits_t *l, hlth_verr_t *err)
{
    const double v[] = {l->critical_low, l->low, l->high, l->critical_high};
    for (int i = 0; i < 4; i++)
        if (!isnan(v[i]) && (v[i] < m->min || v[i] > m->max)) {
            err->code = HM_ERR_OUT_OF_RANGE;
            snprintf(err->message, sizeof err->message,
                     "thresholds must lie in the plausible range %g-%g %s", m->min, m->max,
                     m->unit);
            return -1;
        }
    /* each present bound must be below every present bound after it */
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++) {
            bool same_side = (i < 2) == (j < 2);
            if (!isnan(v[i]) && !isnan(v[j]) && (same_side ? v[i] > v[j] : v[i] >= v[j]))
                return s_limit_fail(err, HM_ERR_INVALID_FIELD,
                                    "thresholds must satisfy critical_low <= low < high <= "
                                    "critical_high");
        }
    if (isnan(l->margin) || l->margin < 0)
        return s_limit_fail(err, HM_ERR_INVALID_FIELD, "margin must be a non-negative number");
    return 0;
}

/* v as JSON, null when NAN. */
static json_t *
s_opt_number(double v)
{
    return isnan(v) ? json_null() : hlth_number_json(v);
}

json_t *
hlth_limits_json(const hlth_limits_t *l)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "low", s_opt_number(l->low), "high",
                     s_opt_number(l->high), "critical_low", s_opt_number(l->critical_low),
                     "critical_high", s_opt_number(l->critical_high), "margin",
                     hlth_number_json(l->margin));
}

/* ---- the state machine ------------------------------------------------------ */

/* Whether v is beyond bound in direction dir, with hysteresis: once inside
 * the state (held), it takes margin more to leave it. NAN bound: never. */
static bool
s_beyond(double v, double bound, hlth_dir_t dir, bool held, double margin)
{
    if (isnan(bound))
        return false;
    double m = held ? margin : 0;
    return dir == HLTH_DIR_HIGH ? v > bound - m : v < bound + m;
}

/* The state v puts the check in, given where it is now. */
static void
s_classify(const hlth_limits_t *lim, const hlth_astate_t *st, double v, hlth_dir_t *dir, int *level)
{
    double hi = isnan(lim->high) ? lim->critical_high : lim->high;
    double lo = isnan(lim->low) ? lim->critical_low : lim->low;
    bool held_hi = st->dir == HLTH_DIR_HIGH, held_lo = st->dir == HLTH_DIR_LOW;
    bool crit_held = st->level == HLTH_LEVEL_CRITICAL;
    bool in_hi = s_beyond(v, hi, HLTH_DIR_HIGH, held_hi, lim->margin);
    bool crit_hi =
        s_beyond(v, lim->critical_high, HLTH_DIR_HIGH, held_hi && crit_held, lim->margin);
    bool in_lo = s_beyond(v, lo, HLTH_DIR_LOW, held_lo, lim->margin);
    bool crit_lo = s_beyond(v, lim->critical_low, HLTH_DIR_LOW, held_lo && crit_held, lim->margin);
    *dir = HLTH_DIR_NONE;
    *level = 0;
    if (in_hi || crit_hi) {
        *dir = HLTH_DIR_HIGH;
        *level = crit_hi ? HLTH_LEVEL_CRITICAL : HLTH_LEVEL_WARNING;
    } else if (in_lo || crit_lo) {
        *dir = HLTH_DIR_LOW;
        *level = crit_lo ? HLTH_LEVEL_CRITICAL : HLTH_LEVEL_WARNING;
    }
}

/* The bound that level in dir crosses. */
static double
s_bound(const hlth_limits_t *lim, hlth_dir_t dir, int level)
{
    double warn = dir == HLTH_DIR_HIGH ? lim->high : lim->low;
    double crit = dir == HLTH_DIR_HIGH ? lim->critical_high : lim->critical_low;
    if (level == HLTH_LEVEL_CRITICAL && !isnan(crit))
        return crit;
    return isnan(warn) ? crit : warn;
}

void
hlth_alert_eval(const hlth_limits_t *lim, int64_t cooldown_ms, hlth_astate_t *st, double v,
                int64_t now_ms, hlth_alert_t *out)
{
    hlth_dir_t dir;
    int level;
    s_classify(lim, st, v, &dir, &level);
    *out = (hlth_alert_t){HLTH_EMIT_NONE, dir, level, NAN};
    if (dir == HLTH_DIR_NONE) {
        if (st->dir != HLTH_DIR_NONE && st->alerted)
            *out = (hlth_alert_t){HLTH_EMIT_NORMAL, st->dir, 0,
                                  s_bound(lim, st->dir, HLTH_LEVEL_WARNING)};
        st->dir = HLTH_DIR_NONE;
        st->level = 0;
        st->alerted = false;
        return;
    }
    if (st->dir != dir) /* a new episode */
        st->alerted = false;
    st->dir = dir;
    st->level = level;
    bool wanted = !st->alerted || level > st->last_level;
    bool cooling = st->last_alert_ms > 0 && now_ms - st->last_alert_ms < cooldown_ms &&
                   st->last_dir == dir && level <= st->last_level;
    if (!wanted || cooling)
        return;
    st->alerted = true;
    st->last_alert_ms = now_ms;
    st->last_dir = dir;
    st->last_level = level;
    *out = (hlth_alert_t){HLTH_EMIT_ALERT, dir, level, s_bound(lim, dir, level)};
}

/* ---- names and texts ----------------------------------------------------- */

const char *
hlth_severity_name(int level)
{
    return level == HLTH_LEVEL_CRITICAL  ? "critical"
           : level == HLTH_LEVEL_WARNING ? "warning"
                                         : "info";
}

const char *
hlth_priority_of(int level)
{
    return level == HLTH_LEVEL_CRITICAL  ? HLTH_PRIORITY_CRITICAL
           : level == HLTH_LEVEL_WARNING ? HLTH_PRIORITY_HIGH
                                         : HLTH_PRIORITY_LOW;
}

const char *
hlth_dir_name(hlth_dir_t dir)
{
    return dir == HLTH_DIR_HIGH ? "high" : dir == HLTH_DIR_LOW ? "low" : "";
}

void
hlth_alert_text(const hlth_metric_t *m, const hlth_alert_t *a, double v, char *title, size_t tlen,
                char *msg, size_t mlen)
{
    char label[64];
    snprintf(label, sizeof label, "%s", m->label);
    for (char *p = label; *p; p++) /* "Heart rate" -> "Heart Rate" */
        if (p == label || p[-1] == ' ')
            *p = (char)toupper((unsigned char)*p);
    if (a->emit == HLTH_EMIT_NORMAL) {
        snprintf(title, tlen, "%s Back to Normal", label);
        snprintf(msg, mlen, "Your %c%s is back within the normal range", tolower(m->label[0]),
                 m->label + 1);
        return;
    }
    snprintf(title, tlen, "%s Alert", label);
    const char *high = a->dir == HLTH_DIR_HIGH ? "high" : "low";
    if (a->level == HLTH_LEVEL_CRITICAL)
        snprintf(msg, mlen, "Your %c%s (%g %s) is critically %s (threshold %g %s)",
                 tolower(m->label[0]), m->label + 1, v, m->unit, high, a->threshold, m->unit);
    else
        snprintf(msg, mlen, "Your %c%s (%g %s) is %s the normal range (threshold %g %s)",
                 tolower(m->label[0]), m->label + 1, v, m->unit,
                 a->dir == HLTH_DIR_HIGH ? "above" : "below", a->threshold, m->unit);
}
