/*
 * hm_json_text.c - JSON text straight from msgpack bytes (see the header for
 * the contract: the same text and the same refusals as hm_json + jansson).
 *
 * The walker reads the msgpack format itself, checking every length against
 * the bytes left before using it, so it allocates nothing but the output.
 */
#include "hm_json_text.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_envelope.h"
#include "hm_json.h"
#include "hm_proto.h"

int
hm_text_append(hm_text_t *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b)
            return -1;
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
    return 0;
}

int
hm_text_string(hm_text_t *t, const char *s, size_t n)
{
    if (!hm_utf8_valid(s, n))
        return HM_ENV_E_DATA;
    if (hm_text_append(t, "\"", 1) != 0)
        return HM_ENV_E_NOMEM;
    size_t run = 0; /* bytes copied as they are, pending */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char) s[i];
        char esc[8];
        const char *rep = NULL;
        size_t rlen = 2;
        switch (ch) {
        case '"': rep = "\\\""; break;
        case '\\': rep = "\\\\"; break;
        case '\b': rep = "\\b"; break;
        case '\f': rep = "\\f"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        case '\t': rep = "\\t"; break;
        default:
            if (ch < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04X", ch);
                rep = esc;
                rlen = 6;
            }
        }
        if (!rep) {
            run++;
            continue;
        }
        if (hm_text_append(t, s + i - run, run) != 0 || hm_text_append(t, rep, rlen) != 0)
            return HM_ENV_E_NOMEM;
        run = 0;
    }
    if (hm_text_append(t, s + n - run, run) != 0 || hm_text_append(t, "\"", 1) != 0)
        return HM_ENV_E_NOMEM;
    return 0;
}

/* ---- the walker ---------------------------------------------------------- */

typedef struct {
    const unsigned char *p; /* next byte */
    const unsigned char *end;
    hm_text_t *out;
} s_walk_t;

static int
s_need(s_walk_t *w, size_t n)
{
    return (size_t) (w->end - w->p) >= n ? 0 : HM_ENV_E_TRUNCATED;
}

static uint64_t
s_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads a big-endian unsigned of n bytes. */
static int
s_uint(s_walk_t *w, int n, uint64_t *v)
{
    if (s_need(w, (size_t) n) != 0)
        return HM_ENV_E_TRUNCATED;
    *v = s_be(w->p, n);
    w->p += n;
    return 0;
}

static int
s_int_text(s_walk_t *w, long long v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", v);
    return hm_text_append(w->out, b, (size_t) n) == 0 ? 0 : HM_ENV_E_NOMEM;
}

/* A real as jansson prints it: %.17g, ".0" when it would read as an
 * integer, no '+' and no leading zeros in the exponent. */
static int
s_real_text(s_walk_t *w, double v)
{
    if (!isfinite(v))
        return HM_ENV_E_DATA;
    char b[48];
    int n = snprintf(b, sizeof b, "%.17g", v);
    if (n < 0 || (size_t) n >= sizeof b - 3)
        return HM_ENV_E_DATA;
    if (!strchr(b, '.') && !strchr(b, 'e')) {
        memcpy(b + n, ".0", 3);
        n += 2;
    }
    char *e = strchr(b, 'e');
    if (e) {
        char *start = e + 1, *end = e + 2;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, (size_t) (b + n - end) + 1);
            n -= (int) (end - start);
        }
    }
    return hm_text_append(w->out, b, (size_t) n) == 0 ? 0 : HM_ENV_E_NOMEM;
}

/* A str of the given header; the bytes follow at w->p. */
static int
s_str_len(s_walk_t *w, unsigned char b, size_t *n)
{
    uint64_t v = 0;
    int rc = 0;
    if (b >= 0xa0 && b <= 0xbf)
        v = b & 0x1f;
    else
        rc = s_uint(w, b == 0xd9 ? 1 : b == 0xda ? 2 : 4, &v);
    if (rc == 0 && s_need(w, (size_t) v) != 0)
        rc = HM_ENV_E_TRUNCATED;
    *n = (size_t) v;
    return rc;
}

static int s_value(s_walk_t *w, int depth);

static int
s_array(s_walk_t *w, uint64_t count, int depth)
{
    if (count > (uint64_t) (w->end - w->p)) /* each item takes a byte or more */
        return HM_ENV_E_TRUNCATED;
    if (hm_text_append(w->out, "[", 1) != 0)
        return HM_ENV_E_NOMEM;
    for (uint64_t i = 0; i < count; i++) {
        if (i && hm_text_append(w->out, ",", 1) != 0)
            return HM_ENV_E_NOMEM;
        int rc = s_value(w, depth);
        if (rc != 0)
            return rc;
    }
    return hm_text_append(w->out, "]", 1) == 0 ? 0 : HM_ENV_E_NOMEM;
}

static int
s_map(s_walk_t *w, uint64_t count, int depth)
{
    if (count > HM_JSON_TEXT_MAP_MAX)
        return HM_JSON_TEXT_SLOW;
    if (count * 2 > (uint64_t) (w->end - w->p))
        return HM_ENV_E_TRUNCATED;
    struct {
        const char *s;
        size_t n;
    } keys[HM_JSON_TEXT_MAP_MAX];
    if (hm_text_append(w->out, "{", 1) != 0)
        return HM_ENV_E_NOMEM;
    for (uint64_t i = 0; i < count; i++) {
        if (s_need(w, 1) != 0)
            return HM_ENV_E_TRUNCATED;
        unsigned char b = *w->p++;
        if (!((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb)))
            return HM_ENV_E_DATA; /* keys are strings */
        size_t n;
        int rc = s_str_len(w, b, &n);
        if (rc != 0)
            return rc;
        const char *k = (const char *) w->p;
        if (memchr(k, '\0', n))
            return HM_ENV_E_DATA;
        for (uint64_t j = 0; j < i; j++)
            if (keys[j].n == n && memcmp(keys[j].s, k, n) == 0)
                return HM_ENV_E_DATA;
        keys[i].s = k;
        keys[i].n = n;
        w->p += n;
        if ((i && hm_text_append(w->out, ",", 1) != 0))
            return HM_ENV_E_NOMEM;
        if ((rc = hm_text_string(w->out, k, n)) != 0)
            return rc;
        if (hm_text_append(w->out, ":", 1) != 0)
            return HM_ENV_E_NOMEM;
        if ((rc = s_value(w, depth)) != 0)
            return rc;
    }
    return hm_text_append(w->out, "}", 1) == 0 ? 0 : HM_ENV_E_NOMEM;
}

/* One value; depth counts the containers around it (as in hm_json). */
static int
s_value(s_walk_t *w, int depth)
{
    if (s_need(w, 1) != 0)
        return HM_ENV_E_TRUNCATED;
    unsigned char b = *w->p++;
    uint64_t v;
    int rc;
    if (b <= 0x7f)
        return s_int_text(w, b);
    if (b >= 0xe0)
        return s_int_text(w, (int8_t) b);
    if ((b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf)) {
        if (depth >= HM_ENVELOPE_MAX_DEPTH)
            return HM_ENV_E_LIMIT;
        bool map = (b >= 0x80 && b <= 0x8f) || b >= 0xde;
        if (b <= 0x9f)
            v = b & 0x0f;
        else if ((rc = s_uint(w, (b == 0xdc || b == 0xde) ? 2 : 4, &v)) != 0)
            return rc;
        return map ? s_map(w, v, depth + 1) : s_array(w, v, depth + 1);
    }
    if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb)) {
        size_t n;
        if ((rc = s_str_len(w, b, &n)) != 0)
            return rc;
        rc = hm_text_string(w->out, (const char *) w->p, n);
        w->p += n;
        return rc;
    }
    switch (b) {
    case 0xc0:
        return hm_text_append(w->out, "null", 4) == 0 ? 0 : HM_ENV_E_NOMEM;
    case 0xc2:
        return hm_text_append(w->out, "false", 5) == 0 ? 0 : HM_ENV_E_NOMEM;
    case 0xc3:
        return hm_text_append(w->out, "true", 4) == 0 ? 0 : HM_ENV_E_NOMEM;
    case 0xca: {
        if ((rc = s_uint(w, 4, &v)) != 0)
            return rc;
        uint32_t u = (uint32_t) v;
        float f;
        memcpy(&f, &u, sizeof f);
        return s_real_text(w, (double) f);
    }
    case 0xcb: {
        if ((rc = s_uint(w, 8, &v)) != 0)
            return rc;
        double d;
        memcpy(&d, &v, sizeof d);
        return s_real_text(w, d);
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        if ((rc = s_uint(w, 1 << (b - 0xcc), &v)) != 0)
            return rc;
        return v > INT64_MAX ? HM_ENV_E_DATA : s_int_text(w, (long long) v);
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        int n = 1 << (b - 0xd0);
        if ((rc = s_uint(w, n, &v)) != 0)
            return rc;
        if (n < 8 && (v >> (8 * n - 1)) & 1) /* sign-extend */
            v |= ~(uint64_t) 0 << (8 * n);
        return s_int_text(w, (long long) (int64_t) v);
    }
    default: /* 0xc1 (never used), bin, ext */
        return HM_ENV_E_DATA;
    }
}

int
hm_json_text_from_msgpack(hm_text_t *t, const char *buf, size_t len)
{
    if (!buf || len == 0)
        return HM_ENV_E_TRUNCATED;
    size_t mark = t->len;
    s_walk_t w = {(const unsigned char *) buf, (const unsigned char *) buf + len, t};
    int rc = s_value(&w, 0);
    if (rc == 0 && w.p != w.end)
        rc = HM_ENV_E_TRUNCATED;
    if (rc != 0 && t->buf) {
        t->len = mark;
        t->buf[mark] = '\0';
    }
    return rc;
}

/* Skips one value without writing it (for the key lookup). */
static int
s_skip(s_walk_t *w, int depth)
{
    hm_text_t scratch = {0};
    hm_text_t *out = w->out;
    w->out = &scratch;
    int rc = s_value(w, depth);
    w->out = out;
    free(scratch.buf);
    return rc;
}

int
hm_msgpack_map_str(const char *buf, size_t len, const char *key, const char **val, size_t *vlen)
{
    s_walk_t w = {(const unsigned char *) buf, (const unsigned char *) buf + len, NULL};
    if (!buf || len == 0)
        return -1;
    unsigned char b = *w.p++;
    uint64_t count;
    if (b >= 0x80 && b <= 0x8f)
        count = b & 0x0f;
    else if (b == 0xde || b == 0xdf) {
        if (s_uint(&w, b == 0xde ? 2 : 4, &count) != 0)
            return -1;
    } else
        return -1;
    size_t klen = strlen(key);
    for (uint64_t i = 0; i < count; i++) {
        if (s_need(&w, 1) != 0)
            return -1;
        unsigned char kb = *w.p++;
        if (!((kb >= 0xa0 && kb <= 0xbf) || (kb >= 0xd9 && kb <= 0xdb)))
            return -1;
        size_t n;
        if (s_str_len(&w, kb, &n) != 0)
            return -1;
        bool hit = n == klen && memcmp(w.p, key, n) == 0;
        w.p += n;
        if (hit) {
            if (s_need(&w, 1) != 0)
                return -1;
            unsigned char vb = *w.p++;
            if (!((vb >= 0xa0 && vb <= 0xbf) || (vb >= 0xd9 && vb <= 0xdb)))
                return -1;
            if (s_str_len(&w, vb, vlen) != 0)
                return -1;
            *val = (const char *) w.p;
            return 0;
        }
        if (s_skip(&w, 1) != 0)
            return -1;
    }
    return -1;
}
