/*
 * hlth_alert.h - thresholds and the alert state machine of one user's check
 * (one metric, or one part of blood pressure).
 *
 * A check has warning bounds (low, high), critical bounds (critical_low,
 * critical_high; each may be absent) and a hysteresis margin. Per user and
 * check a small state is kept (hlth_astate_t, stored by hlth_db):
 *
 *   - a value above high (below low) starts an abnormal episode in that
 *     direction; above critical_high (below critical_low) makes it critical;
 *   - the episode (and its critical level) lasts until the value is back
 *     inside by at least the margin (high - margin, low + margin): a value
 *     hovering at a bound does not flip the state;
 *   - an episode is announced with one alert; a rise to critical within it
 *     is announced once more; its end ("back to normal") is announced once,
 *     and only when the episode was announced;
 *   - cooldown: a new episode in the same direction and of no higher level
 *     than the last alert, within cooldown_ms of that alert, is not
 *     announced at first; it is announced if it is still going once the
 *     cooldown has passed.
 *
 * Pure: the caller passes the time; no I/O.
 */
#ifndef HLTH_ALERT_H
#define HLTH_ALERT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hlth_catalog.h"

#define HLTH_LEVEL_WARNING 1
#define HLTH_LEVEL_CRITICAL 2

/* notify.create priorities (proto/SPEC.md 8.3) */
#define HLTH_PRIORITY_LOW "low"
#define HLTH_PRIORITY_HIGH "high"
#define HLTH_PRIORITY_CRITICAL "critical"

typedef enum {
    HLTH_DIR_NONE = 0, /* normal */
    HLTH_DIR_HIGH = 1,
    HLTH_DIR_LOW = 2,
} hlth_dir_t;

typedef struct {
    double low, high;                   /* warning bounds; NAN: none */
    double critical_low, critical_high; /* critical bounds; NAN: none */
    double margin;                      /* hysteresis, >= 0 */
} hlth_limits_t;

typedef struct {
    hlth_dir_t dir;        /* current state; NONE: normal */
    int level;             /* current level while abnormal */
    bool alerted;          /* the current episode was announced */
    int64_t last_alert_ms; /* wall ms of the last abnormal alert; 0: never */
    hlth_dir_t last_dir;   /* its direction */
    int last_level;        /* its level */
} hlth_astate_t;

typedef enum {
    HLTH_EMIT_NONE = 0,
    HLTH_EMIT_ALERT,  /* abnormal: announce */
    HLTH_EMIT_NORMAL, /* back to normal: announce */
} hlth_emit_t;

typedef struct {
    hlth_emit_t emit; /* what to announce */
    hlth_dir_t dir;   /* the episode's direction */
    int level;        /* HLTH_LEVEL_*; 0 for back to normal */
    double threshold; /* the bound crossed (back to normal: the warning bound) */
} hlth_alert_t;

/* Parses "low=40 high=120 critical_low=30 critical_high=150 margin=5"
 * (spaces or commas between; every key optional; "" means no bounds).
 * Returns 0 with *out, or -1 with a reason in why. */
int hlth_limits_parse(const char *spec, hlth_limits_t *out, char *why, size_t whylen);

/* Checks bounds against m's plausible range (out_of_range) and their order
 * critical_low <= low < high <= critical_high (invalid_field). Returns 0 or
 * -1 with *err. */
int hlth_limits_check(const hlth_metric_t *m, const hlth_limits_t *l, hlth_verr_t *err);

/* {low, high, critical_low, critical_high, margin} with nulls for absent
 * bounds. Caller owns. */
json_t *hlth_limits_json(const hlth_limits_t *l);

/* Evaluates value v at now_ms: updates *st and says what to announce. */
void hlth_alert_eval(const hlth_limits_t *lim, int64_t cooldown_ms, hlth_astate_t *st, double v,
                     int64_t now_ms, hlth_alert_t *out);

/* "info" (back to normal), "warning", "critical". */
const char *hlth_severity_name(int level);

/* notify.create priority for a level: low, high, critical. */
const char *hlth_priority_of(int level);

/* "high", "low" ("" for none). */
const char *hlth_dir_name(hlth_dir_t dir);

/* A title ("Heart Rate Alert") and a message for the user about a; v is
 * the value in m's stored unit. Never logged. */
void hlth_alert_text(const hlth_metric_t *m, const hlth_alert_t *a, double v, char *title,
                     size_t tlen, char *msg, size_t mlen);

#endif /* HLTH_ALERT_H */
