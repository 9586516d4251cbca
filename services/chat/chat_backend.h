/*
 * chat_backend.h - the assistant's backends behind one interface.
 *
 * A backend is started once per reply with a prompt and reports back
 * through next(): zero or more DELTA events (pieces of the reply while it
 * is generated, index 0, 1, 2, ...) and then exactly one DONE (the whole
 * reply) or FAIL (a reason code). Backends never publish or store; the
 * caller (chat_assist, in the main thread) does. A backend that works in
 * other threads gives sockets to poll through poll_items().
 *
 *   rules   chat_backend_rules_new(): offline and deterministic
 *           (chat_rules); answers inside start(), DONE on the next next().
 *   openai  chat_llm_new() (chat_llm.h): an OpenAI-compatible
 *           /v1/chat/completions endpoint, streamed.
 */
#ifndef CHAT_BACKEND_H
#define CHAT_BACKEND_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "chat_ctx.h"
#include "chat_rules.h"

#define CHAT_BK_POLL_MAX 8 /* sockets a backend may ask to be polled */

typedef enum {
    CHAT_BK_DELTA = 0, /* text: the next piece, index its number */
    CHAT_BK_DONE = 1,  /* text: the whole reply */
    CHAT_BK_FAIL = 2,  /* text: a reason code ("timeout", "http_500", ...) */
} chat_bk_kind_t;

typedef struct {
    chat_bk_kind_t kind; /* what happened */
    int64_t job;         /* the prompt's job */
    int index;           /* DELTA: 0, 1, 2, ... */
    char *text;          /* see kind; owned */
} chat_bk_ev_t;

/* Frees ev's text. */
void chat_bk_ev_clear(chat_bk_ev_t *ev);

/* What a backend is asked. Everything is borrowed for the duration of
 * start() only. */
typedef struct {
    int64_t job;                 /* the caller's job id */
    const char *question;        /* the user's message */
    const chat_intent_t *intent; /* its classification */
    const chat_ctx_t *ctx;       /* the user's data the question needs */
    const json_t *history;       /* [{sender, sender_id, message}] oldest first, or NULL */
    int64_t now_ms;              /* wall clock */
} chat_prompt_t;

typedef struct chat_backend_t chat_backend_t;
struct chat_backend_t {
    const char *name; /* "rules", "openai" */
    bool streams;     /* sends DELTA events */
    /* Starts a reply. Returns 0, or -1 when it cannot (busy, ENOMEM): then
     * nothing will be reported for p->job. */
    int (*start)(chat_backend_t *self, const chat_prompt_t *p);
    /* The next event: 1 with *ev filled (caller clears), 0 when none. */
    int (*next)(chat_backend_t *self, chat_bk_ev_t *ev);
    /* Fills up to max poll items (ZMQ_POLLIN); returns how many. */
    int (*poll_items)(chat_backend_t *self, zmq_pollitem_t *items, int max);
    /* Stops threads, frees; NULL-safe. */
    void (*destroy)(chat_backend_t **self_p);
};

/* The rules backend. NULL on ENOMEM. */
chat_backend_t *chat_backend_rules_new(void);

#endif /* CHAT_BACKEND_H */
