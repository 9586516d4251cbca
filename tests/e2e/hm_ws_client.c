/*
 * hm_ws_client.c - a small scripted WebSocket client (RFC 6455) for the
 * end-to-end tests: plain POSIX sockets; OpenSSL only for the handshake key
 * (RAND_bytes), SHA-1 and base64. It reads a script on stdin, one command a
 * line (see s_usage): send frames (well-formed, or raw bytes to break the
 * protocol on purpose), print what arrives, expect message types and close
 * codes. Every wait has its own deadline (--timeout); pings get pongs. At
 * the end of the script the socket is closed as it is: "close" closes cleanly.
 * Exit 0 when the script completes, 1 on a failed expectation or a broken
 * connection (message on stderr), 2 on a usage or script error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define MAX_HEADERS 16          /* --header options kept */
#define MAX_MESSAGE (16u << 20) /* a larger frame or message fails the run */
#define MAX_RESPONSE 16384      /* handshake response bytes */

static const char *s_usage =
    "usage: hm-ws-client --url ws://HOST:PORT/PATH [--origin O] [--timeout S]\n"
    "                    [--header 'Name: value']... < script\n"
    "script commands, one per line:\n"
    "  send <text>          masked text frame\n"
    "  sendbin <hex>        masked binary frame\n"
    "  raw <hex>            bytes written as they are (spaces allowed)\n"
    "  recv                 print the next message: text <payload> | binary <hex> |\n"
    "                       close <code> <reason> | timeout | eof\n"
    "  expect <type>        receive until a JSON message has that \"type\"; print it\n"
    "  expect_close <code>  receive until a close frame; fail if the code differs\n"
    "  drain                print every message until close or eof\n"
    "  sleep <ms>           wait\n"
    "  close [code]         send a close frame (default 1000), print the answer\n"
    "--timeout is per wait (default 5 s). Exit 0 done, 1 failed, 2 usage error.\n";

typedef struct {
    const char *url;                  /* --url */
    const char *origin;               /* --origin, or NULL */
    const char *headers[MAX_HEADERS]; /* --header lines */
    int nheaders;                     /* headers used */
    int timeout_ms;                   /* per wait */
    char host[256];                   /* from the URL */
    char port[8];                     /* from the URL */
    char path[1024];                  /* from the URL */
} opts_t;

typedef enum { EV_TEXT, EV_BINARY, EV_CLOSE, EV_TIMEOUT, EV_EOF } ev_kind_t;

typedef struct {
    int fd;              /* the socket (non-blocking); owned */
    unsigned char *rx;   /* bytes read but not yet parsed; owned */
    size_t rxlen, rxcap; /* bytes held, capacity */
    unsigned char *msg;  /* the message being reassembled; owned */
    size_t msglen;       /* its bytes so far */
    int msgop;           /* its opcode, 0 when none is in progress */
    unsigned code;       /* code of the last close frame received */
    bool close_sent;     /* we sent a close frame */
    int timeout_ms;      /* per wait */
} conn_t;

static void s_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Prints a message on stderr and exits 1. */
static void
s_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hm-ws-client: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Monotonic milliseconds. */
static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls fd for events until deadline. Returns 1 ready, 0 timeout, -1 error. */
static int
s_wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - s_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* Writes all len bytes before the deadline. Returns 0 or -1. */
static int
s_write_all(conn_t *c, const void *buf, size_t len, int64_t deadline)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (s_wait(c->fd, POLLOUT, deadline) <= 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Reads more bytes into rx. Returns 1 when some arrived, 0 at the deadline,
 * -1 at end of stream or on an error. */
static int
s_fill(conn_t *c, int64_t deadline)
{
    if (c->rxcap - c->rxlen < 4096) {
        size_t ncap = c->rxcap ? c->rxcap * 2 : 65536;
        if (ncap > MAX_MESSAGE + 65536)
            s_fail("receive buffer over %u bytes", MAX_MESSAGE);
        c->rx = realloc(c->rx, ncap);
        if (!c->rx)
            s_fail("out of memory");
        c->rxcap = ncap;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->rx + c->rxlen, c->rxcap - c->rxlen, 0);
        if (n > 0) {
            c->rxlen += (size_t)n;
            return 1;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            return -1;
        int r = s_wait(c->fd, POLLIN, deadline);
        if (r <= 0)
            return r;
    }
}

/* Makes sure n bytes are held. Returns 1, 0 at the deadline, -1 at eof. */
static int
s_need(conn_t *c, size_t n, int64_t deadline)
{
    while (c->rxlen < n) {
        int r = s_fill(c, deadline);
        if (r <= 0)
            return r;
    }
    return 1;
}

/* Drops the first n held bytes. */
static void
s_consume(conn_t *c, size_t n)
{
    memmove(c->rx, c->rx + n, c->rxlen - n);
    c->rxlen -= n;
}

/* Sends one masked frame (FIN set). Returns 0 or -1. */
static int
s_send_frame(conn_t *c, int opcode, const void *data, size_t len)
{
    unsigned char *buf = malloc(len + 14);
    if (!buf)
        s_fail("out of memory");
    size_t n = 0;
    buf[n++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        buf[n++] = (unsigned char)(0x80 | len);
    } else if (len <= 0xffff) {
        buf[n++] = 0x80 | 126;
        buf[n++] = (unsigned char)(len >> 8);
        buf[n++] = (unsigned char)len;
    } else {
        buf[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            buf[n++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    unsigned char *key = buf + n;
    if (RAND_bytes(key, 4) != 1)
        s_fail("RAND_bytes failed");
    n += 4;
    for (size_t i = 0; i < len; i++)
        buf[n + i] = ((const unsigned char *)data)[i] ^ key[i % 4];
    int rc = s_write_all(c, buf, n + len, s_now_ms() + c->timeout_ms);
    free(buf);
    return rc;
}

/* Sends a close frame with code (0: no payload). Returns 0 or -1. */
static int
s_send_close(conn_t *c, unsigned code)
{
    unsigned char p[2] = {(unsigned char)(code >> 8), (unsigned char)code};
    c->close_sent = true;
    return s_send_frame(c, 0x8, p, code ? 2 : 0);
}

/* Reads one whole frame into rx, unmasked. Returns the header length (the
 * payload follows it, *len bytes), 0 at the deadline, -1 at eof. A frame that
 * is broken per RFC 6455 fails the run. */
static int
s_read_frame(conn_t *c, int64_t deadline, size_t *len)
{
    int r = s_need(c, 2, deadline);
    if (r <= 0)
        return r;
    unsigned b0 = c->rx[0], b1 = c->rx[1];
    uint64_t n = b1 & 0x7f;
    size_t hdr = n == 126 ? 4 : n == 127 ? 10 : 2;
    if (b1 & 0x80)
        s_fail("the server sent a masked frame (RFC 6455 5.1)");
    if (b0 & 0x70)
        s_fail("the server set reserved bits 0x%02x (RFC 6455 5.2)", b0 & 0x70);
    if ((r = s_need(c, hdr, deadline)) <= 0)
        return r;
    if (hdr > 2) {
        n = 0;
        for (size_t i = 2; i < hdr; i++)
            n = n << 8 | c->rx[i];
    }
    if (n > MAX_MESSAGE)
        s_fail("the server sent a frame of %llu bytes", (unsigned long long)n);
    if ((b0 & 0x08) && (n > 125 || !(b0 & 0x80)))
        s_fail("the server sent a bad control frame (RFC 6455 5.5)");
    if ((r = s_need(c, hdr + n, deadline)) <= 0)
        return r;
    *len = (size_t)n;
    return (int)hdr;
}

/* Appends n bytes to c->msg (kept NUL-terminated). */
static void
s_keep(conn_t *c, const unsigned char *p, size_t n)
{
    if (c->msglen + n > MAX_MESSAGE)
        s_fail("the server sent a message over %u bytes", MAX_MESSAGE);
    c->msg = realloc(c->msg, c->msglen + n + 1);
    if (!c->msg)
        s_fail("out of memory");
    memcpy(c->msg + c->msglen, p, n);
    c->msglen += n;
    c->msg[c->msglen] = '\0';
}

/* Adds a data frame to the message being reassembled. Returns true when the
 * message is complete. */
static bool
s_append(conn_t *c, int opcode, bool fin, const unsigned char *p, size_t n)
{
    if (opcode != 0 && c->msgop)
        s_fail("the server started a message inside a fragmented one");
    if (opcode == 0 && !c->msgop)
        s_fail("the server sent a continuation frame outside a message");
    if (opcode)
        c->msgop = opcode;
    s_keep(c, p, n);
    return fin;
}

/* Receives the next message before the deadline, answering pings. The
 * payload is in c->msg (c->msglen bytes; for a close, the reason) until the
 * next call. */
static ev_kind_t
s_recv(conn_t *c, int64_t deadline)
{
    if (c->msgop == 0)
        c->msglen = 0;
    for (;;) {
        size_t n = 0;
        int hdr = s_read_frame(c, deadline, &n);
        if (hdr <= 0)
            return hdr == 0 ? EV_TIMEOUT : EV_EOF;
        int op = c->rx[0] & 0x0f;
        bool fin = (c->rx[0] & 0x80) != 0;
        const unsigned char *p = c->rx + hdr;
        if (op == 0x8) {
            c->code = n >= 2 ? (unsigned)(p[0] << 8 | p[1]) : 1005;
            c->msgop = 0;
            c->msglen = 0;
            s_keep(c, p + (n >= 2 ? 2 : 0), n >= 2 ? n - 2 : 0);
            s_consume(c, (size_t)hdr + n);
            if (!c->close_sent)
                s_send_close(c, c->code == 1005 ? 0 : c->code); /* the peer may be gone */
            return EV_CLOSE;
        }
        if (op == 0x9 && !c->close_sent && s_send_frame(c, 0xA, p, n) != 0)
            s_fail("could not answer a ping");
        if (op == 0x0 || op == 0x1 || op == 0x2) {
            if (s_append(c, op, fin, p, n)) {
                op = c->msgop;
                c->msgop = 0;
                s_consume(c, (size_t)hdr + n);
                return op == 0x1 ? EV_TEXT : EV_BINARY;
            }
        } else if (op != 0x9 && op != 0xA) {
            s_fail("the server sent unknown opcode 0x%x", op);
        }
        s_consume(c, (size_t)hdr + n);
    }
}

/* Prints an event as one line on f. */
static void
s_print(FILE *f, const char *prefix, conn_t *c, ev_kind_t ev)
{
    fputs(prefix, f);
    if (ev == EV_TEXT) {
        fputs("text ", f);
        fwrite(c->msg, 1, c->msglen, f);
    } else if (ev == EV_BINARY) {
        fputs("binary ", f);
        for (size_t i = 0; i < c->msglen; i++)
            fprintf(f, "%02x", c->msg[i]);
    } else if (ev == EV_CLOSE) {
        fprintf(f, "close %u", c->code);
        if (c->msglen)
            fprintf(f, " %.*s", (int)c->msglen, (const char *)c->msg);
    } else {
        fputs(ev == EV_TIMEOUT ? "timeout" : "eof", f);
    }
    fputc('\n', f);
}

/* Copies the top-level "type" string of a JSON object into out (escapes are
 * not decoded). Returns 0, or -1 when there is none. */
static int
s_json_type(const char *s, size_t len, char *out, size_t outlen)
{
    int depth = 0;
    bool key_pos = false, is_type = false, want_value = false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '"') {
            size_t start = ++i;
            while (i < len && s[i] != '"')
                i += s[i] == '\\' ? 2 : 1;
            if (i >= len)
                return -1;
            size_t n = i - start;
            if (depth == 1 && want_value) {
                snprintf(out, outlen, "%.*s", (int)n, s + start);
                return 0;
            }
            if (depth == 1 && key_pos)
                is_type = n == 4 && memcmp(s + start, "type", 4) == 0;
            key_pos = false;
        } else if (ch == '{' || ch == '[') {
            key_pos = ++depth == 1 && ch == '{';
            want_value = false;
        } else if (ch == '}' || ch == ']') {
            depth--;
        } else if (depth == 1 && (ch == ',' || ch == ':')) {
            want_value = ch == ':' && is_type;
            key_pos = ch == ',';
            is_type = false;
        } else if (depth == 1 && !isspace((unsigned char)ch)) {
            want_value = false;
        }
    }
    return -1;
}

/* Decodes hex bytes (whitespace between bytes allowed) into a new buffer.
 * Returns it (caller frees) with *len set, or NULL on a bad digit. */
static unsigned char *
s_hex(const char *s, size_t *len)
{
    unsigned char *buf = malloc(strlen(s) / 2 + 1);
    size_t n = 0;
    while (buf && *(s += strspn(s, " \t"))) {
        unsigned v = 0;
        if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]) ||
            sscanf(s, "%2x", &v) != 1) {
            free(buf);
            return NULL;
        }
        buf[n++] = (unsigned char)v;
        s += 2;
    }
    *len = n;
    return buf;
}

/* ---- the opening handshake ---------------------------------------------- */

/* Splits ws://host[:port][/path] into o. Returns 0 or -1. */
static int
s_parse_url(opts_t *o)
{
    int n = 0, m = 0;
    snprintf(o->port, sizeof(o->port), "80");
    if (!o->url || sscanf(o->url, "ws://%255[^:/]%n", o->host, &n) != 1)
        return -1;
    const char *p = o->url + n;
    if (*p == ':' && sscanf(p, ":%7[0-9]%n", o->port, &m) != 1)
        return -1;
    p += m;
    snprintf(o->path, sizeof(o->path), "%s", *p ? p : "/");
    return *p && *p != '/' ? -1 : 0;
}

/* Connects a non-blocking TCP socket before the deadline. Returns it or -1. */
static int
s_connect(const opts_t *o, int64_t deadline)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    if (getaddrinfo(o->host, o->port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0)
            continue;
        int err = 0, one = 1;
        socklen_t elen = sizeof(err);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
            (errno != EINPROGRESS || s_wait(fd, POLLOUT, deadline) <= 0 ||
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0)) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* Sends the upgrade request and checks the 101 answer and its
 * Sec-WebSocket-Accept. Frames that came with the answer stay in rx. Fails
 * the run on any problem. */
static void
s_handshake(conn_t *c, const opts_t *o, int64_t deadline)
{
    unsigned char nonce[16], digest[SHA_DIGEST_LENGTH];
    char key[32], want[64], req[8192], seed[128];
    if (RAND_bytes(nonce, sizeof(nonce)) != 1)
        s_fail("RAND_bytes failed");
    EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce));
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n",
                     o->path, o->host, o->port, key);
    if (o->origin)
        n += snprintf(req + n, sizeof(req) - (size_t)n, "Origin: %s\r\n", o->origin);
    for (int i = 0; i < o->nheaders && n < (int)sizeof(req); i++)
        n += snprintf(req + n, sizeof(req) - (size_t)n, "%s\r\n", o->headers[i]);
    if (n >= (int)sizeof(req) - 3)
        s_fail("handshake request too long");
    n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
    if (s_write_all(c, req, (size_t)n, deadline) != 0)
        s_fail("could not send the handshake");
    char *end = NULL;
    while (!(end = c->rxlen ? memmem(c->rx, c->rxlen, "\r\n\r\n", 4) : NULL)) {
        if (c->rxlen > MAX_RESPONSE || s_fill(c, deadline) <= 0)
            s_fail("no complete handshake response (%zu bytes)", c->rxlen);
    }
    size_t hlen = (size_t)(end - (char *)c->rx) + 4;
    char *resp = strndup((char *)c->rx, hlen);
    s_consume(c, hlen);
    if (strncmp(resp, "HTTP/1.1 101", 12) != 0)
        s_fail("handshake refused: %.*s", (int)strcspn(resp, "\r\n"), resp);
    snprintf(seed, sizeof(seed), "%s%s", key, WS_GUID);
    SHA1((unsigned char *)seed, strlen(seed), digest);
    EVP_EncodeBlock((unsigned char *)want, digest, sizeof(digest));
    const char *h = strcasestr(resp, "\r\nSec-WebSocket-Accept:");
    h = h ? h + 23 + strspn(h + 23, " \t") : "";
    if (strlen(want) != strcspn(h, " \t\r\n") || strncmp(h, want, strlen(want)) != 0)
        s_fail("bad Sec-WebSocket-Accept (want %s)", want);
    free(resp);
}

/* ---- script commands ------------------------------------------------------ */

/* Each command returns 0 to go on, 1 for a failed expectation, 2 for a
 * script error. send, sendbin (hex) and raw (hex, opcode < 0: written as it is). */
static int
s_cmd_send(conn_t *c, const char *arg, int opcode)
{
    size_t len = strlen(arg);
    unsigned char *bytes = opcode != 0x1 ? s_hex(arg, &len) : NULL;
    if (opcode != 0x1 && !bytes)
        return 2;
    const void *p = bytes ? (const void *)bytes : arg;
    int rc = opcode < 0 ? s_write_all(c, p, len, s_now_ms() + c->timeout_ms)
                        : s_send_frame(c, opcode, p, len);
    free(bytes);
    if (rc != 0)
        s_fail("write failed: %s", strerror(errno));
    return 0;
}

/* expect <type> (type set), expect_close <code> (code >= 0) or drain
 * (neither: prints everything until close or eof). */
static int
s_cmd_wait(conn_t *c, const char *type, long code)
{
    int64_t deadline = s_now_ms() + c->timeout_ms;
    bool all = !type && code < 0;
    for (;;) {
        ev_kind_t ev = s_recv(c, deadline);
        char got[128];
        bool data = ev == EV_TEXT || ev == EV_BINARY;
        bool hit = type ? ev == EV_TEXT && !s_json_type((char *)c->msg, c->msglen, got, 128) &&
                              strcmp(got, type) == 0
                        : ev == EV_CLOSE || (all && ev == EV_EOF);
        s_print(all || hit ? stdout : stderr, all || hit ? "" : "  got: ", c, ev);
        if (data && !hit)
            continue;
        if (!hit) {
            fprintf(stderr, "hm-ws-client: %s%s: %s\n", type ? "expect " : "waiting for close",
                    type ? type : "", ev == EV_TIMEOUT ? "timeout" : "connection closed");
            return 1;
        }
        if (code >= 0 && c->code != (unsigned)code) {
            fprintf(stderr, "hm-ws-client: close code %u, expected %ld\n", c->code, code);
            return 1;
        }
        return 0;
    }
}

/* close [code]: sends a close frame, prints the answer, waits for eof. */
static int
s_cmd_close(conn_t *c, long code)
{
    if (s_send_close(c, (unsigned)code) != 0)
        s_fail("close failed: %s", strerror(errno));
    int64_t deadline = s_now_ms() + c->timeout_ms;
    ev_kind_t ev;
    while ((ev = s_recv(c, deadline)) == EV_TEXT || ev == EV_BINARY)
        s_print(stderr, "  skipped: ", c, ev);
    s_print(stdout, "", c, ev);
    if (ev == EV_CLOSE)
        while (s_recv(c, deadline) != EV_EOF && s_now_ms() < deadline)
            ;
    return ev == EV_TIMEOUT ? 1 : 0;
}

/* Parses a number argument into *v within [lo, hi]. Returns 0 or -1. */
static int
s_num(const char *arg, long lo, long hi, long *v)
{
    char *end = NULL;
    *v = strtol(arg, &end, 10);
    return end != arg && *end == '\0' && *v >= lo && *v <= hi ? 0 : -1;
}

/* Runs one script line. */
static int
s_run_line(conn_t *c, char *line)
{
    line[strcspn(line, "\r\n")] = '\0';
    char *arg = line + strcspn(line, " ");
    if (*arg)
        *arg++ = '\0';
    long v = 0;
    if (!line[0] || line[0] == '#')
        return 0;
    if (strcmp(line, "send") == 0)
        return s_cmd_send(c, arg, 0x1);
    if (strcmp(line, "sendbin") == 0)
        return s_cmd_send(c, arg, 0x2);
    if (strcmp(line, "raw") == 0)
        return s_cmd_send(c, arg, -1);
    if (strcmp(line, "recv") == 0) {
        s_print(stdout, "", c, s_recv(c, s_now_ms() + c->timeout_ms));
        return 0;
    }
    if (strcmp(line, "expect") == 0 && *arg)
        return s_cmd_wait(c, arg, -1);
    if (strcmp(line, "expect_close") == 0 && s_num(arg, 0, 65535, &v) == 0)
        return s_cmd_wait(c, NULL, v);
    if (strcmp(line, "drain") == 0)
        return s_cmd_wait(c, NULL, -1);
    if (strcmp(line, "close") == 0 && (!*arg || s_num(arg, 0, 65535, &v) == 0))
        return s_cmd_close(c, *arg ? v : 1000);
    if (strcmp(line, "sleep") == 0 && s_num(arg, 0, 3600000, &v) == 0) {
        struct timespec ts = {v / 1000, (v % 1000) * 1000000};
        nanosleep(&ts, NULL);
        return 0;
    }
    return 2;
}

/* Parses the options into o. Returns 0, 1 for --help, 2 on an error. */
static int
s_options(int argc, char **argv, opts_t *o)
{
    o->timeout_ms = 5000;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (!v)
            return 2;
        if (strcmp(a, "--url") == 0) {
            o->url = v;
        } else if (strcmp(a, "--origin") == 0) {
            o->origin = v;
        } else if (strcmp(a, "--timeout") == 0) {
            char *end = NULL;
            double s = strtod(v, &end);
            if (end == v || *end || s <= 0 || s > 3600)
                return 2;
            o->timeout_ms = (int)(s * 1000);
        } else if (strcmp(a, "--header") == 0 && o->nheaders < MAX_HEADERS && strchr(v, ':')) {
            o->headers[o->nheaders++] = v;
        } else {
            return 2;
        }
    }
    return s_parse_url(o) == 0 ? 0 : 2;
}

int
main(int argc, char **argv)
{
    opts_t o = {0};
    int rc = s_options(argc, argv, &o);
    if (rc != 0) {
        fputs(s_usage, rc == 1 ? stdout : stderr);
        return rc == 1 ? 0 : 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    conn_t c = {.fd = -1, .timeout_ms = o.timeout_ms};
    int64_t deadline = s_now_ms() + o.timeout_ms;
    if ((c.fd = s_connect(&o, deadline)) < 0)
        s_fail("cannot connect to %s:%s", o.host, o.port);
    s_handshake(&c, &o, deadline);
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    while (rc == 0 && getline(&line, &cap, stdin) >= 0) {
        lineno++;
        rc = s_run_line(&c, line);
        if (rc == 2)
            fprintf(stderr, "hm-ws-client: script line %d: bad command (see --help)\n", lineno);
    }
    free(line);
    free(c.rx);
    free(c.msg);
    close(c.fd);
    return rc;
}
