/*
 * chat_typing.c - typing state, relay decisions, automatic stops and the
 * per-user rate limit.
 */
#include "chat_typing.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hm_ratelimit.h"

#define S_KEY_MAX 96           /* "user:conversation" */
#define S_BUCKET_IDLE_MS 60000 /* buckets unused this long are swept */
#define S_CONN_MAX 256         /* connection id bytes kept */

/* One user typing in one conversation. */
typedef struct {
    int64_t user_id;       /* the typer */
    char conv[S_KEY_MAX];  /* the conversation */
    char conn[S_CONN_MAX]; /* the connection that started it ("" unknown) */
    int64_t stop_at_ms;    /* automatic stop */
    int64_t relayed_at_ms; /* last start relayed */
} s_entry_t;

/* One user's rate limit. */
typedef struct {
    hm_ratelimit_t rate; /* token bucket */
    int64_t used_ms;     /* last update */
} s_bucket_t;

struct chat_typing_t {
    zhashx_t *entries;  /* "user:conv" -> s_entry_t; owned */
    zhashx_t *buckets;  /* "user" -> s_bucket_t; owned */
    int timeout_ms;     /* automatic stop after the last start */
    double rate, burst; /* bucket parameters */
    int64_t sweep_at;   /* next sweep of idle buckets */
    int64_t next_due;   /* no automatic stop is due before this (monotonic ms) */
};

static void
s_free(void **item)
{
    free(*item);
    *item = NULL;
}

chat_typing_t *
chat_typing_new(int timeout_ms, double rate, double burst)
{
    chat_typing_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->entries = zhashx_new();
    self->buckets = zhashx_new();
    if (!self->entries || !self->buckets) {
        chat_typing_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->entries, s_free);
    zhashx_set_destructor(self->buckets, s_free);
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    self->rate = rate;
    self->burst = burst;
    return self;
}

void
chat_typing_destroy(chat_typing_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->entries);
    zhashx_destroy(&(*self_p)->buckets);
    free(*self_p);
    *self_p = NULL;
}

/* Drops buckets idle for S_BUCKET_IDLE_MS (at most every few seconds). */
static void
s_sweep_buckets(chat_typing_t *self, int64_t now_ms)
{
    if (now_ms < self->sweep_at)
        return;
    self->sweep_at = now_ms + S_BUCKET_IDLE_MS / 10;
    zlist_t *idle = zlist_new();
    zlist_autofree(idle);
    for (s_bucket_t *b = zhashx_first(self->buckets); b; b = zhashx_next(self->buckets))
        if (now_ms - b->used_ms > S_BUCKET_IDLE_MS)
            zlist_append(idle, (void *)zhashx_cursor(self->buckets));
    for (const char *k = zlist_first(idle); k; k = zlist_next(idle))
        zhashx_delete(self->buckets, k);
    zlist_destroy(&idle);
}

/* Takes a token from user's bucket. Returns false when limited or full. */
static bool
s_take(chat_typing_t *self, int64_t user_id, int64_t now_ms)
{
    char key[32];
    snprintf(key, sizeof key, "%" PRId64, user_id);
    s_bucket_t *b = zhashx_lookup(self->buckets, key);
    if (!b) {
        s_sweep_buckets(self, now_ms);
        if (zhashx_size(self->buckets) >= CHAT_TYPING_MAX || !(b = calloc(1, sizeof *b)))
            return false;
        hm_ratelimit_init(&b->rate, self->rate, self->burst, now_ms * 1000000);
        zhashx_insert(self->buckets, key, b);
    }
    b->used_ms = now_ms;
    return hm_ratelimit_take(&b->rate, now_ms * 1000000, 1);
}

/* Starts or refreshes entry key. */
static chat_typing_rc_t
s_start(chat_typing_t *self, const char *key, int64_t user_id, const char *conv,
        const char *conn_id, int64_t now_ms)
{
    s_entry_t *e = zhashx_lookup(self->entries, key);
    bool relay = false;
    if (!e) {
        if (zhashx_size(self->entries) >= CHAT_TYPING_MAX || !(e = calloc(1, sizeof *e)))
            return CHAT_TYPING_FULL;
        e->user_id = user_id;
        snprintf(e->conv, sizeof e->conv, "%s", conv);
        zhashx_insert(self->entries, key, e);
        relay = true;
    } else if (now_ms - e->relayed_at_ms >= self->timeout_ms / 2) {
        relay = true;
    }
    snprintf(e->conn, sizeof e->conn, "%s", conn_id ? conn_id : "");
    e->stop_at_ms = now_ms + self->timeout_ms;
    if (zhashx_size(self->entries) == 1 || e->stop_at_ms < self->next_due)
        self->next_due = e->stop_at_ms;
    if (relay)
        e->relayed_at_ms = now_ms;
    return relay ? CHAT_TYPING_RELAY : CHAT_TYPING_QUIET;
}

chat_typing_rc_t
chat_typing_update(chat_typing_t *self, int64_t user_id, const char *conv, const char *conn_id,
                   bool typing, int64_t now_ms)
{
    char key[S_KEY_MAX + 32];
    snprintf(key, sizeof key, "%" PRId64 ":%s", user_id, conv);
    if (!s_take(self, user_id, now_ms))
        return CHAT_TYPING_LIMITED;
    if (typing)
        return s_start(self, key, user_id, conv, conn_id, now_ms);
    if (!zhashx_lookup(self->entries, key))
        return CHAT_TYPING_QUIET;
    zhashx_delete(self->entries, key);
    return CHAT_TYPING_RELAY;
}

bool
chat_typing_clear(chat_typing_t *self, int64_t user_id, const char *conv)
{
    char key[S_KEY_MAX + 32];
    snprintf(key, sizeof key, "%" PRId64 ":%s", user_id, conv);
    if (!zhashx_lookup(self->entries, key))
        return false;
    zhashx_delete(self->entries, key);
    return true;
}

/* Removes the entries for which stop(e) holds, calling fn for each. */
static void
s_stop_where(chat_typing_t *self, bool (*stop)(const s_entry_t *, const void *), const void *ctx,
             chat_typing_stop_fn *fn, void *arg)
{
    zlist_t *keys = zlist_new();
    zlist_autofree(keys);
    for (s_entry_t *e = zhashx_first(self->entries); e; e = zhashx_next(self->entries))
        if (stop(e, ctx))
            zlist_append(keys, (void *)zhashx_cursor(self->entries));
    for (const char *k = zlist_first(keys); k; k = zlist_next(keys)) {
        s_entry_t *e = zhashx_lookup(self->entries, k);
        fn(arg, e->user_id, e->conv);
        zhashx_delete(self->entries, k);
    }
    zlist_destroy(&keys);
}

static bool
s_due(const s_entry_t *e, const void *ctx)
{
    return *(const int64_t *)ctx >= e->stop_at_ms;
}

static bool
s_of_conn(const s_entry_t *e, const void *ctx)
{
    return *e->conn && strcmp(e->conn, (const char *)ctx) == 0;
}

void
chat_typing_expire(chat_typing_t *self, int64_t now_ms, chat_typing_stop_fn *fn, void *arg)
{
    if (now_ms < self->next_due || zhashx_size(self->entries) == 0)
        return;
    s_stop_where(self, s_due, &now_ms, fn, arg);
    self->next_due = INT64_MAX;
    for (s_entry_t *e = zhashx_first(self->entries); e; e = zhashx_next(self->entries))
        if (e->stop_at_ms < self->next_due)
            self->next_due = e->stop_at_ms;
}

void
chat_typing_conn_closed(chat_typing_t *self, const char *conn_id, chat_typing_stop_fn *fn,
                        void *arg)
{
    if (conn_id && *conn_id)
        s_stop_where(self, s_of_conn, conn_id, fn, arg);
}

int
chat_typing_next_ms(chat_typing_t *self, int64_t now_ms)
{
    if (zhashx_size(self->entries) == 0)
        return INT32_MAX;
    int64_t next = self->next_due - now_ms;
    return next < 0 ? 0 : next > INT32_MAX ? INT32_MAX : (int)next;
}

size_t
chat_typing_size(chat_typing_t *self)
{
    return zhashx_size(self->entries);
}
