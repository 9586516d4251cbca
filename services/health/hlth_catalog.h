/*
 * hlth_catalog.h - the metric catalogue: names, units and their conversion to
 * the one stored unit, plausible ranges; and the validation of one reading
 * (proto/SPEC.md section 9).
 *
 *   blood_pressure    mmHg          value (= systolic) and/or systolic, diastolic
 *   heart_rate        bpm           20 - 300
 *   spo2              %             50 - 100
 *   glucose           mg/dL         10 - 1000 (mmol/L accepted, converted)
 *   temperature       C             25 - 45   (F accepted, converted)
 *   weight            kg            0.5 - 500 (lb accepted, converted)
 *   respiratory_rate  breaths/min   2 - 80
 *   steps             steps         0 - 200000, whole numbers
 *   sleep_minutes     min           0 - 1440
 *
 * Threshold checks use the same table: every reading metric but
 * blood_pressure is a check of its own; blood pressure has two, systolic and
 * diastolic (check-only entries).
 *
 * Pure functions: no I/O, no clock (the caller passes "now").
 */
#ifndef HLTH_CATALOG_H
#define HLTH_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define HLTH_READING 1u /* a metric a reading can carry */
#define HLTH_CHECK 2u   /* a key of the threshold table */
#define HLTH_UNIT_MAX 16
#define HLTH_DEVICE_ID_MAX 128 /* bytes of a device reading's device_id */

typedef struct {
    const char *name; /* accepted spelling (compared case-insensitively); NULL ends */
    double factor;    /* stored = value * factor + offset */
    double offset;
} hlth_unit_t;

typedef struct {
    const char *name;         /* metric name on the wire */
    const char *label;        /* "Heart rate": alert titles and messages */
    const char *unit;         /* the stored unit */
    const hlth_unit_t *units; /* accepted units, the stored one first */
    double min, max;          /* plausible range, stored unit, inclusive */
    bool integer;             /* whole numbers only */
    unsigned flags;           /* HLTH_READING and/or HLTH_CHECK */
} hlth_metric_t;

/* The catalogue entry named name with any of flags, or NULL. Borrowed,
 * static. */
const hlth_metric_t *hlth_metric_find(const char *name, unsigned flags);

/* Entry i of the catalogue (0-based), or NULL past the end. Borrowed. */
const hlth_metric_t *hlth_metric_at(int i);

/* The index of an entry of the catalogue (for tables indexed like it). */
int hlth_metric_index(const hlth_metric_t *m);

#define HLTH_CATALOG_SIZE 11 /* entries in the catalogue */

/* Converts value given in unit (NULL: the stored unit) to m's stored unit.
 * Returns 0 with *out, or -1 when m does not accept that unit. */
int hlth_unit_convert(const hlth_metric_t *m, const char *unit, double value, double *out);

/* A validated reading, values in the stored unit. */
typedef struct {
    const hlth_metric_t *metric;       /* catalogue entry; borrowed */
    double value;                      /* the reading (blood pressure: systolic) */
    double systolic, diastolic;        /* blood pressure parts, NAN when absent */
    double original_value;             /* as sent, when the unit was converted */
    char original_unit[HLTH_UNIT_MAX]; /* "" when not converted */
    int64_t measured_at;               /* unix ms: data.timestamp, else now */
} hlth_reading_t;

/* Why a reading was refused: a stable code (proto/hm_proto.h) and a text. */
typedef struct {
    const char *code;  /* HM_ERR_*; static */
    char message[160]; /* for the client; never holds the value */
} hlth_verr_t;

/* Validates data = {metric, value, unit?, timestamp?, systolic?, diastolic?}.
 * timestamp: RFC 3339 text or unix ms; absent means now_ms; later than
 * now_ms + future_skew_ms is refused, so is one before 2000 (seconds sent
 * for milliseconds). Returns 0 with *out, or -1 with *err
 * (missing_field, invalid_field, unknown_metric, invalid_unit, out_of_range,
 * future_timestamp). */
int hlth_reading_parse(const json_t *data, int64_t now_ms, int64_t future_skew_ms,
                       hlth_reading_t *out, hlth_verr_t *err);

/* The stored reading as a new JSON object (caller owns): {id, metric,
 * value, unit, timestamp, source, systolic?, diastolic?, original_value?,
 * original_unit?, device_id?}. device_id may be NULL. NULL on ENOMEM. */
json_t *hlth_reading_json(const hlth_reading_t *r, const char *id, const char *source,
                          const char *device_id);

/* A number as JSON: an integer when it is whole (and small enough), else a
 * real. Caller owns. */
json_t *hlth_number_json(double v);

/* Rounds v to 2 decimal places (converted values). */
double hlth_round2(double v);

#endif /* HLTH_CATALOG_H */
