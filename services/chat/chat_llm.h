/*
 * chat_llm.h - the "openai" backend: any OpenAI-compatible
 * /v1/chat/completions endpoint, streamed (server-sent events).
 *
 * Requests run in a small pool of threads (czmq actors, one libcurl easy
 * handle each); every piece of the reply comes back to the main thread as a
 * DELTA event over the actor's inproc PAIR pipe, then DONE or FAIL. The
 * main thread alone publishes and stores. When every thread is busy,
 * prompts wait in a queue of CHAT_LLM_QUEUE_MAX; past it start() refuses
 * (the caller answers with the rules backend).
 *
 * What is sent: a fixed system prompt (no diagnosis, emergencies to
 * emergency services), the user's data the question needs (chat_ctx, only
 * what was asked), and the last messages of this conversation. Nothing
 * else about the user.
 *
 * Call curl_global_init() in main() before creating it.
 */
#ifndef CHAT_LLM_H
#define CHAT_LLM_H

#include <jansson.h>

#include "chat_backend.h"

#define CHAT_LLM_THREADS_MAX 16
#define CHAT_LLM_QUEUE_MAX 256
#define CHAT_LLM_REPLY_MAX 16384 /* bytes of a reply; the rest is cut */

typedef struct {
    const char *url;   /* .../v1/chat/completions (or the .../v1 base) */
    const char *model; /* model name */
    const char *key;   /* bearer key ("" none); never logged */
    int timeout_ms;    /* whole request */
    int idle_ms;       /* no bytes for this long: timeout */
    int threads;       /* concurrent requests, 1..CHAT_LLM_THREADS_MAX */
    int max_tokens;    /* 0: not sent */
} chat_llm_cfg_t;

/* Starts the thread pool; cfg is copied. NULL on failure (logged). */
chat_backend_t *chat_llm_new(const chat_llm_cfg_t *cfg);

/* The request body for prompt p (caller owns), exposed for tests. */
json_t *chat_llm_body(const chat_llm_cfg_t *cfg, const chat_prompt_t *p);

/* The completions URL for a configured url (base or full) into out.
 * Returns 0, or -1 when it does not fit or is not http(s). */
int chat_llm_url(const char *url, char *out, size_t len);

/* ---- the request thread (chat_llm_http.c) ------------------------------ */

/* Messages on an actor's pipe, frame by frame:
 *   main -> thread  "JOB" job body        (job: decimal id, body: JSON text)
 *   thread -> main  "DELTA" job index text
 *                   "DONE" job text
 *                   "FAIL" job reason
 */
typedef struct {
    char url[2048]; /* completions URL */
    char *key;      /* bearer key or NULL; owned (cleansed on free) */
    int timeout_ms; /* whole request */
    int idle_ms;    /* silence allowed */
} chat_llm_http_cfg_t;

/* The actor body (zactor_fn); args is a chat_llm_http_cfg_t, borrowed for
 * the actor's life. */
void chat_llm_http_actor(zsock_t *pipe, void *args);

#endif /* CHAT_LLM_H */
