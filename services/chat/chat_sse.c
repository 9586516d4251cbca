/*
 * chat_sse.c - event-stream parsing and OpenAI chunk content.
 */
#include "chat_sse.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct chat_sse_t {
    char *line;    /* the current line; owned */
    size_t nline;  /* its length */
    char *data;    /* the current event's data; owned */
    size_t ndata;  /* its length */
    bool has_data; /* a data field was seen for this event */
    bool after_cr; /* the last byte was CR (a following LF is the same end) */
    size_t max;    /* bound on line and data */
};

chat_sse_t *
chat_sse_new(size_t max_bytes)
{
    chat_sse_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max_bytes;
    self->line = malloc(max_bytes + 1);
    self->data = malloc(max_bytes + 1);
    if (!self->line || !self->data)
        chat_sse_destroy(&self);
    return self;
}

void
chat_sse_destroy(chat_sse_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->line);
    free((*self_p)->data);
    free(*self_p);
    *self_p = NULL;
}

/* Dispatches the pending event, if any. */
static int
s_dispatch(chat_sse_t *self, chat_sse_fn *fn, void *arg)
{
    if (!self->has_data)
        return 0;
    self->data[self->ndata] = '\0';
    self->has_data = false;
    size_t n = self->ndata;
    self->ndata = 0;
    return fn(arg, self->data, n);
}

/* Handles one complete line. */
static int
s_line(chat_sse_t *self, chat_sse_fn *fn, void *arg)
{
    char *line = self->line;
    size_t n = self->nline;
    self->nline = 0;
    if (n == 0)
        return s_dispatch(self, fn, arg);
    if (n < 5 || memcmp(line, "data:", 5) != 0)
        return 0; /* comment, or a field we do not use (event, id, retry) */
    size_t off = n > 5 && line[5] == ' ' ? 6 : 5;
    size_t add = n - off + (self->has_data ? 1 : 0);
    if (self->ndata + add > self->max)
        return -1;
    if (self->has_data)
        self->data[self->ndata++] = '\n';
    memcpy(self->data + self->ndata, line + off, n - off);
    self->ndata += n - off;
    self->has_data = true;
    return 0;
}

int
chat_sse_feed(chat_sse_t *self, const char *buf, size_t len, chat_sse_fn *fn, void *arg)
{
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (c == '\n' && self->after_cr) {
            self->after_cr = false;
            continue;
        }
        self->after_cr = c == '\r';
        if (c == '\r' || c == '\n') {
            int rc = s_line(self, fn, arg);
            if (rc != 0)
                return rc;
            continue;
        }
        if (self->nline >= self->max)
            return -1;
        self->line[self->nline++] = c;
    }
    return 0;
}

int
chat_sse_finish(chat_sse_t *self, chat_sse_fn *fn, void *arg)
{
    int rc = self->nline ? s_line(self, fn, arg) : 0;
    return rc ? rc : s_dispatch(self, fn, arg);
}

chat_chunk_rc_t
chat_sse_chunk(const char *data, size_t len, char **content, bool *finished)
{
    *content = NULL;
    *finished = false;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
        return CHAT_CHUNK_DONE;
    json_t *root = json_loadb(data, len, 0, NULL);
    if (!json_is_object(root) || json_object_get(root, "error")) {
        json_decref(root);
        return CHAT_CHUNK_ERROR;
    }
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    const char *text =
        json_string_value(json_object_get(json_object_get(choice, "delta"), "content"));
    json_t *reason = json_object_get(choice, "finish_reason");
    *finished = reason && !json_is_null(reason);
    *content = strdup(text ? text : "");
    json_decref(root);
    return *content ? CHAT_CHUNK_CONTENT : CHAT_CHUNK_ERROR;
}
