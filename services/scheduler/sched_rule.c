/*
 * sched_rule.c - RRULE validation, the medication days form, and the next
 * fire of a schedule.
 */
#include "sched_rule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hm_proto.h"
#include "sched_tz.h"

#define S_DAY_S 86400

static const char *const s_day_codes[7] = {"SU", "MO", "TU", "WE", "TH", "FR", "SA"};
static const char *const s_day_names[7] = {"sunday",   "monday", "tuesday", "wednesday",
                                           "thursday", "friday", "saturday"};

const char *
sched_rule_day_code(int wday)
{
    return wday >= 0 && wday < 7 ? s_day_codes[wday] : NULL;
}

int
sched_rule_day_parse(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    for (int i = 0; i < 7 && len >= 2; i++) {
        if (len == 2 && strcasecmp(name, s_day_codes[i]) == 0)
            return i;
        if (len >= 3 && strncasecmp(name, s_day_names[i], len) == 0 &&
            (len == 3 || len == strlen(s_day_names[i])))
            return i;
    }
    return -1;
}

/* ---- validation ----------------------------------------------------------- */

static int
s_fail(sched_err_t *err, const char *msg)
{
    err->code = HM_ERR_INVALID_FIELD;
    snprintf(err->msg, sizeof err->msg, "%s", msg);
    return -1;
}

int
sched_rule_canon(const char *text, char *out, size_t len, sched_err_t *err)
{
    if (strncasecmp(text, "RRULE:", 6) == 0)
        text += 6;
    if (strlen(text) > SCHED_RRULE_MAX)
        return s_fail(err, "'rrule' is too long");
    icalerror_clear_errno();
    struct icalrecurrencetype rule = icalrecurrencetype_from_string(text);
    if (rule.freq == ICAL_NO_RECURRENCE || icalerrno != ICAL_NO_ERROR) {
        icalerror_clear_errno();
        return s_fail(err, "'rrule' is not an RFC 5545 recurrence rule");
    }
    if (rule.freq == ICAL_SECONDLY_RECURRENCE || rule.freq == ICAL_MINUTELY_RECURRENCE)
        return s_fail(err, "'rrule' may not repeat more often than hourly");
    if (rule.count < 0 || rule.count > SCHED_RULE_COUNT_MAX)
        return s_fail(err, "'rrule' COUNT is out of range");
    char *canon = icalrecurrencetype_as_string_r(&rule);
    int n = canon ? snprintf(out, len, "%s", canon) : -1;
    icalmemory_free_buffer(canon);
    if (n < 0 || (size_t)n >= len || (size_t)n > SCHED_RRULE_MAX)
        return s_fail(err, "'rrule' is too long");
    return 0;
}

int
sched_rule_from_days(int days, const char *end_date, icaltimezone *zone, char *out, size_t len)
{
    size_t n = (size_t)snprintf(out, len, "FREQ=%s", days == SCHED_DAYS_ALL ? "DAILY" : "WEEKLY");
    if (days != SCHED_DAYS_ALL) {
        const char *sep = ";BYDAY=";
        for (int k = 1; k <= 7; k++) { /* Monday first, as calendars write it */
            int wday = k % 7;
            if (days & (1 << wday) && n < len) {
                n += (size_t)snprintf(out + n, len - n, "%s%s", sep, s_day_codes[wday]);
                sep = ",";
            }
        }
    }
    if (end_date && *end_date && n < len) {
        struct icaltimetype end;
        if (sched_tz_parse_date(end_date, &end) != 0)
            return -1;
        end.hour = 23;
        end.minute = 59;
        end.second = 59;
        struct icaltimetype u = sched_tz_local(NULL, sched_tz_to_utc(zone, end));
        n += (size_t)snprintf(out + n, len - n, ";UNTIL=%04d%02d%02dT%02d%02d%02dZ", u.year,
                              u.month, u.day, u.hour, u.minute, u.second);
    }
    return n < len ? 0 : -1;
}

/* ---- expansion ------------------------------------------------------------ */

/* The instant of an UNTIL value: UTC as is, a DATE as the end of that local
 * day, a floating date-time in the reminder's zone. */
static int64_t
s_until(icaltimezone *zone, struct icaltimetype until)
{
    if (icaltime_is_null_time(until))
        return INT64_MAX;
    if (until.is_date) {
        until.is_date = 0;
        until.hour = 23;
        until.minute = 59;
        until.second = 59;
        return sched_tz_to_utc(zone, until);
    }
    if (icaltime_is_utc(until))
        return sched_tz_civil_s(until);
    return sched_tz_to_utc(zone, until);
}

int
sched_rule_init(sched_rule_t *self, const sched_reminder_t *r)
{
    memset(self, 0, sizeof *self);
    self->zone = sched_tz_get(r->tz);
    if (!self->zone || sched_tz_parse_date(r->start_date, &self->start) != 0 || r->ntimes < 1 ||
        r->ntimes > SCHED_TIMES_MAX || r->noffsets < 1 || r->noffsets > SCHED_OFFSETS_MAX)
        return -1;
    self->ntimes = r->ntimes;
    memcpy(self->times, r->times, sizeof(int) * (size_t)r->ntimes);
    self->noffsets = r->noffsets;
    for (int i = 0; i < r->noffsets; i++)
        self->offsets_s[i] = (int64_t)r->offsets_min[i] * 60;
    self->until_s = INT64_MAX;
    if (!r->rrule[0])
        return 0;
    icalerror_clear_errno();
    self->rule = icalrecurrencetype_from_string(r->rrule);
    if (self->rule.freq == ICAL_NO_RECURRENCE) {
        icalerror_clear_errno();
        return -1;
    }
    self->recurring = true;
    self->until_s = s_until(self->zone, self->rule.until);
    self->rule.until = icaltime_null_time();
    return 0;
}

/* A new iterator for the time of day at index i, positioned a little before
 * from_s when the rule allows skipping ahead (not with COUNT, which counts
 * from DTSTART). NULL on failure. */
static icalrecur_iterator *
s_iterator(const sched_rule_t *self, struct icaltimetype dtstart, int64_t from_s)
{
    icalrecur_iterator *it = icalrecur_iterator_new(self->rule, dtstart);
    if (!it || self->rule.count > 0)
        return it;
    struct icaltimetype from = sched_tz_local(self->zone, from_s - 2 * S_DAY_S);
    if (icaltime_compare(from, dtstart) <= 0)
        return it;
    if (self->rule.freq == ICAL_HOURLY_RECURRENCE) {
        /* libical does not align an hourly start to the interval: do it here, in the
         * floating wall-clock hours the iterator counts. */
        int64_t step = (int64_t)(self->rule.interval > 0 ? self->rule.interval : 1) * 3600;
        int64_t base = sched_tz_civil_s(dtstart);
        int64_t k = (sched_tz_civil_s(from) - base) / step;
        from = sched_tz_local(NULL, base + k * step);
    }
    if (!icalrecur_iterator_set_start(it, from)) { /* refused: start over from DTSTART */
        icalrecur_iterator_free(it);
        it = icalrecur_iterator_new(self->rule, dtstart);
    }
    return it;
}

/* The first instance at time of day i strictly after after_s. Returns 1
 * with *out, or 0. */
static int
s_instance_after(const sched_rule_t *self, int i, int64_t after_s, int64_t *out)
{
    struct icaltimetype dtstart = self->start;
    dtstart.hour = self->times[i] / 3600;
    dtstart.minute = self->times[i] / 60 % 60;
    dtstart.second = self->times[i] % 60;
    if (!self->recurring) {
        *out = sched_tz_to_utc(self->zone, dtstart);
        return *out > after_s;
    }
    icalrecur_iterator *it = s_iterator(self, dtstart, after_s);
    int found = 0;
    for (int n = 0; it && n < SCHED_RULE_ITER_MAX; n++) {
        struct icaltimetype t = icalrecur_iterator_next(it);
        if (icaltime_is_null_time(t))
            break;
        int64_t u = sched_tz_to_utc(self->zone, t);
        if (u > self->until_s || t.year > SCHED_YEAR_MAX)
            break;
        if (u > after_s) {
            *out = u;
            found = 1;
            break;
        }
    }
    icalrecur_iterator_free(it);
    return found;
}

int
sched_rule_next(const sched_rule_t *self, int64_t after_s, sched_occ_t *out)
{
    int found = 0;
    for (int i = 0; i < self->ntimes; i++) {
        for (int j = 0; j < self->noffsets; j++) {
            int64_t inst;
            if (!s_instance_after(self, i, after_s + self->offsets_s[j], &inst))
                continue;
            int64_t fire = inst - self->offsets_s[j];
            if (!found || fire < out->fire_s || (fire == out->fire_s && inst < out->instance_s)) {
                out->fire_s = fire;
                out->instance_s = inst;
                out->offset_min = (int)(self->offsets_s[j] / 60);
                found = 1;
            }
        }
    }
    return found;
}
