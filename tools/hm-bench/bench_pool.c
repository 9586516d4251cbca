/*
 * bench_pool.c - one worker's connections: connect, upgrade, authenticate,
 * subscribed, events (see bench_pool.h).
 *
 * Frames are parsed where they were read: a read lands in the pool's
 * buffer behind whatever the connection carried over from its last read,
 * whole frames are handled in place, and only a trailing partial frame is
 * copied to the connection's carry. Events are recognised without a JSON
 * parser (bench_ws_classify); control messages (welcome, authenticated,
 * subscribed, error) are rare and go through jansson.
 */
#include "bench_pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_ws.h"

#define S_RX_CAP (1u << 20)        /* the pool's read buffer */
#define S_FRAME_MAX (S_RX_CAP / 2) /* largest server frame: a carry always leaves room */
#define S_CARRY_KEEP 4096          /* an emptied carry larger than this is freed */
#define S_OUT_MAX (1u << 20)       /* unsent bytes per connection before it is dropped */
#define S_TX_CAP 16384             /* client frames (the token is at most 8 KiB) */

/* S_DOWN: closed by the server, waiting to reconnect; S_RETRY: a
 * reconnection failed, the next attempt is due at t_retry. */
typedef enum {
    S_FREE = 0,
    S_CONNECTING,
    S_UPGRADING,
    S_AUTHING,
    S_READY,
    S_DONE,
    S_DOWN,
    S_RETRY
} s_state_t;

#define S_RETRY_NS 100000000LL /* a failed reconnection is tried again after 100-150 ms */

/* Why a connection ended. */
typedef enum { S_END_CONNECT, S_END_UPGRADE, S_END_AUTH, S_END_CLOSED } s_end_t;

typedef struct {
    int fd;               /* socket, -1 when closed */
    uint8_t state;        /* s_state_t */
    uint8_t warm;         /* saw a warm-up probe */
    uint8_t out_armed;    /* EPOLLOUT registered for pending output */
    uint32_t carry_len;   /* bytes in carry */
    uint32_t carry_cap;   /* its size */
    uint32_t out_len;     /* bytes in out */
    unsigned char *carry; /* an incomplete frame or response head; owned */
    unsigned char *out;   /* bytes the socket did not take yet; owned */
    int64_t t_start;      /* connect() (monotonic ns) */
    int64_t last_seq;     /* highest event seq seen, -1: none */
    int64_t k;            /* fullpath, chat: client messages sent */
    int64_t uniq;         /* events with a new seq (reconnect), or delivered (fullpath, chat) */
    int64_t t_retry;      /* reconnect: next attempt (monotonic ns) */
    int64_t *slot;        /* fullpath, chat: per slot a send time and its k (-1: free); owned */
    uint8_t again;        /* reconnect: this connection is a reconnection */
    uint8_t resumed;      /* reconnect: got everything it missed */
} s_conn_t;

struct bench_pool {
    const bench_cfg_t *cfg;    /* borrowed */
    const bench_cred_t *creds; /* borrowed */
    size_t ncreds;             /* credentials in creds */
    int lo, n;                 /* first global index, connections in the share */
    s_conn_t *conns;           /* n connections; owned */
    int next;                  /* next local index to open */
    int inflight;              /* connections between connect() and subscribed */
    int epfd;                  /* epoll set; owned */
    unsigned char *rx;         /* S_RX_CAP read buffer; owned */
    unsigned char *tx;         /* S_TX_CAP client frame scratch; owned */
    unsigned char mask[4];     /* masking key (one for all frames: a benchmark) */
    char accept[32];           /* the Sec-WebSocket-Accept to expect */
    char request[1024];        /* the upgrade request */
    size_t request_len;        /* its length */
    struct sockaddr_in dst;    /* the edge */
    const char *subscription;  /* sent after authenticated on /ws/combined, else NULL */
    int64_t now;               /* time of the read being handled */
    int window;                /* slots per connection (fullpath: cfg->window, chat: 1) */
    bool go;                   /* fullpath, chat: sending */
    int64_t t_go;              /* when go came */
    int64_t paced;             /* messages sent by the pacer */
    int cursor;                /* the pacer's next connection */
    int retrying;              /* reconnect: connections in S_RETRY */
    int64_t r_up, t_up;        /* reconnect: see bench_pool_reconnect */
    bench_hist_t aux;          /* the scenario's third figure */
    bench_counts_t counts;     /* reported to the coordinator */
    bench_hist_t lat, setup;   /* event latency; connect to subscribed */
};

/* ---- closing --------------------------------------------------------- */

/* Closes c and counts why. */
static void
s_end(bench_pool_t *self, s_conn_t *c, s_end_t why)
{
    if (c->fd >= 0)
        close(c->fd); /* leaves the epoll set with it */
    c->fd = -1;
    free(c->carry);
    free(c->out);
    c->carry = c->out = NULL;
    c->carry_len = c->carry_cap = c->out_len = 0;
    bench_counts_t *k = &self->counts;
    if (c->again && c->state >= S_CONNECTING && c->state <= S_AUTHING) {
        self->inflight--;
        k->retries++;
        self->retrying++;
        c->state = S_RETRY;
        c->t_retry = bench_now_ns() + S_RETRY_NS + (int64_t)(random() % 50) * 1000000;
        return;
    }
    if (c->state == S_READY && self->cfg->scenario == BENCH_RECONNECT) {
        k->dropped++;
        c->state = S_DOWN;
        return;
    }
    if (c->state >= S_CONNECTING && c->state <= S_AUTHING) {
        self->inflight--;
        k->settled++;
        int64_t *fail[] = {&k->fail_connect, &k->fail_upgrade, &k->fail_auth, &k->fail_closed};
        (*fail[why])++;
    } else if (c->state == S_READY) {
        k->closed_ready++;
    }
    c->state = S_DONE;
}

static void
s_set_error(bench_pool_t *self, const char *code)
{
    snprintf(self->counts.last_error, sizeof(self->counts.last_error), "%s", code);
}

/* ---- writing ---------------------------------------------------------- */

static int
s_arm(bench_pool_t *self, s_conn_t *c, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0),
                             .data.u64 = (uint64_t)(c - self->conns)};
    c->out_armed = out;
    return epoll_ctl(self->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Sends bytes, keeping what the socket does not take. Returns 0 or -1
 * (the caller ends the connection). */
static int
s_send(bench_pool_t *self, s_conn_t *c, const void *bytes, size_t len)
{
    const unsigned char *p = bytes;
    if (c->out_len == 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n == (ssize_t)len)
            return 0;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    if (c->out_len + len > S_OUT_MAX)
        return -1;
    unsigned char *grown = realloc(c->out, c->out_len + len);
    if (!grown)
        return -1;
    memcpy(grown + c->out_len, p, len);
    c->out = grown;
    c->out_len += (uint32_t)len;
    return c->out_armed ? 0 : s_arm(self, c, true);
}

/* Writes pending output. Returns 0 or -1. */
static int
s_flush(bench_pool_t *self, s_conn_t *c)
{
    ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    memmove(c->out, c->out + n, c->out_len - (size_t)n);
    c->out_len -= (uint32_t)n;
    if (c->out_len > 0)
        return 0;
    free(c->out);
    c->out = NULL;
    return s_arm(self, c, false);
}

/* Sends one masked text (opcode 1) or control frame. Returns 0 or -1. */
static int
s_send_frame(bench_pool_t *self, s_conn_t *c, int opcode, const void *payload, size_t len)
{
    if (len + BENCH_WS_HDR_MAX > S_TX_CAP)
        return -1;
    size_t n = bench_ws_frame(self->tx, opcode, payload, len, self->mask);
    return s_send(self, c, self->tx, n);
}

static int
s_send_auth(bench_pool_t *self, s_conn_t *c)
{
    char text[S_TX_CAP - BENCH_WS_HDR_MAX];
    const bench_cred_t *cred = &self->creds[(size_t)(self->lo + (c - self->conns)) % self->ncreds];
    int n =
        snprintf(text, sizeof(text), "{\"type\":\"authenticate\",\"token\":\"%s\"}", cred->token);
    if (n < 0 || (size_t)n >= sizeof(text))
        return -1;
    return s_send_frame(self, c, 1, text, (size_t)n);
}

/* ---- opening ---------------------------------------------------------- */

/* Binds fd to this connection's source address. Returns 0 or -1. */
static int
s_bind_source(bench_pool_t *self, int fd, int global)
{
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    int last = self->cfg->source_base + global % self->cfg->source_addrs;
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)last)};
    return bind(fd, (struct sockaddr *)&src, sizeof(src));
}

static void
s_open(bench_pool_t *self, int i)
{
    s_conn_t *c = &self->conns[i];
    c->state = S_CONNECTING;
    if (!c->again)
        c->last_seq = -1;
    c->t_start = bench_now_ns();
    self->inflight++;
    if (self->counts.t_first_connect == 0)
        self->counts.t_first_connect = c->t_start;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        s_set_error(self, errno == EMFILE ? "EMFILE" : "socket");
        s_end(self, c, S_END_CONNECT);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (self->cfg->source_addrs > 0 && s_bind_source(self, c->fd, self->lo + i) != 0) {
        s_set_error(self, "bind");
        s_end(self, c, S_END_CONNECT);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)i};
    if ((connect(c->fd, (struct sockaddr *)&self->dst, sizeof(self->dst)) != 0 &&
         errno != EINPROGRESS) ||
        epoll_ctl(self->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        s_set_error(self, errno == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : "connect");
        s_end(self, c, S_END_CONNECT);
    }
}

void
bench_pool_open_more(bench_pool_t *self)
{
    while (self->inflight < self->cfg->inflight && self->next < self->n)
        s_open(self, self->next++);
}

/* connect() finished: send the upgrade request. */
static void
s_connected(bench_pool_t *self, s_conn_t *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        s_set_error(self, err == ECONNREFUSED ? "ECONNREFUSED" : "connect");
        s_end(self, c, S_END_CONNECT);
        return;
    }
    c->state = S_UPGRADING;
    if (s_arm(self, c, false) != 0 || s_send(self, c, self->request, self->request_len) != 0)
        s_end(self, c, S_END_UPGRADE);
}

/* ---- receiving -------------------------------------------------------- */

static void s_resumed_check(bench_pool_t *self, s_conn_t *c);

/* Messages connection global sends in fullpath and chat (chat: the pair's
 * first connection sends, the second answers). */
static int64_t
s_share(const bench_cfg_t *cfg, int global)
{
    if (cfg->scenario == BENCH_FULLPATH)
        return bench_peruser_share(cfg->events, cfg->connections, global);
    if (cfg->scenario == BENCH_CHAT && global % 2 == 0)
        return bench_peruser_share(cfg->events, cfg->connections / 2, global / 2);
    return 0;
}

static void
s_ready(bench_pool_t *self, s_conn_t *c)
{
    bench_counts_t *k = &self->counts;
    int global = self->lo + (int)(c - self->conns);
    if (c->again) { /* a reconnection */
        c->state = S_READY;
        self->inflight--;
        k->reconnected++;
        s_resumed_check(self, c);
        return;
    }
    c->state = S_READY;
    self->inflight--;
    k->settled++;
    k->ready++;
    k->t_last_ready = self->now;
    bench_hist_add(&self->setup, self->now - c->t_start);
    if (self->cfg->scenario == BENCH_BROADCAST)
        k->expected += self->cfg->events;
    else if (self->cfg->scenario == BENCH_PERUSER)
        k->expected += bench_peruser_share(self->cfg->events, self->cfg->connections, global);
    else
        k->expected += s_share(self->cfg, global);
}

static void
s_event(bench_pool_t *self, s_conn_t *c, int64_t t_ns, int64_t seq)
{
    bench_counts_t *k = &self->counts;
    if (k->received++ == 0)
        k->t_first_rx = self->now;
    k->t_last_rx = self->now;
    bench_hist_add(&self->lat, self->now - t_ns);
    if (seq >= 0 && seq <= c->last_seq)
        k->duplicates++;
    else if (seq >= 0)
        c->last_seq = seq;
}

/* A control message (JSON). Returns 0, or -1 when c was ended. */
static int
s_control(bench_pool_t *self, s_conn_t *c, const unsigned char *text, size_t len)
{
    json_t *j = json_loadb((const char *)text, len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    int rc = 0;
    if (type && strcmp(type, "error") == 0) {
        const char *code = json_string_value(json_object_get(j, "code"));
        s_set_error(self, code ? code : "error");
        if (c->state == S_AUTHING) {
            s_end(self, c, S_END_AUTH);
            rc = -1;
        }
    } else if (type && c->state == S_AUTHING && strcmp(type, "subscribed") == 0) {
        s_ready(self, c);
    } else if (type && c->state == S_AUTHING && strcmp(type, "authenticated") == 0 &&
               self->subscription) {
        char msg[160];
        int n = c->again && c->last_seq >= 0
                    ? snprintf(msg, sizeof(msg),
                               "{\"type\":\"subscribe\",\"subscription\":\"%s\","
                               "\"since_seq\":%lld}",
                               self->subscription, (long long)c->last_seq)
                    : snprintf(msg, sizeof(msg), "{\"type\":\"subscribe\",\"subscription\":\"%s\"}",
                               self->subscription);
        if (s_send_frame(self, c, 1, msg, (size_t)n) != 0) {
            s_end(self, c, S_END_AUTH);
            rc = -1;
        }
    }
    json_decref(j);
    return rc;
}

/* ---- fullpath, chat, reconnect: client messages and their events -------- */

/* The user of global connection index i. */
static int64_t
s_user_of(const bench_pool_t *self, int global)
{
    return self->creds[(size_t)global % self->ncreds].user_id;
}

/* The slots of c (allocated on first use): per slot S_SLOT int64: send
 * time, k (-1: free), what came back (S_GOT_*). NULL when out of memory. */
#define S_SLOT 3
#define S_GOT_EVENT 1
#define S_GOT_ACK 2
static int64_t *
s_slots(bench_pool_t *self, s_conn_t *c)
{
    if (!c->slot && (c->slot = malloc(sizeof(int64_t) * S_SLOT * (size_t)self->window)))
        for (int i = 0; i < self->window; i++)
            c->slot[S_SLOT * i + 1] = -1;
    return c->slot;
}

/* The slot of message k, or NULL when no slot holds it. */
static int64_t *
s_slot_of(bench_pool_t *self, s_conn_t *c, int64_t k)
{
    if (!c->slot || k < 0)
        return NULL;
    int64_t *sl = c->slot + S_SLOT * (k % self->window);
    return sl[1] == k ? sl : NULL;
}

/* Marks what came back for the slot; frees it once got is complete.
 * Returns the send time, or 0 when this came back before. */
static int64_t
s_slot_mark(int64_t *sl, int64_t what, int64_t complete)
{
    if (!sl || (sl[2] & what))
        return 0;
    sl[2] |= what;
    if ((sl[2] & complete) == complete)
        sl[1] = -1;
    return sl[0];
}

/* The conversation of a chat pair: this run's nonce and the first user. */
static void
s_conversation(const bench_pool_t *self, int global, char *buf, size_t len)
{
    snprintf(buf, len, "bench-%s-%lld", self->cfg->nonce, (long long)s_user_of(self, global & ~1));
}

/* Sends c's next message when it has one to send and a free slot. Returns
 * true when it sent. */
static bool
s_try_send(bench_pool_t *self, s_conn_t *c)
{
    int global = self->lo + (int)(c - self->conns);
    if (c->state != S_READY || c->k >= s_share(self->cfg, global))
        return false;
    int64_t *sl = s_slots(self, c);
    if (!sl || sl[S_SLOT * (c->k % self->window) + 1] != -1)
        return false;
    char msg[512];
    int64_t now = bench_now_ns();
    int n;
    if (self->cfg->scenario == BENCH_FULLPATH) {
        /* steps: a whole number with no default thresholds (no alerts), so
         * the value carries k back to us in the stored reading */
        n = snprintf(msg, sizeof(msg),
                     "{\"type\":\"health_update\",\"correlation_id\":\"f%lld\",\"data\":"
                     "{\"metric\":\"steps\",\"value\":%lld,\"unit\":\"steps\"}}",
                     (long long)c->k, (long long)(c->k % 200001));
    } else {
        char conv[80], extra[64] = "";
        s_conversation(self, global, conv, sizeof(conv));
        if (c->k == 0)
            snprintf(extra, sizeof(extra), ",\"participants\":[%lld]",
                     (long long)s_user_of(self, global + 1));
        n = snprintf(msg, sizeof(msg),
                     "{\"type\":\"chat_message\",\"correlation_id\":\"c%lld\",\"data\":"
                     "{\"conversation_id\":\"%s\",\"message\":\"rtt %lld %lld\"%s}}",
                     (long long)c->k, conv, (long long)now, (long long)c->k, extra);
    }
    if (n < 0 || (size_t)n >= sizeof(msg))
        return false;
    sl += S_SLOT * (c->k % self->window);
    sl[0] = now;
    sl[1] = c->k;
    sl[2] = 0;
    c->k++;
    if (self->counts.sent++ == 0)
        self->counts.t_first_send = now;
    if (s_send_frame(self, c, 1, msg, (size_t)n) != 0) {
        s_end(self, c, S_END_CLOSED);
        return false;
    }
    return true;
}

/* Fills c's window (as fast as possible: no rate). */
static void
s_fill(bench_pool_t *self, s_conn_t *c)
{
    if (self->go && self->cfg->rate <= 0)
        while (c->state == S_READY && s_try_send(self, c))
            ;
}

/* A number from a JSON integer or real (-1 when neither). */
static int64_t
s_json_int(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    return -1;
}

/* A stream event with seq: counts it new, skipped over, or seen before.
 * Returns true when it is new. */
static bool
s_seq(bench_pool_t *self, s_conn_t *c, int64_t seq)
{
    bench_counts_t *k = &self->counts;
    if (seq < 0)
        return true;
    if (c->last_seq >= 0 && seq <= c->last_seq) {
        k->duplicates++;
        return false;
    }
    if (c->last_seq >= 0 && seq > c->last_seq + 1)
        k->gaps += seq - c->last_seq - 1;
    c->last_seq = seq;
    return true;
}

static void
s_got(bench_pool_t *self)
{
    bench_counts_t *k = &self->counts;
    if (k->received++ == 0)
        k->t_first_rx = self->now;
    k->t_last_rx = self->now;
}

/* reconnect: counts c resumed once it holds every event stored before the
 * edge came back. */
static void
s_resumed_check(bench_pool_t *self, s_conn_t *c)
{
    if (!c->again || c->resumed || c->state != S_READY || c->uniq < self->r_up)
        return;
    c->resumed = 1;
    self->counts.resumed++;
    self->counts.t_last_resumed = self->now ? self->now : bench_now_ns();
    bench_hist_add(&self->aux, self->counts.t_last_resumed - self->t_up);
}

/* k of a correlation id "<prefix><k>", or -1. */
static int64_t
s_cid_k(const json_t *j, char prefix)
{
    const char *cid = json_string_value(json_object_get(j, "correlation_id"));
    if (!cid || cid[0] != prefix || cid[1] < '0' || cid[1] > '9')
        return -1;
    return strtoll(cid + 1, NULL, 10);
}

static void
s_app_fullpath(bench_pool_t *self, s_conn_t *c, const char *type, json_t *j)
{
    bench_counts_t *k = &self->counts;
    if (strcmp(type, "health_update") == 0) {
        int64_t v = s_json_int(json_object_get(json_object_get(j, "data"), "value"));
        bool fresh = s_seq(self, c, s_json_int(json_object_get(j, "seq")));
        int64_t t = 0;
        /* the reading whose value is v: k with k % 200001 == v in the window */
        for (int i = 0; fresh && c->slot && i < self->window && !t; i++) {
            int64_t sk = c->slot[S_SLOT * i + 1];
            if (sk >= 0 && sk % 200001 == v)
                t = s_slot_mark(c->slot + S_SLOT * i, S_GOT_EVENT, S_GOT_EVENT | S_GOT_ACK);
        }
        if (!fresh || !t) {
            if (fresh)
                k->other++; /* not one of ours (another process wrote to this user) */
            return;
        }
        s_got(self);
        c->uniq++;
        bench_hist_add(&self->lat, self->now - t);
        s_fill(self, c);
    } else if (strcmp(type, "ack") == 0) {
        k->acked++;
        int64_t t =
            s_slot_mark(s_slot_of(self, c, s_cid_k(j, 'f')), S_GOT_ACK, S_GOT_EVENT | S_GOT_ACK);
        if (t)
            bench_hist_add(&self->aux, self->now - t);
        s_fill(self, c);
    } else if (strcmp(type, "error") == 0) {
        int64_t *sl = s_slot_of(self, c, s_cid_k(j, 'f'));
        if (sl) {
            sl[1] = -1;
            k->refused++;
            k->expected--;
            s_fill(self, c);
        }
    } else {
        k->other++;
    }
}

static void
s_app_chat(bench_pool_t *self, s_conn_t *c, const char *type, json_t *j)
{
    bench_counts_t *k = &self->counts;
    int global = self->lo + (int)(c - self->conns);
    json_t *d = json_object_get(j, "data");
    const char *text = json_string_value(json_object_get(d, "message"));
    int64_t sender = s_json_int(json_object_get(d, "sender_id"));
    bool from_partner = sender == s_user_of(self, global ^ 1);
    long long t = 0, mk = -1;
    if (strcmp(type, "ack") == 0) {
        k->acked++;
    } else if (strcmp(type, "error") == 0) {
        int64_t *sl = s_slot_of(self, c, s_cid_k(j, 'c'));
        if (sl) {
            sl[1] = -1;
            k->refused++;
            s_fill(self, c);
        }
    } else if (strcmp(type, "chat_message") != 0 || !text || !from_partner) {
        k->other++; /* assistant replies, own messages, typing */
    } else if (global % 2 == 0 && sscanf(text, "echo %lld %lld", &t, &mk) == 2) {
        int64_t sent = s_slot_mark(s_slot_of(self, c, mk), S_GOT_EVENT, S_GOT_EVENT);
        if (!sent) {
            k->duplicates++;
            return;
        }
        s_got(self);
        c->uniq++;
        bench_hist_add(&self->lat, self->now - sent);
        s_fill(self, c);
    } else if (global % 2 == 1 && sscanf(text, "rtt %lld %lld", &t, &mk) == 2) {
        bench_hist_add(&self->aux, self->now - t); /* one way */
        const char *conv = json_string_value(json_object_get(d, "conversation_id"));
        char msg[256];
        int n = snprintf(msg, sizeof(msg),
                         "{\"type\":\"chat_message\",\"correlation_id\":\"e%lld\",\"data\":"
                         "{\"conversation_id\":\"%s\",\"message\":\"echo %lld %lld\"}}",
                         mk, conv ? conv : "", t, mk);
        if (n > 0 && (size_t)n < sizeof(msg) && s_send_frame(self, c, 1, msg, (size_t)n) != 0)
            s_end(self, c, S_END_CLOSED);
    } else {
        k->other++;
    }
}

static void
s_app_reconnect(bench_pool_t *self, s_conn_t *c, const char *type, json_t *j)
{
    if (strcmp(type, "health_update") != 0) {
        self->counts.other++;
        return;
    }
    s_got(self);
    if (s_seq(self, c, s_json_int(json_object_get(j, "seq")))) {
        c->uniq++;
        s_resumed_check(self, c);
    }
}

/* A text message on a ready connection of fullpath, chat or reconnect.
 * Returns 0, or -1 when c was ended. */
static int
s_app(bench_pool_t *self, s_conn_t *c, const unsigned char *text, size_t len)
{
    json_t *j = json_loadb((const char *)text, len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    if (type && strcmp(type, "error") == 0) {
        const char *code = json_string_value(json_object_get(j, "code"));
        s_set_error(self, code ? code : "error");
    }
    if (json_integer_value(json_object_get(json_object_get(j, "data"), "probe")) == 1) {
        if (!c->warm)
            self->counts.warm++;
        c->warm = 1;
    } else if (type && self->cfg->scenario == BENCH_FULLPATH)
        s_app_fullpath(self, c, type, j);
    else if (type && self->cfg->scenario == BENCH_CHAT)
        s_app_chat(self, c, type, j);
    else if (type)
        s_app_reconnect(self, c, type, j);
    json_decref(j);
    return c->state == S_READY ? 0 : -1;
}

void
bench_pool_go(bench_pool_t *self)
{
    self->go = true;
    self->t_go = bench_now_ns();
    for (int i = 0; i < self->n; i++)
        s_fill(self, &self->conns[i]);
}

void
bench_pool_reconnect(bench_pool_t *self, int64_t r_up, int64_t t_up)
{
    self->r_up = r_up;
    self->t_up = t_up;
    self->now = 0;
    for (int i = 0; i < self->n; i++) {
        s_conn_t *c = &self->conns[i];
        if (c->state == S_READY) { /* not noticed yet: it is gone all the same */
            s_end(self, c, S_END_CLOSED);
        }
        if (c->state != S_DOWN)
            continue;
        c->again = 1;
        c->warm = 0;
        free(c->carry);
        c->carry = NULL;
        c->carry_len = c->carry_cap = 0;
        s_open(self, i);
    }
}

void
bench_pool_tick(bench_pool_t *self)
{
    int64_t now = bench_now_ns();
    if (self->retrying > 0) {
        for (int i = 0; i < self->n; i++) {
            s_conn_t *c = &self->conns[i];
            if (c->state == S_RETRY && c->t_retry <= now) {
                self->retrying--;
                s_open(self, i);
            }
        }
    }
    if (!self->go || self->cfg->rate <= 0 || self->n == 0)
        return;
    /* this worker's part of the rate */
    double rate = self->cfg->rate * self->n / self->cfg->connections;
    if (self->cfg->scenario == BENCH_CHAT)
        rate *= 2; /* only one connection in two sends */
    int64_t due = (int64_t)((double)(now - self->t_go) * rate / 1e9) + 1;
    for (int scanned = 0; self->paced < due && scanned < self->n; scanned++) {
        s_conn_t *c = &self->conns[self->cursor];
        self->cursor = (self->cursor + 1) % self->n;
        if (s_try_send(self, c))
            self->paced++;
    }
}

int
bench_pool_timeout_ms(bench_pool_t *self)
{
    return self->retrying > 0 || (self->go && self->cfg->rate > 0) ? 1 : 20;
}

/* One whole frame. Returns 0, or -1 when c was ended. */
static int
s_frame(bench_pool_t *self, s_conn_t *c, const bench_frame_t *f)
{
    if (f->opcode == 1 && f->fin && c->state == S_READY && self->cfg->scenario >= BENCH_FULLPATH)
        return s_app(self, c, f->payload, f->len);
    if (f->opcode == 1 && f->fin) {
        int64_t t_ns = 0, seq = -1;
        bench_msg_kind_t kind =
            c->state == S_READY ? bench_ws_classify((const char *)f->payload, f->len, &t_ns, &seq)
                                : BENCH_MSG_OTHER;
        if (kind == BENCH_MSG_EVENT) {
            s_event(self, c, t_ns, seq);
        } else if (kind == BENCH_MSG_PROBE) {
            if (!c->warm)
                self->counts.warm++;
            c->warm = 1;
        } else {
            return s_control(self, c, f->payload, f->len);
        }
        return 0;
    }
    if (f->opcode == 9) { /* ping: pong with the same payload */
        if (s_send_frame(self, c, 10, f->payload, f->len) == 0)
            return 0;
    } else if (f->opcode == 8) {
        self->counts.last_close = f->len >= 2 ? (f->payload[0] << 8 | f->payload[1]) : 1005;
    } else if (f->opcode == 2 || f->opcode == 10) {
        return 0;
    } else {
        s_set_error(self, "fragmented_frame"); /* the edge never fragments */
    }
    s_end(self, c, S_END_CLOSED);
    return -1;
}

/* Handles the response head (when upgrading) and every whole frame in
 * rx[0, total). Returns the bytes consumed, or -1 when c was ended. */
static long
s_process(bench_pool_t *self, s_conn_t *c, size_t total)
{
    size_t off = 0;
    if (c->state == S_UPGRADING) {
        size_t head = bench_ws_head_len(self->rx, total);
        if (head == 0 && total < BENCH_WS_HEAD_MAX)
            return 0;
        if (head == 0 || bench_ws_check_head(self->rx, head, self->accept) != 0) {
            s_set_error(self, "upgrade_refused");
            s_end(self, c, S_END_UPGRADE);
            return -1;
        }
        off = head;
        c->state = S_AUTHING;
        if (s_send_auth(self, c) != 0) {
            s_end(self, c, S_END_AUTH);
            return -1;
        }
    }
    while (off < total) {
        bench_frame_t f;
        long len = bench_ws_parse(self->rx + off, total - off, S_FRAME_MAX, &f);
        if (len == 0)
            break;
        if (len < 0) {
            s_set_error(self, "bad_frame");
            s_end(self, c, S_END_CLOSED);
            return -1;
        }
        if (s_frame(self, c, &f) != 0)
            return -1;
        off += (size_t)len;
    }
    return (long)off;
}

/* Keeps rest bytes of rx for the next read. Returns 0 or -1. */
static int
s_keep(s_conn_t *c, const unsigned char *rest, size_t len)
{
    if (len == 0) {
        c->carry_len = 0;
        if (c->carry_cap > S_CARRY_KEEP) {
            free(c->carry);
            c->carry = NULL;
            c->carry_cap = 0;
        }
        return 0;
    }
    if (len > c->carry_cap) {
        size_t cap = c->carry_cap ? c->carry_cap : 256;
        while (cap < len)
            cap *= 2;
        unsigned char *grown = realloc(c->carry, cap);
        if (!grown)
            return -1;
        c->carry = grown;
        c->carry_cap = (uint32_t)cap;
    }
    memmove(c->carry, rest, len);
    c->carry_len = (uint32_t)len;
    return 0;
}

static void
s_read(bench_pool_t *self, s_conn_t *c)
{
    size_t have = c->carry_len;
    if (have)
        memcpy(self->rx, c->carry, have);
    ssize_t n = recv(c->fd, self->rx + have, S_RX_CAP - have, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        s_end(self, c, c->state == S_UPGRADING ? S_END_UPGRADE : S_END_CLOSED);
        return;
    }
    self->now = bench_now_ns();
    self->counts.bytes_in += n;
    size_t total = have + (size_t)n;
    long used = s_process(self, c, total);
    if (used >= 0 && s_keep(c, self->rx + used, total - (size_t)used) != 0)
        s_end(self, c, S_END_CLOSED);
}

void
bench_pool_event(bench_pool_t *self, uint64_t key, uint32_t events)
{
    if (key >= (uint64_t)self->n)
        return;
    s_conn_t *c = &self->conns[key];
    if (c->state == S_CONNECTING) {
        s_connected(self, c);
        return;
    }
    if (c->fd >= 0 && (events & EPOLLOUT) && c->out_len > 0 && s_flush(self, c) != 0) {
        s_end(self, c, S_END_CLOSED);
        return;
    }
    if (c->fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        s_read(self, c);
}

/* ---- the pool --------------------------------------------------------- */

/* The subscription to ask for on a path that follows nothing by itself. */
static const char *
s_subscription(const bench_cfg_t *cfg)
{
    const char *tail = strrchr(cfg->path, '/');
    if (!tail || strcmp(tail, "/combined") != 0)
        return NULL;
    if (cfg->scenario == BENCH_CHAT)
        return "chat";
    return cfg->scenario == BENCH_BROADCAST ? "notifications" : "health_updates";
}

bench_pool_t *
bench_pool_new(const bench_cfg_t *cfg, const bench_cred_t *creds, size_t ncreds, int lo, int hi)
{
    bench_pool_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->creds = creds;
    self->ncreds = ncreds;
    self->lo = lo;
    self->n = hi - lo;
    self->conns = calloc((size_t)(self->n > 0 ? self->n : 1), sizeof(s_conn_t));
    self->rx = malloc(S_RX_CAP);
    self->tx = malloc(S_TX_CAP);
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    self->dst.sin_family = AF_INET;
    self->dst.sin_port = htons((uint16_t)cfg->port);
    self->request_len =
        bench_ws_request(self->request, sizeof(self->request), cfg->host, cfg->port, cfg->path);
    self->subscription = s_subscription(cfg);
    bench_ws_accept(self->accept);
    bench_hist_init(&self->lat);
    bench_hist_init(&self->setup);
    bench_hist_init(&self->aux);
    self->window = cfg->scenario == BENCH_FULLPATH ? (cfg->window > 0 ? cfg->window : 1) : 1;
    self->counts.share = self->n;
    for (int i = 0; i < self->n && self->conns; i++)
        self->conns[i].fd = -1;
    if (!self->conns || !self->rx || !self->tx || self->epfd < 0 || self->request_len == 0 ||
        inet_pton(AF_INET, cfg->host, &self->dst.sin_addr) != 1 ||
        RAND_bytes(self->mask, sizeof(self->mask)) != 1) {
        fprintf(stderr, "hm-bench: cannot set up connections to %s:%d%s\n", cfg->host, cfg->port,
                cfg->path);
        bench_pool_destroy(&self);
    }
    return self;
}

void
bench_pool_destroy(bench_pool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bench_pool_t *self = *self_p;
    static const unsigned char normal[2] = {0x03, 0xe8}; /* 1000 */
    if (getenv("HM_BENCH_DEBUG"))
        for (int i = 0; self->conns && i < self->n; i++)
            fprintf(stderr, "conn %d user %lld state %d last_seq %lld uniq %lld\n", self->lo + i,
                    (long long)s_user_of(self, self->lo + i), self->conns[i].state,
                    (long long)self->conns[i].last_seq, (long long)self->conns[i].uniq);
    for (int i = 0; self->conns && i < self->n; i++) {
        s_conn_t *c = &self->conns[i];
        if (c->fd >= 0 && c->state >= S_AUTHING && c->out_len == 0) {
            size_t len = bench_ws_frame(self->tx, 8, normal, 2, self->mask);
            (void)!send(c->fd, self->tx, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        if (c->fd >= 0)
            close(c->fd);
        free(c->carry);
        free(c->out);
        free(c->slot);
    }
    if (self->epfd >= 0)
        close(self->epfd);
    free(self->conns);
    free(self->rx);
    free(self->tx);
    free(self);
    *self_p = NULL;
}

int
bench_pool_epfd(bench_pool_t *self)
{
    return self->epfd;
}

bench_counts_t *
bench_pool_counts(bench_pool_t *self)
{
    return &self->counts;
}

bench_hist_t *
bench_pool_latency(bench_pool_t *self)
{
    return &self->lat;
}

bench_hist_t *
bench_pool_setup(bench_pool_t *self)
{
    return &self->setup;
}

bench_hist_t *
bench_pool_aux(bench_pool_t *self)
{
    return &self->aux;
}
