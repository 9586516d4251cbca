/*
 * chat_sse.h - server-sent events (the WHATWG event-stream format) as an
 * OpenAI-compatible /v1/chat/completions stream sends them, and the
 * content of its chunks.
 *
 * Bytes arrive in arbitrary pieces. Lines end in LF, CRLF or CR; "data:"
 * lines (one optional space after the colon) accumulate, joined by LF, and
 * a blank line dispatches the event; comment lines (":") and other fields
 * are ignored. At the end of the stream a pending event is dispatched.
 *
 * Bound: a line or an event's data over max_bytes is an error.
 */
#ifndef CHAT_SSE_H
#define CHAT_SSE_H

#include <stdbool.h>
#include <stddef.h>

/* One event's data (NUL-terminated, borrowed). Return 0 to go on, non-zero
 * to stop (chat_sse_feed then returns that value). */
typedef int(chat_sse_fn)(void *arg, const char *data, size_t len);

typedef struct chat_sse_t chat_sse_t;

/* NULL on ENOMEM. */
chat_sse_t *chat_sse_new(size_t max_bytes);
void chat_sse_destroy(chat_sse_t **self_p);

/* Feeds len bytes. Returns 0, the callback's non-zero value, or -1 when a
 * line or event exceeded the bound. */
int chat_sse_feed(chat_sse_t *self, const char *buf, size_t len, chat_sse_fn *fn, void *arg);

/* End of stream: dispatches a pending event. Returns as chat_sse_feed. */
int chat_sse_finish(chat_sse_t *self, chat_sse_fn *fn, void *arg);

/* What one chat.completion.chunk says. */
typedef enum {
    CHAT_CHUNK_CONTENT = 0, /* *content (caller frees) is the next piece; may be "" */
    CHAT_CHUNK_DONE = 1,    /* "[DONE]": the stream is complete */
    CHAT_CHUNK_ERROR = -1,  /* an error object, or not JSON */
} chat_chunk_rc_t;

/* Parses one event's data. On CONTENT, *content is the text of
 * choices[0].delta.content ("" when absent) and *finished tells whether
 * choices[0].finish_reason was set. */
chat_chunk_rc_t chat_sse_chunk(const char *data, size_t len, char **content, bool *finished);

#endif /* CHAT_SSE_H */
