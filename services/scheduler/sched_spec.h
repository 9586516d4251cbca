/*
 * sched_spec.h - reminders as JSON: the data of scheduler.create and
 * scheduler.update parsed and validated into a sched_reminder_t, and a
 * reminder rendered for replies (proto/SPEC.md section 12).
 *
 * Input (create; update takes the same keys, each optional):
 *   medication: {kind: "medication", name, dose?, notes?, tz, times: ["08:00", ...],
 *                days?: ["MO", ...] | start_date?: "YYYY-MM-DD", end_date?,
 *                or rrule: "FREQ=..." instead of days/end_date}
 *   appointment: {kind: "appointment", title, notes?, at: "2026-12-10T14:30:00+01:00"
 *                 or local "2026-12-10T14:30" with tz, tz?, offsets_min?: [1440, 60],
 *                 rrule?}
 */
#ifndef SCHED_SPEC_H
#define SCHED_SPEC_H

#include <jansson.h>
#include <stdint.h>

#include "sched_reminder.h"

#define SCHED_OFFSETS_DEFAULT                                                                      \
    {                                                                                              \
        1440, 60                                                                                   \
    } /* an appointment's reminders: 24 h and 1 h */

/* Fills the schedule and descriptive fields of r (kind, title, dose, notes,
 * tz, start_date, times, rrule, days, end_date, offsets) from data; other
 * fields are left alone. now_ms gives the default start date (today in
 * tz). Returns 0, or -1 with err set (missing_field / invalid_field naming
 * the field). */
int sched_spec_parse(const json_t *data, int64_t now_ms, sched_reminder_t *r, sched_err_t *err);

/* The reminder as replies show it (caller owns). NULL on ENOMEM. */
json_t *sched_spec_render(const sched_reminder_t *r);

/* The reminder in the input form above, for updates: sched_spec_merge lays
 * the update's keys over it and sched_spec_parse reads the result. Caller
 * owns. NULL on ENOMEM. */
json_t *sched_spec_base(const sched_reminder_t *r);

/* Lays update over base (taken): keys of update replace those of base;
 * null removes a key; "rrule" and the days form exclude each other, so
 * giving one drops the other. Returns base. */
json_t *sched_spec_merge(json_t *base, const json_t *update);

/* "medication", "appointment", or "" (static). */
const char *sched_spec_kind_name(sched_kind_t kind);

#endif /* SCHED_SPEC_H */
