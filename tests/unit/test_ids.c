/*
 * test_ids.c - hm_ids: UUIDv4 format, version and variant, uniqueness,
 * validator, random bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "hm_ids.h"

#include <czmq.h>
#include <string.h>

static void
test_ids_uuid4_is_canonical(void **state)
{
    (void)state;
    char id[HM_UUID_STRLEN];
    assert_int_equal(hm_uuid4(id), 0);
    assert_int_equal(strlen(id), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(id[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", id[i])); /* lowercase hex */
    }
    assert_true(hm_uuid_valid(id));
}

static void
test_ids_version_and_variant_nibbles(void **state)
{
    (void)state;
    for (int n = 0; n < 1000; n++) {
        char id[HM_UUID_STRLEN];
        assert_int_equal(hm_uuid4(id), 0);
        assert_int_equal(id[14], '4');           /* version 4 */
        assert_non_null(strchr("89ab", id[19])); /* variant 10xx */
    }
}

static void
test_ids_ten_thousand_are_unique(void **state)
{
    (void)state;
    zhashx_t *seen = zhashx_new();
    assert_non_null(seen);
    for (int n = 0; n < 10000; n++) {
        char id[HM_UUID_STRLEN];
        assert_int_equal(hm_uuid4(id), 0);
        assert_int_equal(zhashx_insert(seen, id, (void *)1), 0); /* -1 on a duplicate */
    }
    assert_int_equal(zhashx_size(seen), 10000);
    zhashx_destroy(&seen);
}

static void
test_ids_validator_accepts(void **state)
{
    (void)state;
    assert_true(hm_uuid_valid("123e4567-e89b-12d3-a456-426614174000")); /* version 1 */
    assert_true(hm_uuid_valid("F47AC10B-58CC-4372-A567-0E02B2C3D479")); /* upper case */
    assert_true(hm_uuid_valid("00000000-0000-0000-0000-000000000000"));
}

static void
test_ids_validator_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "f47ac10b-58cc-4372-a567-0e02b2c3d47",   /* short */
        "f47ac10b-58cc-4372-a567-0e02b2c3d4790", /* long */
        "f47ac10b58cc-4372-a567-0e02b2c3d4790",  /* dash missing */
        "f47ac10b-58cc-4372-a567_0e02b2c3d479",  /* wrong separator */
        "g47ac10b-58cc-4372-a567-0e02b2c3d479",  /* not hex */
        "{f47ac10b-58cc-4372-a567-0e02b2c3d479}",
        " f47ac10b-58cc-4372-a567-0e02b2c3d479",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (hm_uuid_valid(bad[i]))
            fail_msg("accepted \"%s\"", bad[i]);
    assert_false(hm_uuid_valid(NULL));
}

static void
test_ids_random_bytes(void **state)
{
    (void)state;
    unsigned char a[64] = {0}, b[64] = {0}, zero[64] = {0};
    assert_int_equal(hm_random_bytes(a, sizeof a), 0);
    assert_int_equal(hm_random_bytes(b, sizeof b), 0);
    assert_memory_not_equal(a, zero, sizeof a);
    assert_memory_not_equal(a, b, sizeof a);
    assert_int_equal(hm_random_bytes(NULL, 0), 0);
}

int
main(void)
{
    alarm(60); /* a hung test must not hang CI */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_uuid4_is_canonical),
        cmocka_unit_test(test_ids_version_and_variant_nibbles),
        cmocka_unit_test(test_ids_ten_thousand_are_unique),
        cmocka_unit_test(test_ids_validator_accepts),
        cmocka_unit_test(test_ids_validator_rejects),
        cmocka_unit_test(test_ids_random_bytes),
    };
    return cmocka_run_group_tests_name("hm_ids", tests, NULL, NULL);
}
