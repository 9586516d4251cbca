/*
 * sched_tz.h - time zones and local wall time for hm-scheduler.
 *
 * Zones are libical's built-in time zones (icaltimezone_get_builtin_timezone).
 * Debian's libical 3.0 is built without bundled zone data, so these are read
 * from the system tz database, /usr/share/zoneinfo (package tzdata): DST
 * rules come from the tz database, never from fixed offsets.
 *
 * Local times are libical icaltimetype values without a zone ("floating"):
 * the recurrence engine expands rules in local wall time and this module
 * turns each local time into an instant with the zone's rules, per RFC 5545
 * section 3.3.5:
 *   - a local time that does not exist (the spring-forward gap) is read with
 *     the UTC offset in force before the gap (02:30 becomes 03:30 DST);
 *   - a local time that occurs twice (fall back) means the first one.
 * Single-threaded: libical's zone cache is not locked.
 */
#ifndef SCHED_TZ_H
#define SCHED_TZ_H

#include <libical/ical.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_TZ_ISO_LEN 32 /* "2026-03-08T08:00:00-04:00" and the NUL */
#define SCHED_YEAR_MIN 1970 /* dates outside these years are refused */
#define SCHED_YEAR_MAX 2199

/* The zone with IANA name name ("Europe/Berlin", "UTC"). Borrowed: libical
 * keeps it until sched_tz_shutdown. NULL for an unknown or malformed name. */
icaltimezone *sched_tz_get(const char *name);

/* UTC offset (seconds east) in zone at the instant utc_s. */
int sched_tz_offset(icaltimezone *zone, int64_t utc_s);

/* The instant of a local wall time in zone (gap and overlap as above). Only
 * the date and time fields of local are read. */
int64_t sched_tz_to_utc(icaltimezone *zone, struct icaltimetype local);

/* The local wall time in zone at utc_s, as a floating time. */
struct icaltimetype sched_tz_local(icaltimezone *zone, int64_t utc_s);

/* Formats utc_s as local time with its offset, "2026-03-08T08:00:00-04:00"
 * ("Z" in UTC), into out (SCHED_TZ_ISO_LEN bytes). Returns out. */
char *sched_tz_iso(icaltimezone *zone, int64_t utc_s, char *out, size_t len);

/* Parses "YYYY-MM-DD" (years SCHED_YEAR_MIN..MAX, valid day) into a
 * floating date-time at midnight. Returns 0 or -1. */
int sched_tz_parse_date(const char *s, struct icaltimetype *out);

/* Parses "HH:MM" or "HH:MM:SS" into seconds after midnight. Returns 0 or
 * -1. */
int sched_tz_parse_time(const char *s, int *sec_of_day);

/* Parses a local "YYYY-MM-DDTHH:MM[:SS]" (no zone) into a floating time.
 * Returns 0 or -1. */
int sched_tz_parse_local(const char *s, struct icaltimetype *out);

/* Seconds since the epoch of a local time read as if it were UTC (the
 * civil-calendar arithmetic both directions use). */
int64_t sched_tz_civil_s(struct icaltimetype local);

/* Frees libical's cache of built-in zones (at exit; for the leak checker). */
void sched_tz_shutdown(void);

#endif /* SCHED_TZ_H */
