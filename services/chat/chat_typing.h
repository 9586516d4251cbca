/*
 * chat_typing.h - typing indicators: who is typing where, never stored.
 *
 * A typing start is relayed when the user was not typing in that
 * conversation, and again at most every timeout_ms / 2 while it goes on (so
 * that a participant who connects late sees it); starts in between only
 * push the automatic stop further. A stop is relayed when the user was
 * typing. timeout_ms after the last start without a new one, or when the
 * connection that started it closes, the stop is generated here.
 * Each user has a token bucket (rate per second, burst) over all their
 * typing updates; past it updates are refused (rate_limited).
 *
 * Bound: CHAT_TYPING_MAX entries (users typing somewhere) and as many
 * buckets; at the bound new typers are refused, idle buckets are swept.
 */
#ifndef CHAT_TYPING_H
#define CHAT_TYPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHAT_TYPING_MAX 100000

typedef enum {
    CHAT_TYPING_RELAY = 1,    /* tell the other participants */
    CHAT_TYPING_QUIET = 0,    /* nothing to tell */
    CHAT_TYPING_LIMITED = -1, /* over the rate limit: refuse */
    CHAT_TYPING_FULL = -2,    /* the table is full: refuse */
} chat_typing_rc_t;

/* A generated stop: user stopped typing in conv. */
typedef void(chat_typing_stop_fn)(void *arg, int64_t user_id, const char *conv);

typedef struct chat_typing_t chat_typing_t;

/* NULL on ENOMEM. */
chat_typing_t *chat_typing_new(int timeout_ms, double rate, double burst);
void chat_typing_destroy(chat_typing_t **self_p);

/* A typing update from user in conv over connection conn_id (may be NULL)
 * at now_ms (monotonic). */
chat_typing_rc_t chat_typing_update(chat_typing_t *self, int64_t user_id, const char *conv,
                                    const char *conn_id, bool typing, int64_t now_ms);

/* user sent a message in conv: forgets the typing. Returns true when the
 * user was typing (a stop is due). */
bool chat_typing_clear(chat_typing_t *self, int64_t user_id, const char *conv);

/* Generates the stops due at now_ms. */
void chat_typing_expire(chat_typing_t *self, int64_t now_ms, chat_typing_stop_fn *fn, void *arg);

/* Generates the stops of everything conn_id started. */
void chat_typing_conn_closed(chat_typing_t *self, const char *conn_id, chat_typing_stop_fn *fn,
                             void *arg);

/* Milliseconds until the next automatic stop (INT32_MAX-ish when none). */
int chat_typing_next_ms(chat_typing_t *self, int64_t now_ms);

/* Users typing somewhere. */
size_t chat_typing_size(chat_typing_t *self);

#endif /* CHAT_TYPING_H */
