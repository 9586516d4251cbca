/*
 * edge_msg.h - the client message parser and validator: one JSON text frame
 * in, a typed message or a stable error code out. Pure (no I/O), so the
 * fuzz target drives it directly.
 */
#ifndef EDGE_MSG_H
#define EDGE_MSG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    EDGE_MSG_AUTHENTICATE,
    EDGE_MSG_REFRESH_TOKEN,
    EDGE_MSG_SUBSCRIBE,
    EDGE_MSG_UNSUBSCRIBE,
    EDGE_MSG_HEARTBEAT,
    EDGE_MSG_FORWARD, /* for a channel service: service and verb are set */
} edge_msg_kind_t;

/* Channels a connection can follow. */
typedef enum {
    EDGE_CH_HEALTH = 0,
    EDGE_CH_CHAT = 1,
    EDGE_CH_NOTIFY = 2,
    EDGE_CH_COUNT = 3,
} edge_channel_t;

typedef struct {
    edge_msg_kind_t kind;
    json_t *root;               /* the parsed object; owned */
    const char *type;           /* borrowed from root */
    const char *correlation_id; /* borrowed, or NULL */
    const char *token;          /* authenticate, refresh_token */
    edge_channel_t channel;     /* subscribe, unsubscribe */
    int64_t since_seq;          /* subscribe: -1 when absent */
    int64_t target_user;        /* subscribe: 0 when absent (own stream) */
    int max_rate;               /* subscribe: updates per second per metric, 0 = all */
    const char *service;        /* forward: owning service (static string) */
    const char *verb;           /* forward: request verb (static string) */
    edge_channel_t forward_ch;  /* forward: the channel the message belongs to */
    json_t *data;               /* forward: data object to send; owned (a new reference) */
} edge_msg_t;

/* Maximum token length accepted before asking auth. */
#define EDGE_MSG_TOKEN_MAX 8192

/* Parses and validates one text frame. Returns 0 with *out filled, or -1
 * with *code set to a stable HM_ERR_* string and a short human message in
 * msg (msglen bytes); out->correlation_id is still set when the frame had a
 * valid one, so the error can carry it. Call edge_msg_clear in both cases. */
int edge_msg_parse(const char *text, size_t len, edge_msg_t *out, const char **code, char *msg,
                   size_t msglen);
void edge_msg_clear(edge_msg_t *m);

/* The subscription name of a channel ("health_updates", "chat",
 * "notifications") and back (-1 when unknown). */
const char *edge_channel_name(edge_channel_t ch);
int edge_channel_parse(const char *name);

#endif /* EDGE_MSG_H */
