/*
 * bench_ws.h - the client side of RFC 6455, as much as hm-bench needs: the
 * upgrade request and its check, incremental parsing of server frames, and
 * masked client frames. Pure functions: no sockets, no allocation.
 */
#ifndef BENCH_WS_H
#define BENCH_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_WS_KEY "aG0tYmVuY2gtd3Mta2V5IQ==" /* base64 of 16 bytes; one for all */
#define BENCH_WS_HEAD_MAX 8192                  /* largest upgrade response head */
#define BENCH_WS_HDR_MAX 14                     /* client frame header with mask */

/* One server frame, pointing into the parsed buffer. */
typedef struct {
    int opcode;                   /* 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong */
    bool fin;                     /* final fragment */
    const unsigned char *payload; /* len bytes */
    size_t len;
} bench_frame_t;

/* Writes the upgrade request into buf. Returns its length, or 0 when it
 * does not fit. */
size_t bench_ws_request(char *buf, size_t len, const char *host, int port, const char *path);

/* The Sec-WebSocket-Accept value a server must answer BENCH_WS_KEY with
 * (29 characters and the NUL). */
void bench_ws_accept(char out[32]);

/* Finds the end of the response head in buf. Returns the head's length
 * (through "\r\n\r\n"), or 0 when it is not complete yet. */
size_t bench_ws_head_len(const unsigned char *buf, size_t len);

/* Checks a complete head: status 101 and the expected accept value.
 * Returns 0, or -1. */
int bench_ws_check_head(const unsigned char *head, size_t len, const char *accept);

/* Parses the frame at p (n bytes available), at most max bytes of payload.
 * Returns the frame's length (header and payload) with *f set, 0 when more
 * bytes are needed, or -1 for a frame no server may send (masked, reserved
 * bits, too big). */
long bench_ws_parse(const unsigned char *p, size_t n, size_t max, bench_frame_t *f);

/* Writes a final masked client frame (opcode, payload) into out, which has
 * len + BENCH_WS_HDR_MAX bytes. Returns the frame's length. */
size_t bench_ws_frame(unsigned char *out, int opcode, const void *payload, size_t len,
                      const unsigned char mask[4]);

/* What a text frame is, cheaply (no JSON parse): an event carries "t_ns"
 * (and the "seq" right after it in its data), a warm-up probe "probe":1. */
typedef enum {
    BENCH_MSG_OTHER = 0, /* a control message: parse it as JSON */
    BENCH_MSG_EVENT,     /* *t_ns and *seq set (seq -1 when absent) */
    BENCH_MSG_PROBE,
} bench_msg_kind_t;
bench_msg_kind_t bench_ws_classify(const char *text, size_t len, int64_t *t_ns, int64_t *seq);

#endif /* BENCH_WS_H */
