/*
 * chat_out.c - the queue of replies and events that leave after a commit.
 */
#include "chat_out.h"

#include <stdio.h>

#include "hm_log.h"
#include "hm_mdp.h"

/* One queued reply or event. */
typedef struct {
    zframe_t *to;             /* reply address (replies only); owned */
    hm_envelope_t *env;       /* reply or event; owned */
    char topic[HM_TOPIC_MAX]; /* events: u.<id>.chat; "" for replies */
} s_entry_t;

struct chat_out_t {
    zlist_t *queue; /* s_entry_t *, oldest first; owned */
    size_t dropped; /* events dropped at the bound since the last flush */
};

static void
s_entry_free(s_entry_t **e_p)
{
    s_entry_t *e = *e_p;
    if (!e)
        return;
    zframe_destroy(&e->to);
    hm_envelope_destroy(&e->env);
    free(e);
    *e_p = NULL;
}

chat_out_t *
chat_out_new(void)
{
    chat_out_t *self = calloc(1, sizeof *self);
    if (self && !(self->queue = zlist_new())) {
        free(self);
        return NULL;
    }
    return self;
}

void
chat_out_destroy(chat_out_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    chat_out_t *self = *self_p;
    s_entry_t *e;
    while ((e = zlist_pop(self->queue)))
        s_entry_free(&e);
    zlist_destroy(&self->queue);
    free(self);
    *self_p = NULL;
}

int
chat_out_reply(chat_out_t *self, const hm_envelope_t *req, zframe_t **to, hm_envelope_t **rep)
{
    s_entry_t *e = calloc(1, sizeof *e);
    if (e && !*rep)
        *rep = hm_mdp_error_reply(req, HM_ERR_INTERNAL, "out of memory");
    if (!e || !*rep || zlist_append(self->queue, e) != 0) {
        free(e);
        zframe_destroy(to);
        hm_envelope_destroy(rep);
        hm_log_error("reply_dropped", "reason=nomem");
        return -1;
    }
    e->to = *to;
    e->env = *rep;
    *to = NULL;
    *rep = NULL;
    return 0;
}

int
chat_out_publish(chat_out_t *self, int64_t user_id, hm_envelope_t **ev)
{
    s_entry_t *e = NULL;
    if (zlist_size(self->queue) < CHAT_OUT_MAX)
        e = calloc(1, sizeof *e);
    if (!e || zlist_append(self->queue, e) != 0) {
        free(e);
        hm_envelope_destroy(ev);
        self->dropped++;
        return -1;
    }
    snprintf(e->topic, sizeof e->topic, HM_TOPIC_USER_CHAT_FMT, (long long)user_id);
    (*ev)->user_id = user_id;
    e->env = *ev;
    *ev = NULL;
    return 0;
}

size_t
chat_out_size(chat_out_t *self)
{
    return zlist_size(self->queue);
}

void
chat_out_fail(chat_out_t *self)
{
    for (s_entry_t *e = zlist_first(self->queue); e; e = zlist_next(self->queue)) {
        if (!e->to) { /* an event: its message was not stored */
            hm_envelope_destroy(&e->env);
            continue;
        }
        hm_envelope_t *err = hm_mdp_error_reply(e->env, HM_ERR_INTERNAL, "database error");
        if (err) {
            hm_envelope_destroy(&e->env);
            e->env = err;
        }
    }
}

void
chat_out_flush(chat_out_t *self, const chat_sink_t *sink)
{
    s_entry_t *e;
    while ((e = zlist_pop(self->queue))) {
        if (e->to && e->env)
            sink->reply(sink->arg, &e->to, e->env);
        else if (e->env)
            sink->publish(sink->arg, e->topic, e->env);
        s_entry_free(&e);
    }
    if (self->dropped) {
        hm_log_warn("events_dropped", "count=%zu reason=queue_full", self->dropped);
        self->dropped = 0;
    }
}
