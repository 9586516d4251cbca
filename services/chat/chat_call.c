/*
 * chat_call.c - outgoing requests with retries and deadlines.
 */
#include "chat_call.h"

#include <czmq.h>
#include <stdio.h>

#include "hm_clock.h"
#include "hm_log.h"

/* One call in flight. */
typedef struct {
    char *service;               /* target service; owned */
    hm_envelope_t *req;          /* the request, re-sent as is; owned */
    int kind;                    /* the owner's kind */
    int64_t cookie;              /* the owner's cookie */
    char tag[CHAT_CALL_TAG_MAX]; /* the owner's tag */
    int retry_ms;                /* re-send interval, 0: never */
    int64_t next_try_ms;         /* next re-send (monotonic ms) */
    int64_t deadline_ms;         /* finished with NULL then */
} s_call_t;

struct chat_call_t {
    zhashx_t *calls;         /* request id -> s_call_t (freed by us); owned */
    chat_call_send_fn *send; /* transport */
    void *send_arg;          /* its argument; borrowed */
    chat_call_done_fn *done; /* completion */
    void *done_arg;          /* its argument; borrowed */
};

static int64_t
s_now_ms(void)
{
    return hm_clock_mono_ns() / 1000000;
}

static void
s_call_free(void **item)
{
    s_call_t *c = *item;
    if (c) {
        free(c->service);
        hm_envelope_destroy(&c->req);
        free(c);
    }
    *item = NULL;
}

chat_call_t *
chat_call_new(chat_call_send_fn *send, void *send_arg, chat_call_done_fn *done, void *done_arg)
{
    chat_call_t *self = calloc(1, sizeof *self);
    if (!self || !(self->calls = zhashx_new())) {
        free(self);
        return NULL;
    }
    self->send = send;
    self->send_arg = send_arg;
    self->done = done;
    self->done_arg = done_arg;
    return self;
}

void
chat_call_destroy(chat_call_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    chat_call_t *self = *self_p;
    for (void *c = zhashx_first(self->calls); c; c = zhashx_next(self->calls))
        s_call_free(&c);
    zhashx_destroy(&self->calls);
    free(*self_p);
    *self_p = NULL;
}

int
chat_call_start(chat_call_t *self, const char *service, hm_envelope_t **req, int timeout_ms,
                int retry_ms, int kind, int64_t cookie, const char *tag)
{
    s_call_t *c = NULL;
    if (zhashx_size(self->calls) < CHAT_CALL_MAX && !zhashx_lookup(self->calls, (*req)->id))
        c = calloc(1, sizeof *c);
    if (!c || !(c->service = strdup(service))) {
        free(c);
        hm_log_warn("call_refused", "service=%s in_flight=%zu", service, zhashx_size(self->calls));
        hm_envelope_destroy(req);
        return -1;
    }
    c->req = *req;
    *req = NULL;
    c->kind = kind;
    c->cookie = cookie;
    snprintf(c->tag, sizeof c->tag, "%s", tag ? tag : "");
    c->retry_ms = retry_ms;
    int64_t now = s_now_ms();
    c->next_try_ms = retry_ms > 0 ? now + retry_ms : INT64_MAX;
    c->deadline_ms = now + timeout_ms;
    zhashx_insert(self->calls, c->req->id, c);
    if (self->send(self->send_arg, c->service, c->req) != 0)
        hm_log_warn("call_send_failed", "service=%s", service); /* retried, or times out */
    return 0;
}

/* Finishes c with rep (NULL: timed out) and forgets it. */
static void
s_finish(chat_call_t *self, s_call_t *c, const hm_envelope_t *rep)
{
    zhashx_delete(self->calls, c->req->id); /* no destructor: c stays for the callback */
    self->done(self->done_arg, c->kind, c->cookie, c->tag, rep);
    void *item = c;
    s_call_free(&item);
}

void
chat_call_on_reply(chat_call_t *self, const hm_envelope_t *rep)
{
    s_call_t *c = rep && rep->id ? zhashx_lookup(self->calls, rep->id) : NULL;
    if (c)
        s_finish(self, c, rep);
}

void
chat_call_tick(chat_call_t *self, int64_t now_ms)
{
    zlist_t *expired = zlist_new();
    for (s_call_t *c = zhashx_first(self->calls); c; c = zhashx_next(self->calls)) {
        if (now_ms >= c->deadline_ms) {
            zlist_append(expired, c);
        } else if (now_ms >= c->next_try_ms) {
            self->send(self->send_arg, c->service, c->req);
            c->next_try_ms = now_ms + c->retry_ms;
        }
    }
    for (s_call_t *c = zlist_first(expired); c; c = zlist_next(expired)) {
        hm_log_info("call_timeout", "service=%s verb=%s", c->service, c->req->type);
        s_finish(self, c, NULL);
    }
    zlist_destroy(&expired);
}

int
chat_call_tick_ms(chat_call_t *self, int64_t now_ms)
{
    int64_t next = INT32_MAX;
    for (s_call_t *c = zhashx_first(self->calls); c; c = zhashx_next(self->calls)) {
        int64_t due = c->deadline_ms < c->next_try_ms ? c->deadline_ms : c->next_try_ms;
        if (due - now_ms < next)
            next = due - now_ms;
    }
    return next < 0 ? 0 : (int)next;
}

size_t
chat_call_pending(chat_call_t *self)
{
    return zhashx_size(self->calls);
}
