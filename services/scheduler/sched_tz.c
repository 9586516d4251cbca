/*
 * sched_tz.c - zone lookup, local <-> UTC with the tz database's rules, and
 * the date and time formats of the scheduler's JSON.
 */
#include "sched_tz.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define S_DAY_S 86400

/* ---- civil calendar (proleptic Gregorian, H. Hinnant's algorithms) ---- */

static int64_t
s_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void
s_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static bool
s_valid_date(int y, int m, int d)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < SCHED_YEAR_MIN || y > SCHED_YEAR_MAX || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap ? 1 : 0);
}

int64_t
sched_tz_civil_s(struct icaltimetype local)
{
    return s_days_from_civil(local.year, local.month, local.day) * S_DAY_S + local.hour * 3600 +
           local.minute * 60 + local.second;
}

/* ---- zones -------------------------------------------------------------- */

/* True when name looks like an IANA zone name: [A-Za-z0-9/_+-], no "..",
 * no leading '/'. Keeps odd strings away from libical's file lookup. */
static bool
s_plausible_name(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > 64 || name[0] == '/' || strstr(name, ".."))
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '/' || c == '_' || c == '+' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

icaltimezone *
sched_tz_get(const char *name)
{
    if (!s_plausible_name(name))
        return NULL;
    if (strcmp(name, "UTC") == 0)
        return icaltimezone_get_utc_timezone();
    return icaltimezone_get_builtin_timezone(name);
}

int
sched_tz_offset(icaltimezone *zone, int64_t utc_s)
{
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    if (!zone || zone == utc)
        return 0;
    struct icaltimetype tt = icaltime_from_timet_with_zone((time_t)utc_s, 0, utc);
    int is_daylight = 0;
    return icaltimezone_get_utc_offset_of_utc_time(zone, &tt, &is_daylight);
}

int64_t
sched_tz_to_utc(icaltimezone *zone, struct icaltimetype local)
{
    int64_t wall = sched_tz_civil_s(local);
    if (!zone || zone == icaltimezone_get_utc_timezone())
        return wall;
    /* The offsets a day either side cover any single transition. */
    int before = sched_tz_offset(zone, wall - S_DAY_S);
    int after = sched_tz_offset(zone, wall + S_DAY_S);
    int cands[2] = {before, after};
    int best = INT_MIN;
    for (int i = 0; i < 2; i++)
        if (sched_tz_offset(zone, wall - cands[i]) == cands[i] && cands[i] > best)
            best = cands[i]; /* the larger offset is the earlier instant */
    if (best != INT_MIN)
        return wall - best;
    return wall - before; /* in the gap: the offset from before it */
}

struct icaltimetype
sched_tz_local(icaltimezone *zone, int64_t utc_s)
{
    int64_t wall = utc_s + sched_tz_offset(zone, utc_s);
    int64_t days = wall >= 0 ? wall / S_DAY_S : -((-wall + S_DAY_S - 1) / S_DAY_S);
    int64_t secs = wall - days * S_DAY_S;
    struct icaltimetype t = icaltime_null_time();
    s_civil_from_days(days, &t.year, &t.month, &t.day);
    t.hour = (int)(secs / 3600);
    t.minute = (int)(secs / 60 % 60);
    t.second = (int)(secs % 60);
    return t;
}

char *
sched_tz_iso(icaltimezone *zone, int64_t utc_s, char *out, size_t len)
{
    struct icaltimetype t = sched_tz_local(zone, utc_s);
    int off = sched_tz_offset(zone, utc_s);
    char zbuf[16] = "Z";
    if (zone && zone != icaltimezone_get_utc_timezone()) {
        int a = (off < 0 ? -off : off) % 86400; /* offsets are under a day */
        snprintf(zbuf, sizeof zbuf, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
    }
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d%s", t.year, t.month, t.day, t.hour, t.minute,
             t.second, zbuf);
    return out;
}

/* ---- parsing -------------------------------------------------------------- */

/* Reads exactly n digits at *p. Returns 0 or -1. */
static int
s_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Reads "YYYY-MM-DD" at *p (not necessarily the end). */
static int
s_date(const char **p, struct icaltimetype *out)
{
    int y, m, d;
    if (s_digits(p, 4, &y) || *(*p)++ != '-' || s_digits(p, 2, &m) || *(*p)++ != '-' ||
        s_digits(p, 2, &d) || !s_valid_date(y, m, d))
        return -1;
    *out = icaltime_null_time();
    out->year = y;
    out->month = m;
    out->day = d;
    return 0;
}

/* Reads "HH:MM" or "HH:MM:SS" at *p. */
static int
s_time(const char **p, int *sec_of_day)
{
    int h, mi, s = 0;
    if (s_digits(p, 2, &h) || *(*p)++ != ':' || s_digits(p, 2, &mi))
        return -1;
    if (**p == ':') {
        (*p)++;
        if (s_digits(p, 2, &s))
            return -1;
    }
    if (h > 23 || mi > 59 || s > 59)
        return -1;
    *sec_of_day = h * 3600 + mi * 60 + s;
    return 0;
}

int
sched_tz_parse_date(const char *s, struct icaltimetype *out)
{
    struct icaltimetype t;
    if (!s || s_date(&s, &t) || *s)
        return -1;
    *out = t;
    return 0;
}

int
sched_tz_parse_time(const char *s, int *sec_of_day)
{
    int v;
    if (!s || s_time(&s, &v) || *s)
        return -1;
    *sec_of_day = v;
    return 0;
}

int
sched_tz_parse_local(const char *s, struct icaltimetype *out)
{
    struct icaltimetype t;
    int secs;
    if (!s || s_date(&s, &t) || (*s != 'T' && *s != 't' && *s != ' '))
        return -1;
    s++;
    if (s_time(&s, &secs) || *s)
        return -1;
    t.hour = secs / 3600;
    t.minute = secs / 60 % 60;
    t.second = secs % 60;
    *out = t;
    return 0;
}

void
sched_tz_shutdown(void)
{
    icaltimezone_free_builtin_timezones();
}
