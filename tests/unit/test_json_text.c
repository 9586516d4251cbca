/*
 * test_json_text.c - hm_json_text_from_msgpack gives jansson's text and
 * hm_json's verdicts: hand-picked values (reals, escapes, limits, hostile
 * bytes) and 20,000 random documents compared with the jansson path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "hm_envelope.h"
#include "hm_json.h"
#include "hm_json_text.h"

/* Both paths on buf: same verdict; same text when they succeed. Returns
 * the fast path's rc. */
static int
s_compare(const char *buf, size_t len)
{
    json_t *json = NULL;
    int slow = hm_json_from_msgpack_buf(buf, len, &json);
    hm_text_t t = {0};
    int fast = hm_json_text_from_msgpack(&t, buf, len);
    if (fast != HM_JSON_TEXT_SLOW) {
        assert_int_equal(fast == 0, slow == 0);
        if (fast == 0) {
            char *dump = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
            assert_non_null(dump);
            assert_string_equal(t.buf, dump);
            free(dump);
        }
    }
    json_decref(json);
    free(t.buf);
    return fast;
}

static int
s_compare_sbuf(msgpack_sbuffer *sb)
{
    int rc = s_compare(sb->data, sb->size);
    msgpack_sbuffer_clear(sb);
    return rc;
}

static void
test_scalars_and_reals(void **state)
{
    (void) state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const double reals[] = {0.0, -0.0, 0.1, 98.6, 1.5, 100.0, 1e20, 1e-5, 1e300, -2.5e-300,
                            123456789.125, 3.141592653589793, 72.0};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        msgpack_pack_double(&pk, reals[i]);
        assert_int_equal(s_compare_sbuf(&sb), 0);
    }
    msgpack_pack_float(&pk, 0.1f);
    assert_int_equal(s_compare_sbuf(&sb), 0);
    const int64_t ints[] = {0, 1, 127, 128, 255, 256, 65535, 65536, -1, -32, -33, -128, -129,
                            -32768, -32769, INT64_MAX, INT64_MIN, 4294967296LL};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        msgpack_pack_int64(&pk, ints[i]);
        assert_int_equal(s_compare_sbuf(&sb), 0);
    }
    msgpack_pack_uint64(&pk, UINT64_MAX); /* above INT64_MAX: refused by both */
    assert_int_equal(s_compare_sbuf(&sb), HM_ENV_E_DATA);
    msgpack_pack_nil(&pk);
    assert_int_equal(s_compare_sbuf(&sb), 0);
    msgpack_pack_true(&pk);
    assert_int_equal(s_compare_sbuf(&sb), 0);
    msgpack_pack_false(&pk);
    assert_int_equal(s_compare_sbuf(&sb), 0);
    msgpack_sbuffer_destroy(&sb);
}

static void
test_strings(void **state)
{
    (void) state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const char *ok[] = {"", "plain", "quote\" back\\slash /", "\b\f\n\r\t", "\x01\x1f\x7f",
                        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        msgpack_pack_str_with_body(&pk, ok[i], strlen(ok[i]));
        assert_int_equal(s_compare_sbuf(&sb), 0);
    }
    msgpack_pack_str_with_body(&pk, "a\0b", 3); /* NUL inside a value is kept */
    assert_int_equal(s_compare_sbuf(&sb), 0);
    const char *bad[] = {"\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msgpack_pack_str_with_body(&pk, bad[i], strlen(bad[i]));
        assert_int_equal(s_compare_sbuf(&sb), HM_ENV_E_DATA);
    }
    msgpack_sbuffer_destroy(&sb);
}

static void
test_maps_and_limits(void **state)
{
    (void) state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* A reading as hm-health publishes it. */
    msgpack_pack_map(&pk, 4);
    msgpack_pack_str_with_body(&pk, "metric", 6);
    msgpack_pack_str_with_body(&pk, "heart_rate", 10);
    msgpack_pack_str_with_body(&pk, "value", 5);
    msgpack_pack_double(&pk, 72.5);
    msgpack_pack_str_with_body(&pk, "unit", 4);
    msgpack_pack_str_with_body(&pk, "bpm", 3);
    msgpack_pack_str_with_body(&pk, "tags", 4);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_map(&pk, 0);
    const char *v;
    size_t vlen;
    assert_int_equal(hm_msgpack_map_str(sb.data, sb.size, "unit", &v, &vlen), 0);
    assert_int_equal(vlen, 3);
    assert_memory_equal(v, "bpm", 3);
    assert_int_equal(hm_msgpack_map_str(sb.data, sb.size, "value", &v, &vlen), -1);
    assert_int_equal(hm_msgpack_map_str(sb.data, sb.size, "none", &v, &vlen), -1);
    assert_int_equal(s_compare_sbuf(&sb), 0);
    /* Duplicate key, NUL in a key, a non-string key. */
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "a", 1);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_str_with_body(&pk, "a", 1);
    msgpack_pack_int(&pk, 2);
    assert_int_equal(s_compare_sbuf(&sb), HM_ENV_E_DATA);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "a\0b", 3);
    msgpack_pack_int(&pk, 1);
    assert_int_equal(s_compare_sbuf(&sb), HM_ENV_E_DATA);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_int(&pk, 1);
    assert_int_equal(s_compare_sbuf(&sb), HM_ENV_E_DATA);
    /* bin and ext: nothing JSON can express. */
    msgpack_pack_bin_with_body(&pk, "xy", 2);
    assert_int_equal(s_compare_sbuf(&sb), HM_ENV_E_DATA);
    msgpack_pack_ext_with_body(&pk, "xy", 2, 1);
    assert_int_equal(s_compare_sbuf(&sb), HM_ENV_E_DATA);
    /* Depth: 32 levels are fine, 33 are not. */
    for (int depth = 32; depth <= 33; depth++) {
        for (int i = 0; i < depth; i++)
            msgpack_pack_array(&pk, i + 1 < depth ? 1 : 0);
        assert_int_equal(s_compare_sbuf(&sb), depth == 32 ? 0 : HM_ENV_E_LIMIT);
    }
    /* A map too large to check cheaply goes the slow way. */
    msgpack_pack_map(&pk, HM_JSON_TEXT_MAP_MAX + 1);
    for (int i = 0; i <= HM_JSON_TEXT_MAP_MAX; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        msgpack_pack_str_with_body(&pk, k, strlen(k));
        msgpack_pack_int(&pk, i);
    }
    assert_int_equal(s_compare_sbuf(&sb), HM_JSON_TEXT_SLOW);
    msgpack_sbuffer_destroy(&sb);
}

static void
test_truncated_and_trailing(void **state)
{
    (void) state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "metric", 6);
    msgpack_pack_str_with_body(&pk, "spo2", 4);
    msgpack_pack_str_with_body(&pk, "value", 5);
    msgpack_pack_double(&pk, 97.0);
    for (size_t cut = 0; cut < sb.size; cut++) /* every prefix is refused */
        assert_int_not_equal(s_compare(sb.data, cut), 0);
    char *more = malloc(sb.size + 1);
    memcpy(more, sb.data, sb.size);
    more[sb.size] = 0x01;
    assert_int_not_equal(s_compare(more, sb.size + 1), 0);
    free(more);
    const char c1 = (char) 0xc1; /* never used */
    assert_int_equal(s_compare(&c1, 1), HM_ENV_E_DATA);
    msgpack_sbuffer_destroy(&sb);
}

/* A random value: containers, strings with escapes and bad bytes, reals. */
static void
s_random(msgpack_packer *pk, unsigned *seed, int depth)
{
    int kind = rand_r(seed) % (depth > 4 ? 6 : 9);
    switch (kind) {
    case 0: msgpack_pack_nil(pk); break;
    case 1: msgpack_pack_int64(pk, (int64_t) rand_r(seed) - RAND_MAX / 2); break;
    case 2: msgpack_pack_double(pk, ((double) rand_r(seed) - RAND_MAX / 2) / (1 + rand_r(seed) % 1000)); break;
    case 3: msgpack_pack_float(pk, (float) rand_r(seed) / 7.0f); break;
    case 4: case 5: {
        char s[12];
        int n = rand_r(seed) % (int) sizeof s;
        for (int i = 0; i < n; i++) /* mostly printable, some escapes, rarely invalid */
            s[i] = (char) (rand_r(seed) % 20 == 0 ? rand_r(seed) % 256 : 32 + rand_r(seed) % 95);
        msgpack_pack_str_with_body(pk, s, (size_t) n);
        break;
    }
    case 6: {
        int n = rand_r(seed) % 4;
        msgpack_pack_array(pk, (size_t) n);
        for (int i = 0; i < n; i++)
            s_random(pk, seed, depth + 1);
        break;
    }
    default: {
        int n = rand_r(seed) % 5;
        msgpack_pack_map(pk, (size_t) n);
        for (int i = 0; i < n; i++) {
            char k[4] = {(char) ('a' + rand_r(seed) % 6), 0};
            msgpack_pack_str_with_body(pk, k, 1); /* duplicates happen */
            s_random(pk, seed, depth + 1);
        }
    }
    }
}

static void
test_random_documents(void **state)
{
    (void) state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    unsigned seed = 20261128;
    int ok = 0, refused = 0;
    for (int i = 0; i < 20000; i++) {
        s_random(&pk, &seed, 0);
        if (s_compare_sbuf(&sb) == 0)
            ok++;
        else
            refused++;
    }
    /* Both outcomes were exercised, so the comparison meant something. */
    assert_true(ok > 1000);
    assert_true(refused > 100);
    msgpack_sbuffer_destroy(&sb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_and_reals),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_maps_and_limits),
        cmocka_unit_test(test_truncated_and_trailing),
        cmocka_unit_test(test_random_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
