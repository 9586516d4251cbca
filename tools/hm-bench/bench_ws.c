/*
 * bench_ws.c - WebSocket client framing for hm-bench.
 */
#include "bench_ws.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define S_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

size_t
bench_ws_request(char *buf, size_t len, const char *host, int port, const char *path)
{
    int n = snprintf(buf, len,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " BENCH_WS_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "User-Agent: hm-bench\r\n"
                     "\r\n",
                     path, host, port);
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

void
bench_ws_accept(char out[32])
{
    unsigned char sha[SHA_DIGEST_LENGTH];
    const char *text = BENCH_WS_KEY S_GUID;
    SHA1((const unsigned char *)text, strlen(text), sha);
    EVP_EncodeBlock((unsigned char *)out, sha, SHA_DIGEST_LENGTH); /* 28 chars + NUL */
}

size_t
bench_ws_head_len(const unsigned char *buf, size_t len)
{
    for (size_t i = 3; i < len; i++)
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return i + 1;
    return 0;
}

int
bench_ws_check_head(const unsigned char *head, size_t len, const char *accept)
{
    const char *h = (const char *)head;
    if (len < 12 || strncmp(h, "HTTP/1.1 101", 12) != 0)
        return -1;
    static const char name[] = "\r\nSec-WebSocket-Accept:";
    size_t nlen = sizeof(name) - 1, alen = strlen(accept);
    for (size_t i = 0; i + nlen < len; i++) {
        if (strncasecmp(h + i, name, nlen) != 0)
            continue;
        size_t v = i + nlen;
        while (v < len && h[v] == ' ')
            v++;
        return v + alen <= len && memcmp(h + v, accept, alen) == 0 ? 0 : -1;
    }
    return -1;
}

long
bench_ws_parse(const unsigned char *p, size_t n, size_t max, bench_frame_t *f)
{
    if (n < 2)
        return 0;
    if ((p[0] & 0x70) || (p[1] & 0x80)) /* reserved bits, or a masked server frame */
        return -1;
    size_t hdr = 2;
    uint64_t len = p[1] & 0x7f;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
        hdr = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        hdr = 10;
    }
    if (len > max)
        return -1;
    if (n < hdr + len)
        return 0;
    f->opcode = p[0] & 0x0f;
    f->fin = (p[0] & 0x80) != 0;
    f->payload = p + hdr;
    f->len = (size_t)len;
    return (long)(hdr + len);
}

size_t
bench_ws_frame(unsigned char *out, int opcode, const void *payload, size_t len,
               const unsigned char mask[4])
{
    size_t h = 0;
    out[h++] = (unsigned char)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        out[h++] = (unsigned char)(0x80 | len);
    } else if (len <= 0xffff) {
        out[h++] = 0x80 | 126;
        out[h++] = (unsigned char)(len >> 8);
        out[h++] = (unsigned char)len;
    } else {
        out[h++] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            out[h++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    }
    memcpy(out + h, mask, 4);
    h += 4;
    const unsigned char *in = payload;
    for (size_t i = 0; i < len; i++)
        out[h + i] = in[i] ^ mask[i & 3];
    return h + len;
}

/* Parses the non-negative decimal at *p (advancing it), -1 when none. */
static int64_t
s_number(const char **p, const char *end)
{
    const char *s = *p;
    int64_t v = 0;
    if (s >= end || *s < '0' || *s > '9')
        return -1;
    while (s < end && *s >= '0' && *s <= '9')
        v = v * 10 + (*s++ - '0');
    *p = s;
    return v;
}

bench_msg_kind_t
bench_ws_classify(const char *text, size_t len, int64_t *t_ns, int64_t *seq)
{
    static const char key[] = "\"t_ns\":", seq_key[] = ",\"seq\":";
    const char *end = text + len;
    const char *p = memmem(text, len, key, sizeof(key) - 1);
    if (p) {
        p += sizeof(key) - 1;
        *t_ns = s_number(&p, end);
        *seq = -1;
        if ((size_t)(end - p) > sizeof(seq_key) - 1 &&
            memcmp(p, seq_key, sizeof(seq_key) - 1) == 0) {
            p += sizeof(seq_key) - 1;
            *seq = s_number(&p, end);
        }
        return *t_ns >= 0 ? BENCH_MSG_EVENT : BENCH_MSG_OTHER;
    }
    return memmem(text, len < 256 ? len : 256, "\"probe\":1", 9) ? BENCH_MSG_PROBE
                                                                 : BENCH_MSG_OTHER;
}
