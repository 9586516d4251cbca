/*
 * hm_json.h - lossless conversion between JSON values (jansson) and msgpack.
 *
 * JSON's types map one to one: object <-> map (string keys only), array <->
 * array, string <-> str (valid UTF-8), integer <-> int (signed 64-bit;
 * msgpack uint above INT64_MAX is an error), real <-> float64 (float32 is
 * widened), true/false <-> bool, null <-> nil. msgpack bin, ext, non-string
 * map keys, invalid UTF-8, NaN/Inf and nesting deeper than
 * HM_ENVELOPE_MAX_DEPTH cannot convert and are errors.
 *
 * The msgpack side uses msgpack-c's public types so that hm_envelope.c can
 * embed a JSON object as one value of the envelope map.
 */
#ifndef HM_JSON_H
#define HM_JSON_H

#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>

/* Appends json to the packer. Returns 0, or a negative hm_env_err_t
 * (HM_ENV_E_DATA for a value that cannot convert, HM_ENV_E_LIMIT for depth). */
int hm_json_pack(msgpack_packer *pk, const json_t *json);

/* Converts one unpacked msgpack object to a new JSON value (caller owns,
 * json_decref). Returns 0 and sets *out, or a negative hm_env_err_t. */
int hm_json_from_msgpack(const msgpack_object *obj, json_t **out);

/* Convenience: whole buffers. hm_json_to_msgpack: caller owns *buf (free()).
 * hm_json_from_msgpack_buf: bounded by HM_ENVELOPE_MAX_BYTES; trailing bytes
 * after the first value are an error. Both return 0 or a negative
 * hm_env_err_t. */
int hm_json_to_msgpack(const json_t *json, char **buf, size_t *len);
int hm_json_from_msgpack_buf(const void *buf, size_t len, json_t **out);

/* Returns 1 when s[0..len) is well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), else 0. s may be NULL when
 * len is 0. */
int hm_utf8_valid(const char *s, size_t len);

#endif /* HM_JSON_H */
