/*
 * chat_test_ctx.c - reading other services' replies into a user's data
 * context: latest per metric, only the metrics asked, shapes read
 * leniently, paging, alert states, today's reminders, the text for a model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "chat_ctx.h"

#define NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

static void
test_health_sync_reply_gives_the_latest_per_metric(void **state)
{
    (void)state;
    /* hm-health's shape: readings with seq, more, next_seq. */
    json_t *page = json_pack(
        "{s:I, s:[{s:s, s:i, s:i, s:i, s:s, s:s, s:i},"
        "        {s:s, s:i, s:i, s:i, s:s, s:s, s:i},"
        "        {s:s, s:f, s:s, s:s, s:i}], s:b, s:i}",
        "user_id", (json_int_t)7, "readings", "metric", "blood_pressure", "value", 128, "systolic",
        128, "diastolic", 84, "unit", "mmHg", "timestamp", "2025-12-31T08:00:00.000Z", "seq", 4,
        "metric", "blood_pressure", "value", 121, "systolic", 121, "diastolic", 79, "unit", "mmHg",
        "timestamp", "2025-12-30T08:00:00Z", "seq", 5, /* stored later, measured earlier */
        "metric", "weight", "value", 70.25, "unit", "kg", "timestamp", "2025-12-31T09:00:00Z",
        "seq", 6, "more", 1, "next_seq", 6);
    chat_ctx_t ctx;
    chat_ctx_init(&ctx, CHAT_NEED_READINGS, 0);
    assert_int_equal(chat_ctx_add_health(&ctx, page, CHAT_NEED_READINGS), 6);
    const chat_series_t *bp = &ctx.series[CHAT_M_BP];
    assert_int_equal(bp->n, 2);
    char v[64];
    chat_ctx_format_value(CHAT_M_BP, &bp->last, v, sizeof v);
    assert_string_equal(v, "128/84 mmHg"); /* by measurement time, not arrival */
    chat_ctx_format_value(CHAT_M_WEIGHT, &ctx.series[CHAT_M_WEIGHT].last, v, sizeof v);
    assert_string_equal(v, "70.2 kg");
    json_object_set_new(page, "more", json_false());
    assert_int_equal(chat_ctx_add_health(&ctx, page, CHAT_NEED_READINGS), -1); /* last page */
    json_decref(page);
}

static void
test_only_the_metrics_asked_are_kept(void **state)
{
    (void)state;
    json_t *page =
        json_pack("{s:[{s:s, s:i, s:s}, {s:s, s:s, s:s}, {s:s, s:i}]}", "readings", "metric",
                  "heart_rate", "value", 64, "unit", "bpm", "metric", "blood_pressure", "value",
                  "120/80", "unit", "mmHg", "metric", "mystery", "value", 1);
    chat_ctx_t ctx;
    chat_ctx_init(&ctx, CHAT_NEED_READINGS, 1u << CHAT_M_BP);
    chat_ctx_add_health(&ctx, page, CHAT_NEED_READINGS);
    assert_int_equal(ctx.series[CHAT_M_HEART_RATE].n, 0);
    assert_int_equal(ctx.series[CHAT_M_BP].n, 1);
    assert_true(ctx.series[CHAT_M_BP].last.has_bp); /* "120/80" read as systolic/diastolic */
    assert_int_equal((int)ctx.series[CHAT_M_BP].last.diastolic, 80);
    ctx.answered = CHAT_NEED_READINGS;
    char *text = chat_ctx_describe(&ctx);
    assert_non_null(strstr(text, "Latest blood pressure: 120/80 mmHg"));
    assert_null(strstr(text, "heart"));
    free(text);
    json_decref(page);
}

static void
test_events_and_odd_shapes(void **state)
{
    (void)state;
    /* Events wrapping readings, a value object, unix ms times, garbage. */
    json_t *page =
        json_pack("{s:[{s:s, s:i, s:{s:s, s:i, s:s, s:I}}, {s:s, s:{s:i, s:i}}, i, {s:s}], s:b}",
                  "events", "type", "health_update", "seq", 9, "data", "metric", "pulse", "value",
                  88, "unit", "bpm", "timestamp", (json_int_t)NOW_MS, "metric", "bp", "value",
                  "systolic", 140, "diastolic", 90, 5, "metric", "heart_rate", "more", 1);
    chat_ctx_t ctx;
    chat_ctx_init(&ctx, CHAT_NEED_READINGS, 0);
    assert_int_equal(chat_ctx_add_health(&ctx, page, CHAT_NEED_READINGS), 9);
    assert_int_equal(ctx.series[CHAT_M_HEART_RATE].n, 1);
    assert_int_equal(ctx.series[CHAT_M_HEART_RATE].last.ts_ms, NOW_MS);
    assert_int_equal((int)ctx.series[CHAT_M_BP].last.value, 140);
    chat_ctx_init(&ctx, CHAT_NEED_READINGS, 0);
    assert_int_equal(chat_ctx_add_health(&ctx, NULL, CHAT_NEED_READINGS), -1);
    json_decref(page);
}

static void
test_alert_states_last_one_wins(void **state)
{
    (void)state;
    json_t *events =
        json_pack("{s:[{s:s, s:{s:s, s:s, s:s}}, {s:s, s:{s:s, s:s, s:s}},"
                  "    {s:s, s:{s:s, s:s}}, {s:s, s:{s:s, s:s, s:s, s:s}}]}",
                  "events", "type", "health_alert", "data", "metric", "systolic", "state", "alert",
                  "severity", "warning", "type", "health_alert", "data", "metric", "spo2", "state",
                  "alert", "severity", "critical", "type", "health_alert", "data", "metric", "spo2",
                  "state", "normal", "type", "health_alert", "data", "metric", "systolic", "state",
                  "alert", "severity", "critical", "message", "Systolic above 180");
    chat_ctx_t ctx;
    chat_ctx_init(&ctx, CHAT_NEED_ALERTS, 0);
    chat_ctx_add_health(&ctx, events, CHAT_NEED_ALERTS);
    assert_int_equal(ctx.nalerts, 1);
    assert_string_equal(ctx.alerts[0].metric, "systolic");
    assert_string_equal(ctx.alerts[0].severity, "critical");
    assert_string_equal(ctx.alerts[0].message, "Systolic above 180");
    chat_ctx_init(&ctx, CHAT_NEED_ALERTS, 1u << CHAT_M_HEART_RATE);
    chat_ctx_add_health(&ctx, events, CHAT_NEED_ALERTS);
    assert_int_equal(ctx.nalerts, 0); /* a blood pressure alert, heart rate asked */
    json_decref(events);
}

static void
test_todays_reminders(void **state)
{
    (void)state;
    /* hm-scheduler's shape: next_occurrence_at (local offset), times, days. */
    json_t *list = json_pack(
        "{s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:[s], s:n, s:s}, {s:s, s:b, s:s},"
        "    {s:s, s:[s], s:[s], s:s}, {s:s, s:[s], s:[s, s], s:s}]}",
        "reminders", "title", "Dentist", "next_occurrence_at", "2026-01-01T16:30:00+01:00", "title",
        "Physio", "next_occurrence_at", "2026-01-03T10:00:00Z", "name", "Metformin", "times",
        "08:00", "days", "next_occurrence_at", "2026-01-02T08:00:00Z", "name", "Old", "active", 0,
        "time", "09:00", "name", "Weekly", "times", "07:00", "days", "MO", "next_occurrence_at",
        "2026-01-05T07:00:00Z", "name", "Statin", "times", "21:00", "days", "TU", "TH",
        "next_occurrence_at", "2026-01-01T21:00:00Z");
    chat_ctx_t ctx;
    chat_ctx_init(&ctx, CHAT_NEED_REMINDERS, 0);
    chat_ctx_add_reminders(&ctx, list, NOW_MS + 3600 * 1000); /* a Thursday, 01:00 UTC */
    assert_int_equal(ctx.nreminders, 3);
    assert_string_equal(ctx.reminders[0].title, "Dentist");
    assert_string_equal(ctx.reminders[0].when, "15:30 UTC");
    assert_string_equal(ctx.reminders[1].title, "Metformin"); /* daily: today as well */
    assert_string_equal(ctx.reminders[1].when, "08:00");
    assert_string_equal(ctx.reminders[2].title, "Statin");
    ctx.answered = CHAT_NEED_REMINDERS;
    char *text = chat_ctx_describe(&ctx);
    assert_string_equal(text, "Reminder today: Dentist at 15:30 UTC\n"
                              "Reminder today: Metformin at 08:00\n"
                              "Reminder today: Statin at 21:00 UTC\n");
    free(text);
    json_decref(list);
}

static void
test_describe_says_what_is_unknown(void **state)
{
    (void)state;
    chat_ctx_t ctx;
    chat_ctx_init(&ctx, 0, 0);
    char *text = chat_ctx_describe(&ctx);
    assert_string_equal(text, ""); /* nothing asked, nothing told */
    free(text);
    chat_ctx_init(&ctx, CHAT_NEED_READINGS | CHAT_NEED_ALERTS | CHAT_NEED_REMINDERS, 0);
    text = chat_ctx_describe(&ctx);
    assert_non_null(strstr(text, "Readings: unavailable"));
    assert_non_null(strstr(text, "Active alerts: unknown."));
    assert_non_null(strstr(text, "Today's reminders: unavailable."));
    free(text);
    assert_int_equal(chat_metric_parse("SpO2"), CHAT_M_OXYGEN);
    assert_int_equal(chat_metric_parse("sleep_minutes"), CHAT_M_SLEEP);
    assert_int_equal(chat_metric_parse("nope"), -1);
    assert_string_equal(chat_metric_name(CHAT_M_GLUCOSE), "glucose");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_sync_reply_gives_the_latest_per_metric),
        cmocka_unit_test(test_only_the_metrics_asked_are_kept),
        cmocka_unit_test(test_events_and_odd_shapes),
        cmocka_unit_test(test_alert_states_last_one_wins),
        cmocka_unit_test(test_todays_reminders),
        cmocka_unit_test(test_describe_says_what_is_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
