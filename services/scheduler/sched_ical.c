/*
 * sched_ical.c - iCalendar VEVENT/VTODO to scheduler.create data.
 */
#include "sched_ical.h"

#include <libical/ical.h>
#include <stdio.h>
#include <string.h>

#include "hm_proto.h"
#include "sched_rule.h"
#include "sched_tz.h"

#define S_LIBICAL_PREFIX "/freeassociation.sourceforge.net/"

static json_t *
s_fail(sched_err_t *err, const char *code, const char *msg)
{
    err->code = code;
    snprintf(err->msg, sizeof err->msg, "%s", msg);
    return NULL;
}

/* Sets err; returns -1. */
static int
s_bad(sched_err_t *err, const char *msg)
{
    s_fail(err, HM_ERR_INVALID_FIELD, msg);
    return -1;
}

/* The first VEVENT or VTODO: root itself or one of its children. */
static icalcomponent *
s_component(icalcomponent *root)
{
    icalcomponent_kind k = icalcomponent_isa(root);
    if (k == ICAL_VEVENT_COMPONENT || k == ICAL_VTODO_COMPONENT)
        return root;
    icalcomponent *c = icalcomponent_get_first_component(root, ICAL_VEVENT_COMPONENT);
    return c ? c : icalcomponent_get_first_component(root, ICAL_VTODO_COMPONENT);
}

/* The IANA name inside a TZID ("Europe/Berlin", or libical's prefixed
 * form); NULL when it names no known zone. */
static const char *
s_tzid_name(const char *tzid)
{
    if (!tzid)
        return NULL;
    if (strncmp(tzid, S_LIBICAL_PREFIX, strlen(S_LIBICAL_PREFIX)) == 0) {
        tzid += strlen(S_LIBICAL_PREFIX);
        const char *slash = strchr(tzid, '/'); /* "Tzfile/Europe/Berlin" or "Europe/Berlin" */
        if (slash && strncmp(tzid, "Tzfile/", 7) == 0)
            tzid = slash + 1;
    }
    return sched_tz_get(tzid) ? tzid : NULL;
}

/* What the start property says: the local time and the zone name. */
typedef struct {
    struct icaltimetype local; /* local wall time in tz */
    char tz[SCHED_TZ_MAX + 1]; /* IANA name */
    int64_t utc_s;             /* the instant */
} s_start_t;

/* Reads DTSTART (VTODO: DUE first). Returns 0 or -1 with err set. */
static int
s_start(icalcomponent *c, const json_t *req, s_start_t *out, sched_err_t *err)
{
    bool todo = icalcomponent_isa(c) == ICAL_VTODO_COMPONENT;
    icalproperty *p = todo ? icalcomponent_get_first_property(c, ICAL_DUE_PROPERTY) : NULL;
    struct icaltimetype t = p ? icalproperty_get_due(p) : icaltime_null_time();
    if (!p) {
        p = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
        t = p ? icalproperty_get_dtstart(p) : icaltime_null_time();
    }
    if (!p || icaltime_is_null_time(t) || !icaltime_is_valid_time(t))
        return s_bad(err, "'ics' has no usable DTSTART or DUE");
    icalparameter *tzp = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
    const char *req_tz = json_string_value(json_object_get(req, "tz"));
    const char *name = tzp ? s_tzid_name(icalparameter_get_tzid(tzp)) : req_tz ? req_tz : "UTC";
    icaltimezone *zone = name ? sched_tz_get(name) : NULL;
    if (!zone)
        return s_bad(err, "'ics' or 'tz' names an unknown time zone");
    snprintf(out->tz, sizeof out->tz, "%s", name);
    if (t.is_date) {
        int secs = 0;
        sched_tz_parse_time(SCHED_DATE_ONLY_TIME, &secs);
        t.is_date = 0;
        t.hour = secs / 3600;
        t.minute = secs / 60 % 60;
        t.second = secs % 60;
    }
    bool utc = icaltime_is_utc(t);
    t.zone = NULL;
    out->utc_s = utc ? sched_tz_civil_s(t) : sched_tz_to_utc(zone, t);
    out->local = utc ? sched_tz_local(zone, out->utc_s) : t;
    if (out->local.year < SCHED_YEAR_MIN || out->local.year > SCHED_YEAR_MAX)
        return s_bad(err, "'ics' start is out of range");
    return 0;
}

/* offsets_min from the VALARMs' triggers before the start; an empty array
 * when there are none. */
static json_t *
s_alarms(icalcomponent *c, int64_t start_utc)
{
    json_t *a = json_array();
    for (icalcomponent *al = icalcomponent_get_first_component(c, ICAL_VALARM_COMPONENT);
         al && a && json_array_size(a) < SCHED_OFFSETS_MAX;
         al = icalcomponent_get_next_component(c, ICAL_VALARM_COMPONENT)) {
        icalproperty *p = icalcomponent_get_first_property(al, ICAL_TRIGGER_PROPERTY);
        if (!p)
            continue;
        icalparameter *rel = icalproperty_get_first_parameter(p, ICAL_RELATED_PARAMETER);
        if (rel && icalparameter_get_related(rel) == ICAL_RELATED_END)
            continue;
        struct icaltriggertype tr = icalproperty_get_trigger(p);
        int64_t before;
        if (!icaltime_is_null_time(tr.time))
            before = start_utc - sched_tz_civil_s(tr.time);
        else
            before = -(int64_t)icaldurationtype_as_int(tr.duration);
        if (before >= 0 && before / 60 <= SCHED_OFFSET_MAX_MIN)
            json_array_append_new(a, json_integer(before / 60));
    }
    return a;
}

/* Copies key from req to out when req has it. */
static void
s_override(json_t *out, const json_t *req, const char *key)
{
    json_t *v = json_object_get(req, key);
    if (v && !json_is_null(v))
        json_object_set(out, key, v);
}

/* Fills the schedule keys of out for kind from the component. */
static void
s_schedule(json_t *out, icalcomponent *c, const s_start_t *st, bool medication)
{
    char buf[40];
    const struct icaltimetype *t = &st->local;
    json_object_set_new(out, "tz", json_string(st->tz));
    if (medication) {
        snprintf(buf, sizeof buf, "%04d-%02d-%02d", t->year, t->month, t->day);
        json_object_set_new(out, "start_date", json_string(buf));
        snprintf(buf, sizeof buf, "%02d:%02d:%02d", t->hour, t->minute, t->second);
        json_object_set_new(out, "times", json_pack("[s]", buf));
    } else {
        snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", t->year, t->month, t->day,
                 t->hour, t->minute, t->second);
        json_object_set_new(out, "at", json_string(buf));
        json_t *alarms = s_alarms(c, st->utc_s);
        if (json_array_size(alarms) > 0)
            json_object_set_new(out, "offsets_min", alarms);
        else
            json_decref(alarms);
    }
    icalproperty *rp = icalcomponent_get_first_property(c, ICAL_RRULE_PROPERTY);
    if (rp) {
        struct icalrecurrencetype rule = icalproperty_get_rrule(rp);
        char *text = icalrecurrencetype_as_string_r(&rule);
        if (text)
            json_object_set_new(out, "rrule", json_string(text));
        icalmemory_free_buffer(text);
    }
}

/* Builds the create data from a parsed component. */
static json_t *
s_build(icalcomponent *c, const json_t *req, sched_err_t *err)
{
    const char *kind = json_string_value(json_object_get(req, "kind"));
    bool medication = kind && strcmp(kind, "medication") == 0;
    s_start_t st;
    if (s_start(c, req, &st, err) != 0)
        return NULL;
    json_t *out = json_pack("{s:s}", "kind", kind ? kind : "appointment");
    if (!out)
        return s_fail(err, HM_ERR_INTERNAL, "out of memory");
    const char *summary = icalcomponent_get_summary(c);
    const char *desc = icalcomponent_get_description(c);
    if (summary && *summary)
        json_object_set_new(out, medication ? "name" : "title", json_string(summary));
    if (desc && *desc)
        json_object_set_new(out, "notes", json_string(desc));
    s_schedule(out, c, &st, medication);
    static const char *const keys[] = {"name", "title", "dose", "offsets_min", "notes"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        s_override(out, req, keys[i]);
    return out;
}

json_t *
sched_ical_import(const json_t *req, sched_err_t *err)
{
    json_t *ics = json_object_get(req, "ics");
    if (!ics || json_is_null(ics))
        return s_fail(err, HM_ERR_MISSING_FIELD, "'ics' (iCalendar text) is required");
    if (!json_is_string(ics) || json_string_length(ics) > SCHED_ICAL_MAX ||
        strlen(json_string_value(ics)) != json_string_length(ics))
        return s_fail(err, HM_ERR_INVALID_FIELD, "'ics' must be iCalendar text of at most 64 KiB");
    icalcomponent *root = icalparser_parse_string(json_string_value(ics));
    icalcomponent *c = root ? s_component(root) : NULL;
    json_t *out = c ? s_build(c, req, err)
                    : s_fail(err, HM_ERR_INVALID_FIELD, "'ics' holds no VEVENT or VTODO");
    if (root)
        icalcomponent_free(root);
    icalerror_clear_errno();
    return out;
}
