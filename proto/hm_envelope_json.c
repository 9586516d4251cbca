/*
 * hm_envelope_json.c - envelope <-> JSON object.
 */
#include "hm_envelope_json.h"

#include <stdio.h>
#include <string.h>

json_t *
hm_envelope_to_json(const hm_envelope_t *env)
{
    json_t *j = json_object();
    if (!j)
        return NULL;
    json_object_set_new(j, "type", json_string(env->type ? env->type : ""));
    if (env->id)
        json_object_set_new(j, "id", json_string(env->id));
    json_object_set_new(j, "ts", json_integer(env->ts));
    if (env->correlation_id)
        json_object_set_new(j, "correlation_id", json_string(env->correlation_id));
    if (env->user_id)
        json_object_set_new(j, "user_id", json_integer(env->user_id));
    if (env->conn_id)
        json_object_set_new(j, "conn_id", json_string(env->conn_id));
    if (env->edge)
        json_object_set_new(j, "edge", json_string(env->edge));
    if (env->seq >= 0)
        json_object_set_new(j, "seq", json_integer(env->seq));
    if (env->data)
        json_object_set(j, "data", env->data);
    return j;
}

/* Copies an optional string field through setter. Returns 0 or -1. */
static int
s_str(const json_t *v, const char *key, hm_envelope_t *env,
      int (*setter)(hm_envelope_t *, const char *), char *err, size_t errlen)
{
    if (json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0
        || json_string_length(v) >= HM_ENVELOPE_MAX_STR) {
        snprintf(err, errlen, "'%s' must be a non-empty string under %d bytes", key,
                 HM_ENVELOPE_MAX_STR);
        return -1;
    }
    return setter(env, json_string_value(v));
}

/* Reads an optional integer field with a lower bound. Returns 0 or -1. */
static int
s_int(const json_t *v, const char *key, json_int_t min, int64_t *out, char *err, size_t errlen)
{
    if (json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min) {
        snprintf(err, errlen, "'%s' must be an integer >= %lld", key, (long long) min);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

/* Applies one key of the JSON object to env. Returns 0 or -1. */
static int
s_apply(hm_envelope_t *env, const char *key, json_t *v, char *err, size_t errlen)
{
    if (strcmp(key, "type") == 0)
        return s_str(v, key, env, hm_envelope_set_type, err, errlen);
    if (strcmp(key, "id") == 0)
        return s_str(v, key, env, hm_envelope_set_id, err, errlen);
    if (strcmp(key, "correlation_id") == 0)
        return s_str(v, key, env, hm_envelope_set_correlation_id, err, errlen);
    if (strcmp(key, "conn_id") == 0)
        return s_str(v, key, env, hm_envelope_set_conn_id, err, errlen);
    if (strcmp(key, "edge") == 0)
        return s_str(v, key, env, hm_envelope_set_edge, err, errlen);
    if (strcmp(key, "ts") == 0)
        return s_int(v, key, 0, &env->ts, err, errlen);
    if (strcmp(key, "user_id") == 0)
        return s_int(v, key, 0, &env->user_id, err, errlen);
    if (strcmp(key, "seq") == 0)
        return s_int(v, key, 0, &env->seq, err, errlen);
    if (strcmp(key, "data") == 0) {
        if (json_is_null(v))
            return 0;
        if (!json_is_object(v)) {
            snprintf(err, errlen, "'data' must be an object");
            return -1;
        }
        return hm_envelope_set_data(env, json_deep_copy(v));
    }
    if (strcmp(key, "v") == 0 && json_is_integer(v) && json_integer_value(v) == HM_ENVELOPE_VERSION)
        return 0;
    snprintf(err, errlen, "unknown key '%.64s'", key);
    return -1;
}

int
hm_envelope_from_json(const json_t *json, hm_envelope_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!json_is_object(json)) {
        snprintf(err, errlen, "an envelope must be a JSON object");
        return -1;
    }
    const json_t *type = json_object_get(json, "type");
    if (!json_is_string(type)) {
        snprintf(err, errlen, "'type' (a string) is required");
        return -1;
    }
    hm_envelope_t *env = hm_envelope_new(json_string_value(type));
    if (!env) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *) json, key, v)
    {
        if (s_apply(env, key, v, err, errlen) != 0) {
            hm_envelope_destroy(&env);
            return -1;
        }
    }
    *out = env;
    return 0;
}
