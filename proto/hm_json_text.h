/*
 * hm_json_text.h - JSON text straight from msgpack bytes, for the edge's
 * delivery path: no jansson tree in between.
 *
 * The text is byte for byte what hm_json_from_msgpack() followed by
 * json_dumps(JSON_COMPACT) gives for the same value (keys in map order,
 * reals as "%.17g" with ".0" added when needed, jansson's escapes), and
 * the same inputs are refused (invalid UTF-8, duplicate or NUL-holding
 * keys, integers above INT64_MAX, NaN and infinities, bin and ext, more
 * than HM_ENVELOPE_MAX_DEPTH levels). tests/unit/test_json_text.c and the
 * json fuzz target compare the two.
 */
#ifndef HM_JSON_TEXT_H
#define HM_JSON_TEXT_H

#include <stddef.h>

/* A growable text buffer. Start zeroed; free(buf) when done. */
typedef struct {
    char *buf;  /* NUL-terminated after every append; owned */
    size_t len; /* bytes used, without the NUL */
    size_t cap; /* bytes allocated */
} hm_text_t;

/* Appends n bytes. Returns 0, or -1 on allocation failure. */
int hm_text_append(hm_text_t *t, const char *s, size_t n);

/* Appends s[0..n) as a quoted JSON string. Returns 0, HM_ENV_E_DATA when s
 * is not valid UTF-8, or HM_ENV_E_NOMEM. */
int hm_text_string(hm_text_t *t, const char *s, size_t n);

/* Appends the JSON text of the one msgpack value that spans buf[0..len).
 * Returns 0; HM_ENV_E_DATA or HM_ENV_E_LIMIT for what hm_json refuses;
 * HM_ENV_E_TRUNCATED when the bytes end early or go on after the value;
 * HM_ENV_E_NOMEM; or HM_JSON_TEXT_SLOW for a map too large to check for
 * duplicate keys cheaply (more than HM_JSON_TEXT_MAP_MAX entries): convert
 * those with hm_json. t->len is restored on any failure. */
#define HM_JSON_TEXT_SLOW 1
#define HM_JSON_TEXT_MAP_MAX 64
int hm_json_text_from_msgpack(hm_text_t *t, const char *buf, size_t len);

/* Finds key in the msgpack map spanning buf[0..len) and returns its value
 * when that is a str: *val and *vlen point into buf. Returns 0 when found,
 * -1 otherwise (not a map, no such key, not a str, malformed). */
int hm_msgpack_map_str(const char *buf, size_t len, const char *key, const char **val,
                       size_t *vlen);

#endif /* HM_JSON_TEXT_H */
