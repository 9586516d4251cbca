/*
 * edge_frame.c - shared, pre-framed WebSocket text frames.
 */
#include "edge_frame.h"

#include <libwebsockets.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

edge_frame_t *
edge_frame_text(const char *payload, size_t len)
{
    size_t hdr = len < 126 ? 2 : len <= 0xffff ? 4 : 10;
    edge_frame_t *f = malloc(sizeof(*f) + LWS_PRE + hdr + len);
    if (!f)
        return NULL;
    f->refs = 1;
    f->coalesce = 0;
    f->len = hdr + len;
    unsigned char *p = f->data + LWS_PRE;
    p[0] = 0x81; /* FIN + text */
    if (hdr == 2) {
        p[1] = (unsigned char) len;
    } else if (hdr == 4) {
        p[1] = 126;
        p[2] = (unsigned char) (len >> 8);
        p[3] = (unsigned char) len;
    } else {
        p[1] = 127;
        for (int i = 0; i < 8; i++)
            p[2 + i] = (unsigned char) ((uint64_t) len >> (56 - 8 * i));
    }
    memcpy(p + hdr, payload, len);
    return f;
}

edge_frame_t *
edge_frame_ping(void)
{
    /* A payload, because lws 4.1.6 passes an empty pong to nobody. */
    static const unsigned char ping[] = {0x89 /* FIN + ping */, 2, 'h', 'm'};
    edge_frame_t *f = malloc(sizeof(*f) + LWS_PRE + sizeof ping);
    if (!f)
        return NULL;
    f->refs = 1;
    f->coalesce = 0;
    f->len = sizeof ping;
    memcpy(f->data + LWS_PRE, ping, sizeof ping);
    return f;
}

edge_frame_t *
edge_frame_json(const json_t *json)
{
    char *text = json_dumps(json, JSON_COMPACT);
    if (!text)
        return NULL;
    edge_frame_t *f = edge_frame_text(text, strlen(text));
    free(text);
    return f;
}

unsigned char *
edge_frame_bytes(edge_frame_t *f)
{
    return f->data + LWS_PRE;
}

edge_frame_t *
edge_frame_ref(edge_frame_t *f)
{
    f->refs++;
    return f;
}

void
edge_frame_unref(edge_frame_t **f_p)
{
    if (!f_p || !*f_p)
        return;
    if (--(*f_p)->refs == 0)
        free(*f_p);
    *f_p = NULL;
}
