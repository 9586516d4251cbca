/*
 * chat_test_rules.c - the rules assistant: intents, the data they need,
 * answers grounded in the user's data, the safety path, no diagnosis.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "chat_ctx.h"
#include "chat_rules.h"

#define NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

/* A context with blood pressure readings 118/76, 121/79 and 128/84 (the
 * newest, today at 08:00) and a heart rate of 71, as health.sync answered. */
static void
bp_context(chat_ctx_t *ctx, unsigned asked, unsigned metrics)
{
    json_t *data = json_pack(
        "{s:[{s:s, s:i, s:i, s:i, s:s, s:s}, {s:s, s:i, s:i, s:i, s:s, s:s},"
        "   {s:s, s:i, s:s, s:s}, {s:s, s:i, s:i, s:i, s:s, s:s}], s:b}",
        "readings", "metric", "blood_pressure", "value", 118, "systolic", 118, "diastolic", 76,
        "unit", "mmHg", "timestamp", "2025-12-30T08:00:00Z", "metric", "blood_pressure", "value",
        121, "systolic", 121, "diastolic", 79, "unit", "mmHg", "timestamp", "2025-12-31T08:00:00Z",
        "metric", "heart_rate", "value", 71, "unit", "bpm", "timestamp", "2025-12-31T09:00:00Z",
        "metric", "blood_pressure", "value", 128, "systolic", 128, "diastolic", 84, "unit", "mmHg",
        "timestamp", "2026-01-01T08:00:00Z", "more", 0);
    chat_ctx_init(ctx, asked, metrics);
    ctx->answered = asked;
    chat_ctx_add_health(ctx, data, CHAT_NEED_READINGS);
    json_decref(data);
}

/* Classifies text and answers it from ctx; the caller frees. */
static char *
answer(const char *text, chat_ctx_t *ctx, int64_t now)
{
    chat_intent_t in;
    chat_rules_classify(text, &in);
    char *out = chat_rules_answer(&in, ctx, now, NULL);
    assert_non_null(out);
    return out;
}

static void
test_latest_blood_pressure_is_the_stored_value(void **state)
{
    (void)state;
    chat_intent_t in;
    chat_rules_classify("What was my latest blood pressure?", &in);
    assert_true(in.flags & CHAT_I_READINGS);
    assert_int_equal(in.metrics, 1u << CHAT_M_BP);
    assert_int_equal(chat_rules_needs(&in), CHAT_NEED_READINGS);
    chat_ctx_t ctx;
    bp_context(&ctx, CHAT_NEED_READINGS, in.metrics);
    char *text = chat_rules_answer(&in, &ctx, NOW_MS + 10 * 3600 * 1000, NULL);
    assert_non_null(strstr(text, "Your latest blood pressure was 128/84 mmHg, measured today at "
                                 "08:00 UTC."));
    assert_null(strstr(text, "121/79"));
    assert_null(strstr(text, "heart rate"));
    assert_non_null(strstr(text, "can't give a diagnosis"));
    free(text);
}

static void
test_trend_compares_with_the_readings_before(void **state)
{
    (void)state;
    chat_ctx_t ctx;
    bp_context(&ctx, CHAT_NEED_READINGS, 1u << CHAT_M_BP);
    char *text = answer("is my bp going up lately?", &ctx, NOW_MS);
    assert_non_null(strstr(text, "higher than your average of 119.5/77.5 mmHg over the 2 "
                                 "readings before it"));
    free(text);
    bp_context(&ctx, CHAT_NEED_READINGS, 1u << CHAT_M_HEART_RATE);
    text = answer("heart rate trend", &ctx, NOW_MS);
    assert_non_null(strstr(text, "Your latest heart rate was 71 bpm"));
    assert_non_null(strstr(text, "need more heart rate readings"));
    free(text);
}

static void
test_all_readings_when_no_metric_is_named(void **state)
{
    (void)state;
    chat_intent_t in;
    chat_rules_classify("show me my latest readings", &in);
    assert_int_equal(in.metrics, 0);
    chat_ctx_t ctx;
    bp_context(&ctx, CHAT_NEED_READINGS, 0);
    char *text = chat_rules_answer(&in, &ctx, NOW_MS, NULL);
    assert_non_null(strstr(text, "128/84 mmHg"));
    assert_non_null(strstr(text, "71 bpm"));
    free(text);
}

static void
test_no_data_and_unreachable_health_are_said_plainly(void **state)
{
    (void)state;
    chat_ctx_t ctx;
    chat_ctx_init(&ctx, CHAT_NEED_READINGS, 1u << CHAT_M_GLUCOSE);
    char *text = answer("what is my blood sugar", &ctx, NOW_MS); /* nothing answered */
    assert_non_null(strstr(text, "can't see your recent readings right now"));
    free(text);
    ctx.answered = CHAT_NEED_READINGS; /* answered, but no glucose readings */
    text = answer("what is my blood sugar", &ctx, NOW_MS);
    assert_non_null(strstr(text, "I don't see any blood glucose readings yet."));
    free(text);
}

static void
test_emergencies_are_recognised(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        chat_emergency_t kind;
    } cases[] = {
        {"I have CHEST PAIN", CHAT_EMERG_CARDIAC},
        {"my chest hurts and my left arm", CHAT_EMERG_CARDIAC},
        {"I can't breathe", CHAT_EMERG_BREATHING},
        {"I can\xE2\x80\x99t breathe properly", CHAT_EMERG_BREATHING}, /* U+2019 */
        {"trouble breathing since an hour", CHAT_EMERG_BREATHING},
        {"my face is drooping and slurred speech", CHAT_EMERG_STROKE},
        {"I think I'm having a stroke", CHAT_EMERG_STROKE},
        {"I've been having suicidal thoughts", CHAT_EMERG_CRISIS},
        {"I want to end my life", CHAT_EMERG_CRISIS},
        {"thinking about self-harm", CHAT_EMERG_CRISIS},
        {"my husband passed out", CHAT_EMERG_OTHER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        chat_intent_t in;
        chat_rules_classify(cases[i].text, &in);
        assert_true(in.flags & CHAT_I_EMERGENCY);
        assert_int_equal(in.emergency, cases[i].kind);
        assert_int_equal(chat_rules_needs(&in), 0); /* the safety answer waits for nothing */
    }
    static const char *const calm[] = {"I feel great today",
                                       "what is my heart rate",
                                       "my chest x-ray is on Monday",
                                       "breathing exercises help",
                                       "hi",
                                       ""};
    for (size_t i = 0; i < sizeof calm / sizeof calm[0]; i++) {
        chat_intent_t in;
        chat_rules_classify(calm[i], &in);
        assert_false(in.flags & CHAT_I_EMERGENCY);
    }
}

static void
test_safety_answer_sends_to_emergency_services(void **state)
{
    (void)state;
    chat_intent_t in;
    chat_rules_classify("crushing chest pain", &in);
    char *text = chat_rules_safety(&in);
    assert_non_null(strstr(text, "call your local emergency number now"));
    assert_non_null(strstr(text, "911"));
    assert_non_null(strstr(text, "care team"));
    assert_non_null(strstr(text, "can't assess or diagnose"));
    assert_null(strstr(text, "988"));
    free(text);
    chat_rules_classify("I want to kill myself", &in);
    text = chat_rules_safety(&in);
    assert_non_null(strstr(text, "988"));
    free(text);
}

static void
test_greeting_help_thanks_and_fallback(void **state)
{
    (void)state;
    chat_ctx_t ctx;
    chat_ctx_init(&ctx, 0, 0);
    char *text = answer("Hello!", &ctx, NOW_MS);
    assert_non_null(strstr(text, "Hello! I'm your HealthMate assistant."));
    free(text);
    text = answer("what can you do?", &ctx, NOW_MS);
    assert_non_null(strstr(text, "latest readings"));
    free(text);
    text = answer("thank you", &ctx, NOW_MS);
    assert_string_equal(text, "You're welcome! Ask me any time.");
    free(text);
    text = answer("zxqv", &ctx, NOW_MS);
    assert_non_null(strstr(text, "I'm not sure I understood."));
    assert_non_null(strstr(text, "can't give a diagnosis"));
    free(text);
    chat_intent_t in;
    chat_rules_classify("bye", &in);
    text = chat_rules_answer(&in, &ctx, NOW_MS, CHAT_RULES_FALLBACK_NOTE);
    assert_true(strncmp(text, CHAT_RULES_FALLBACK_NOTE, strlen(CHAT_RULES_FALLBACK_NOTE)) == 0);
    free(text);
}

static void
test_never_diagnoses(void **state)
{
    (void)state;
    chat_ctx_t ctx;
    bp_context(&ctx, CHAT_NEED_READINGS, 1u << CHAT_M_BP);
    char *text = answer("Is my blood pressure normal? Do I have hypertension?", &ctx, NOW_MS);
    assert_non_null(strstr(text, "128/84"));
    assert_non_null(strstr(text, "I can't give a diagnosis or tell you what your numbers mean"));
    assert_null(strstr(text, "you have"));
    free(text);
    chat_ctx_init(&ctx, 0, 0);
    text = answer("can you diagnose me?", &ctx, NOW_MS);
    assert_non_null(strstr(text, "I can't give a diagnosis"));
    free(text);
}

static void
test_alerts_and_reminders(void **state)
{
    (void)state;
    chat_intent_t in;
    chat_rules_classify("any alerts? and what meds do I take today?", &in);
    assert_int_equal(chat_rules_needs(&in), CHAT_NEED_ALERTS | CHAT_NEED_REMINDERS);
    chat_ctx_t ctx;
    chat_ctx_init(&ctx, CHAT_NEED_ALERTS | CHAT_NEED_REMINDERS, 0);
    char *text = chat_rules_answer(&in, &ctx, NOW_MS, NULL);
    assert_non_null(strstr(text, "can't see your alerts right now"));
    assert_non_null(strstr(text, "can't see your reminders right now"));
    free(text);
    json_t *events = json_pack(
        "{s:[{s:s, s:i, s:{s:s, s:s, s:s, s:s}}, {s:s, s:i, s:{s:s, s:s, s:s}}]}", "events", "type",
        "health_alert", "seq", 1, "data", "metric", "heart_rate", "severity", "warning", "state",
        "alert", "message", "Heart rate above 120 bpm", "type", "health_alert", "seq", 2, "data",
        "metric", "spo2", "severity", "critical", "state", "normal");
    json_t *sched = json_pack("{s:[{s:s, s:s}, {s:s, s:[s, s], s:n}]}", "reminders", "title",
                              "Dentist", "next_occurrence_at", "2026-01-01T15:30:00Z", "name",
                              "Metformin", "times", "08:00", "20:00", "days");
    ctx.answered = CHAT_NEED_ALERTS | CHAT_NEED_REMINDERS;
    ctx.alerts_known = true;
    chat_ctx_add_health(&ctx, events, CHAT_NEED_ALERTS);
    chat_ctx_add_reminders(&ctx, sched, NOW_MS);
    text = chat_rules_answer(&in, &ctx, NOW_MS, NULL);
    assert_non_null(strstr(text, "You have 1 active alert: Heart rate above 120 bpm (warning)."));
    assert_non_null(strstr(text, "Today's reminders: Dentist at 15:30 UTC; Metformin at 08:00, "
                                 "20:00."));
    free(text);
    json_decref(events);
    json_decref(sched);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_latest_blood_pressure_is_the_stored_value),
        cmocka_unit_test(test_trend_compares_with_the_readings_before),
        cmocka_unit_test(test_all_readings_when_no_metric_is_named),
        cmocka_unit_test(test_no_data_and_unreachable_health_are_said_plainly),
        cmocka_unit_test(test_emergencies_are_recognised),
        cmocka_unit_test(test_safety_answer_sends_to_emergency_services),
        cmocka_unit_test(test_greeting_help_thanks_and_fallback),
        cmocka_unit_test(test_never_diagnoses),
        cmocka_unit_test(test_alerts_and_reminders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
