/*
 * edge_msg.c - client message parser and validator.
 */
#include "edge_msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_json.h"
#include "hm_proto.h"

/* Client message types forwarded to a channel service. */
static const struct {
    const char *type;
    const char *service;
    const char *verb;
    edge_channel_t ch;
} s_forward[] = {
    {HM_MSG_HEALTH_UPDATE, HM_SVC_HEALTH, HM_VERB_HEALTH_READING, EDGE_CH_HEALTH},
    {HM_MSG_HEALTH_SYNC, HM_SVC_HEALTH, HM_VERB_HEALTH_SYNC, EDGE_CH_HEALTH},
    {"set_threshold", HM_SVC_HEALTH, HM_VERB_HEALTH_THRESHOLD, EDGE_CH_HEALTH},
    {HM_MSG_CHAT_MESSAGE, HM_SVC_CHAT, HM_VERB_CHAT_SEND, EDGE_CH_CHAT},
    {HM_MSG_TYPING, HM_SVC_CHAT, HM_VERB_CHAT_TYPING, EDGE_CH_CHAT},
    {HM_MSG_CHAT_HISTORY, HM_SVC_CHAT, HM_VERB_CHAT_HISTORY, EDGE_CH_CHAT},
    {HM_MSG_ACK, HM_SVC_NOTIFY, HM_VERB_NOTIFY_ACK, EDGE_CH_NOTIFY},
    {HM_MSG_GET_PREFERENCES, HM_SVC_NOTIFY, HM_VERB_NOTIFY_PREFS_GET, EDGE_CH_NOTIFY},
    {HM_MSG_UPDATE_PREFERENCES, HM_SVC_NOTIFY, HM_VERB_NOTIFY_PREFS_SET, EDGE_CH_NOTIFY},
    {HM_MSG_LIST_NOTIFICATIONS, HM_SVC_NOTIFY, HM_VERB_NOTIFY_LIST, EDGE_CH_NOTIFY},
    {HM_MSG_MARK_READ, HM_SVC_NOTIFY, "notify.mark_read", EDGE_CH_NOTIFY},
    {HM_MSG_REMINDER_CREATE, HM_SVC_SCHEDULER, HM_VERB_SCHED_CREATE, EDGE_CH_NOTIFY},
    {HM_MSG_REMINDER_LIST, HM_SVC_SCHEDULER, HM_VERB_SCHED_LIST, EDGE_CH_NOTIFY},
    {HM_MSG_REMINDER_UPDATE, HM_SVC_SCHEDULER, HM_VERB_SCHED_UPDATE, EDGE_CH_NOTIFY},
    {HM_MSG_REMINDER_DELETE, HM_SVC_SCHEDULER, HM_VERB_SCHED_DELETE, EDGE_CH_NOTIFY},
    {HM_MSG_REMINDER_ANSWER, HM_SVC_SCHEDULER, HM_VERB_SCHED_ANSWER, EDGE_CH_NOTIFY},
    {HM_MSG_REMINDER_IMPORT, HM_SVC_SCHEDULER, HM_VERB_SCHED_IMPORT, EDGE_CH_NOTIFY},
    {HM_MSG_REMINDER_HISTORY, HM_SVC_SCHEDULER, HM_VERB_SCHED_HISTORY, EDGE_CH_NOTIFY},
};

static const char *s_channel_names[EDGE_CH_COUNT] = {HM_SUB_HEALTH, HM_SUB_CHAT,
                                                     HM_SUB_NOTIFICATIONS};

const char *
edge_channel_name(edge_channel_t ch)
{
    return ch < EDGE_CH_COUNT ? s_channel_names[ch] : "?";
}

int
edge_channel_parse(const char *name)
{
    for (int i = 0; i < EDGE_CH_COUNT; i++)
        if (strcmp(name, s_channel_names[i]) == 0)
            return i;
    return -1;
}

/* Sets the error outputs; returns -1. */
static int
s_fail(const char **code, char *msg, size_t msglen, const char *c, const char *text)
{
    *code = c;
    snprintf(msg, msglen, "%s", text);
    return -1;
}

/* A field from the top level, or else from "data" (the seed puts fields at
 * the top level; the standard shape puts them in data). */
static json_t *
s_field(json_t *root, const char *key)
{
    json_t *v = json_object_get(root, key);
    if (v)
        return v;
    json_t *data = json_object_get(root, "data");
    return json_is_object(data) ? json_object_get(data, key) : NULL;
}

static int
s_parse_token(edge_msg_t *m, const char **code, char *msg, size_t msglen)
{
    json_t *tok = s_field(m->root, "token");
    if (!tok)
        return s_fail(code, msg, msglen, HM_ERR_MISSING_FIELD, "'token' is required");
    if (!json_is_string(tok) || json_string_length(tok) == 0
        || json_string_length(tok) > EDGE_MSG_TOKEN_MAX)
        return s_fail(code, msg, msglen, HM_ERR_INVALID_FIELD,
                      "'token' must be a non-empty string of at most 8192 bytes");
    m->token = json_string_value(tok);
    return 0;
}

/* Reads an optional non-negative integer field, or a string of decimal
 * digits. Returns 0 (out untouched when absent) or -1. */
static int
s_opt_int(json_t *v, int64_t *out)
{
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (*s < '0' || *s > '9')
            return -1;
        char *end = NULL;
        errno = 0;
        long long n = strtoll(s, &end, 10);
        if (errno == 0 && end && *end == '\0' && n >= 0) {
            *out = n;
            return 0;
        }
    }
    return -1;
}

static int
s_parse_subscribe(edge_msg_t *m, const char **code, char *msg, size_t msglen)
{
    json_t *sub = s_field(m->root, "subscription");
    if (!sub)
        return s_fail(code, msg, msglen, HM_ERR_MISSING_FIELD, "'subscription' is required");
    int ch = json_is_string(sub) ? edge_channel_parse(json_string_value(sub)) : -1;
    if (ch < 0)
        return s_fail(code, msg, msglen, HM_ERR_INVALID_SUBSCRIPTION,
                      "'subscription' must be health_updates, chat or notifications");
    m->channel = (edge_channel_t) ch;
    if (s_opt_int(s_field(m->root, "since_seq"), &m->since_seq) != 0)
        return s_fail(code, msg, msglen, HM_ERR_INVALID_FIELD,
                      "'since_seq' must be a non-negative integer");
    int64_t rate = 0;
    if (s_opt_int(s_field(m->root, "max_rate"), &rate) != 0 || rate > 1000
        || (s_field(m->root, "max_rate") && rate == 0))
        return s_fail(code, msg, msglen, HM_ERR_INVALID_FIELD,
                      "'max_rate' must be an integer from 1 to 1000 (updates per second)");
    m->max_rate = (int) rate;
    json_t *uid = s_field(m->root, "user_id");
    if (s_opt_int(uid, &m->target_user) != 0 || (uid && !json_is_null(uid) && m->target_user == 0))
        return s_fail(code, msg, msglen, HM_ERR_INVALID_FIELD,
                      "'user_id' must be a positive integer");
    return 0;
}

static int
s_parse_forward(edge_msg_t *m, size_t i, const char **code, char *msg, size_t msglen)
{
    m->kind = EDGE_MSG_FORWARD;
    m->service = s_forward[i].service;
    m->verb = s_forward[i].verb;
    m->forward_ch = s_forward[i].ch;
    json_t *data = json_object_get(m->root, "data");
    if (data && !json_is_object(data) && !json_is_null(data))
        return s_fail(code, msg, msglen, HM_ERR_INVALID_FIELD, "'data' must be an object");
    if (json_is_object(data)) {
        m->data = json_incref(data);
    } else {
        /* Seed-style messages carry their fields at the top level. */
        m->data = json_deep_copy(m->root);
        json_object_del(m->data, "type");
        json_object_del(m->data, "correlation_id");
        json_object_del(m->data, "timestamp");
        json_object_del(m->data, "data");
    }
    return 0;
}

/* Fills m from its type. Returns 0 or -1 with the error set. */
static int
s_classify(edge_msg_t *m, const char **code, char *msg, size_t msglen)
{
    const char *t = m->type;
    if (strcmp(t, HM_MSG_AUTHENTICATE) == 0) {
        m->kind = EDGE_MSG_AUTHENTICATE;
        return s_parse_token(m, code, msg, msglen);
    }
    if (strcmp(t, HM_MSG_REFRESH_TOKEN) == 0) {
        m->kind = EDGE_MSG_REFRESH_TOKEN;
        return s_parse_token(m, code, msg, msglen);
    }
    if (strcmp(t, HM_MSG_SUBSCRIBE) == 0 || strcmp(t, HM_MSG_UNSUBSCRIBE) == 0) {
        m->kind = t[0] == 's' ? EDGE_MSG_SUBSCRIBE : EDGE_MSG_UNSUBSCRIBE;
        return s_parse_subscribe(m, code, msg, msglen);
    }
    if (strcmp(t, HM_MSG_HEARTBEAT) == 0 || strcmp(t, "ping") == 0) {
        m->kind = EDGE_MSG_HEARTBEAT;
        return 0;
    }
    for (size_t i = 0; i < sizeof(s_forward) / sizeof(s_forward[0]); i++)
        if (strcmp(t, s_forward[i].type) == 0)
            return s_parse_forward(m, i, code, msg, msglen);
    return s_fail(code, msg, msglen, HM_ERR_UNKNOWN_TYPE, "unknown message type");
}

int
edge_msg_parse(const char *text, size_t len, edge_msg_t *out, const char **code, char *msg,
               size_t msglen)
{
    memset(out, 0, sizeof(*out));
    out->since_seq = -1;
    if (!hm_utf8_valid(text, len))
        return s_fail(code, msg, msglen, HM_ERR_INVALID_UTF8, "the frame is not valid UTF-8");
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return s_fail(code, msg, msglen, HM_ERR_INVALID_JSON, "the frame is not valid JSON");
    if (!json_is_object(root)) {
        json_decref(root);
        return s_fail(code, msg, msglen, HM_ERR_NOT_OBJECT, "a message must be a JSON object");
    }
    out->root = root;
    json_t *cid = json_object_get(root, "correlation_id");
    if (json_is_string(cid) && json_string_length(cid) > 0
        && json_string_length(cid) < HM_ENVELOPE_MAX_STR)
        out->correlation_id = json_string_value(cid);
    else if (cid && !json_is_null(cid)) {
        return s_fail(code, msg, msglen, HM_ERR_INVALID_FIELD,
                      "'correlation_id' must be a string of 1 to 255 bytes");
    }
    json_t *type = json_object_get(root, "type");
    if (!type) {
        return s_fail(code, msg, msglen, HM_ERR_MISSING_FIELD, "'type' is required");
    }
    if (!json_is_string(type)) {
        return s_fail(code, msg, msglen, HM_ERR_INVALID_FIELD, "'type' must be a string");
    }
    out->type = json_string_value(type);
    return s_classify(out, code, msg, msglen);
}

void
edge_msg_clear(edge_msg_t *m)
{
    json_decref(m->data);
    json_decref(m->root);
    memset(m, 0, sizeof(*m));
    m->since_seq = -1;
}
