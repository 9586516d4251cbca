/*
 * fuzz_client_msg.c - libFuzzer target for the edge's client message parser
 * (services/edge/edge_msg.c): arbitrary bytes as one WebSocket text frame.
 *
 * Every input is parsed and then cleared, parsed or not (ASan's leak check
 * judges the clear). A parsed message must keep the promises of edge_msg.h:
 * a type, a kind that matches it, tokens within EDGE_MSG_TOKEN_MAX, a known
 * channel and rate, and for forwarded messages a service, a verb and an object to
 * send. A refused one must carry a known error code and a message. Any broken
 * promise aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge_msg.h"
#include "hm_json.h"
#include "hm_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with the broken promise when cond is false. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_client_msg: broken promise: %s (line %d)\n", #cond, __LINE__);   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The codes edge_msg_parse may answer with (SPEC.md section 5). */
static const char *s_codes[] = {
    HM_ERR_INVALID_UTF8,  HM_ERR_INVALID_JSON, HM_ERR_NOT_OBJECT,          HM_ERR_MISSING_FIELD,
    HM_ERR_INVALID_FIELD, HM_ERR_UNKNOWN_TYPE, HM_ERR_INVALID_SUBSCRIPTION};

/* True when s is one of the stable error codes above. */
static int
s_known_code(const char *s)
{
    for (size_t i = 0; i < sizeof(s_codes) / sizeof(s_codes[0]); i++)
        if (s && strcmp(s, s_codes[i]) == 0)
            return 1;
    return 0;
}

/* A correlation id is absent, or a 1..255 byte string borrowed from root. */
static void
s_check_cid(const edge_msg_t *m)
{
    if (!m->correlation_id)
        return;
    size_t n = strlen(m->correlation_id);
    REQUIRE(n > 0 && n < HM_ENVELOPE_MAX_STR);
    REQUIRE(m->root);
    REQUIRE(m->correlation_id == json_string_value(json_object_get(m->root, "correlation_id")));
}

/* A token is a non-empty string of at most EDGE_MSG_TOKEN_MAX bytes. */
static void
s_check_token(const edge_msg_t *m)
{
    REQUIRE(m->token != NULL);
    size_t n = strlen(m->token);
    REQUIRE(n > 0 && n <= EDGE_MSG_TOKEN_MAX);
}

/* The promises of a parsed message, kind by kind. */
static void
s_check_parsed(const edge_msg_t *m)
{
    REQUIRE(json_is_object(m->root));
    REQUIRE(m->type != NULL);
    REQUIRE(m->type == json_string_value(json_object_get(m->root, "type")));
    s_check_cid(m);
    switch (m->kind) {
    case EDGE_MSG_AUTHENTICATE:
    case EDGE_MSG_REFRESH_TOKEN:
        REQUIRE(strcmp(m->type, m->kind == EDGE_MSG_AUTHENTICATE ? HM_MSG_AUTHENTICATE
                                                                 : HM_MSG_REFRESH_TOKEN) == 0);
        s_check_token(m);
        break;
    case EDGE_MSG_SUBSCRIBE:
    case EDGE_MSG_UNSUBSCRIBE:
        REQUIRE(strcmp(m->type,
                       m->kind == EDGE_MSG_SUBSCRIBE ? HM_MSG_SUBSCRIBE : HM_MSG_UNSUBSCRIBE) == 0);
        REQUIRE(m->channel < EDGE_CH_COUNT);
        REQUIRE(edge_channel_parse(edge_channel_name(m->channel)) == (int)m->channel);
        REQUIRE(m->since_seq >= -1 && m->target_user >= 0);
        REQUIRE(m->max_rate >= 0 && m->max_rate <= 1000);
        break;
    case EDGE_MSG_HEARTBEAT:
        REQUIRE(strcmp(m->type, HM_MSG_HEARTBEAT) == 0 || strcmp(m->type, "ping") == 0);
        break;
    case EDGE_MSG_FORWARD:
        REQUIRE(m->service && m->service[0] && m->verb && m->verb[0]);
        REQUIRE(m->forward_ch < EDGE_CH_COUNT);
        REQUIRE(json_is_object(m->data));
        REQUIRE(m->token == NULL);
        break;
    default:
        REQUIRE(!"an unknown kind");
    }
    if (m->kind != EDGE_MSG_FORWARD)
        REQUIRE(m->data == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    edge_msg_t m;
    const char *code = NULL;
    char why[128];
    why[0] = '\0';

    int rc = edge_msg_parse((const char *)data, size, &m, &code, why, sizeof(why));
    if (rc == 0) {
        s_check_parsed(&m);
    } else {
        REQUIRE(rc == -1);
        REQUIRE(s_known_code(code));
        REQUIRE(why[0] != '\0' && memchr(why, '\0', sizeof(why)) != NULL);
        REQUIRE(m.data == NULL);
        s_check_cid(&m);
    }
    /* invalid_utf8 exactly when the frame is not UTF-8 */
    REQUIRE(hm_utf8_valid((const char *)data, size) ==
            !(rc != 0 && strcmp(code, HM_ERR_INVALID_UTF8) == 0));
    edge_msg_clear(&m);
    REQUIRE(m.root == NULL && m.data == NULL && m.type == NULL && m.since_seq == -1);
    return 0;
}
