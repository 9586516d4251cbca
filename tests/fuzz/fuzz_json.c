/*
 * fuzz_json.c - libFuzzer target for the JSON <-> msgpack conversion.
 *
 * 1. Arbitrary bytes as msgpack: whatever converts to JSON must convert back
 *    and forth to an equal value.
 * 2. The same bytes as JSON text (json_loadb, JSON_DECODE_ANY): whatever
 *    jansson parses must survive JSON -> msgpack -> JSON equal, unless it is
 *    nested deeper than HM_ENVELOPE_MAX_DEPTH.
 * 3. The same bytes through hm_json_text_from_msgpack (the edge's delivery
 *    path): the same verdict as 1, and when both succeed the text equals
 *    jansson's compact dump of 1's value.
 * Any broken promise aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_envelope.h"
#include "hm_json.h"
#include "hm_json_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* json -> msgpack -> json must give an equal value. A depth error is allowed
 * only when allow_limit is set. */
static void
s_check_round_trip(const json_t *json, int allow_limit)
{
    char *buf = NULL;
    size_t len = 0;
    json_t *back = NULL;

    int rc = hm_json_to_msgpack(json, &buf, &len);
    if (rc == HM_ENV_E_LIMIT && allow_limit)
        return;
    if (rc != HM_ENV_OK)
        abort();
    if (hm_json_from_msgpack_buf(buf, len, &back) != HM_ENV_OK || !json_equal(json, back))
        abort();
    json_decref(back);
    free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *json = NULL;
    json_error_t err;

    int rc = hm_json_from_msgpack_buf(data, size, &json);
    hm_text_t text = {0};
    int trc = hm_json_text_from_msgpack(&text, (const char *)data, size);
    if (trc != HM_JSON_TEXT_SLOW && (trc == 0) != (rc == HM_ENV_OK))
        abort();
    if (trc == 0) {
        char *dump = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!dump || strcmp(dump, text.buf) != 0)
            abort();
        free(dump);
    }
    free(text.buf);
    if (rc == HM_ENV_OK) {
        if (json == NULL)
            abort();
        s_check_round_trip(json, 0);
        json_decref(json);
    } else if (json != NULL || rc > 0) {
        abort();
    }

    json = json_loadb((const char *)data, size, JSON_DECODE_ANY, &err);
    if (json != NULL) {
        s_check_round_trip(json, 1);
        json_decref(json);
    }
    return 0;
}
