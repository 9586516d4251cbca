/*
 * hlth_test_catalog.c - the metric catalogue and reading validation: the
 * seed's reading, unit conversion, and every refusal code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "hlth_catalog.h"
#include "hm_proto.h"

#define NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */
#define SKEW_MS 300000

/* Parses JSON text as a reading; returns the error code ("" when valid). */
static const char *
parse(const char *text, hlth_reading_t *r)
{
    static hlth_verr_t err;
    json_t *data = json_loads(text, 0, NULL);
    assert_non_null(data);
    hlth_reading_t tmp;
    int rc = hlth_reading_parse(data, NOW_MS, SKEW_MS, r ? r : &tmp, &err);
    json_decref(data);
    return rc == 0 ? "" : err.code;
}

static void
test_seed_reading_is_valid(void **state)
{
    (void)state;
    hlth_reading_t r;
    assert_string_equal(parse("{\"metric\":\"blood_pressure\",\"value\":120,\"unit\":\"mmHg\","
                              "\"timestamp\":\"2024-01-01T00:00:00Z\"}",
                              &r),
                        "");
    assert_string_equal(r.metric->name, "blood_pressure");
    assert_true(r.value == 120 && r.systolic == 120 && isnan(r.diastolic));
    assert_int_equal(r.measured_at, 1704067200000LL);
    json_t *j = hlth_reading_json(&r, "id-1", "client", NULL);
    assert_string_equal(json_string_value(json_object_get(j, "unit")), "mmHg");
    assert_int_equal(json_integer_value(json_object_get(j, "value")), 120); /* whole: integer */
    assert_string_equal(json_string_value(json_object_get(j, "timestamp")),
                        "2024-01-01T00:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(j, "source")), "client");
    assert_null(json_object_get(j, "original_unit"));
    json_decref(j);
}

static void
test_blood_pressure_parts(void **state)
{
    (void)state;
    hlth_reading_t r;
    assert_string_equal(parse("{\"metric\":\"blood_pressure\",\"systolic\":128,"
                              "\"diastolic\":82,\"unit\":\"mmHg\"}",
                              &r),
                        "");
    assert_true(r.value == 128 && r.systolic == 128 && r.diastolic == 82);
    assert_int_equal(r.measured_at, NOW_MS); /* no timestamp: now */
    json_t *j = hlth_reading_json(&r, "id", "device", "cuff-7");
    assert_int_equal(json_integer_value(json_object_get(j, "diastolic")), 82);
    assert_string_equal(json_string_value(json_object_get(j, "device_id")), "cuff-7");
    json_decref(j);
    assert_string_equal(parse("{\"metric\":\"blood_pressure\",\"value\":120,\"diastolic\":80}", &r),
                        "");
    assert_string_equal(
        parse("{\"metric\":\"blood_pressure\",\"value\":120,\"systolic\":130}", NULL),
        HM_ERR_INVALID_FIELD);
    assert_string_equal(
        parse("{\"metric\":\"blood_pressure\",\"systolic\":80,\"diastolic\":90}", NULL),
        HM_ERR_OUT_OF_RANGE);
    assert_string_equal(parse("{\"metric\":\"blood_pressure\",\"diastolic\":90}", NULL),
                        HM_ERR_MISSING_FIELD);
    assert_string_equal(parse("{\"metric\":\"blood_pressure\",\"value\":300}", NULL),
                        HM_ERR_OUT_OF_RANGE);
}

static void
test_units_convert_to_the_stored_one(void **state)
{
    (void)state;
    hlth_reading_t r;
    assert_string_equal(parse("{\"metric\":\"glucose\",\"value\":5.5,\"unit\":\"mmol/L\"}", &r),
                        "");
    assert_true(fabs(r.value - 99.09) < 1e-9);
    assert_string_equal(r.original_unit, "mmol/L");
    assert_true(r.original_value == 5.5);
    assert_string_equal(parse("{\"metric\":\"temperature\",\"value\":98.6,\"unit\":\"F\"}", &r),
                        "");
    assert_true(fabs(r.value - 37.0) < 1e-9);
    assert_string_equal(parse("{\"metric\":\"temperature\",\"value\":37.2,\"unit\":\"c\"}", &r),
                        "");
    assert_true(r.value == 37.2 && r.original_unit[0] == '\0'); /* case-insensitive, no convert */
    assert_string_equal(parse("{\"metric\":\"weight\",\"value\":150,\"unit\":\"lb\"}", &r), "");
    assert_true(fabs(r.value - 68.04) < 1e-9);
    json_t *j = hlth_reading_json(&r, "id", "client", NULL);
    assert_string_equal(json_string_value(json_object_get(j, "unit")), "kg");
    assert_string_equal(json_string_value(json_object_get(j, "original_unit")), "lb");
    assert_int_equal(json_integer_value(json_object_get(j, "original_value")), 150);
    json_decref(j);
    assert_string_equal(parse("{\"metric\":\"heart_rate\",\"value\":72}", &r), ""); /* no unit */
    assert_string_equal(parse("{\"metric\":\"spo2\",\"value\":97,\"unit\":\"%\"}", &r), "");
    assert_string_equal(
        parse("{\"metric\":\"respiratory_rate\",\"value\":16,\"unit\":\"breaths/min\"}", &r), "");
    assert_string_equal(parse("{\"metric\":\"steps\",\"value\":8000,\"unit\":\"steps\"}", &r), "");
    assert_string_equal(parse("{\"metric\":\"sleep_minutes\",\"value\":420,\"unit\":\"min\"}", &r),
                        "");
}

static void
test_every_refusal_has_its_code(void **state)
{
    (void)state;
    assert_string_equal(parse("{\"metric\":\"mood\",\"value\":3}", NULL), HM_ERR_UNKNOWN_METRIC);
    assert_string_equal(parse("{\"metric\":\"systolic\",\"value\":120}", NULL),
                        HM_ERR_UNKNOWN_METRIC); /* a threshold key, not a reading metric */
    assert_string_equal(parse("{\"metric\":\"heart_rate\",\"value\":72,\"unit\":\"mmHg\"}", NULL),
                        HM_ERR_INVALID_UNIT);
    assert_string_equal(parse("{\"metric\":\"glucose\",\"value\":90,\"unit\":\"g\"}", NULL),
                        HM_ERR_INVALID_UNIT);
    assert_string_equal(parse("{\"metric\":\"heart_rate\",\"value\":400}", NULL),
                        HM_ERR_OUT_OF_RANGE);
    assert_string_equal(parse("{\"metric\":\"spo2\",\"value\":101}", NULL), HM_ERR_OUT_OF_RANGE);
    assert_string_equal(parse("{\"metric\":\"glucose\",\"value\":60,\"unit\":\"mmol/L\"}", NULL),
                        HM_ERR_OUT_OF_RANGE); /* 1081 mg/dL */
    assert_string_equal(parse("{\"metric\":\"temperature\",\"value\":50}", NULL),
                        HM_ERR_OUT_OF_RANGE);
    assert_string_equal(parse("{\"metric\":\"steps\",\"value\":-1}", NULL), HM_ERR_OUT_OF_RANGE);
    assert_string_equal(parse("{\"metric\":\"heart_rate\",\"value\":72,"
                              "\"timestamp\":\"2026-01-01T00:10:00Z\"}",
                              NULL),
                        HM_ERR_FUTURE_TIMESTAMP);
    assert_string_equal(parse("{\"metric\":\"heart_rate\",\"value\":72,"
                              "\"timestamp\":\"2026-01-01T00:04:00Z\"}",
                              NULL),
                        ""); /* within the skew */
    assert_string_equal(parse("{\"value\":72}", NULL), HM_ERR_MISSING_FIELD);
    assert_string_equal(parse("{\"metric\":\"heart_rate\"}", NULL), HM_ERR_MISSING_FIELD);
    assert_string_equal(parse("{}", NULL), HM_ERR_MISSING_FIELD);
    assert_string_equal(parse("{\"metric\":\"heart_rate\",\"value\":\"72\"}", NULL),
                        HM_ERR_INVALID_FIELD);
    assert_string_equal(parse("{\"metric\":7,\"value\":72}", NULL), HM_ERR_INVALID_FIELD);
    assert_string_equal(parse("{\"metric\":\"heart_rate\",\"value\":72,\"unit\":5}", NULL),
                        HM_ERR_INVALID_FIELD);
    assert_string_equal(
        parse("{\"metric\":\"heart_rate\",\"value\":72,\"timestamp\":\"soon\"}", NULL),
        HM_ERR_INVALID_FIELD);
    assert_string_equal(parse("{\"metric\":\"steps\",\"value\":10.5}", NULL), HM_ERR_INVALID_FIELD);
    assert_string_equal(parse("{\"metric\":\"steps\",\"value\":10,\"timestamp\":1767225600}", NULL),
                        HM_ERR_INVALID_FIELD); /* seconds, not ms */
    assert_string_equal(
        parse("{\"metric\":\"steps\",\"value\":10,\"timestamp\":1767225000000}", NULL), "");
    hlth_verr_t err;
    hlth_reading_t r;
    assert_int_equal(hlth_reading_parse(NULL, NOW_MS, SKEW_MS, &r, &err), -1);
    assert_string_equal(err.code, HM_ERR_MISSING_FIELD);
}

static void
test_catalogue_lookups(void **state)
{
    (void)state;
    assert_non_null(hlth_metric_find("heart_rate", HLTH_READING | HLTH_CHECK));
    assert_null(hlth_metric_find("blood_pressure", HLTH_CHECK));
    assert_non_null(hlth_metric_find("systolic", HLTH_CHECK));
    int n = 0;
    for (const hlth_metric_t *m = hlth_metric_at(0); m; m = hlth_metric_at(++n))
        assert_int_equal(hlth_metric_index(m), n);
    assert_int_equal(n, HLTH_CATALOG_SIZE);
    double out;
    assert_int_equal(hlth_unit_convert(hlth_metric_find("weight", HLTH_CHECK), "LBS", 10, &out), 0);
    assert_true(fabs(out - 4.54) < 1e-9);
    assert_int_equal(hlth_unit_convert(hlth_metric_find("weight", HLTH_CHECK), "stone", 1, &out),
                     -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_reading_is_valid),
        cmocka_unit_test(test_blood_pressure_parts),
        cmocka_unit_test(test_units_convert_to_the_stored_one),
        cmocka_unit_test(test_every_refusal_has_its_code),
        cmocka_unit_test(test_catalogue_lookups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
