/*
 * hm_envelope.c - the bus envelope codec (see hm_envelope.h).
 *
 * Decoding reads the top-level map header itself, then takes the entries one
 * at a time: hm_json__scan() walks the key and the value without allocating
 * (it bounds lengths, counts and depth), unknown keys are skipped by that
 * walk, and each known value is unpacked on its own with msgpack_unpack_next()
 * bounded to the scanned bytes. Unpacking value by value leaves data the full
 * HM_ENVELOPE_MAX_DEPTH levels: msgpack-c's parser stack holds 32 containers
 * and the envelope map would otherwise take one of them.
 *
 * Choices the header leaves open; encoding applies the same rules, so that
 * whatever encodes also decodes:
 * - trailing bytes after the map: HM_ENV_E_NOT_MAP (the buffer is not one map);
 * - the reserved msgpack byte 0xc1 anywhere: HM_ENV_E_TYPE;
 * - a string field (type, id, correlation_id, conn_id, edge) must be valid
 *   UTF-8 without NUL (else HM_ENV_E_TYPE) and shorter than
 *   HM_ENVELOPE_MAX_STR bytes (else HM_ENV_E_LIMIT), so that a conn_id always
 *   fits hm_topic_parse()'s buffer;
 * - ints must fit int64_t; user_id and seq must be >= 0 (else HM_ENV_E_TYPE);
 *   ts may be any int64_t;
 * - nil is accepted for every optional key (v included) and means absent;
 *   nil for type, id or ts is HM_ENV_E_TYPE;
 * - a depth limit hit inside any value, known or not, is HM_ENV_E_LIMIT.
 */
#include "hm_envelope.h"

#include <assert.h>
#include <msgpack.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_json.h"

#include "hm_proto_internal.h"

/* Known keys, in the order encode writes them. */
enum { K_V, K_TYPE, K_ID, K_TS, K_CID, K_USER, K_CONN, K_EDGE, K_SEQ, K_DATA, K_COUNT };
static const char *const s_key_names[K_COUNT] = {
    "v", "type", "id", "ts", "correlation_id", "user_id", "conn_id", "edge", "seq", "data",
};
#define REQUIRED_KEYS ((1u << K_TYPE) | (1u << K_ID) | (1u << K_TS))

/* ---- Construction -------------------------------------------------------- */

/* Writes a random RFC 4122 version 4 UUID (36 chars + NUL). Returns 0 or -1. */
static int
s_uuid4(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];

    if (RAND_bytes(b, sizeof b) != 1)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 */
    for (int i = 0, o = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0x0f];
    }
    out[36] = '\0';
    return 0;
}

/* Unix time in milliseconds. */
static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Replaces *field with a copy of value (NULL clears). Returns 0 or -1. */
static int
s_set_str(char **field, const char *value)
{
    char *copy = NULL;
    if (value != NULL) {
        size_t n = strlen(value) + 1;
        copy = malloc(n);
        if (copy == NULL)
            return -1;
        memcpy(copy, value, n);
    }
    free(*field);
    *field = copy;
    return 0;
}

/* An envelope with every field empty. */
static hm_envelope_t *
s_alloc(void)
{
    hm_envelope_t *self = calloc(1, sizeof *self);
    if (self != NULL)
        self->seq = -1;
    return self;
}

hm_envelope_t *
hm_envelope_new(const char *type)
{
    char id[37];
    hm_envelope_t *self = s_alloc();
    if (self == NULL)
        return NULL;
    self->ts = s_now_ms();
    if (s_uuid4(id) != 0 || s_set_str(&self->id, id) != 0 || s_set_str(&self->type, type) != 0)
        hm_envelope_destroy(&self);
    return self;
}

void
hm_envelope_destroy(hm_envelope_t **self_p)
{
    assert(self_p);
    hm_envelope_t *self = *self_p;
    if (self == NULL)
        return;
    free(self->type);
    free(self->id);
    free(self->correlation_id);
    free(self->conn_id);
    free(self->edge);
    json_decref(self->data);
    free(self);
    *self_p = NULL;
}

hm_envelope_t *
hm_envelope_dup(const hm_envelope_t *self)
{
    if (self == NULL)
        return NULL;
    hm_envelope_t *copy = s_alloc();
    if (copy == NULL)
        return NULL;
    copy->ts = self->ts;
    copy->user_id = self->user_id;
    copy->seq = self->seq;
    if (s_set_str(&copy->type, self->type) != 0 || s_set_str(&copy->id, self->id) != 0 ||
        s_set_str(&copy->correlation_id, self->correlation_id) != 0 ||
        s_set_str(&copy->conn_id, self->conn_id) != 0 || s_set_str(&copy->edge, self->edge) != 0)
        goto err;
    if (self->data != NULL && (copy->data = json_deep_copy(self->data)) == NULL)
        goto err;
    return copy;
err:
    hm_envelope_destroy(&copy);
    return NULL;
}

int
hm_envelope_set_type(hm_envelope_t *self, const char *type)
{
    return s_set_str(&self->type, type);
}

int
hm_envelope_set_id(hm_envelope_t *self, const char *id)
{
    return s_set_str(&self->id, id);
}

int
hm_envelope_set_correlation_id(hm_envelope_t *self, const char *cid)
{
    return s_set_str(&self->correlation_id, cid);
}

int
hm_envelope_set_conn_id(hm_envelope_t *self, const char *conn_id)
{
    return s_set_str(&self->conn_id, conn_id);
}

int
hm_envelope_set_edge(hm_envelope_t *self, const char *edge)
{
    return s_set_str(&self->edge, edge);
}

/* A data that is not an object is refused (-1) and its reference released
 * all the same: the caller's reference is consumed either way. */
int
hm_envelope_set_data(hm_envelope_t *self, json_t *data)
{
    if (data != NULL && !json_is_object(data)) {
        json_decref(data);
        return -1;
    }
    json_decref(self->data);
    self->data = data;
    return 0;
}

/* ---- Encoding ------------------------------------------------------------ */

/* Checks an optional string field against the decoder's rules. */
static int
s_check_str(const char *s)
{
    if (s == NULL)
        return 0;
    size_t n = strlen(s);
    if (n >= HM_ENVELOPE_MAX_STR)
        return HM_ENV_E_LIMIT;
    return hm_utf8_valid(s, n) ? 0 : HM_ENV_E_TYPE;
}

/* Refuses what the decoder would refuse. */
static int
s_check(const hm_envelope_t *self)
{
    const char *strs[] = {self->type, self->id, self->correlation_id, self->conn_id, self->edge};

    if (self->type == NULL || self->id == NULL)
        return HM_ENV_E_MISSING;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        int rc = s_check_str(strs[i]);
        if (rc != 0)
            return rc;
    }
    if (self->user_id < 0)
        return HM_ENV_E_TYPE;
    if (self->data != NULL && !json_is_object(self->data))
        return HM_ENV_E_TYPE;
    return 0;
}

static int
s_pack_key(msgpack_packer *pk, int key)
{
    return msgpack_pack_str_with_body(pk, s_key_names[key], strlen(s_key_names[key]));
}

static int
s_pack_kstr(msgpack_packer *pk, int key, const char *value)
{
    return s_pack_key(pk, key) | msgpack_pack_str_with_body(pk, value, strlen(value));
}

static int
s_pack_kint(msgpack_packer *pk, int key, int64_t value)
{
    return s_pack_key(pk, key) | msgpack_pack_int64(pk, value);
}

/* Packs the map: v, type, id, ts, then the optional keys that are set. */
static int
s_pack_fields(const hm_envelope_t *self, msgpack_packer *pk)
{
    size_t n = 4 + (self->correlation_id != NULL) + (self->user_id != 0) + (self->conn_id != NULL) +
               (self->edge != NULL) + (self->seq >= 0) + (self->data != NULL);
    int err = msgpack_pack_map(pk, n);

    err |= s_pack_kint(pk, K_V, HM_ENVELOPE_VERSION);
    err |= s_pack_kstr(pk, K_TYPE, self->type);
    err |= s_pack_kstr(pk, K_ID, self->id);
    err |= s_pack_kint(pk, K_TS, self->ts);
    if (self->correlation_id != NULL)
        err |= s_pack_kstr(pk, K_CID, self->correlation_id);
    if (self->user_id != 0)
        err |= s_pack_kint(pk, K_USER, self->user_id);
    if (self->conn_id != NULL)
        err |= s_pack_kstr(pk, K_CONN, self->conn_id);
    if (self->edge != NULL)
        err |= s_pack_kstr(pk, K_EDGE, self->edge);
    if (self->seq >= 0)
        err |= s_pack_kint(pk, K_SEQ, self->seq);
    if (self->data != NULL)
        err |= s_pack_key(pk, K_DATA);
    if (err != 0)
        return HM_ENV_E_NOMEM;
    return self->data != NULL ? hm_json_pack(pk, self->data) : 0;
}

int
hm_envelope_encode(const hm_envelope_t *self, char **buf, size_t *len)
{
    msgpack_sbuffer sbuf;
    msgpack_packer pk;

    assert(self && buf && len);
    *buf = NULL;
    *len = 0;
    int rc = s_check(self);
    if (rc != 0)
        return rc;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    rc = s_pack_fields(self, &pk);
    if (rc == 0 && sbuf.size > HM_ENVELOPE_MAX_BYTES)
        rc = HM_ENV_E_LIMIT;
    if (rc != 0) {
        msgpack_sbuffer_destroy(&sbuf);
        return rc;
    }
    *len = sbuf.size;
    *buf = msgpack_sbuffer_release(&sbuf);
    return 0;
}

/* ---- Decoding ------------------------------------------------------------ */

/* Reads the top-level map header at p: sets *count, advances *off. */
static int
s_map_header(const unsigned char *p, size_t len, size_t *off, uint32_t *count)
{
    size_t n;
    if (p[0] >= 0x80 && p[0] <= 0x8f) {
        *count = p[0] & 0x0f;
        *off = 1;
        return 0;
    }
    if (p[0] == 0xde)
        n = 2;
    else if (p[0] == 0xdf)
        n = 4;
    else
        return HM_ENV_E_NOT_MAP;
    if (len < 1 + n)
        return HM_ENV_E_TRUNCATED;
    *count = 0;
    for (size_t i = 1; i <= n; i++)
        *count = (*count << 8) | p[i];
    *off = 1 + n;
    return 0;
}

/* The known key packed in p[0..n) (already scanned: exactly one value), or
 * -1 for any other key, string or not. */
static int
s_key_index(const unsigned char *p, size_t n)
{
    size_t hdr;
    if (p[0] >= 0xa0 && p[0] <= 0xbf)
        hdr = 1;
    else if (p[0] == 0xd9)
        hdr = 2;
    else if (p[0] == 0xda)
        hdr = 3;
    else if (p[0] == 0xdb)
        hdr = 5;
    else
        return -1;
    for (int k = 0; k < K_COUNT; k++)
        if (strlen(s_key_names[k]) == n - hdr && memcmp(p + hdr, s_key_names[k], n - hdr) == 0)
            return k;
    return -1;
}

/* Copies a str into *field; nil leaves it NULL unless required. */
static int
s_take_str(const msgpack_object *obj, char **field, int required)
{
    if (obj->type == MSGPACK_OBJECT_NIL && !required)
        return 0;
    if (obj->type != MSGPACK_OBJECT_STR)
        return HM_ENV_E_TYPE;
    const msgpack_object_str *s = &obj->via.str;
    if (s->size >= HM_ENVELOPE_MAX_STR)
        return HM_ENV_E_LIMIT;
    if ((s->size > 0 && memchr(s->ptr, '\0', s->size) != NULL) ||
        !hm_utf8_valid(s->ptr, s->size))
        return HM_ENV_E_TYPE;
    char *copy = malloc((size_t)s->size + 1);
    if (copy == NULL)
        return HM_ENV_E_NOMEM;
    if (s->size > 0)
        memcpy(copy, s->ptr, s->size);
    copy[s->size] = '\0';
    *field = copy;
    return 0;
}

/* Reads an int that fits int64_t and is >= min into *field; nil leaves it
 * unchanged unless required. */
static int
s_take_int(const msgpack_object *obj, int64_t *field, int64_t min, int required)
{
    int64_t v;
    if (obj->type == MSGPACK_OBJECT_NIL && !required)
        return 0;
    if (obj->type == MSGPACK_OBJECT_POSITIVE_INTEGER && obj->via.u64 <= INT64_MAX)
        v = (int64_t)obj->via.u64;
    else if (obj->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        v = obj->via.i64;
    else
        return HM_ENV_E_TYPE;
    if (v < min)
        return HM_ENV_E_TYPE;
    *field = v;
    return 0;
}

static int
s_take_version(const msgpack_object *obj)
{
    int64_t v = HM_ENVELOPE_VERSION;
    if (s_take_int(obj, &v, INT64_MIN, 0) != 0)
        return HM_ENV_E_TYPE;
    return v == HM_ENVELOPE_VERSION ? 0 : HM_ENV_E_VERSION;
}

/* Stores the value of known key into self. */
static int
s_take(hm_envelope_t *self, int key, const msgpack_object *obj)
{
    switch (key) {
    case K_V:
        return s_take_version(obj);
    case K_TYPE:
        return s_take_str(obj, &self->type, 1);
    case K_ID:
        return s_take_str(obj, &self->id, 1);
    case K_TS:
        return s_take_int(obj, &self->ts, INT64_MIN, 1);
    case K_CID:
        return s_take_str(obj, &self->correlation_id, 0);
    case K_USER:
        return s_take_int(obj, &self->user_id, 0, 0);
    case K_CONN:
        return s_take_str(obj, &self->conn_id, 0);
    case K_EDGE:
        return s_take_str(obj, &self->edge, 0);
    case K_SEQ:
        return s_take_int(obj, &self->seq, 0, 0);
    default: /* K_DATA */
        if (obj->type == MSGPACK_OBJECT_NIL)
            return 0;
        if (obj->type != MSGPACK_OBJECT_MAP)
            return HM_ENV_E_TYPE;
        return hm_json_from_msgpack(obj, &self->data);
    }
}

/* Decodes the key/value pair at buf[*off] and advances *off past it. *seen
 * has one bit per known key already read: a second one is HM_ENV_E_TYPE. */
static int
s_decode_entry(hm_envelope_t *self, const char *buf, size_t len, size_t *off, unsigned *seen,
               const char **lazy, size_t *lazy_len)
{
    size_t key_at = *off;
    int rc = hm_json__scan(buf, len, off);
    if (rc != 0)
        return rc;
    int key = s_key_index((const unsigned char *)buf + key_at, *off - key_at);
    size_t pos = *off;
    rc = hm_json__scan(buf, len, off);
    if (rc != 0 || key < 0)
        return rc;
    if (*seen & (1u << key))
        return HM_ENV_E_TYPE;
    *seen |= 1u << key;
    if (key == K_DATA && lazy) { /* left as msgpack: only its type is checked */
        unsigned char b = (unsigned char) buf[pos];
        if (b == 0xc0)
            return 0;
        if (!((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf))
            return HM_ENV_E_TYPE;
        *lazy = buf + pos;
        *lazy_len = *off - pos;
        return 0;
    }

    msgpack_unpacked result;
    msgpack_unpacked_init(&result);
    /* Bounded to the scanned extent: msgpack-c sees exactly one clean value,
     * so anything but success is an allocation failure. */
    if (msgpack_unpack_next(&result, buf, *off, &pos) == MSGPACK_UNPACK_SUCCESS)
        rc = s_take(self, key, &result.data);
    else
        rc = HM_ENV_E_NOMEM;
    msgpack_unpacked_destroy(&result);
    return rc;
}

static int
s_decode(const void *buf, size_t len, hm_envelope_t **out, const char **lazy, size_t *lazy_len)
{
    size_t off = 0;
    uint32_t count;
    unsigned seen = 0;

    assert(out);
    *out = NULL;
    if (len > HM_ENVELOPE_MAX_BYTES)
        return HM_ENV_E_LIMIT;
    if (buf == NULL || len == 0)
        return HM_ENV_E_TRUNCATED;
    int rc = s_map_header(buf, len, &off, &count);
    if (rc != 0)
        return rc;
    if ((uint64_t)count * 2 > len - off) /* each entry takes 2 bytes or more */
        return HM_ENV_E_TRUNCATED;
    hm_envelope_t *self = s_alloc();
    if (self == NULL)
        return HM_ENV_E_NOMEM;
    for (uint32_t i = 0; i < count && rc == 0; i++)
        rc = s_decode_entry(self, buf, len, &off, &seen, lazy, lazy_len);
    if (rc == 0 && off != len)
        rc = HM_ENV_E_NOT_MAP;
    if (rc == 0 && (seen & REQUIRED_KEYS) != REQUIRED_KEYS)
        rc = HM_ENV_E_MISSING;
    if (rc != 0) {
        hm_envelope_destroy(&self);
        return rc;
    }
    *out = self;
    return 0;
}

int
hm_envelope_decode(const void *buf, size_t len, hm_envelope_t **out)
{
    return s_decode(buf, len, out, NULL, NULL);
}

int
hm_envelope_decode_lazy(const void *buf, size_t len, hm_envelope_t **out, const char **data,
                        size_t *data_len)
{
    *data = NULL;
    *data_len = 0;
    int rc = s_decode(buf, len, out, data, data_len);
    if (rc != 0) {
        *data = NULL;
        *data_len = 0;
    }
    return rc;
}

const char *
hm_envelope_strerror(int err)
{
    switch (err) {
    case HM_ENV_OK:
        return "ok";
    case HM_ENV_E_TRUNCATED:
        return "truncated";
    case HM_ENV_E_NOT_MAP:
        return "not_map";
    case HM_ENV_E_MISSING:
        return "missing_key";
    case HM_ENV_E_TYPE:
        return "wrong_type";
    case HM_ENV_E_LIMIT:
        return "limit_exceeded";
    case HM_ENV_E_VERSION:
        return "bad_version";
    case HM_ENV_E_DATA:
        return "bad_data";
    case HM_ENV_E_NOMEM:
        return "no_memory";
    default:
        return "unknown_error";
    }
}
