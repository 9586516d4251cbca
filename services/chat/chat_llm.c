/*
 * chat_llm.c - the openai backend's main-thread side: the request body,
 * the thread pool, the queue, and the events coming back.
 */
#include "chat_llm.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_log.h"
#include "hm_proto.h"

/* The system prompt: what the assistant is and is not. */
static const char s_system[] =
    "You are the HealthMate assistant, a friendly helper in a health app. You are not a doctor: "
    "never give a diagnosis, never say what a condition is or is not, and say so when asked. "
    "You may explain the user's own numbers below in plain words and suggest talking to their "
    "care team. If the user describes an emergency (chest pain, trouble breathing, stroke signs, "
    "thoughts of suicide or self-harm), tell them to call their local emergency number now. "
    "Keep answers short.";

/* A prompt waiting for a free thread. */
typedef struct {
    int64_t job; /* the job */
    char *body;  /* JSON text; owned */
} s_queued_t;

typedef struct {
    chat_backend_t base;                    /* the interface; first */
    chat_llm_http_cfg_t http;               /* what the threads use; key owned */
    char model[256];                        /* model name */
    int max_tokens;                         /* 0: not sent */
    int nthreads;                           /* threads running */
    zactor_t *actors[CHAT_LLM_THREADS_MAX]; /* the threads; owned */
    bool busy[CHAT_LLM_THREADS_MAX];        /* a job is running there */
    zlist_t *queue;                         /* s_queued_t *; owned */
} s_llm_t;

int
chat_llm_url(const char *url, char *out, size_t len)
{
    static const char suffix[] = "/chat/completions";
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return -1;
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    bool full = n >= sizeof suffix - 1 &&
                memcmp(url + n - (sizeof suffix - 1), suffix, sizeof suffix - 1) == 0;
    int w = snprintf(out, len, "%.*s%s", (int)n, url, full ? "" : suffix);
    return w > 0 && (size_t)w < len ? 0 : -1;
}

/* The chat role of a stored sender. */
static const char *
s_role(const char *sender)
{
    return sender && strcmp(sender, HM_CHAT_SENDER_ASSISTANT) == 0 ? "assistant" : "user";
}

/* Appends the conversation (or just the question) to messages. */
static void
s_add_history(json_t *messages, const chat_prompt_t *p)
{
    size_t i, n = json_array_size(p->history);
    const json_t *m;
    json_array_foreach(p->history, i, m)
    {
        const char *sender = json_string_value(json_object_get(m, "sender"));
        const char *text = json_string_value(json_object_get(m, "message"));
        if (!text)
            continue;
        char *content = NULL;
        bool team = sender && strcmp(sender, HM_CHAT_SENDER_CARE_TEAM) == 0;
        if (asprintf(&content, "%s%s", team ? "[from the care team] " : "", text) < 0)
            continue;
        json_array_append_new(messages, json_pack("{s:s, s:s%}", "role", s_role(sender), "content",
                                                  content, strlen(content)));
        free(content);
    }
    if (n == 0)
        json_array_append_new(messages,
                              json_pack("{s:s, s:s}", "role", "user", "content", p->question));
}

json_t *
chat_llm_body(const chat_llm_cfg_t *cfg, const chat_prompt_t *p)
{
    char *ctx = p->ctx ? chat_ctx_describe(p->ctx) : NULL;
    char *system = NULL;
    if (asprintf(&system, "%s%s%s", s_system,
                 ctx && *ctx ? "\n\nThe user's own data (only what this question needs):\n" : "",
                 ctx && *ctx ? ctx : "") < 0)
        system = NULL;
    free(ctx);
    json_t *messages = json_array();
    json_array_append_new(
        messages, json_pack("{s:s, s:s}", "role", "system", "content", system ? system : s_system));
    free(system);
    s_add_history(messages, p);
    json_t *body =
        json_pack("{s:s, s:b, s:o}", "model", cfg->model, "stream", 1, "messages", messages);
    if (body && cfg->max_tokens > 0)
        json_object_set_new(body, "max_tokens", json_integer(cfg->max_tokens));
    return body;
}

/* Hands a job to thread i. Returns 0 or -1. */
static int
s_send_job(s_llm_t *self, int i, int64_t job, const char *body)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, job);
    if (zstr_sendx(self->actors[i], "JOB", id, body, NULL) != 0)
        return -1;
    self->busy[i] = true;
    return 0;
}

static int
s_start(chat_backend_t *base, const chat_prompt_t *p)
{
    s_llm_t *self = (s_llm_t *)base;
    chat_llm_cfg_t cfg = {.model = self->model, .max_tokens = self->max_tokens};
    json_t *json = chat_llm_body(&cfg, p);
    char *body = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    int rc = -1;
    for (int i = 0; body && rc != 0 && i < self->nthreads; i++)
        if (!self->busy[i])
            rc = s_send_job(self, i, p->job, body);
    if (rc == 0 || !body) {
        free(body);
        return rc;
    }
    s_queued_t *q = zlist_size(self->queue) < CHAT_LLM_QUEUE_MAX ? calloc(1, sizeof *q) : NULL;
    if (!q || zlist_append(self->queue, q) != 0) {
        free(q);
        free(body);
        hm_log_warn("llm_queue_full", "queued=%zu", zlist_size(self->queue));
        return -1;
    }
    q->job = p->job;
    q->body = body;
    return 0;
}

/* Thread i finished a job: give it the next queued one. */
static void
s_idle(s_llm_t *self, int i)
{
    self->busy[i] = false;
    s_queued_t *q = zlist_pop(self->queue);
    if (q && s_send_job(self, i, q->job, q->body) != 0)
        hm_log_error("llm_dispatch_failed", "job=%" PRId64, q->job); /* times out in assist */
    if (q)
        free(q->body);
    free(q);
}

/* Reads one message from thread i into ev. Returns 1 when ev was set. */
static int
s_read(s_llm_t *self, int i, chat_bk_ev_t *ev)
{
    zmsg_t *msg = zmsg_recv(self->actors[i]);
    char *kind = msg ? zmsg_popstr(msg) : NULL;
    char *job = msg ? zmsg_popstr(msg) : NULL;
    int rc = 0;
    if (kind && job) {
        memset(ev, 0, sizeof *ev);
        ev->job = strtoll(job, NULL, 10);
        rc = 1;
        if (strcmp(kind, "DELTA") == 0) {
            char *index = zmsg_popstr(msg);
            ev->kind = CHAT_BK_DELTA;
            ev->index = index ? atoi(index) : 0;
            free(index);
        } else {
            ev->kind = strcmp(kind, "DONE") == 0 ? CHAT_BK_DONE : CHAT_BK_FAIL;
            s_idle(self, i);
        }
        ev->text = zmsg_popstr(msg);
        if (!ev->text)
            ev->text = strdup("");
    }
    free(kind);
    free(job);
    zmsg_destroy(&msg);
    return rc;
}

static int
s_next(chat_backend_t *base, chat_bk_ev_t *ev)
{
    s_llm_t *self = (s_llm_t *)base;
    for (int i = 0; i < self->nthreads; i++)
        while (zsock_events(zactor_sock(self->actors[i])) & ZMQ_POLLIN)
            if (s_read(self, i, ev))
                return 1;
    return 0;
}

static int
s_poll_items(chat_backend_t *base, zmq_pollitem_t *items, int max)
{
    s_llm_t *self = (s_llm_t *)base;
    int n = 0;
    for (int i = 0; i < self->nthreads && n < max; i++)
        items[n++] = (zmq_pollitem_t){zsock_resolve(self->actors[i]), 0, ZMQ_POLLIN, 0};
    return n;
}

static void
s_destroy(chat_backend_t **base_p)
{
    if (!base_p || !*base_p)
        return;
    s_llm_t *self = (s_llm_t *)*base_p;
    for (int i = 0; i < self->nthreads; i++)
        zactor_destroy(&self->actors[i]);
    s_queued_t *q;
    while (self->queue && (q = zlist_pop(self->queue))) {
        free(q->body);
        free(q);
    }
    zlist_destroy(&self->queue);
    if (self->http.key) {
        OPENSSL_cleanse(self->http.key, strlen(self->http.key));
        free(self->http.key);
    }
    free(self);
    *base_p = NULL;
}

chat_backend_t *
chat_llm_new(const chat_llm_cfg_t *cfg)
{
    s_llm_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->base = (chat_backend_t){"openai", true, s_start, s_next, s_poll_items, s_destroy};
    chat_backend_t *base = &self->base;
    self->queue = zlist_new();
    self->http.key = cfg->key && *cfg->key ? strdup(cfg->key) : NULL;
    self->http.timeout_ms = cfg->timeout_ms;
    self->http.idle_ms = cfg->idle_ms;
    self->max_tokens = cfg->max_tokens;
    snprintf(self->model, sizeof self->model, "%s", cfg->model ? cfg->model : "");
    if (!self->queue || chat_llm_url(cfg->url, self->http.url, sizeof self->http.url) != 0) {
        hm_log_error("llm_bad_config", "reason=url");
        s_destroy(&base);
        return NULL;
    }
    int want = cfg->threads < 1                      ? 1
               : cfg->threads > CHAT_LLM_THREADS_MAX ? CHAT_LLM_THREADS_MAX
                                                     : cfg->threads;
    while (self->nthreads < want &&
           (self->actors[self->nthreads] = zactor_new(chat_llm_http_actor, &self->http)))
        self->nthreads++;
    if (self->nthreads < want) {
        hm_log_error("llm_threads_failed", "started=%d wanted=%d", self->nthreads, want);
        s_destroy(&base);
        return NULL;
    }
    return base;
}
