/*
 * sched_test_spec.c - reminder JSON: medication and appointment input
 * validated into a reminder, rendered back, and updates merged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <string.h>

#include "hm_proto.h"
#include "sched_spec.h"
#include "sched_tz.h"

#define NOW_MS 1772700000000LL /* 2026-03-05T08:40:00Z */

static json_t *
parse_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad test JSON: %s", e.text);
    return j;
}

/* Parses text into r; returns the error code ("" when accepted). */
static const char *
parse(const char *text, sched_reminder_t *r)
{
    static sched_err_t err;
    json_t *j = parse_json(text);
    memset(r, 0, sizeof *r);
    int rc = sched_spec_parse(j, NOW_MS, r, &err);
    json_decref(j);
    return rc == 0 ? "" : err.code;
}

static void
test_medication_days_form(void **state)
{
    (void)state;
    sched_reminder_t r;
    assert_string_equal(
        parse("{\"kind\":\"medication\",\"name\":\"Metformin\",\"dose\":\"500 mg\","
              "\"tz\":\"America/New_York\",\"times\":[\"20:30\",\"08:00\"],"
              "\"days\":[\"MO\",\"wednesday\",\"Fri\"],\"start_date\":\"2026-03-06\","
              "\"end_date\":\"2026-03-30\"}",
              &r),
        "");
    assert_int_equal(r.kind, SCHED_KIND_MEDICATION);
    assert_string_equal(r.title, "Metformin");
    assert_string_equal(r.dose, "500 mg");
    assert_int_equal(r.ntimes, 2);
    assert_int_equal(r.times[0], 8 * 3600);
    assert_int_equal(r.times[1], 20 * 3600 + 1800);
    assert_string_equal(r.rrule, "FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20260331T035959Z");
    assert_int_equal(r.noffsets, 1);
    assert_int_equal(r.offsets_min[0], 0);

    snprintf(r.id, sizeof r.id, "00000000-0000-4000-8000-000000000001");
    r.next_fire_s = 1772802000;
    json_t *j = sched_spec_render(&r);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "Metformin");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "times"), 1)), "20:30");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "days"), 2)), "FR");
    assert_string_equal(json_string_value(json_object_get(j, "end_date")), "2026-03-30");
    assert_string_equal(json_string_value(json_object_get(j, "next_occurrence_at")),
                        "2026-03-06T08:00:00-05:00");
    assert_int_equal(json_integer_value(json_object_get(j, "next_occurrence")), 1772802000);
    json_decref(j);
}

static void
test_medication_defaults_and_rrule(void **state)
{
    (void)state;
    sched_reminder_t r;
    assert_string_equal(parse("{\"kind\":\"medication\",\"name\":\"Vitamin D\",\"tz\":\"Europe/"
                              "Berlin\",\"times\":[\"09:00\"]}",
                              &r),
                        "");
    assert_string_equal(r.start_date, "2026-03-05"); /* today in the zone */
    assert_string_equal(r.rrule, "FREQ=DAILY");
    assert_int_equal(r.days, SCHED_DAYS_ALL);
    assert_string_equal(
        parse("{\"kind\":\"medication\",\"name\":\"B12\",\"tz\":\"UTC\","
              "\"times\":[\"09:00\"],\"rrule\":\"RRULE:FREQ=MONTHLY;BYMONTHDAY=1\"}",
              &r),
        "");
    assert_string_equal(r.rrule, "FREQ=MONTHLY;BYMONTHDAY=1");
    assert_int_equal(r.days, 0);
    json_t *j = sched_spec_render(&r);
    assert_true(json_is_null(json_object_get(j, "days")));
    json_decref(j);
}

static void
test_appointment(void **state)
{
    (void)state;
    sched_reminder_t r;
    assert_string_equal(parse("{\"kind\":\"appointment\",\"title\":\"Dentist\",\"tz\":\"Europe/"
                              "Berlin\",\"at\":\"2026-12-10T13:30:00Z\"}",
                              &r),
                        "");
    assert_string_equal(r.start_date, "2026-12-10");
    assert_int_equal(r.times[0], 14 * 3600 + 1800); /* 14:30 in Berlin */
    assert_int_equal(r.noffsets, 2);
    assert_int_equal(r.offsets_min[0], 1440);
    assert_int_equal(r.offsets_min[1], 60);
    json_t *j = sched_spec_render(&r);
    assert_string_equal(json_string_value(json_object_get(j, "at")), "2026-12-10T14:30:00+01:00");
    json_decref(j);
    assert_string_equal(
        parse("{\"kind\":\"appointment\",\"title\":\"GP\",\"at\":\"2026-12-10T14:30:"
              "00+01:00\",\"offsets_min\":[30,120,30]}",
              &r),
        "");
    assert_string_equal(r.tz, "UTC");
    assert_int_equal(r.noffsets, 2);
    assert_int_equal(r.offsets_min[0], 120); /* largest first, duplicates dropped */
}

static void
test_errors_name_the_field(void **state)
{
    (void)state;
    sched_reminder_t r;
    static const struct {
        const char *json, *code;
    } cases[] = {
        {"{}", HM_ERR_MISSING_FIELD},
        {"{\"kind\":\"vaccine\"}", HM_ERR_INVALID_FIELD},
        {"{\"kind\":\"medication\",\"tz\":\"UTC\",\"times\":[\"08:00\"]}", HM_ERR_MISSING_FIELD},
        {"{\"kind\":\"medication\",\"name\":\"x\",\"times\":[\"08:00\"]}", HM_ERR_MISSING_FIELD},
        {"{\"kind\":\"medication\",\"name\":\"x\",\"tz\":\"Mars/Olympus\",\"times\":[\"08:00\"]}",
         HM_ERR_INVALID_FIELD},
        {"{\"kind\":\"medication\",\"name\":\"x\",\"tz\":\"UTC\",\"times\":[\"25:00\"]}",
         HM_ERR_INVALID_FIELD},
        {"{\"kind\":\"medication\",\"name\":\"x\",\"tz\":\"UTC\",\"times\":[]}",
         HM_ERR_INVALID_FIELD},
        {"{\"kind\":\"medication\",\"name\":\"x\",\"tz\":\"UTC\",\"times\":[\"08:00\"],\"days\":["
         "\"XX\"]}",
         HM_ERR_INVALID_FIELD},
        {"{\"kind\":\"medication\",\"name\":\"x\",\"tz\":\"UTC\",\"times\":[\"08:00\"],\"days\":["
         "\"MO\"],\"rrule\":\"FREQ=DAILY\"}",
         HM_ERR_INVALID_FIELD},
        {"{\"kind\":\"medication\",\"name\":\"x\",\"tz\":\"UTC\",\"times\":[\"08:00\"],\"start_"
         "date\":"
         "\"2026-03-05\",\"end_date\":\"2026-03-04\"}",
         HM_ERR_INVALID_FIELD},
        {"{\"kind\":\"medication\",\"name\":\"x\",\"tz\":\"UTC\",\"times\":[\"08:00\"],\"rrule\":"
         "\"FREQ=MINUTELY\"}",
         HM_ERR_INVALID_FIELD},
        {"{\"kind\":\"appointment\",\"title\":\"x\",\"at\":\"2026-12-10T14:30\"}",
         HM_ERR_MISSING_FIELD},
        {"{\"kind\":\"appointment\",\"title\":\"x\",\"tz\":\"UTC\",\"at\":\"tomorrow\"}",
         HM_ERR_INVALID_FIELD},
        {"{\"kind\":\"appointment\",\"title\":\"x\",\"tz\":\"UTC\",\"at\":\"2026-12-10T14:30\","
         "\"offsets_min\":[-5]}",
         HM_ERR_INVALID_FIELD},
        {"{\"kind\":\"appointment\",\"title\":\"\",\"tz\":\"UTC\",\"at\":\"2026-12-10T14:30\"}",
         HM_ERR_INVALID_FIELD},
        {"{\"kind\":\"appointment\",\"title\":5,\"tz\":\"UTC\",\"at\":\"2026-12-10T14:30\"}",
         HM_ERR_INVALID_FIELD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(parse(cases[i].json, &r), cases[i].code) != 0)
            fail_msg("case %zu %s: got %s", i, cases[i].json, parse(cases[i].json, &r));
    char big[400];
    memset(big, 'a', 300);
    big[300] = '\0';
    char text[600];
    snprintf(text, sizeof text,
             "{\"kind\":\"medication\",\"name\":\"%s\",\"tz\":\"UTC\",\"times\":[\"08:00\"]}", big);
    assert_string_equal(parse(text, &r), HM_ERR_INVALID_FIELD);
}

/* Applies update text to r through base and merge. Returns the code. */
static const char *
update(sched_reminder_t *r, const char *text)
{
    static sched_err_t err;
    json_t *base = sched_spec_base(r), *up = parse_json(text);
    sched_spec_merge(base, up);
    int rc = sched_spec_parse(base, NOW_MS, r, &err);
    json_decref(base);
    json_decref(up);
    return rc == 0 ? "" : err.code;
}

static void
test_updates_merge_over_the_stored_form(void **state)
{
    (void)state;
    sched_reminder_t r;
    assert_string_equal(parse("{\"kind\":\"medication\",\"name\":\"A\",\"tz\":\"UTC\",\"times\":["
                              "\"08:00\"],\"days\":[\"MO\"],\"start_date\":\"2026-03-02\","
                              "\"end_date\":\"2026-04-30\"}",
                              &r),
                        "");
    assert_string_equal(update(&r, "{\"times\":[\"09:30\"],\"dose\":\"2 tablets\"}"), "");
    assert_int_equal(r.times[0], 9 * 3600 + 1800);
    assert_string_equal(r.dose, "2 tablets");
    assert_string_equal(r.rrule, "FREQ=WEEKLY;BYDAY=MO;UNTIL=20260430T235959Z");
    assert_string_equal(update(&r, "{\"end_date\":null}"), "");
    assert_string_equal(r.rrule, "FREQ=WEEKLY;BYDAY=MO");
    assert_string_equal(update(&r, "{\"rrule\":\"FREQ=DAILY;INTERVAL=2\"}"), "");
    assert_int_equal(r.days, 0);
    assert_string_equal(r.rrule, "FREQ=DAILY;INTERVAL=2");
    assert_string_equal(update(&r, "{\"days\":[\"TU\",\"TH\"]}"), "");
    assert_string_equal(r.rrule, "FREQ=WEEKLY;BYDAY=TU,TH");
    assert_string_equal(update(&r, "{\"times\":\"08:00\"}"), HM_ERR_INVALID_FIELD);

    assert_string_equal(parse("{\"kind\":\"appointment\",\"title\":\"Dentist\",\"tz\":\"Europe/"
                              "Berlin\",\"at\":\"2026-12-10T14:30\"}",
                              &r),
                        "");
    assert_string_equal(update(&r, "{\"at\":\"2026-12-11T09:00\",\"offsets_min\":[15]}"), "");
    assert_string_equal(r.start_date, "2026-12-11");
    assert_int_equal(r.times[0], 9 * 3600);
    assert_int_equal(r.noffsets, 1);
    assert_string_equal(r.tz, "Europe/Berlin");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_medication_days_form),
        cmocka_unit_test(test_medication_defaults_and_rrule),
        cmocka_unit_test(test_appointment),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_updates_merge_over_the_stored_form),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sched_tz_shutdown();
    return rc;
}
