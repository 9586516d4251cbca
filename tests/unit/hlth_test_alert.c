/*
 * hlth_test_alert.c - thresholds and the alert state machine: a sequence of
 * values gives exactly the expected alerts (hysteresis, escalation,
 * cooldown, back to normal once).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hlth_alert.h"
#include "hm_proto.h"

#define COOLDOWN_MS 60000

/* Runs values (one per second from t0) through the machine; writes what was
 * announced as "i:high/warning", "i:normal", ... joined by spaces. */
static const char *
run(const hlth_limits_t *lim, hlth_astate_t *st, const double *v, int n, int64_t t0,
    int64_t step_ms)
{
    static char out[512];
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        hlth_alert_t a;
        hlth_alert_eval(lim, COOLDOWN_MS, st, v[i], t0 + i * step_ms, &a);
        char one[48] = "";
        if (a.emit == HLTH_EMIT_ALERT)
            snprintf(one, sizeof one, "%s%d:%s/%s", out[0] ? " " : "", i, hlth_dir_name(a.dir),
                     hlth_severity_name(a.level));
        else if (a.emit == HLTH_EMIT_NORMAL)
            snprintf(one, sizeof one, "%s%d:normal", out[0] ? " " : "", i);
        strncat(out, one, sizeof out - strlen(out) - 1);
    }
    return out;
}

static hlth_limits_t
heart_rate_limits(void)
{
    hlth_limits_t lim;
    char why[128];
    assert_int_equal(hlth_limits_parse("low=40 high=120 critical_low=30 critical_high=150 margin=5",
                                       &lim, why, sizeof why),
                     0);
    return lim;
}

static void
test_hovering_value_alerts_once(void **state)
{
    (void)state;
    hlth_limits_t lim = heart_rate_limits();
    hlth_astate_t st = {0};
    /* the e2e sequence (tests/e2e/test_health.py) */
    const double v[] = {100, 125, 118, 130, 113, 126, 112, 155, 147, 140, 152, 100, 30};
    assert_string_equal(run(&lim, &st, v, 13, 1000000, 1000),
                        "1:high/warning 4:normal 7:high/critical 11:normal 12:low/warning");
}

static void
test_alert_carries_the_threshold(void **state)
{
    (void)state;
    hlth_limits_t lim = heart_rate_limits();
    hlth_astate_t st = {0};
    hlth_alert_t a;
    hlth_alert_eval(&lim, COOLDOWN_MS, &st, 155, 1000, &a);
    assert_int_equal(a.emit, HLTH_EMIT_ALERT);
    assert_int_equal(a.level, HLTH_LEVEL_CRITICAL);
    assert_true(a.threshold == 150);
    assert_string_equal(hlth_priority_of(a.level), "critical");
    hlth_alert_eval(&lim, COOLDOWN_MS, &st, 80, 2000, &a);
    assert_int_equal(a.emit, HLTH_EMIT_NORMAL);
    assert_true(a.threshold == 120);
    assert_string_equal(hlth_severity_name(a.level), "info");
    assert_string_equal(hlth_priority_of(a.level), "low");
    char title[64], msg[160];
    hlth_alert_t hi = {HLTH_EMIT_ALERT, HLTH_DIR_HIGH, HLTH_LEVEL_WARNING, 120};
    hlth_alert_text(hlth_metric_find("heart_rate", HLTH_CHECK), &hi, 125, title, sizeof title, msg,
                    sizeof msg);
    assert_string_equal(title, "Heart Rate Alert");
    assert_string_equal(msg, "Your heart rate (125 bpm) is above the normal range (threshold 120 "
                             "bpm)");
}

static void
test_cooldown_then_a_persisting_episode_is_announced(void **state)
{
    (void)state;
    hlth_limits_t lim = heart_rate_limits();
    hlth_astate_t st = {0};
    /* 10 s apart: alert, normal, suppressed re-entry... still high after the
     * 60 s cooldown: announced then */
    const double v[] = {125, 100, 125, 126, 127, 128, 129, 130, 131, 90};
    assert_string_equal(run(&lim, &st, v, 10, 0 + 1, 10000),
                        "0:high/warning 1:normal 6:high/warning "
                        "9:normal");
}

static void
test_spo2_low_side_only(void **state)
{
    (void)state;
    hlth_limits_t lim;
    char why[128];
    assert_int_equal(hlth_limits_parse("low=92 critical_low=88 margin=1", &lim, why, sizeof why),
                     0);
    assert_true(isnan(lim.high) && isnan(lim.critical_high));
    hlth_astate_t st = {0};
    const double v[] = {97, 91, 92.5, 93, 87, 88.5, 89.5, 100};
    assert_string_equal(run(&lim, &st, v, 8, 1, 1000), "1:low/warning 3:normal 4:low/critical "
                                                       "7:normal");
}

static void
test_no_bounds_never_alerts_and_clears_state(void **state)
{
    (void)state;
    hlth_limits_t none;
    char why[128];
    assert_int_equal(hlth_limits_parse("", &none, why, sizeof why), 0);
    hlth_astate_t st = {HLTH_DIR_HIGH, HLTH_LEVEL_WARNING, true, 5, HLTH_DIR_HIGH, 1};
    hlth_alert_t a;
    hlth_alert_eval(&none, COOLDOWN_MS, &st, 1e6, 10, &a);
    assert_int_equal(a.emit, HLTH_EMIT_NORMAL); /* thresholds removed: the episode ends */
    hlth_alert_eval(&none, COOLDOWN_MS, &st, 1e6, 20, &a);
    assert_int_equal(a.emit, HLTH_EMIT_NONE);
}

static void
test_limits_parse_and_check(void **state)
{
    (void)state;
    hlth_limits_t lim;
    char why[128];
    hlth_verr_t err;
    const hlth_metric_t *hr = hlth_metric_find("heart_rate", HLTH_CHECK);
    assert_int_equal(hlth_limits_parse("high=120,low=40, margin=2.5", &lim, why, sizeof why), 0);
    assert_true(lim.high == 120 && lim.low == 40 && lim.margin == 2.5 && isnan(lim.critical_low));
    assert_int_equal(hlth_limits_check(hr, &lim, &err), 0);
    assert_int_equal(hlth_limits_parse("hgh=120", &lim, why, sizeof why), -1);
    assert_int_equal(hlth_limits_parse("high=abc", &lim, why, sizeof why), -1);
    assert_int_equal(hlth_limits_parse("high=12x", &lim, why, sizeof why), -1);
    assert_int_equal(hlth_limits_parse("margin=-1", &lim, why, sizeof why), -1);
    assert_int_equal(hlth_limits_parse("low=130 high=120", &lim, why, sizeof why), 0);
    assert_int_equal(hlth_limits_check(hr, &lim, &err), -1);
    assert_string_equal(err.code, HM_ERR_INVALID_FIELD);
    assert_int_equal(hlth_limits_parse("high=120 critical_high=110", &lim, why, sizeof why), 0);
    assert_int_equal(hlth_limits_check(hr, &lim, &err), -1);
    assert_int_equal(hlth_limits_parse("high=1000", &lim, why, sizeof why), 0);
    assert_int_equal(hlth_limits_check(hr, &lim, &err), -1);
    assert_string_equal(err.code, HM_ERR_OUT_OF_RANGE);
    assert_int_equal(hlth_limits_parse("low=40 critical_low=40", &lim, why, sizeof why), 0);
    assert_int_equal(hlth_limits_check(hr, &lim, &err), 0); /* equal on one side is fine */
    json_t *j = hlth_limits_json(&lim);
    assert_true(json_is_null(json_object_get(j, "high")));
    assert_int_equal(json_integer_value(json_object_get(j, "low")), 40);
    json_decref(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hovering_value_alerts_once),
        cmocka_unit_test(test_alert_carries_the_threshold),
        cmocka_unit_test(test_cooldown_then_a_persisting_episode_is_announced),
        cmocka_unit_test(test_spo2_low_side_only),
        cmocka_unit_test(test_no_bounds_never_alerts_and_clears_state),
        cmocka_unit_test(test_limits_parse_and_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
