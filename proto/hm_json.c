/*
 * hm_json.c - lossless conversion between JSON values (jansson) and msgpack.
 *
 * Depth: a container (object/array, map/array) counts one level more than the
 * container holding it, the outermost container is level 1; more than
 * HM_ENVELOPE_MAX_DEPTH levels is HM_ENV_E_LIMIT. Scalars do not count.
 *
 * Duplicate keys in a msgpack map are an error (HM_ENV_E_DATA) rather than
 * "later wins": JSON text with duplicate keys is ambiguous, and silently
 * dropping a value would make the conversion lossy.
 *
 * String values may contain U+0000 (jansson keeps their length); keys may
 * not (HM_ENV_E_DATA): jansson's json_equal, json_object_get and
 * json_object_foreach see a key only up to its first NUL, so "a" and "a\0b"
 * would look like the same key to the code reading the object.
 *
 * This file also defines hm_utf8_valid() (public, in hm_json.h) and
 * hm_json__scan() (hm_proto_internal.h), the pre-scan that makes msgpack-c
 * safe on hostile input; hm_envelope.c uses both.
 */
#include "hm_json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_envelope.h"

#include "hm_proto_internal.h"

/* ---- UTF-8 -------------------------------------------------------------- */

/* Returns 1 when s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF), else 0. */
int
hm_utf8_valid(const char *s, size_t len)
{
    if (len == 0) /* s may be NULL then: msgpack-c gives "" a NULL pointer */
        return 1;
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + len;

    while (p < end) {
        unsigned c = *p++;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */
        size_t need;
        if (c < 0x80)
            continue;
        if (c >= 0xC2 && c <= 0xDF)
            need = 1;
        else if (c == 0xE0)
            need = 2, lo = 0xA0; /* overlong below U+0800 */
        else if (c == 0xED)
            need = 2, hi = 0x9F; /* surrogates U+D800..U+DFFF */
        else if (c >= 0xE1 && c <= 0xEF)
            need = 2;
        else if (c == 0xF0)
            need = 3, lo = 0x90; /* overlong below U+10000 */
        else if (c >= 0xF1 && c <= 0xF3)
            need = 3;
        else if (c == 0xF4)
            need = 3, hi = 0x8F; /* above U+10FFFF */
        else
            return 0; /* 0x80..0xC1 lead bytes, 0xF5..0xFF */
        if ((size_t)(end - p) < need || *p < lo || *p > hi)
            return 0;
        for (p++, need--; need > 0; need--, p++)
            if ((*p & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

/* ---- Pre-scan of raw msgpack -------------------------------------------- */

/* Big-endian unsigned of n (1, 2 or 4) bytes. */
static uint64_t
s_be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Decodes the header at p (avail bytes). Sets *hdr (header bytes), *body
 * (payload bytes after the header) and *items (child values: n for an array,
 * 2n for a map, -1 for a non-container). Returns 0, HM_ENV_E_TRUNCATED when
 * the header itself is cut, HM_ENV_E_TYPE for the reserved byte 0xc1. */
static int
s_header(const unsigned char *p, size_t avail, size_t *hdr, uint64_t *body, int64_t *items)
{
    unsigned b = p[0];
    size_t lenbytes = 0; /* bytes of the length field after the type byte */
    size_t extra = 0;    /* further header bytes (ext type) */

    *hdr = 1, *body = 0, *items = -1;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if (b <= 0x8f) {
        *items = 2 * (int64_t)(b & 0x0f);
        return 0;
    }
    if (b <= 0x9f) {
        *items = b & 0x0f;
        return 0;
    }
    if (b <= 0xbf) {
        *body = b & 0x1f;
        return 0;
    }
    if (b == 0xc1)
        return HM_ENV_E_TYPE;
    if (b >= 0xca && b <= 0xd3) { /* float, double, uint, int: fixed size */
        static const unsigned char size[] = {4, 8, 1, 2, 4, 8, 1, 2, 4, 8};
        *body = size[b - 0xca];
        return 0;
    }
    if (b >= 0xd4 && b <= 0xd8) { /* fixext 1..16: type byte + data */
        *hdr = 2;
        *body = 1u << (b - 0xd4);
        return 0;
    }
    if (b <= 0xc6) /* bin 8/16/32 */
        lenbytes = 1u << (b - 0xc4);
    else if (b <= 0xc9) /* ext 8/16/32 */
        lenbytes = 1u << (b - 0xc7), extra = 1;
    else if (b <= 0xdb) /* str 8/16/32 */
        lenbytes = 1u << (b - 0xd9);
    else /* array 16/32, map 16/32 */
        lenbytes = (b & 1) ? 4 : 2;
    *hdr = 1 + lenbytes + extra;
    if (avail < *hdr)
        return HM_ENV_E_TRUNCATED;
    uint64_t n = s_be(p + 1, lenbytes);
    if (b >= 0xdc)
        *items = (b >= 0xde ? 2 : 1) * (int64_t)n;
    else
        *body = n;
    return 0;
}

/* Walks the one msgpack value at buf[*off] without allocating and advances
 * *off past it. msgpack-c allocates every container from its declared count
 * before reading a child; a value this walk found complete has all its
 * declared children in the input, so msgpack-c then allocates at most about
 * 24 bytes per input byte. A count larger than the bytes left fails fast.
 * Returns 0, HM_ENV_E_TRUNCATED, HM_ENV_E_LIMIT (deeper than
 * HM_ENVELOPE_MAX_DEPTH) or HM_ENV_E_TYPE (reserved byte 0xc1). */
int
hm_json__scan(const char *buf, size_t len, size_t *off)
{
    const unsigned char *p = (const unsigned char *)buf;
    int64_t left[HM_ENVELOPE_MAX_DEPTH]; /* children still due per open level */
    int depth = 0;
    size_t pos = *off;

    do {
        size_t hdr;
        uint64_t body;
        int64_t items;
        if (pos >= len)
            return HM_ENV_E_TRUNCATED;
        int rc = s_header(p + pos, len - pos, &hdr, &body, &items);
        if (rc != 0)
            return rc;
        if (hdr > len - pos || body > len - pos - hdr)
            return HM_ENV_E_TRUNCATED;
        pos += hdr + body;
        if (depth > 0)
            left[depth - 1]--;
        if (items >= 0) {
            if (depth == HM_ENVELOPE_MAX_DEPTH)
                return HM_ENV_E_LIMIT;
            if ((uint64_t)items > len - pos)
                return HM_ENV_E_TRUNCATED;
            left[depth++] = items;
        }
        while (depth > 0 && left[depth - 1] == 0)
            depth--;
    } while (depth > 0);
    *off = pos;
    return 0;
}

/* ---- JSON -> msgpack ----------------------------------------------------- */

static int s_pack(msgpack_packer *pk, const json_t *json, int depth);

/* Packs a string value or key after checking it is valid UTF-8 (and, for a
 * key, free of NUL). */
static int
s_pack_str(msgpack_packer *pk, const char *s, size_t len, int is_key)
{
    if (len > UINT32_MAX)
        return HM_ENV_E_LIMIT;
    if (!hm_utf8_valid(s, len) || (is_key && memchr(s, '\0', len) != NULL))
        return HM_ENV_E_DATA;
    return msgpack_pack_str_with_body(pk, s, len) == 0 ? 0 : HM_ENV_E_NOMEM;
}

static int
s_pack_object(msgpack_packer *pk, const json_t *json, int depth)
{
    const char *key;
    size_t key_len;
    json_t *value;

    if (msgpack_pack_map(pk, json_object_size(json)) != 0)
        return HM_ENV_E_NOMEM;
    /* The macro takes a non-const object; iteration does not modify it. */
    json_t *obj = (json_t *)json;
    json_object_keylen_foreach(obj, key, key_len, value)
    {
        int rc = s_pack_str(pk, key, key_len, 1);
        if (rc == 0)
            rc = s_pack(pk, value, depth);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int
s_pack_array(msgpack_packer *pk, const json_t *json, int depth)
{
    size_t n = json_array_size(json);
    if (msgpack_pack_array(pk, n) != 0)
        return HM_ENV_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        int rc = s_pack(pk, json_array_get(json, i), depth);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Packs one JSON value; depth is the number of containers around it. */
static int
s_pack(msgpack_packer *pk, const json_t *json, int depth)
{
    int rc;
    if (json == NULL)
        return HM_ENV_E_DATA;
    switch (json_typeof(json)) {
    case JSON_OBJECT:
    case JSON_ARRAY:
        if (depth >= HM_ENVELOPE_MAX_DEPTH)
            return HM_ENV_E_LIMIT;
        if (json_is_object(json))
            return s_pack_object(pk, json, depth + 1);
        return s_pack_array(pk, json, depth + 1);
    case JSON_STRING:
        return s_pack_str(pk, json_string_value(json), json_string_length(json), 0);
    case JSON_INTEGER:
        rc = msgpack_pack_int64(pk, json_integer_value(json));
        break;
    case JSON_REAL:
        if (!isfinite(json_real_value(json)))
            return HM_ENV_E_DATA;
        rc = msgpack_pack_double(pk, json_real_value(json));
        break;
    case JSON_TRUE:
        rc = msgpack_pack_true(pk);
        break;
    case JSON_FALSE:
        rc = msgpack_pack_false(pk);
        break;
    case JSON_NULL:
        rc = msgpack_pack_nil(pk);
        break;
    default:
        return HM_ENV_E_DATA;
    }
    return rc == 0 ? 0 : HM_ENV_E_NOMEM;
}

/* Appends json to pk. On error the packer may hold a partial value: discard
 * its buffer. */
int
hm_json_pack(msgpack_packer *pk, const json_t *json)
{
    return s_pack(pk, json, 0);
}

int
hm_json_to_msgpack(const json_t *json, char **buf, size_t *len)
{
    msgpack_sbuffer sbuf;
    msgpack_packer pk;

    *buf = NULL;
    *len = 0;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    int rc = hm_json_pack(&pk, json);
    if (rc != 0) {
        msgpack_sbuffer_destroy(&sbuf);
        return rc;
    }
    *len = sbuf.size;
    *buf = msgpack_sbuffer_release(&sbuf);
    return 0;
}

/* ---- msgpack -> JSON ----------------------------------------------------- */

static int s_from(const msgpack_object *obj, int depth, json_t **out);

/* A JSON string from a msgpack str, or NULL (*rc says why). */
static json_t *
s_from_str(const msgpack_object_str *str, int *rc)
{
    if (!hm_utf8_valid(str->ptr, str->size)) {
        *rc = HM_ENV_E_DATA;
        return NULL;
    }
    json_t *json = json_stringn_nocheck(str->size ? str->ptr : "", str->size);
    *rc = json ? 0 : HM_ENV_E_NOMEM;
    return json;
}

static int
s_from_array(const msgpack_object_array *arr, int depth, json_t **out)
{
    json_t *json = json_array();
    if (json == NULL)
        return HM_ENV_E_NOMEM;
    for (uint32_t i = 0; i < arr->size; i++) {
        json_t *item;
        int rc = s_from(&arr->ptr[i], depth, &item);
        if (rc == 0 && json_array_append_new(json, item) != 0)
            rc = HM_ENV_E_NOMEM;
        if (rc != 0) {
            json_decref(json);
            return rc;
        }
    }
    *out = json;
    return 0;
}

/* Adds one map entry to json; the key must be a valid UTF-8 str without NUL
 * and not yet present (see the top of this file). */
static int
s_from_entry(json_t *json, const msgpack_object_kv *kv, int depth)
{
    const msgpack_object_str *key = &kv->key.via.str;
    json_t *value;

    if (kv->key.type != MSGPACK_OBJECT_STR || !hm_utf8_valid(key->ptr, key->size))
        return HM_ENV_E_DATA;
    const char *k = key->size ? key->ptr : "";
    if (memchr(k, '\0', key->size) != NULL)
        return HM_ENV_E_DATA;
    if (json_object_getn(json, k, key->size) != NULL)
        return HM_ENV_E_DATA;
    int rc = s_from(&kv->val, depth, &value);
    if (rc != 0)
        return rc;
    if (json_object_setn_new_nocheck(json, k, key->size, value) != 0)
        return HM_ENV_E_NOMEM;
    return 0;
}

static int
s_from_map(const msgpack_object_map *map, int depth, json_t **out)
{
    json_t *json = json_object();
    if (json == NULL)
        return HM_ENV_E_NOMEM;
    for (uint32_t i = 0; i < map->size; i++) {
        int rc = s_from_entry(json, &map->ptr[i], depth);
        if (rc != 0) {
            json_decref(json);
            return rc;
        }
    }
    *out = json;
    return 0;
}

/* Converts obj; depth is the number of containers around it. */
static int
s_from(const msgpack_object *obj, int depth, json_t **out)
{
    json_t *json = NULL;
    int rc = 0;

    *out = NULL;
    switch (obj->type) {
    case MSGPACK_OBJECT_NIL:
        json = json_null();
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        json = json_boolean(obj->via.boolean);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (obj->via.u64 > INT64_MAX)
            return HM_ENV_E_DATA;
        json = json_integer((json_int_t)obj->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        json = json_integer((json_int_t)obj->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32: /* unpacked already widened to double */
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(obj->via.f64))
            return HM_ENV_E_DATA;
        json = json_real(obj->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        json = s_from_str(&obj->via.str, &rc);
        break;
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP:
        if (depth >= HM_ENVELOPE_MAX_DEPTH)
            return HM_ENV_E_LIMIT;
        if (obj->type == MSGPACK_OBJECT_MAP)
            return s_from_map(&obj->via.map, depth + 1, out);
        return s_from_array(&obj->via.array, depth + 1, out);
    default: /* bin, ext */
        return HM_ENV_E_DATA;
    }
    if (json == NULL)
        return rc != 0 ? rc : HM_ENV_E_NOMEM;
    *out = json;
    return 0;
}

int
hm_json_from_msgpack(const msgpack_object *obj, json_t **out)
{
    return s_from(obj, 0, out);
}

/* Scans first (see hm_json__scan) so that msgpack-c never allocates from an
 * unchecked length; trailing bytes and the reserved byte 0xc1 are
 * HM_ENV_E_DATA. */
int
hm_json_from_msgpack_buf(const void *buf, size_t len, json_t **out)
{
    size_t end = 0, off = 0;
    msgpack_unpacked result;

    *out = NULL;
    if (len > HM_ENVELOPE_MAX_BYTES)
        return HM_ENV_E_LIMIT;
    if (buf == NULL || len == 0)
        return HM_ENV_E_TRUNCATED;
    int rc = hm_json__scan(buf, len, &end);
    if (rc == HM_ENV_E_TYPE)
        rc = HM_ENV_E_DATA;
    if (rc == 0 && end != len)
        rc = HM_ENV_E_DATA;
    if (rc != 0)
        return rc;
    msgpack_unpacked_init(&result);
    msgpack_unpack_return ur = msgpack_unpack_next(&result, buf, len, &off);
    if (ur == MSGPACK_UNPACK_SUCCESS)
        rc = hm_json_from_msgpack(&result.data, out);
    else if (ur == MSGPACK_UNPACK_CONTINUE)
        rc = HM_ENV_E_TRUNCATED; /* cannot happen after a clean scan */
    else
        rc = HM_ENV_E_NOMEM; /* the scan leaves only allocation failures */
    msgpack_unpacked_destroy(&result);
    return rc;
}
