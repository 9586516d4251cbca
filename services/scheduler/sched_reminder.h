/*
 * sched_reminder.h - the reminder as hm-scheduler keeps it: one struct
 * shared by the spec parser, the recurrence engine and the database. No
 * functions: sched_spec.h reads and writes it as JSON, sched_rule.h expands
 * it, sched_db.h stores it.
 *
 * Every reminder is a schedule of instances, each fired at offsets before
 * it:
 *   instances = for each time of day in times[]: the RFC 5545 RRULE rrule
 *               expanded from DTSTART = start_date at that time, in the IANA
 *               zone tz (a single instance when rrule is empty);
 *   fires     = instance - offset, for each offset in offsets_min[].
 * A medication reminder has offsets {0}; an appointment has its `at` as
 * start_date + times[0] and, by default, offsets {1440, 60} (24 h and 1 h).
 */
#ifndef SCHED_REMINDER_H
#define SCHED_REMINDER_H

#include <stdbool.h>
#include <stdint.h>

#include "hm_ids.h"

#define SCHED_TITLE_MAX 200               /* name or title, bytes */
#define SCHED_DOSE_MAX 100                /* dose, bytes */
#define SCHED_NOTES_MAX 1000              /* notes, bytes */
#define SCHED_TZ_MAX 64                   /* IANA zone name, bytes */
#define SCHED_DATE_LEN 11                 /* "YYYY-MM-DD" and the NUL */
#define SCHED_TIMES_MAX 24                /* times of day per reminder */
#define SCHED_OFFSETS_MAX 8               /* reminders before an appointment */
#define SCHED_OFFSET_MAX_MIN (366 * 1440) /* furthest offset, minutes */
#define SCHED_RRULE_MAX 512               /* canonical RRULE text, bytes */
#define SCHED_DAYS_ALL 0x7f               /* days mask: bit 0 = Sunday ... bit 6 = Saturday */

typedef enum {
    SCHED_KIND_NONE = 0,
    SCHED_KIND_MEDICATION = 1,  /* name, dose, times of day, days, start and end date */
    SCHED_KIND_APPOINTMENT = 2, /* a time, reminders at offsets before it */
} sched_kind_t;

typedef struct {
    char id[HM_UUID_STRLEN];            /* reminder id (UUIDv4) */
    int64_t user_id;                    /* owner */
    sched_kind_t kind;                  /* medication or appointment */
    char title[SCHED_TITLE_MAX + 1];    /* medication name or appointment title */
    char dose[SCHED_DOSE_MAX + 1];      /* medication dose, "" when none */
    char notes[SCHED_NOTES_MAX + 1];    /* free text, "" when none */
    char tz[SCHED_TZ_MAX + 1];          /* IANA time zone of start_date and times */
    char start_date[SCHED_DATE_LEN];    /* first local date, YYYY-MM-DD */
    int ntimes;                         /* entries in times */
    int times[SCHED_TIMES_MAX];         /* seconds after local midnight, ascending */
    char rrule[SCHED_RRULE_MAX + 1];    /* canonical RRULE, "" for one date only */
    int days;                           /* medication days mask when rrule was built from
                                           days/end_date; 0 when rrule was given as is */
    char end_date[SCHED_DATE_LEN];      /* last local date (from days form), "" none */
    int noffsets;                       /* entries in offsets_min */
    int offsets_min[SCHED_OFFSETS_MAX]; /* minutes before each instance, descending */
    int64_t cursor_s;                   /* every fire at or before this is handled */
    int64_t next_fire_s;                /* next fire after cursor_s, -1 when none */
    bool deleted;                       /* deleted: no more fires, history kept */
    int64_t created_ms;                 /* unix ms */
    int64_t updated_ms;                 /* unix ms */
} sched_reminder_t;

/* A validation failure: a stable error code from hm_proto.h and a message
 * for the client naming the field. */
typedef struct {
    const char *code; /* HM_ERR_MISSING_FIELD, HM_ERR_INVALID_FIELD, ... (static) */
    char msg[160];    /* human-readable reason */
} sched_err_t;

#endif /* SCHED_REMINDER_H */
