/*
 * hm_topic.c - hm_topic_parse(): bus topics against the closed set of
 * hm_proto.h. Topics are compared whole; anything not exactly one of
 *   u.<id>.health  u.<id>.chat  u.<id>.notify  all.notify
 *   ctl.user.<id>  ctl.conn.<conn_id>  sys.conn  sys.edge  sys.audit
 * is HM_TOPIC_INVALID, and so is a topic of HM_TOPIC_MAX bytes or more.
 * <id> is a positive int64 in decimal without sign or leading zero; <conn_id>
 * is 1 to HM_ENVELOPE_MAX_STR - 1 characters of [A-Za-z0-9-].
 */
#include <stdint.h>
#include <string.h>

#include "hm_proto.h"

#define S_PREFIX_USER "u."
#define S_PREFIX_CTL_USER "ctl.user."
#define S_PREFIX_CTL_CONN "ctl.conn."

/* Parses a user id at s; sets *id and *end (first byte after the digits).
 * Returns 0, or -1 for no digit, a leading zero or an overflow. */
static int
s_parse_id(const char *s, int64_t *id, const char **end)
{
    int64_t v = 0;
    const char *p = s;

    if (*p < '1' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *id = v;
    *end = p;
    return 0;
}

/* s follows "u.": <id>.health, <id>.chat or <id>.notify. */
static hm_topic_kind_t
s_parse_user(const char *s, int64_t *user_id)
{
    static const struct {
        const char *suffix;
        hm_topic_kind_t kind;
    } streams[] = {
        {".health", HM_TOPIC_USER_HEALTH},
        {".chat", HM_TOPIC_USER_CHAT},
        {".notify", HM_TOPIC_USER_NOTIFY},
    };
    int64_t id;
    const char *end;

    if (s_parse_id(s, &id, &end) != 0)
        return HM_TOPIC_INVALID;
    for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++) {
        if (strcmp(end, streams[i].suffix) == 0) {
            if (user_id != NULL)
                *user_id = id;
            return streams[i].kind;
        }
    }
    return HM_TOPIC_INVALID;
}

/* s follows "ctl.user.": exactly <id>. */
static hm_topic_kind_t
s_parse_ctl_user(const char *s, int64_t *user_id)
{
    int64_t id;
    const char *end;

    if (s_parse_id(s, &id, &end) != 0 || *end != '\0')
        return HM_TOPIC_INVALID;
    if (user_id != NULL)
        *user_id = id;
    return HM_TOPIC_CTL_USER;
}

/* s follows "ctl.conn.": exactly <conn_id>, copied to conn_id when given. */
static hm_topic_kind_t
s_parse_ctl_conn(const char *s, char *conn_id)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        char c = s[n];
        int ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok || n + 1 >= HM_ENVELOPE_MAX_STR)
            return HM_TOPIC_INVALID;
    }
    if (n == 0)
        return HM_TOPIC_INVALID;
    if (conn_id != NULL)
        memcpy(conn_id, s, n + 1);
    return HM_TOPIC_CTL_CONN;
}

hm_topic_kind_t
hm_topic_parse(const char *topic, int64_t *user_id, char *conn_id)
{
    size_t n = 0;

    if (topic == NULL)
        return HM_TOPIC_INVALID;
    while (n < HM_TOPIC_MAX && topic[n] != '\0') /* bounded strlen */
        n++;
    if (n >= HM_TOPIC_MAX)
        return HM_TOPIC_INVALID;
    if (strcmp(topic, HM_TOPIC_ALL_NOTIFY) == 0)
        return HM_TOPIC_ALL_NOTIFY_KIND;
    if (strcmp(topic, HM_TOPIC_SYS_CONN) == 0)
        return HM_TOPIC_SYS_CONN_KIND;
    if (strcmp(topic, HM_TOPIC_SYS_EDGE) == 0)
        return HM_TOPIC_SYS_EDGE_KIND;
    if (strcmp(topic, HM_TOPIC_SYS_AUDIT) == 0)
        return HM_TOPIC_SYS_AUDIT_KIND;
    if (strncmp(topic, S_PREFIX_USER, strlen(S_PREFIX_USER)) == 0)
        return s_parse_user(topic + strlen(S_PREFIX_USER), user_id);
    if (strncmp(topic, S_PREFIX_CTL_USER, strlen(S_PREFIX_CTL_USER)) == 0)
        return s_parse_ctl_user(topic + strlen(S_PREFIX_CTL_USER), user_id);
    if (strncmp(topic, S_PREFIX_CTL_CONN, strlen(S_PREFIX_CTL_CONN)) == 0)
        return s_parse_ctl_conn(topic + strlen(S_PREFIX_CTL_CONN), conn_id);
    return HM_TOPIC_INVALID;
}
