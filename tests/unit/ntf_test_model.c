/*
 * ntf_test_model.c - names of notification types, priorities and states,
 * and the shapes a notification takes on the bus, in replays and lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <string.h>

#include "hm_clock.h"
#include "ntf_model.h"

/* A row like the store returns it. */
static void
fill(ntf_row_t *row)
{
    memset(row, 0, sizeof *row);
    row->nid = 7;
    snprintf(row->id, sizeof row->id, "%s", "0b5f1c1e-8e0c-4a53-9d47-3a3c1c2f6a01");
    row->user_id = 42;
    row->seq = 3;
    row->type = NTF_TYPE_HEALTH_ALERT;
    row->prio = NTF_PRIO_HIGH;
    row->title = strdup("Blood Pressure Alert");
    row->message = strdup("Your blood pressure is above normal range");
    row->created_at = 1704067200000LL; /* 2024-01-01T00:00:00Z */
    row->status = NTF_ST_PENDING;
}

static void
test_event_has_the_seed_shape_and_seq(void **state)
{
    ntf_row_t row;
    fill(&row);
    hm_envelope_t *env = ntf_render_event(&row, true, 0);
    assert_non_null(env);
    assert_string_equal(env->type, "notification");
    assert_int_equal(env->user_id, 42);
    assert_int_equal(env->seq, 3);
    json_t *d = env->data;
    assert_string_equal(json_string_value(json_object_get(d, "id")), row.id);
    assert_string_equal(json_string_value(json_object_get(d, "type")), "health_alert");
    assert_string_equal(json_string_value(json_object_get(d, "title")), "Blood Pressure Alert");
    assert_string_equal(json_string_value(json_object_get(d, "priority")), "high");
    assert_string_equal(json_string_value(json_object_get(d, "created_at")),
                        "2024-01-01T00:00:00.000Z");
    assert_int_equal(json_integer_value(json_object_get(d, "seq")), 3);
    assert_null(json_object_get(d, "resend"));
    assert_null(json_object_get(d, "data"));
    hm_envelope_destroy(&env);
    ntf_row_clear(&row);
}

static void
test_resend_has_no_envelope_seq(void **state)
{
    ntf_row_t row;
    fill(&row);
    row.data = json_pack("{s:i}", "systolic", 150);
    hm_envelope_t *env = ntf_render_event(&row, false, 2);
    assert_int_equal(env->seq, -1);
    assert_int_equal(json_integer_value(json_object_get(env->data, "resend")), 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(env->data, "data"), "systolic")), 150);
    hm_envelope_destroy(&env);
    ntf_row_clear(&row);
}

static void
test_client_json_matches_the_edge_rendering(void **state)
{
    ntf_row_t row;
    fill(&row);
    row.sent_at = row.created_at + 1500;
    json_t *ev = ntf_render_client(&row);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "notification");
    assert_int_equal(json_integer_value(json_object_get(ev, "seq")), 3);
    assert_int_equal(json_integer_value(json_object_get(ev, "user_id")), 42);
    assert_string_equal(json_string_value(json_object_get(ev, "timestamp")),
                        "2024-01-01T00:00:01.500Z");
    json_t *n = json_object_get(ev, "notification");
    assert_string_equal(json_string_value(json_object_get(n, "message")),
                        "Your blood pressure is above normal range");
    json_decref(ev);
    ntf_row_clear(&row);
}

static void
test_list_item_carries_the_state(void **state)
{
    ntf_row_t row;
    fill(&row);
    row.user_id = 0; /* a broadcast acknowledged by the viewer */
    row.acked_at = row.created_at + 10;
    json_t *item = ntf_render_item(&row);
    assert_string_equal(json_string_value(json_object_get(item, "status")), "acked");
    assert_true(json_is_true(json_object_get(item, "broadcast")));
    assert_true(json_is_true(json_object_get(item, "acked")));
    assert_true(json_is_false(json_object_get(item, "read")));
    assert_true(json_is_null(json_object_get(item, "read_at")));
    json_decref(item);
    ntf_row_clear(&row);
}

static void
test_names(void **state)
{
    assert_int_equal(ntf_type_parse("medication_reminder"), NTF_TYPE_MEDICATION_REMINDER);
    assert_int_equal(ntf_type_parse("appointment_reminder"), NTF_TYPE_APPOINTMENT_REMINDER);
    assert_int_equal(ntf_type_parse("system"), NTF_TYPE_SYSTEM);
    assert_int_equal(ntf_type_parse("weather"), -1);
    assert_int_equal(ntf_type_parse(NULL), -1);
    assert_int_equal(ntf_prio_parse("critical"), NTF_PRIO_CRITICAL);
    assert_int_equal(ntf_prio_parse("urgent"), -1);
    assert_string_equal(ntf_prio_name(NTF_PRIO_LOW), "low");
    assert_string_equal(ntf_status_name(NTF_ST_EVICTED), "evicted");
    assert_string_equal(ntf_status_name((ntf_status_t)99), "?");
    ntf_row_clear(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_has_the_seed_shape_and_seq),
        cmocka_unit_test(test_resend_has_no_envelope_seq),
        cmocka_unit_test(test_client_json_matches_the_edge_rendering),
        cmocka_unit_test(test_list_item_carries_the_state),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
