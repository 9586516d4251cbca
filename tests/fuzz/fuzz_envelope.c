/*
 * fuzz_envelope.c - libFuzzer target for hm_envelope_decode.
 *
 * Decodes arbitrary bytes; whatever decodes must encode again, decode to the
 * same fields, and re-encode to the same bytes (encoding is deterministic).
 * Any broken promise aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_envelope.h"

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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hm_envelope_t *env = NULL, *back = NULL, *copy = NULL;
    char *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;

    int rc = hm_envelope_decode(data, size, &env);
    if (hm_envelope_strerror(rc) == NULL)
        abort();
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
