/*
 * sched_ical.h - a reminder imported from iCalendar (RFC 5545) text: the
 * first VEVENT or VTODO of a VCALENDAR (or a bare component), parsed with
 * libical.
 *
 *   SUMMARY            -> name (medication) or title (appointment)
 *   DESCRIPTION        -> notes
 *   DTSTART (VTODO: DUE, else DTSTART)
 *                      -> at (appointment) or start_date + times (medication);
 *                         TZID must name an IANA zone (libical's
 *                         "/freeassociation.sourceforge.net/" prefix is
 *                         understood); a UTC time is shown in `tz` when given,
 *                         else UTC; a floating time is read in `tz` (default
 *                         UTC); a DATE (all-day) means 09:00 local
 *   RRULE              -> rrule (canonical form)
 *   VALARM TRIGGER     -> offsets_min (triggers before the start, relative
 *                         or absolute; appointments only; none: the default)
 * EXDATE, RDATE and VTIMEZONE definitions are not used (zones come from the
 * tz database).
 */
#ifndef SCHED_ICAL_H
#define SCHED_ICAL_H

#include <jansson.h>

#include "sched_reminder.h"

#define SCHED_ICAL_MAX (64 * 1024)   /* iCalendar text accepted, bytes */
#define SCHED_DATE_ONLY_TIME "09:00" /* the time of day of an all-day start */

/* Builds scheduler.create data from the request data {ics, kind?, tz?,
 * dose?, offsets_min?, notes?}: the iCalendar fields above, the request's
 * own keys winning for kind (default appointment), tz, dose, offsets_min
 * and notes. Returns the new data (caller owns) or NULL with err set. */
json_t *sched_ical_import(const json_t *req_data, sched_err_t *err);

#endif /* SCHED_ICAL_H */
