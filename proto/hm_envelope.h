/*
 * hm_envelope.h - the bus envelope codec: the only code that packs or unpacks
 * msgpack (with hm_json.h beside it).
 *
 * An envelope is one msgpack map:
 *   v (int, optional, must be HM_ENVELOPE_VERSION when present),
 *   type (str, required), id (str, required), ts (int unix ms, required),
 *   correlation_id (str|nil), user_id (int|nil), conn_id (str|nil),
 *   edge (str|nil), seq (int|nil), data (map|nil).
 * Unknown keys are ignored. A required key that is missing, or any known key
 * with the wrong type, is an error. Decoding never trusts lengths from the
 * input: the whole buffer is bounded by HM_ENVELOPE_MAX_BYTES and nesting by
 * HM_ENVELOPE_MAX_DEPTH.
 */
#ifndef HM_ENVELOPE_H
#define HM_ENVELOPE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_proto.h"

typedef struct {
    char *type;           /* message type or request verb; owned */
    char *id;             /* unique message id (UUID); owned */
    int64_t ts;           /* unix milliseconds */
    char *correlation_id; /* client's correlation id or NULL; owned */
    int64_t user_id;      /* authenticated user, 0 when none */
    char *conn_id;        /* edge connection id or NULL; owned */
    char *edge;           /* edge id or NULL; owned */
    int64_t seq;          /* per-stream sequence, -1 when none */
    json_t *data;         /* JSON object or NULL; owned (one reference) */
} hm_envelope_t;

typedef enum {
    HM_ENV_OK = 0,
    HM_ENV_E_TRUNCATED = -1, /* input ends inside a value */
    HM_ENV_E_NOT_MAP = -2,   /* top level is not a map */
    HM_ENV_E_MISSING = -3,   /* a required key is missing */
    HM_ENV_E_TYPE = -4,      /* a known key has the wrong type */
    HM_ENV_E_LIMIT = -5,     /* size, depth or string bound exceeded */
    HM_ENV_E_VERSION = -6,   /* v is present and not HM_ENVELOPE_VERSION */
    HM_ENV_E_DATA = -7,      /* data holds something JSON cannot express */
    HM_ENV_E_NOMEM = -8,
} hm_env_err_t;

/* Creates an envelope with type, a fresh id and the current time; other
 * fields empty (user_id 0, seq -1). Returns NULL on allocation failure. */
hm_envelope_t *hm_envelope_new(const char *type);

/* Frees an envelope and all it owns; NULL-safe, sets *self_p to NULL. */
void hm_envelope_destroy(hm_envelope_t **self_p);

/* Deep copy; caller owns. NULL on allocation failure. */
hm_envelope_t *hm_envelope_dup(const hm_envelope_t *self);

/* Setters copy the string (NULL clears). Return 0 or -1. */
int hm_envelope_set_type(hm_envelope_t *self, const char *type);
int hm_envelope_set_id(hm_envelope_t *self, const char *id);
int hm_envelope_set_correlation_id(hm_envelope_t *self, const char *cid);
int hm_envelope_set_conn_id(hm_envelope_t *self, const char *conn_id);
int hm_envelope_set_edge(hm_envelope_t *self, const char *edge);
/* Takes the caller's reference to data (which must be an object or NULL).
 * Anything else returns -1 and the reference is released all the same. */
int hm_envelope_set_data(hm_envelope_t *self, json_t *data);

/* Packs into a newly allocated buffer; caller owns *buf (free()).
 * Returns 0 or a negative hm_env_err_t. */
int hm_envelope_encode(const hm_envelope_t *self, char **buf, size_t *len);

/* Unpacks buf. On success *out is a new envelope (caller owns) and 0 is
 * returned; otherwise a negative hm_env_err_t and *out is NULL. */
int hm_envelope_decode(const void *buf, size_t len, hm_envelope_t **out);

/* As hm_envelope_decode, but data is left as msgpack (for the edge's
 * delivery path): self->data stays NULL and *data, *data_len give the data
 * map inside buf (valid while buf is; NULL, 0 when absent or nil). Only
 * the map's structure is checked here: hm_json_text_from_msgpack (or
 * hm_json_from_msgpack_buf) refuses what hm_envelope_decode would. */
int hm_envelope_decode_lazy(const void *buf, size_t len, hm_envelope_t **out, const char **data,
                            size_t *data_len);

/* A short stable name for an error code ("truncated", "missing_key", ...). */
const char *hm_envelope_strerror(int err);

#endif /* HM_ENVELOPE_H */
