/*
 * chat_backend.c - the rules backend (offline, deterministic).
 */
#include "chat_backend.h"

#include <stdlib.h>

/* The rules backend: answers at once, reports on the next next(). */
typedef struct {
    chat_backend_t base; /* the interface; first */
    zlist_t *done;       /* chat_bk_ev_t * ready; owned */
} s_rules_t;

void
chat_bk_ev_clear(chat_bk_ev_t *ev)
{
    free(ev->text);
    ev->text = NULL;
}

static int
s_rules_start(chat_backend_t *base, const chat_prompt_t *p)
{
    s_rules_t *self = (s_rules_t *)base;
    chat_bk_ev_t *ev = calloc(1, sizeof *ev);
    if (!ev)
        return -1;
    ev->kind = CHAT_BK_DONE;
    ev->job = p->job;
    ev->text = chat_rules_answer(p->intent, p->ctx, p->now_ms, NULL);
    if (!ev->text || zlist_append(self->done, ev) != 0) {
        chat_bk_ev_clear(ev);
        free(ev);
        return -1;
    }
    return 0;
}

static int
s_rules_next(chat_backend_t *base, chat_bk_ev_t *ev)
{
    s_rules_t *self = (s_rules_t *)base;
    chat_bk_ev_t *first = zlist_pop(self->done);
    if (!first)
        return 0;
    *ev = *first;
    free(first);
    return 1;
}

static int
s_rules_poll_items(chat_backend_t *base, zmq_pollitem_t *items, int max)
{
    (void)base;
    (void)items;
    (void)max;
    return 0;
}

static void
s_rules_destroy(chat_backend_t **base_p)
{
    if (!base_p || !*base_p)
        return;
    s_rules_t *self = (s_rules_t *)*base_p;
    chat_bk_ev_t *ev;
    while ((ev = zlist_pop(self->done))) {
        chat_bk_ev_clear(ev);
        free(ev);
    }
    zlist_destroy(&self->done);
    free(self);
    *base_p = NULL;
}

chat_backend_t *
chat_backend_rules_new(void)
{
    s_rules_t *self = calloc(1, sizeof *self);
    if (!self || !(self->done = zlist_new())) {
        free(self);
        return NULL;
    }
    self->base = (chat_backend_t){
        "rules", false, s_rules_start, s_rules_next, s_rules_poll_items, s_rules_destroy};
    return &self->base;
}
