/*
 * sched_test_ical.c - reminders imported from iCalendar: a VEVENT with
 * TZID, RRULE and VALARMs, a VTODO with DUE, UTC and floating times, and
 * input that is not iCalendar.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <string.h>

#include "hm_proto.h"
#include "sched_ical.h"
#include "sched_spec.h"
#include "sched_tz.h"

#define CAL(body)                                                                                  \
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" body "END:VCALENDAR\r\n"

/* Imports ics with extra request keys (JSON object text, may be NULL). */
static json_t *
import(const char *ics, const char *extra, sched_err_t *err)
{
    json_t *req = extra ? json_loads(extra, 0, NULL) : json_object();
    assert_non_null(req);
    json_object_set_new(req, "ics", json_string(ics));
    json_t *out = sched_ical_import(req, err);
    json_decref(req);
    return out;
}

static const char *
str(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "(none)";
}

static void
test_vevent_appointment_with_alarms(void **state)
{
    (void)state;
    sched_err_t err;
    json_t *d =
        import(CAL("BEGIN:VEVENT\r\nUID:a1\r\nDTSTAMP:20261101T000000Z\r\nSUMMARY:Physio\r\n"
                   "DESCRIPTION:Bring shoes\r\nDTSTART;TZID=Europe/Berlin:20261210T143000\r\n"
                   "RRULE:FREQ=WEEKLY;BYDAY=TH;COUNT=4\r\n"
                   "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT30M\r\nEND:VALARM\r\n"
                   "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-P1D\r\nEND:VALARM\r\n"
                   "END:VEVENT\r\n"),
               NULL, &err);
    assert_non_null(d);
    assert_string_equal(str(d, "kind"), "appointment");
    assert_string_equal(str(d, "title"), "Physio");
    assert_string_equal(str(d, "notes"), "Bring shoes");
    assert_string_equal(str(d, "tz"), "Europe/Berlin");
    assert_string_equal(str(d, "at"), "2026-12-10T14:30:00");
    assert_string_equal(str(d, "rrule"), "FREQ=WEEKLY;COUNT=4;BYDAY=TH");
    json_t *off = json_object_get(d, "offsets_min");
    assert_int_equal(json_array_size(off), 2);
    assert_int_equal(json_integer_value(json_array_get(off, 0)), 30);
    assert_int_equal(json_integer_value(json_array_get(off, 1)), 1440);

    sched_reminder_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(sched_spec_parse(d, 0, &r, &err), 0);
    assert_int_equal(r.noffsets, 2);
    json_decref(d);
}

static void
test_vtodo_medication_utc_and_overrides(void **state)
{
    (void)state;
    sched_err_t err;
    json_t *d =
        import(CAL("BEGIN:VTODO\r\nUID:t1\r\nDTSTAMP:20261101T000000Z\r\nSUMMARY:Insulin\r\n"
                   "DUE:20261201T070000Z\r\nRRULE:FREQ=DAILY\r\nEND:VTODO\r\n"),
               "{\"kind\":\"medication\",\"tz\":\"Europe/Berlin\",\"dose\":\"10 IU\"}", &err);
    assert_non_null(d);
    assert_string_equal(str(d, "name"), "Insulin");
    assert_string_equal(str(d, "dose"), "10 IU");
    assert_string_equal(str(d, "tz"), "Europe/Berlin");
    assert_string_equal(str(d, "start_date"), "2026-12-01");
    assert_string_equal(json_string_value(json_array_get(json_object_get(d, "times"), 0)),
                        "08:00:00");
    sched_reminder_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(sched_spec_parse(d, 0, &r, &err), 0);
    assert_int_equal(r.times[0], 8 * 3600);
    assert_string_equal(r.rrule, "FREQ=DAILY");
    json_decref(d);
}

static void
test_bare_vevent_floating_and_date_only(void **state)
{
    (void)state;
    sched_err_t err;
    json_t *d = import("BEGIN:VEVENT\r\nUID:b\r\nSUMMARY:Checkup\r\nDTSTART:20270105T100000\r\n"
                       "END:VEVENT\r\n",
                       "{\"tz\":\"America/Chicago\"}", &err);
    assert_non_null(d);
    assert_string_equal(str(d, "at"), "2027-01-05T10:00:00");
    assert_string_equal(str(d, "tz"), "America/Chicago");
    assert_null(json_object_get(d, "offsets_min")); /* no alarms: the defaults apply */
    json_decref(d);
    d = import(CAL("BEGIN:VEVENT\r\nUID:c\r\nSUMMARY:Lab\r\nDTSTART;VALUE=DATE:20270106\r\n"
                   "END:VEVENT\r\n"),
               NULL, &err);
    assert_non_null(d);
    assert_string_equal(str(d, "at"), "2027-01-06T09:00:00");
    assert_string_equal(str(d, "tz"), "UTC");
    json_decref(d);
    d = import(CAL("BEGIN:VEVENT\r\nUID:d\r\nSUMMARY:X\r\nDTSTART;TZID=/freeassociation.sourceforge"
                   ".net/Tzfile/Asia/Tokyo:20270106T080000\r\nEND:VEVENT\r\n"),
               NULL, &err);
    assert_non_null(d);
    assert_string_equal(str(d, "tz"), "Asia/Tokyo");
    json_decref(d);
}

static void
test_refusals(void **state)
{
    (void)state;
    sched_err_t err;
    json_t *req = json_object();
    assert_null(sched_ical_import(req, &err));
    assert_string_equal(err.code, HM_ERR_MISSING_FIELD);
    json_decref(req);
    assert_null(import("hello world", NULL, &err));
    assert_string_equal(err.code, HM_ERR_INVALID_FIELD);
    assert_null(import(CAL("BEGIN:VJOURNAL\r\nUID:j\r\nEND:VJOURNAL\r\n"), NULL, &err));
    assert_null(import(CAL("BEGIN:VEVENT\r\nUID:e\r\nSUMMARY:X\r\nEND:VEVENT\r\n"), NULL, &err));
    assert_null(import(CAL("BEGIN:VEVENT\r\nUID:e\r\nSUMMARY:X\r\nDTSTART;TZID=Eastern Standard "
                           "Time:20270106T080000\r\nEND:VEVENT\r\n"),
                       NULL, &err));
    assert_string_equal(err.code, HM_ERR_INVALID_FIELD);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vevent_appointment_with_alarms),
        cmocka_unit_test(test_vtodo_medication_utc_and_overrides),
        cmocka_unit_test(test_bare_vevent_floating_and_date_only),
        cmocka_unit_test(test_refusals),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sched_tz_shutdown();
    return rc;
}
