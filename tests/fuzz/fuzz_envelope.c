/*
 * fuzz_envelope.c - libFuzzer target for hm_envelope_decode.
 *
 * Decodes arbitrary bytes; whatever decodes must encode again, decode to the
 * same fields, and re-encode to the same bytes (encoding is deterministic).
 * The edge's path (hm_envelope_decode_lazy, then hm_json_text_from_msgpack on
 * the data) must accept exactly what hm_envelope_decode accepts, with the
 * same fields and jansson's text for the data.
 * Any broken promise aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_envelope.h"
#include "hm_json_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
s_str_eq(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

static void
s_check_same(const hm_envelope_t *a, const hm_envelope_t *b)
{
    if (!s_str_eq(a->type, b->type) || !s_str_eq(a->id, b->id) || a->ts != b->ts ||
        !s_str_eq(a->correlation_id, b->correlation_id) || a->user_id != b->user_id ||
        !s_str_eq(a->conn_id, b->conn_id) || !s_str_eq(a->edge, b->edge) || a->seq != b->seq)
        abort();
    if ((a->data == NULL) != (b->data == NULL))
        abort();
    if (a->data != NULL && !json_equal(a->data, b->data))
        abort();
}

/* The lazy decode and the text writer against the full decode (rc, env). */
static void
s_check_lazy(const uint8_t *data, size_t size, int rc, const hm_envelope_t *env)
{
    hm_envelope_t *lazy = NULL;
    const char *mp = NULL;
    size_t mplen = 0;
    int lrc = hm_envelope_decode_lazy(data, size, &lazy, &mp, &mplen);
    if (lrc != HM_ENV_OK) {
        if (rc == HM_ENV_OK || lazy != NULL) /* lazy checks less, never more */
            abort();
        return;
    }
    hm_text_t text = {0};
    int trc = mp ? hm_json_text_from_msgpack(&text, mp, mplen) : 0;
    if (trc != HM_JSON_TEXT_SLOW) {
        if ((rc == HM_ENV_OK) != (trc == 0))
            abort();
        if (rc == HM_ENV_OK) {
            if (lazy->data != NULL || (mp == NULL) != (env->data == NULL))
                abort();
            if (mp) {
                char *dump = json_dumps(env->data, JSON_COMPACT);
                if (!dump || strcmp(dump, text.buf) != 0)
                    abort();
                free(dump);
            }
            if (!s_str_eq(lazy->type, env->type) || lazy->seq != env->seq || lazy->ts != env->ts
                || lazy->user_id != env->user_id || !s_str_eq(lazy->id, env->id))
                abort();
        }
    }
    free(text.buf);
    hm_envelope_destroy(&lazy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hm_envelope_t *env = NULL, *back = NULL, *copy = NULL;
    char *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;

    int rc = hm_envelope_decode(data, size, &env);
    if (hm_envelope_strerror(rc) == NULL)
        abort();
    s_check_lazy(data, size, rc, env);
    if (rc != HM_ENV_OK) {
        if (env != NULL || rc > 0)
            abort();
        return 0;
    }
    rc = hm_envelope_encode(env, &buf, &len);
    if (rc == HM_ENV_E_LIMIT && size > HM_ENVELOPE_MAX_BYTES / 2) {
        /* float32 widened to float64 can grow a large input past the limit */
        hm_envelope_destroy(&env);
        return 0;
    }
    if (rc != HM_ENV_OK || hm_envelope_decode(buf, len, &back) != HM_ENV_OK)
        abort();
    s_check_same(env, back);
    if (hm_envelope_encode(back, &buf2, &len2) != HM_ENV_OK || len2 != len ||
        memcmp(buf, buf2, len) != 0)
        abort();
    copy = hm_envelope_dup(env);
    if (copy == NULL)
        abort();
    s_check_same(env, copy);
    free(buf);
    free(buf2);
    hm_envelope_destroy(&copy);
    hm_envelope_destroy(&back);
    hm_envelope_destroy(&env);
    return 0;
}
