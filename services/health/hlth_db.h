/*
 * hlth_db.h - hm-health's sqlite database: the per-user event stream
 * (readings and alerts, one seq per user), per-user threshold overrides, the
 * alert state of each user's checks and the notification outbox.
 *
 * Statements of the hot path are prepared once and kept. Values are always
 * bound, never formatted into SQL; errors are logged without values (no PHI
 * in logs). Lookups return 1 (found), 0 (not found) or -1 (error, logged);
 * other functions 0 or -1.
 */
#ifndef HLTH_DB_H
#define HLTH_DB_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "hlth_alert.h"

#define HLTH_DB_BUSY_MS 5000
#define HLTH_EV_READING "health_update" /* event types in the stream */
#define HLTH_EV_ALERT "health_alert"

typedef struct hlth_db_t hlth_db_t;

/* One event of a user's stream. For inserts every pointer is borrowed; for
 * rows handed to a callback too (valid during the call only). */
typedef struct {
    int64_t user_id;     /* stream owner */
    int64_t seq;         /* per-user sequence, from 1 */
    const char *type;    /* HLTH_EV_READING or HLTH_EV_ALERT */
    const char *id;      /* reading or alert id (UUID) */
    int64_t ts;          /* unix ms when stored (the envelope ts) */
    const char *metric;  /* metric name */
    int64_t measured_at; /* unix ms the reading was taken (alerts: its reading's) */
    const char *req_id;  /* request envelope id (retries), NULL for alerts */
    json_t *data;        /* the event data */
} hlth_event_t;

/* Called for each row of a query; return non-zero to stop. */
typedef int (*hlth_db_event_fn)(const hlth_event_t *ev, void *arg);

/* Opens (creating, migrating) the database at path. Caller owns (destroy).
 * NULL on failure (logged). */
hlth_db_t *hlth_db_open(const char *path);
void hlth_db_destroy(hlth_db_t **self_p);

/* The sqlite handle (borrowed), for tests and transactions. */
sqlite3 *hlth_db_handle(hlth_db_t *self);

/* Transactions: BEGIN IMMEDIATE / COMMIT / ROLLBACK, and a savepoint per
 * request inside them (release keeps its writes, undo drops them). commit
 * returns -1 (rolled back, logged) when sqlite already ended the
 * transaction after an error or the COMMIT failed. */
int hlth_db_begin(hlth_db_t *self);
int hlth_db_commit(hlth_db_t *self);
void hlth_db_rollback(hlth_db_t *self);
int hlth_db_savepoint(hlth_db_t *self);
void hlth_db_release(hlth_db_t *self, bool keep);

/* True while a transaction is open (sqlite ends one by itself after some
 * errors: then nothing more may be written in the batch). */
bool hlth_db_in_tx(hlth_db_t *self);

/* The next seq of user's stream (1 for a new stream), or -1. */
int64_t hlth_db_next_seq(hlth_db_t *self, int64_t user_id);

/* Appends an event. Returns 0 or -1 (a taken seq or request id included). */
int hlth_db_event_insert(hlth_db_t *self, const hlth_event_t *ev);

/* The reading stored for request req_id of user: calls fn once with it.
 * Returns 1, 0 (none) or -1. */
int hlth_db_event_by_req(hlth_db_t *self, int64_t user_id, const char *req_id, hlth_db_event_fn fn,
                         void *arg);

/* What a stream query selects. */
typedef struct {
    int64_t user_id;    /* stream owner */
    int64_t after_seq;  /* seq > after_seq */
    int64_t since_ms;   /* measured_at >= since_ms (INT64_MIN: any) */
    const char *type;   /* only this type; NULL: both */
    const char *metric; /* only this metric; NULL: all */
    int limit;          /* rows at most */
} hlth_db_query_t;

/* Calls fn for each matching event in seq order. Returns the number of rows
 * passed to fn, or -1. */
int hlth_db_events(hlth_db_t *self, const hlth_db_query_t *q, hlth_db_event_fn fn, void *arg);

/* Per-user threshold override of check: *out's bounds (NAN where none; the
 * margin is left alone). Returns 1, 0 (no override) or -1. */
int hlth_db_threshold_get(hlth_db_t *self, int64_t user_id, const char *check, hlth_limits_t *out);

/* Sets (replaces) the override of check, or deletes it when l is NULL. */
int hlth_db_threshold_put(hlth_db_t *self, int64_t user_id, const char *check,
                          const hlth_limits_t *l, int64_t set_by);

/* Alert state of a user's check (all zero when none). Returns 1, 0 or -1. */
int hlth_db_astate_get(hlth_db_t *self, int64_t user_id, const char *check, hlth_astate_t *out);
int hlth_db_astate_put(hlth_db_t *self, int64_t user_id, const char *check,
                       const hlth_astate_t *st);

/* Notification outbox: notify.create requests not yet acknowledged. id is
 * the request envelope id (kept across retries); payload the request data. */
int hlth_db_outbox_add(hlth_db_t *self, const char *id, int64_t user_id, const json_t *payload,
                       int64_t created_at);
int hlth_db_outbox_delete(hlth_db_t *self, const char *id);
/* Number of rows, or -1. */
int64_t hlth_db_outbox_count(hlth_db_t *self);
/* Calls fn(id, payload, created_at, arg) for every row, oldest first.
 * Returns the count or -1. */
typedef void (*hlth_db_outbox_fn)(const char *id, json_t *payload, int64_t created_at, void *arg);
int hlth_db_outbox_load(hlth_db_t *self, hlth_db_outbox_fn fn, void *arg);

#endif /* HLTH_DB_H */
