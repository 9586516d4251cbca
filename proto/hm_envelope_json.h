/*
 * hm_envelope_json.h - an envelope as a JSON object and back (hm-bus, logs of
 * shapes, tests). The JSON form has the envelope's keys: type, id, ts,
 * correlation_id, user_id, conn_id, edge, seq, data.
 */
#ifndef HM_ENVELOPE_JSON_H
#define HM_ENVELOPE_JSON_H

#include <jansson.h>

#include "hm_envelope.h"

/* The envelope as a new JSON object (caller owns); absent fields are left
 * out. NULL on allocation failure. */
json_t *hm_envelope_to_json(const hm_envelope_t *env);

/* Builds an envelope from a JSON object. "type" is required; "id" and "ts"
 * are filled in (fresh UUID, now) when absent; every other key must be one
 * of the envelope's, with its type. Returns 0 and *out (caller owns), or -1
 * with a one-line reason in err (errlen bytes). */
int hm_envelope_from_json(const json_t *json, hm_envelope_t **out, char *err, size_t errlen);

#endif /* HM_ENVELOPE_JSON_H */
