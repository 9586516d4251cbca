/*
 * edge_frame.h - a WebSocket text frame built once and shared, reference
 * counted, by every connection it goes to. Server frames are not masked, so
 * header and payload are the same bytes for every recipient and are written
 * raw (LWS_WRITE_RAW), several queued frames in one write.
 */
#ifndef EDGE_FRAME_H
#define EDGE_FRAME_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int refs;            /* owners: queues holding it, plus the builder */
    uint64_t coalesce;   /* frames with the same non-zero key replace each other
                            in a backed-up queue (health ticks: user + metric) */
    size_t len;          /* bytes of header + payload in data */
    unsigned char data[]; /* LWS_PRE bytes of headroom, then the frame */
} edge_frame_t;

/* Frames payload (len bytes of UTF-8 JSON) as one final text frame.
 * refs starts at 1 (the caller's). NULL on allocation failure. */
edge_frame_t *edge_frame_text(const char *payload, size_t len);

/* A ping (opcode 9, payload "hm"), for keepalive. refs starts at 1. NULL on
 * allocation failure. */
edge_frame_t *edge_frame_ping(void);

/* Serialises json compactly and frames it. NULL on failure. */
edge_frame_t *edge_frame_json(const json_t *json);

/* The frame's bytes (after the headroom). */
unsigned char *edge_frame_bytes(edge_frame_t *f);

edge_frame_t *edge_frame_ref(edge_frame_t *f);
/* Drops one reference; frees at zero; NULL-safe; sets *f_p to NULL. */
void edge_frame_unref(edge_frame_t **f_p);

#endif /* EDGE_FRAME_H */
