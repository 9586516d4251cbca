/*
 * sched_rule.h - a reminder's recurrence, expanded with libical.
 *
 * Recurrence is RFC 5545: an RRULE expanded from a DTSTART in local wall
 * time (libical's icalrecur_iterator on a floating start), each local time
 * then placed on the time line with the zone's tz-database rules
 * (sched_tz.h), so a daily 08:00 stays 08:00 across daylight-saving changes.
 * The UNTIL part is taken out of the rule and applied here as an instant
 * (RFC 5545: UNTIL is UTC when DTSTART has a zone; a DATE means the end of
 * that local day).
 *
 * Every reminder has one DTSTART per time of day (sched_reminder.h), each
 * expanded with the same rule: COUNT therefore counts per time of day.
 */
#ifndef SCHED_RULE_H
#define SCHED_RULE_H

#include <libical/ical.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched_reminder.h"

#define SCHED_RULE_COUNT_MAX 100000 /* largest COUNT accepted */
#define SCHED_RULE_ITER_MAX 200000  /* instances examined per lookup before giving up */

/* A reminder's schedule, ready to expand. Plain data: copy freely. */
typedef struct {
    icaltimezone *zone;                   /* borrowed (sched_tz_get) */
    struct icaltimetype start;            /* start date, floating midnight */
    int ntimes;                           /* entries in times */
    int times[SCHED_TIMES_MAX];           /* seconds after local midnight */
    bool recurring;                       /* false: one instance per time of day */
    struct icalrecurrencetype rule;       /* the RRULE without UNTIL */
    int64_t until_s;                      /* last allowed instance, INT64_MAX for none */
    int noffsets;                         /* entries in offsets_s */
    int64_t offsets_s[SCHED_OFFSETS_MAX]; /* fire this long before each instance */
} sched_rule_t;

/* One fire of a reminder. */
typedef struct {
    int64_t fire_s;     /* when it is due: instance - offset (unix s) */
    int64_t instance_s; /* the dose time or appointment time (unix s) */
    int offset_min;     /* minutes before the instance */
} sched_occ_t;

/* Prepares r's schedule. Returns 0, or -1 when its zone or rule does not
 * parse (cannot happen for a reminder that passed sched_spec_parse). */
int sched_rule_init(sched_rule_t *self, const sched_reminder_t *r);

/* The first fire strictly after after_s. Returns 1 with *out, 0 when the
 * schedule has no more fires. */
int sched_rule_next(const sched_rule_t *self, int64_t after_s, sched_occ_t *out);

/* Checks an RRULE (with or without an "RRULE:" prefix) and writes libical's
 * canonical form into out (len bytes). SECONDLY and MINUTELY rules, COUNT
 * above SCHED_RULE_COUNT_MAX and rules longer than SCHED_RRULE_MAX are
 * refused. Returns 0, or -1 with err set (invalid_field on "rrule"). */
int sched_rule_canon(const char *text, char *out, size_t len, sched_err_t *err);

/* Builds the RRULE of a medication's days form: FREQ=DAILY for every day,
 * else FREQ=WEEKLY;BYDAY=...; with UNTIL = the end of end_date's local day
 * in zone when end_date is not empty. Returns 0 or -1 (bad date). */
int sched_rule_from_days(int days, const char *end_date, icaltimezone *zone, char *out, size_t len);

/* The two-letter RFC 5545 code of weekday wday (0 = SU ... 6 = SA), or NULL. */
const char *sched_rule_day_code(int wday);

/* The weekday (0 = SU ... 6 = SA) of a two-letter code or an English name
 * ("MO", "mon", "Monday"; any case), or -1. */
int sched_rule_day_parse(const char *name);

#endif /* SCHED_RULE_H */
