/*
 * test_envelope.c - the bus envelope codec: round trips, every error path and
 * hostile input (proto/hm_envelope.h, proto/SPEC.md section 1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <msgpack.h>

#include "hm_envelope.h"

#define S_ID "0b5e1c9a-3f2d-4e8b-9a61-7c4d2e1f0a3b"
#define S_TS 1700000000123LL

/* ---- Helpers: hand-packed envelopes --------------------------------------- */

typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} s_buf_t;

/* One packed msgpack value, for tables. */
typedef struct {
    const char *bytes;
    size_t len;
} s_val_t;
#define S_VAL(lit)                                                                                 \
    {                                                                                              \
        .bytes = (lit), .len = sizeof(lit) - 1                                                     \
    }
#define V_NIL S_VAL("\xc0")
#define V_TRUE S_VAL("\xc3")
#define V_ZERO S_VAL("\x00")
#define V_ONE S_VAL("\x01")
#define V_TWO S_VAL("\x02")
#define V_MINUS1 S_VAL("\xff")
#define V_U64MAX S_VAL("\xcf\xff\xff\xff\xff\xff\xff\xff\xff")
#define V_I64MAX S_VAL("\xd3\x7f\xff\xff\xff\xff\xff\xff\xff")
#define V_F32 S_VAL("\xca\x3f\x80\x00\x00")
#define V_F64 S_VAL("\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00")
#define V_STR S_VAL("\xa1\x31") /* "1" */
#define V_BIN S_VAL("\xc4\x02\x01\x02")
#define V_FIXEXT S_VAL("\xd4\x05\x01")
#define V_EXT8 S_VAL("\xc7\x03\xff\x61\x62\x63") /* type -1, "abc" */
#define V_ARRAY S_VAL("\x90")
#define V_MAP S_VAL("\x80")
/* {7: [bin "x", NaN]}: a non-string key, bin and NaN inside one value */
#define V_NESTED S_VAL("\x81\x07\x92\xc4\x01x\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00")

static void
s_open(s_buf_t *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

static void
s_str(s_buf_t *b, const char *s)
{
    msgpack_pack_str_with_body(&b->pk, s, strlen(s));
}

/* Map header for 3 + extra entries, then type, id and ts except omit. */
static void
s_head(s_buf_t *b, size_t extra, const char *omit)
{
    s_open(b);
    msgpack_pack_map(&b->pk, 3 + extra - (omit != NULL));
    if (omit == NULL || strcmp(omit, "type") != 0) {
        s_str(b, "type");
        s_str(b, "test.event");
    }
    if (omit == NULL || strcmp(omit, "id") != 0) {
        s_str(b, "id");
        s_str(b, S_ID);
    }
    if (omit == NULL || strcmp(omit, "ts") != 0) {
        s_str(b, "ts");
        msgpack_pack_int64(&b->pk, S_TS);
    }
}

/* Decodes from an exact-size heap copy (ASan sees any over-read), frees b. */
static int
s_decode(s_buf_t *b, hm_envelope_t **out)
{
    size_t n = b->sb.size;
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, b->sb.data, n);
    msgpack_sbuffer_destroy(&b->sb);
    int rc = hm_envelope_decode(copy, n, out);
    free(copy);
    return rc;
}

/* Decodes raw bytes; expects failure with rc and *out NULL. */
static void
s_expect_raw(const void *bytes, size_t n, int rc)
{
    hm_envelope_t *env = (hm_envelope_t *)1;
    assert_int_equal(hm_envelope_decode(bytes, n, &env), rc);
    assert_null(env);
}

/* One key with value fn after the required keys (key replaces a required
 * one of the same name); returns decode's rc and frees the envelope. */
static int
s_decode_with(const char *key, s_val_t value)
{
    int required = !strcmp(key, "type") || !strcmp(key, "id") || !strcmp(key, "ts");
    s_buf_t b;
    hm_envelope_t *env = NULL;
    s_head(&b, 1, required ? key : NULL);
    s_str(&b, key);
    msgpack_sbuffer_write(&b.sb, value.bytes, value.len);
    int rc = s_decode(&b, &env);
    if (rc == 0)
        assert_non_null(env);
    else
        assert_null(env);
    hm_envelope_destroy(&env);
    return rc;
}

/* A full envelope, every field set. Caller destroys. */
static hm_envelope_t *
s_full(void)
{
    hm_envelope_t *env = hm_envelope_new(HM_VERB_CHAT_SEND);
    assert_non_null(env);
    assert_int_equal(hm_envelope_set_id(env, S_ID), 0);
    env->ts = S_TS;
    assert_int_equal(hm_envelope_set_correlation_id(env, "c-42"), 0);
    env->user_id = 1234;
    assert_int_equal(hm_envelope_set_conn_id(env, "conn-7f3a"), 0);
    assert_int_equal(hm_envelope_set_edge(env, "edge-1"), 0);
    env->seq = 99;
    json_t *data = json_pack("{s:s, s:[i, f, b, n], s:{}}", "text", "h\xc3\xa9llo", "list", 1, 2.5,
                             1, "empty");
    assert_non_null(data);
    assert_int_equal(hm_envelope_set_data(env, data), 0);
    return env;
}

static void
s_assert_same(const hm_envelope_t *a, const hm_envelope_t *b)
{
    assert_string_equal(a->type, b->type);
    assert_string_equal(a->id, b->id);
    assert_int_equal(a->ts, b->ts);
    assert_string_equal(a->correlation_id, b->correlation_id);
    assert_int_equal(a->user_id, b->user_id);
    assert_string_equal(a->conn_id, b->conn_id);
    assert_string_equal(a->edge, b->edge);
    assert_int_equal(a->seq, b->seq);
    assert_true(json_equal(a->data, b->data));
}

/* ---- Normal use --------------------------------------------------------- */

static void
test_round_trip(void **state)
{
    (void)state;
    hm_envelope_t *env = s_full(), *back = NULL;
    char *buf = NULL;
    size_t len = 0;

    assert_int_equal(hm_envelope_encode(env, &buf, &len), HM_ENV_OK);
    assert_non_null(buf);
    assert_true(len > 0);
    assert_int_equal(hm_envelope_decode(buf, len, &back), HM_ENV_OK);
    s_assert_same(env, back);
    assert_string_equal(json_string_value(json_object_get(back->data, "text")), "h\xc3\xa9llo");
    free(buf);
    hm_envelope_destroy(&back);
    hm_envelope_destroy(&env);
    assert_null(env);
    hm_envelope_destroy(&env); /* NULL-safe, idempotent */
}

static void
test_new_defaults(void **state)
{
    (void)state;
    hm_envelope_t *a = hm_envelope_new("x"), *b = hm_envelope_new("x");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;

    assert_string_equal(a->type, "x");
    assert_int_equal(strlen(a->id), 36);
    assert_int_equal(a->id[8], '-');
    assert_int_equal(a->id[14], '4'); /* version 4 */
    assert_non_null(strchr("89ab", a->id[19]));
    assert_string_not_equal(a->id, b->id);
    assert_true(a->ts <= now_ms && a->ts > now_ms - 5000);
    assert_null(a->correlation_id);
    assert_null(a->conn_id);
    assert_null(a->edge);
    assert_null(a->data);
    assert_int_equal(a->user_id, 0);
    assert_int_equal(a->seq, -1);
    hm_envelope_destroy(&a);
    hm_envelope_destroy(&b);
}

/* The exact bytes: v first, then type, id, ts; unset optional keys absent. */
static void
test_encode_layout(void **state)
{
    (void)state;
    static const unsigned char want[] = {0x84, 0xa1, 'v', 0x01, 0xa4, 't', 'y',  'p', 'e', 0xa1,
                                         'e',  0xa2, 'i', 'd',  0xa1, 'i', 0xa2, 't', 's', 0x2a};
    hm_envelope_t *env = hm_envelope_new("e");
    char *buf;
    size_t len;

    assert_int_equal(hm_envelope_set_id(env, "i"), 0);
    env->ts = 42;
    assert_int_equal(hm_envelope_encode(env, &buf, &len), 0);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    free(buf);
    env->user_id = 5;
    env->seq = 0; /* seq 0 is a sequence number and is written */
    assert_int_equal(hm_envelope_encode(env, &buf, &len), 0);
    assert_int_equal((unsigned char)buf[0], 0x86);
    hm_envelope_t *back = NULL;
    assert_int_equal(hm_envelope_decode(buf, len, &back), 0);
    assert_int_equal(back->user_id, 5);
    assert_int_equal(back->seq, 0);
    free(buf);
    hm_envelope_destroy(&back);
    hm_envelope_destroy(&env);
}

static void
test_dup_and_setters(void **state)
{
    (void)state;
    hm_envelope_t *env = s_full();
    hm_envelope_t *copy = hm_envelope_dup(env);

    assert_non_null(copy);
    s_assert_same(env, copy);
    assert_ptr_not_equal(env->data, copy->data);
    assert_ptr_not_equal(env->type, copy->type);
    assert_null(hm_envelope_dup(NULL));
    assert_int_equal(hm_envelope_set_edge(copy, NULL), 0);
    assert_null(copy->edge);
    assert_int_equal(hm_envelope_set_type(copy, copy->type), 0); /* aliasing is safe */
    assert_string_equal(copy->type, HM_VERB_CHAT_SEND);
    assert_int_equal(hm_envelope_set_data(copy, json_array()), -1); /* consumed, refused */
    assert_non_null(copy->data);
    assert_int_equal(hm_envelope_set_data(copy, NULL), 0);
    assert_null(copy->data);
    hm_envelope_destroy(&copy);
    hm_envelope_destroy(&env);
}

static void
test_strerror(void **state)
{
    (void)state;
    assert_string_equal(hm_envelope_strerror(HM_ENV_OK), "ok");
    assert_string_equal(hm_envelope_strerror(HM_ENV_E_TRUNCATED), "truncated");
    assert_string_equal(hm_envelope_strerror(HM_ENV_E_NOT_MAP), "not_map");
    assert_string_equal(hm_envelope_strerror(HM_ENV_E_MISSING), "missing_key");
    assert_string_equal(hm_envelope_strerror(HM_ENV_E_TYPE), "wrong_type");
    assert_string_equal(hm_envelope_strerror(HM_ENV_E_LIMIT), "limit_exceeded");
    assert_string_equal(hm_envelope_strerror(HM_ENV_E_VERSION), "bad_version");
    assert_string_equal(hm_envelope_strerror(HM_ENV_E_DATA), "bad_data");
    assert_string_equal(hm_envelope_strerror(HM_ENV_E_NOMEM), "no_memory");
    assert_string_equal(hm_envelope_strerror(-99), "unknown_error");
}

/* ---- Encode errors ------------------------------------------------------ */

static void
test_encode_errors(void **state)
{
    (void)state;
    hm_envelope_t *env = hm_envelope_new("t");
    char *buf = (char *)1;
    size_t len = 1;
    char big[HM_ENVELOPE_MAX_STR + 1];

    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    hm_envelope_set_type(env, NULL);
    assert_int_equal(hm_envelope_encode(env, &buf, &len), HM_ENV_E_MISSING);
    assert_null(buf);
    assert_int_equal(len, 0);
    hm_envelope_set_type(env, "t");
    hm_envelope_set_id(env, NULL);
    assert_int_equal(hm_envelope_encode(env, &buf, &len), HM_ENV_E_MISSING);
    hm_envelope_set_id(env, S_ID);
    hm_envelope_set_conn_id(env, big); /* 256 bytes */
    assert_int_equal(hm_envelope_encode(env, &buf, &len), HM_ENV_E_LIMIT);
    big[HM_ENVELOPE_MAX_STR - 1] = '\0'; /* 255 bytes: fine */
    hm_envelope_set_conn_id(env, big);
    assert_int_equal(hm_envelope_encode(env, &buf, &len), 0);
    free(buf);
    hm_envelope_set_edge(env, "\xc0\x80"); /* overlong NUL */
    assert_int_equal(hm_envelope_encode(env, &buf, &len), HM_ENV_E_TYPE);
    hm_envelope_set_edge(env, NULL);
    env->user_id = -1;
    assert_int_equal(hm_envelope_encode(env, &buf, &len), HM_ENV_E_TYPE);
    env->user_id = 0;
    env->data = json_array(); /* bypassing the setter */
    assert_int_equal(hm_envelope_encode(env, &buf, &len), HM_ENV_E_TYPE);
    json_decref(env->data);
    env->data = json_object();
    json_object_set_new(env->data, "s", json_stringn_nocheck("\xed\xa0\x80", 3));
    assert_int_equal(hm_envelope_encode(env, &buf, &len), HM_ENV_E_DATA);
    char *huge = calloc(1, HM_ENVELOPE_MAX_BYTES + 1);
    memset(huge, 'x', HM_ENVELOPE_MAX_BYTES);
    json_object_set_new(env->data, "s", json_string(huge));
    assert_int_equal(hm_envelope_encode(env, &buf, &len), HM_ENV_E_LIMIT);
    assert_null(buf);
    free(huge);
    hm_envelope_destroy(&env);
}

/* Data nested exactly HM_ENVELOPE_MAX_DEPTH levels round-trips; one more
 * level is refused both ways. */
static void
test_depth_boundary(void **state)
{
    (void)state;
    hm_envelope_t *env = hm_envelope_new("t"), *back = NULL;
    json_t *inner = json_integer(1);
    char *buf;
    size_t len;

    for (int i = 1; i < HM_ENVELOPE_MAX_DEPTH; i++) {
        json_t *a = json_array();
        json_array_append_new(a, inner);
        inner = a;
    }
    json_t *data = json_object();
    json_object_set_new(data, "a", inner);
    hm_envelope_set_data(env, data); /* data is level 1: 32 levels */
    assert_int_equal(hm_envelope_encode(env, &buf, &len), 0);
    assert_int_equal(hm_envelope_decode(buf, len, &back), 0);
    assert_true(json_equal(env->data, back->data));
    free(buf);
    hm_envelope_destroy(&back);
    json_t *a = json_array();
    json_array_append(a, inner);
    json_object_set_new(data, "a", a); /* 33 levels */
    assert_int_equal(hm_envelope_encode(env, &buf, &len), HM_ENV_E_LIMIT);
    hm_envelope_destroy(&env);
}

/* ---- Decode: structure and hostile input ---------------------------------- */

static void
test_truncated_every_offset(void **state)
{
    (void)state;
    hm_envelope_t *env = s_full();
    char *buf;
    size_t len;

    assert_int_equal(hm_envelope_encode(env, &buf, &len), 0);
    for (size_t n = 0; n < len; n++) {
        char *cut = malloc(n ? n : 1); /* exact size: ASan catches over-reads */
        memcpy(cut, buf, n);
        hm_envelope_t *out = (hm_envelope_t *)1;
        int rc = hm_envelope_decode(cut, n, &out);
        if (rc != HM_ENV_E_TRUNCATED)
            fail_msg("prefix of %zu/%zu bytes: rc %d", n, len, rc);
        assert_null(out);
        free(cut);
    }
    s_expect_raw(NULL, 0, HM_ENV_E_TRUNCATED);
    free(buf);
    hm_envelope_destroy(&env);
}

static void
test_not_map_and_trailing(void **state)
{
    (void)state;
    s_expect_raw("\x90", 1, HM_ENV_E_NOT_MAP);           /* array */
    s_expect_raw("\x01", 1, HM_ENV_E_NOT_MAP);           /* int */
    s_expect_raw("\xa1x", 2, HM_ENV_E_NOT_MAP);          /* str */
    s_expect_raw("\xc0", 1, HM_ENV_E_NOT_MAP);           /* nil */
    s_expect_raw("\xc1", 1, HM_ENV_E_NOT_MAP);           /* reserved */
    s_expect_raw("\x80\x00", 2, HM_ENV_E_NOT_MAP);       /* trailing byte */
    s_expect_raw("\xde\x00", 2, HM_ENV_E_TRUNCATED);     /* cut map16 header */
    s_expect_raw("\xdf\x00\x00", 3, HM_ENV_E_TRUNCATED); /* cut map32 header */
    s_expect_raw("\x80", 1, HM_ENV_E_MISSING);           /* empty map */

    s_buf_t b;
    hm_envelope_t *env = NULL;
    s_head(&b, 0, NULL);
    msgpack_pack_nil(&b.pk); /* one byte after a complete envelope */
    assert_int_equal(s_decode(&b, &env), HM_ENV_E_NOT_MAP);
    assert_null(env);
}

static void
test_size_limit(void **state)
{
    (void)state;
    char *big = calloc(1, HM_ENVELOPE_MAX_BYTES + 1);
    big[0] = (char)0x80;
    s_expect_raw(big, HM_ENVELOPE_MAX_BYTES + 1, HM_ENV_E_LIMIT);
    free(big);
}

static void
test_hostile_headers(void **state)
{
    (void)state;
    /* map header declaring 2^32-1 entries in 5 bytes */
    s_expect_raw("\xdf\xff\xff\xff\xff", 5, HM_ENV_E_TRUNCATED);
    s_expect_raw("\xde\xff\xff", 3, HM_ENV_E_TRUNCATED);
    /* the same inside a value: str, bin, array, map and ext declaring 4 GiB */
    static const char *const heads[] = {"\xdb\xff\xff\xff\xff", "\xc6\xff\xff\xff\xff",
                                        "\xdd\xff\xff\xff\xff", "\xdf\xff\xff\xff\xff",
                                        "\xc9\xff\xff\xff\xff\x01"};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        for (int as_key = 0; as_key < 2; as_key++) {
            s_buf_t b;
            hm_envelope_t *env = NULL;
            s_head(&b, 1, NULL);
            if (!as_key)
                s_str(&b, "x");
            msgpack_sbuffer_write(&b.sb, heads[i], i == 4 ? 6 : 5);
            if (as_key)
                msgpack_pack_nil(&b.pk);
            assert_int_equal(s_decode(&b, &env), HM_ENV_E_TRUNCATED);
        }
    }
}

/* Nesting 1000 deep, in data and in an unknown key: a limit, not a crash. */
static void
test_hostile_depth(void **state)
{
    (void)state;
    for (int in_data = 0; in_data < 2; in_data++) {
        s_buf_t b;
        hm_envelope_t *env = NULL;
        s_head(&b, 1, NULL);
        s_str(&b, in_data ? "data" : "zz");
        msgpack_pack_map(&b.pk, 1);
        s_str(&b, "a");
        for (int i = 0; i < 1000; i++)
            msgpack_pack_array(&b.pk, 1);
        msgpack_pack_int(&b.pk, 0);
        assert_int_equal(s_decode(&b, &env), HM_ENV_E_LIMIT);
    }
    char deep[1001];
    memset(deep, 0x91, 1000);
    deep[1000] = 0;
    s_expect_raw(deep, sizeof deep, HM_ENV_E_NOT_MAP);
}

static void
test_reserved_byte(void **state)
{
    (void)state;
    s_buf_t b;
    hm_envelope_t *env = NULL;
    s_head(&b, 1, NULL);
    s_str(&b, "unknown");
    msgpack_sbuffer_write(&b.sb, "\xc1", 1);
    assert_int_equal(s_decode(&b, &env), HM_ENV_E_TYPE);
}

/* ---- Decode: keys and types ---------------------------------------------- */

static void
test_missing_each_required(void **state)
{
    (void)state;
    static const char *const keys[] = {"type", "id", "ts"};
    for (size_t i = 0; i < 3; i++) {
        s_buf_t b;
        hm_envelope_t *env = NULL;
        s_head(&b, 1, keys[i]);
        s_str(&b, "seq"); /* keep the map non-trivial */
        msgpack_pack_int(&b.pk, 1);
        assert_int_equal(s_decode(&b, &env), HM_ENV_E_MISSING);
        assert_null(env);
    }
}

static void
test_wrong_type_each_key(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        s_val_t value;
        int rc;
    } cases[] = {{"type", V_ONE, HM_ENV_E_TYPE},
                 {"type", V_NIL, HM_ENV_E_TYPE},
                 {"type", V_BIN, HM_ENV_E_TYPE},
                 {"id", V_ARRAY, HM_ENV_E_TYPE},
                 {"id", V_NIL, HM_ENV_E_TYPE},
                 {"ts", V_STR, HM_ENV_E_TYPE},
                 {"ts", V_F64, HM_ENV_E_TYPE},
                 {"ts", V_NIL, HM_ENV_E_TYPE},
                 {"ts", V_U64MAX, HM_ENV_E_TYPE},
                 {"correlation_id", V_ONE, HM_ENV_E_TYPE},
                 {"user_id", V_STR, HM_ENV_E_TYPE},
                 {"user_id", V_MINUS1, HM_ENV_E_TYPE},
                 {"user_id", V_F32, HM_ENV_E_TYPE},
                 {"user_id", V_U64MAX, HM_ENV_E_TYPE},
                 {"conn_id", V_TRUE, HM_ENV_E_TYPE},
                 {"edge", V_MAP, HM_ENV_E_TYPE},
                 {"seq", V_STR, HM_ENV_E_TYPE},
                 {"seq", V_MINUS1, HM_ENV_E_TYPE},
                 {"data", V_ARRAY, HM_ENV_E_TYPE},
                 {"data", V_STR, HM_ENV_E_TYPE},
                 {"data", V_ONE, HM_ENV_E_TYPE},
                 {"v", V_STR, HM_ENV_E_TYPE},
                 {"v", V_F64, HM_ENV_E_TYPE},
                 {"v", V_TWO, HM_ENV_E_VERSION},
                 {"v", V_ZERO, HM_ENV_E_VERSION},
                 {"v", V_MINUS1, HM_ENV_E_VERSION},
                 {"v", V_ONE, HM_ENV_OK},
                 {"v", V_NIL, HM_ENV_OK},
                 {"user_id", V_NIL, HM_ENV_OK},
                 {"user_id", V_I64MAX, HM_ENV_OK},
                 {"seq", V_ZERO, HM_ENV_OK},
                 {"data", V_NIL, HM_ENV_OK},
                 {"data", V_MAP, HM_ENV_OK},
                 {"edge", V_NIL, HM_ENV_OK},
                 {"ts", V_MINUS1, HM_ENV_OK},
                 {"correlation_id", V_STR, HM_ENV_OK}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = s_decode_with(cases[i].key, cases[i].value);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %d, want %d", i, cases[i].key, rc, cases[i].rc);
    }
}

/* Unknown keys of every msgpack type, and non-string keys, are skipped. */
static void
test_unknown_keys_ignored(void **state)
{
    (void)state;
    static const s_val_t values[] = {V_NIL, V_TRUE, V_ONE,    V_MINUS1, V_U64MAX, V_F32, V_F64,
                                     V_STR, V_BIN,  V_FIXEXT, V_EXT8,   V_ARRAY,  V_MAP, V_NESTED};
    size_t n = sizeof values / sizeof values[0];
    s_buf_t b;
    hm_envelope_t *env = NULL;

    s_head(&b, n + 4, NULL);
    for (size_t i = 0; i < n; i++) {
        char key[8];
        snprintf(key, sizeof key, "x%zu", i);
        s_str(&b, key);
        msgpack_sbuffer_write(&b.sb, values[i].bytes, values[i].len);
    }
    msgpack_pack_int(&b.pk, 1); /* int key */
    s_str(&b, "v");
    msgpack_sbuffer_write(&b.sb, "\xc4\x04type", 6); /* bin key spelling a known name */
    msgpack_pack_int(&b.pk, 2);
    msgpack_sbuffer_write(&b.sb, "\x81\x07\x90", 3); /* map key */
    msgpack_pack_nil(&b.pk);
    s_str(&b, "type2"); /* near miss of a known name */
    msgpack_pack_int(&b.pk, 1);
    assert_int_equal(s_decode(&b, &env), HM_ENV_OK);
    assert_string_equal(env->type, "test.event");
    assert_string_equal(env->id, S_ID);
    assert_int_equal(env->ts, S_TS);
    assert_null(env->data);
    hm_envelope_destroy(&env);
}

/* Packs a valid value for known key. */
static void
s_valid_value(s_buf_t *b, const char *key)
{
    if (!strcmp(key, "ts") || !strcmp(key, "v") || !strcmp(key, "seq") || !strcmp(key, "user_id"))
        msgpack_pack_int(&b->pk, 1);
    else if (!strcmp(key, "data"))
        msgpack_pack_map(&b->pk, 0);
    else
        s_str(b, "x");
}

static void
test_duplicate_keys(void **state)
{
    (void)state;
    static const char *const keys[] = {"v",       "type",    "id",   "ts",  "correlation_id",
                                       "user_id", "conn_id", "edge", "seq", "data"};
    s_buf_t b;
    hm_envelope_t *env = NULL;

    s_head(&b, 2, NULL); /* unknown keys may repeat */
    for (int k = 0; k < 2; k++) {
        s_str(&b, "zz");
        msgpack_pack_int(&b.pk, k);
    }
    assert_int_equal(s_decode(&b, &env), HM_ENV_OK);
    hm_envelope_destroy(&env);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int required = i >= 1 && i <= 3; /* already once in the head */
        s_head(&b, required ? 1 : 2, NULL);
        for (int k = 0; k < (required ? 1 : 2); k++) {
            s_str(&b, keys[i]);
            s_valid_value(&b, keys[i]);
        }
        int rc = s_decode(&b, &env);
        if (rc != HM_ENV_E_TYPE)
            fail_msg("duplicate %s: rc %d", keys[i], rc);
        assert_null(env);
    }
}

/* Keys may use any str encoding; str8 "type" is still "type". */
static void
test_key_encodings(void **state)
{
    (void)state;
    s_buf_t b;
    hm_envelope_t *env = NULL;
    s_open(&b);
    msgpack_sbuffer_write(&b.sb, "\xdf\x00\x00\x00\x03", 5); /* map32 */
    msgpack_sbuffer_write(&b.sb, "\xd9\x04type", 6);         /* str8 key */
    s_str(&b, "x");
    msgpack_sbuffer_write(&b.sb, "\xda\x00\x02id", 5); /* str16 key */
    s_str(&b, "y");
    msgpack_sbuffer_write(&b.sb, "\xdb\x00\x00\x00\x02ts", 7);               /* str32 key */
    msgpack_sbuffer_write(&b.sb, "\xd3\xff\xff\xff\xff\xff\xff\xff\xff", 9); /* int64 -1 */
    assert_int_equal(s_decode(&b, &env), HM_ENV_OK);
    assert_string_equal(env->type, "x");
    assert_string_equal(env->id, "y");
    assert_int_equal(env->ts, -1);
    hm_envelope_destroy(&env);
}

/* Packs key: value (len bytes) after the required keys; returns decode's rc. */
static int
s_decode_str(const char *key, const char *value, size_t len)
{
    int required = !strcmp(key, "type") || !strcmp(key, "id");
    s_buf_t b;
    hm_envelope_t *env = NULL;
    s_head(&b, 1, required ? key : NULL);
    s_str(&b, key);
    msgpack_pack_str_with_body(&b.pk, value, len);
    int rc = s_decode(&b, &env);
    if (rc == 0) {
        const char *got = !strcmp(key, "type")             ? env->type
                          : !strcmp(key, "id")             ? env->id
                          : !strcmp(key, "correlation_id") ? env->correlation_id
                          : !strcmp(key, "conn_id")        ? env->conn_id
                                                           : env->edge;
        assert_int_equal(strlen(got), len);
        assert_memory_equal(got, value, len);
    }
    hm_envelope_destroy(&env);
    return rc;
}

static void
test_string_rules(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        size_t len;
        int rc;
    } cases[] = {{"ok-\xe2\x82\xac", 6, HM_ENV_OK},  {"", 0, HM_ENV_OK},
                 {"\xf0\x9f\x98\x80", 4, HM_ENV_OK}, {"a\0b", 3, HM_ENV_E_TYPE},
                 {"\xc0\xaf", 2, HM_ENV_E_TYPE},     {"\xe0\x80\xaf", 3, HM_ENV_E_TYPE},
                 {"\xed\xb0\x80", 3, HM_ENV_E_TYPE}, {"\xf4\x90\x80\x80", 4, HM_ENV_E_TYPE},
                 {"\xe2\x82", 2, HM_ENV_E_TYPE},     {"\xff", 1, HM_ENV_E_TYPE}};
    static const char *const keys[] = {"type", "id", "correlation_id", "conn_id", "edge"};
    char big[HM_ENVELOPE_MAX_STR];
    memset(big, 'k', sizeof big);

    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            int rc = s_decode_str(keys[k], cases[i].value, cases[i].len);
            if (rc != cases[i].rc)
                fail_msg("%s case %zu: rc %d, want %d", keys[k], i, rc, cases[i].rc);
        }
        assert_int_equal(s_decode_str(keys[k], big, sizeof big - 1), HM_ENV_OK);  /* 255 */
        assert_int_equal(s_decode_str(keys[k], big, sizeof big), HM_ENV_E_LIMIT); /* 256 */
    }
}

/* data must hold only what JSON can express: each case is a packed data map. */
static void
test_data_errors(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {"\x81\xa1k\xc4\x01x", 6},                             /* bin */
        {"\x81\xa1k\xd4\x01\x00", 6},                          /* fixext 1 */
        {"\x81\xa1k\xc7\x01\x05x", 7},                         /* ext 8 */
        {"\x81\xa1k\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 12}, /* uint64 max */
        {"\x81\xa1k\xcb\x7f\xf8\0\0\0\0\0\0", 12},             /* NaN */
        {"\x81\xa1k\xcb\xff\xf0\0\0\0\0\0\0", 12},             /* -Inf */
        {"\x81\xa1k\xca\x7f\xc0\0\0", 8},                      /* float32 NaN */
        {"\x81\xa1k\xa3\xed\xa0\x80", 7},                      /* surrogate */
        {"\x81\xa2\xc0\xaf\x01", 5},                           /* overlong key */
        {"\x81\x07\x01", 3},                                   /* int key */
        {"\x81\xc0\x01", 3},                                   /* nil key */
        {"\x82\xa1k\x01\xa1k\x02", 7},                         /* duplicate key */
        {"\x81\xa1k\x91\xc4\x00", 6}                           /* bin in an array */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_buf_t b;
        hm_envelope_t *env = NULL;
        s_head(&b, 1, NULL);
        s_str(&b, "data");
        msgpack_sbuffer_write(&b.sb, cases[i].bytes, cases[i].len);
        int rc = s_decode(&b, &env);
        if (rc != HM_ENV_E_DATA)
            fail_msg("case %zu: rc %d", i, rc);
        assert_null(env);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_round_trip),
                                       cmocka_unit_test(test_new_defaults),
                                       cmocka_unit_test(test_encode_layout),
                                       cmocka_unit_test(test_dup_and_setters),
                                       cmocka_unit_test(test_strerror),
                                       cmocka_unit_test(test_encode_errors),
                                       cmocka_unit_test(test_depth_boundary),
                                       cmocka_unit_test(test_truncated_every_offset),
                                       cmocka_unit_test(test_not_map_and_trailing),
                                       cmocka_unit_test(test_size_limit),
                                       cmocka_unit_test(test_hostile_headers),
                                       cmocka_unit_test(test_hostile_depth),
                                       cmocka_unit_test(test_reserved_byte),
                                       cmocka_unit_test(test_missing_each_required),
                                       cmocka_unit_test(test_wrong_type_each_key),
                                       cmocka_unit_test(test_unknown_keys_ignored),
                                       cmocka_unit_test(test_duplicate_keys),
                                       cmocka_unit_test(test_key_encodings),
                                       cmocka_unit_test(test_string_rules),
                                       cmocka_unit_test(test_data_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
