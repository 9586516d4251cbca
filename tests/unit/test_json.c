/*
 * test_json.c - lossless JSON (jansson) <-> msgpack conversion
 * (proto/hm_json.h, proto/SPEC.md section 1.1).
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hm_envelope.h"
#include "hm_json.h"

/* ---- Helpers --------------------------------------------------------------- */

/* JSON -> msgpack -> JSON; asserts success and returns the copy. */
static json_t *
s_round_trip(const json_t *json)
{
    char *buf = NULL;
    size_t len = 0;
    json_t *back = NULL;

    assert_int_equal(hm_json_to_msgpack(json, &buf, &len), 0);
    assert_non_null(buf);
    assert_int_equal(hm_json_from_msgpack_buf(buf, len, &back), 0);
    assert_non_null(back);
    free(buf);
    return back;
}

/* Converts raw msgpack bytes from an exact-size heap copy; *out is NULL on
 * error. Returns the rc. */
static int
s_from_bytes(const void *bytes, size_t len, json_t **out)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len > 0)
        memcpy(copy, bytes, len);
    *out = (json_t *)1;
    int rc = hm_json_from_msgpack_buf(copy, len, out);
    free(copy);
    if (rc != 0)
        assert_null(*out);
    return rc;
}

static void
s_expect(const void *bytes, size_t len, int want)
{
    json_t *out;
    int rc = s_from_bytes(bytes, len, &out);
    json_decref(out);
    assert_int_equal(rc, want);
}

/* n nested arrays around 0. Caller owns. */
static json_t *
s_nest(int n)
{
    json_t *json = json_integer(0);
    for (int i = 0; i < n; i++) {
        json_t *a = json_array();
        json_array_append_new(a, json);
        json = a;
    }
    return json;
}

/* ---- Normal use --------------------------------------------------------- */

static void
test_round_trip_nested(void **state)
{
    (void)state;
    const char *text = "{\"name\": \"G\\u00fcnter \\u2603 \\ud83d\\ude00\", \"age\": 42,"
                       " \"vitals\": {\"hr\": [61, 62.5, -3], \"ok\": true, \"note\": null},"
                       " \"tags\": [[], {}, [[\"deep\"]], false], \"\": \"empty key\"}";
    json_error_t err;
    json_t *json = json_loads(text, 0, &err);
    assert_non_null(json);

    json_t *back = s_round_trip(json);
    assert_true(json_equal(json, back));
    /* insertion order survives */
    static const char *const order[] = {"name", "age", "vitals", "tags", ""};
    const char *key;
    json_t *value;
    size_t i = 0;
    json_object_foreach(back, key, value)
    {
        assert_true(i < 5);
        assert_string_equal(key, order[i++]);
    }
    assert_int_equal(i, 5);
    json_decref(back);
    json_decref(json);
}

/* The exact bytes of a small object: keys as str, ints compact, reals float64. */
static void
test_pack_layout(void **state)
{
    (void)state;
    static const unsigned char want[] = {0x83, 0xa1, 'a', 0x01, 0xa1, 'b',  0xcb, 0x3f, 0xf0, 0,
                                         0,    0,    0,   0,    0,    0xa1, 'c',  0x91, 0xc0};
    json_t *json = json_pack("{s:i, s:f, s:[n]}", "a", 1, "b", 1.0, "c");
    char *buf;
    size_t len;

    assert_int_equal(hm_json_to_msgpack(json, &buf, &len), 0);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    free(buf);
    json_decref(json);
}

static void
test_scalars(void **state)
{
    (void)state;
    static const json_int_t ints[] = {0,      1,         -1,        127,       128,      -32,
                                      -33,    255,       256,       65535,     65536,    -32768,
                                      -32769, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        json_t *json = json_integer(ints[i]);
        json_t *back = s_round_trip(json);
        assert_true(json_is_integer(back));
        assert_true(json_integer_value(back) == ints[i]);
        json_decref(back);
        json_decref(json);
    }
    json_t *arr = json_pack("[b, b, n, s, s#, {}, []]", 1, 0, "", "nul\0inside", (size_t)10);
    json_t *back = s_round_trip(arr);
    assert_true(json_equal(arr, back));
    assert_true(json_is_true(json_array_get(back, 0)));
    assert_true(json_is_false(json_array_get(back, 1)));
    assert_true(json_is_null(json_array_get(back, 2)));
    assert_int_equal(json_string_length(json_array_get(back, 4)), 10);
    assert_int_equal(json_object_size(json_array_get(back, 5)), 0);
    assert_int_equal(json_array_size(json_array_get(back, 6)), 0);
    json_decref(back);
    json_decref(arr);
}

static void
test_doubles_bit_exact(void **state)
{
    (void)state;
    static const double reals[] = {0.0,   -0.0,       0.1,      -2.5,    1.0,
                                   M_PI,  DBL_MAX,    -DBL_MAX, DBL_MIN, 4.9406564584124654e-324,
                                   1e300, 123456789.0};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        json_t *json = json_real(reals[i]);
        json_t *back = s_round_trip(json);
        double got = json_real_value(back);
        assert_true(json_is_real(back)); /* 1.0 stays a real */
        assert_memory_equal(&got, &reals[i], sizeof got);
        json_decref(back);
        json_decref(json);
    }
}

static void
test_float32_widened(void **state)
{
    (void)state;
    static const unsigned char f32[] = {0xca, 0x3d, 0xcc, 0xcc, 0xcd}; /* 0.1f */
    json_t *out;
    assert_int_equal(s_from_bytes(f32, sizeof f32, &out), 0);
    assert_true(json_is_real(out));
    double want = (double)0.1f;
    double got = json_real_value(out);
    assert_memory_equal(&got, &want, sizeof got);
    json_decref(out);
}

static void
test_utf8_boundaries(void **state)
{
    (void)state;
    static const char *const good[] = {
        "\x7f",         "\xc2\x80",     "\xdf\xbf",         "\xe0\xa0\x80",     "\xed\x9f\xbf",
        "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "plain ascii"};
    static const char *const bad[] = {"\x80",
                                      "\xbf",
                                      "\xc0\x80",
                                      "\xc1\xbf",
                                      "\xc2",
                                      "\xc2\x41",
                                      "\xe0\x80\x80",
                                      "\xe0\x9f\xbf",
                                      "\xed\xa0\x80",
                                      "\xed\xbf\xbf",
                                      "\xe2\x82",
                                      "\xf0\x80\x80\x80",
                                      "\xf0\x8f\xbf\xbf",
                                      "\xf4\x90\x80\x80",
                                      "\xf5\x80\x80\x80",
                                      "\xf8\x88\x80\x80\x80",
                                      "\xfe",
                                      "\xff",
                                      "ok\xe2\x28\xa1"};
    for (int is_key = 0; is_key < 2; is_key++) {
        for (size_t i = 0; i < sizeof good / sizeof good[0] + sizeof bad / sizeof bad[0]; i++) {
            int ok = i < sizeof good / sizeof good[0];
            const char *s = ok ? good[i] : bad[i - sizeof good / sizeof good[0]];
            unsigned char buf[32] = {0x81, 0xa1, 'k'};
            size_t n = strlen(s), at = is_key ? 1 : 3;
            buf[at] = (unsigned char)(0xa0 | n);
            memcpy(buf + at + 1, s, n);
            if (is_key)
                buf[at + 1 + n] = 0xc0;
            json_t *out;
            int rc = s_from_bytes(buf, at + 1 + n + (size_t)is_key, &out);
            json_decref(out);
            if (rc != (ok ? 0 : HM_ENV_E_DATA))
                fail_msg("%s %zu: rc %d", is_key ? "key" : "value", i, rc);
        }
    }
    /* the packing side checks too: jansson's _nocheck calls skip validation */
    json_t *json = json_object();
    json_object_set_new(json, "s", json_stringn_nocheck("\xed\xa0\x80", 3));
    char *buf = (char *)1;
    size_t len;
    assert_int_equal(hm_json_to_msgpack(json, &buf, &len), HM_ENV_E_DATA);
    assert_null(buf);
    json_object_clear(json);
    json_object_set_new_nocheck(json, "\xc0\xaf", json_null());
    assert_int_equal(hm_json_to_msgpack(json, &buf, &len), HM_ENV_E_DATA);
    json_object_clear(json);
    json_object_setn_new(json, "a\0b", 3, json_null()); /* NUL in a key */
    assert_int_equal(hm_json_to_msgpack(json, &buf, &len), HM_ENV_E_DATA);
    json_decref(json);
}

/* ---- Errors ----------------------------------------------------------------- */

static void
test_unconvertible(void **state)
{
    (void)state;
    s_expect("\xc4\x01x", 3, HM_ENV_E_DATA);                 /* bin */
    s_expect("\xd4\x01\x00", 3, HM_ENV_E_DATA);              /* fixext 1 */
    s_expect("\xc7\x01\x05x", 4, HM_ENV_E_DATA);             /* ext 8 */
    s_expect("\x91\xc4\x00", 3, HM_ENV_E_DATA);              /* bin in an array */
    s_expect("\x81\x01\x02", 3, HM_ENV_E_DATA);              /* int key */
    s_expect("\x81\x90\x02", 3, HM_ENV_E_DATA);              /* array key */
    s_expect("\x81\xc4\x01k\x02", 5, HM_ENV_E_DATA);         /* bin key */
    s_expect("\x82\xa1k\x01\xa1k\x02", 7, HM_ENV_E_DATA);    /* duplicate key */
    s_expect("\x82\xa1k\x01\xa1\x00\x07", 7, HM_ENV_E_DATA); /* NUL key (fuzz) */
    s_expect("\x81\xa3k\x00k\x01", 6, HM_ENV_E_DATA);        /* key with a NUL */
    s_expect("\x81\xa0\xa0", 3, 0);                          /* empty key and value */
    s_expect("\xcb\x7f\xf8\0\0\0\0\0\0", 9, HM_ENV_E_DATA);  /* NaN */
    s_expect("\xcb\x7f\xf0\0\0\0\0\0\0", 9, HM_ENV_E_DATA);  /* +Inf */
    s_expect("\xcb\xff\xf0\0\0\0\0\0\0", 9, HM_ENV_E_DATA);  /* -Inf */
    s_expect("\xca\x7f\xc0\0\0", 5, HM_ENV_E_DATA);          /* float32 NaN */
    s_expect("\xca\x7f\x80\0\0", 5, HM_ENV_E_DATA);          /* float32 Inf */
    s_expect("\xc1", 1, HM_ENV_E_DATA);                      /* reserved byte */
    s_expect("\x01\x02", 2, HM_ENV_E_DATA);                  /* trailing byte */
    /* uint64: INT64_MAX converts, one more does not */
    s_expect("\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 9, 0);
    s_expect("\xcf\x80\0\0\0\0\0\0\0", 9, HM_ENV_E_DATA);
    s_expect("\xd3\x80\0\0\0\0\0\0\0", 9, 0); /* INT64_MIN */
}

static void
test_truncated_and_hostile(void **state)
{
    (void)state;
    json_t *json =
        json_pack("{s:[i, s, f, {s:b}], s:n}", "a", 300, "t\xc3\xa9xt", 0.5, "x", 1, "z");
    char *buf;
    size_t len;
    assert_int_equal(hm_json_to_msgpack(json, &buf, &len), 0);
    for (size_t n = 0; n < len; n++) {
        json_t *out;
        int rc = s_from_bytes(buf, n, &out);
        if (rc != HM_ENV_E_TRUNCATED)
            fail_msg("prefix %zu/%zu: rc %d", n, len, rc);
    }
    free(buf);
    json_decref(json);
    s_expect(NULL, 0, HM_ENV_E_TRUNCATED);
    json_t *out = (json_t *)1;
    assert_int_equal(hm_json_from_msgpack_buf(NULL, 0, &out), HM_ENV_E_TRUNCATED);
    assert_null(out);
    s_expect("\xdf\xff\xff\xff\xff", 5, HM_ENV_E_TRUNCATED);     /* map of 2^32-1 */
    s_expect("\xdd\xff\xff\xff\xff", 5, HM_ENV_E_TRUNCATED);     /* array of 2^32-1 */
    s_expect("\xdb\xff\xff\xff\xff", 5, HM_ENV_E_TRUNCATED);     /* str of 4 GiB */
    s_expect("\xc6\xff\xff\xff\xff", 5, HM_ENV_E_TRUNCATED);     /* bin of 4 GiB */
    s_expect("\xc9\xff\xff\xff\xff\x01", 6, HM_ENV_E_TRUNCATED); /* ext of 4 GiB */
    s_expect("\x81\xdb\xff\xff\xff\xff", 6, HM_ENV_E_TRUNCATED); /* key of 4 GiB */
    char *big = calloc(1, HM_ENVELOPE_MAX_BYTES + 1);
    s_expect(big, HM_ENVELOPE_MAX_BYTES + 1, HM_ENV_E_LIMIT);
    free(big);
}

static void
test_depth_limit(void **state)
{
    (void)state;
    char *buf;
    size_t len;
    json_t *ok = s_nest(HM_ENVELOPE_MAX_DEPTH), *deep = s_nest(HM_ENVELOPE_MAX_DEPTH + 1);

    json_t *back = s_round_trip(ok);
    assert_true(json_equal(ok, back));
    json_decref(back);
    assert_int_equal(hm_json_to_msgpack(deep, &buf, &len), HM_ENV_E_LIMIT);
    json_decref(ok);
    json_decref(deep);

    unsigned char raw[1001];
    memset(raw, 0x91, 1000); /* 1000 nested arrays */
    raw[1000] = 0x00;
    s_expect(raw, sizeof raw, HM_ENV_E_LIMIT);
    s_expect(raw + 1000 - HM_ENVELOPE_MAX_DEPTH, HM_ENVELOPE_MAX_DEPTH + 1, 0);
    s_expect(raw + 999 - HM_ENVELOPE_MAX_DEPTH, HM_ENVELOPE_MAX_DEPTH + 2, HM_ENV_E_LIMIT);
    memset(raw, 0x81, 1000); /* maps {"":...} need 2 bytes a level */
    for (int i = 0; i < 500; i++)
        raw[2 * i + 1] = 0xa0;
    s_expect(raw, sizeof raw, HM_ENV_E_LIMIT);
}

/* hm_json_from_msgpack on objects built by hand, and hm_json_pack embedded in
 * a larger message. */
static void
test_objects_and_embedding(void **state)
{
    (void)state;
    msgpack_object big = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = UINT64_MAX};
    msgpack_object items[HM_ENVELOPE_MAX_DEPTH + 1];
    json_t *out = (json_t *)1;

    assert_int_equal(hm_json_from_msgpack(&big, &out), HM_ENV_E_DATA);
    assert_null(out);
    for (int i = 0; i < HM_ENVELOPE_MAX_DEPTH + 1; i++) {
        items[i].type = MSGPACK_OBJECT_ARRAY;
        items[i].via.array.size = i < HM_ENVELOPE_MAX_DEPTH ? 1 : 0;
        items[i].via.array.ptr = i < HM_ENVELOPE_MAX_DEPTH ? &items[i + 1] : NULL;
    }
    assert_int_equal(hm_json_from_msgpack(&items[1], &out), 0); /* 32 levels */
    json_decref(out);
    assert_int_equal(hm_json_from_msgpack(&items[0], &out), HM_ENV_E_LIMIT);
    msgpack_object empty = {.type = MSGPACK_OBJECT_STR, .via.str = {0, NULL}};
    assert_int_equal(hm_json_from_msgpack(&empty, &out), 0);
    assert_string_equal(json_string_value(out), "");
    json_decref(out);

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    json_t *json = json_pack("{s:i}", "k", -7);
    assert_int_equal(hm_json_pack(&pk, json), 0);
    msgpack_pack_nil(&pk);
    assert_int_equal(hm_json_pack(&pk, NULL), HM_ENV_E_DATA);
    assert_int_equal(s_from_bytes(sb.data, sb.size, &out), 0);
    assert_int_equal(json_array_size(out), 2);
    assert_true(json_equal(json_array_get(out, 0), json));
    assert_true(json_is_null(json_array_get(out, 1)));
    json_decref(out);
    json_decref(json);
    msgpack_sbuffer_destroy(&sb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_nested), cmocka_unit_test(test_pack_layout),
        cmocka_unit_test(test_scalars),           cmocka_unit_test(test_doubles_bit_exact),
        cmocka_unit_test(test_float32_widened),   cmocka_unit_test(test_utf8_boundaries),
        cmocka_unit_test(test_unconvertible),     cmocka_unit_test(test_truncated_and_hostile),
        cmocka_unit_test(test_depth_limit),       cmocka_unit_test(test_objects_and_embedding)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
