/*
 * auth_session.h - the cluster-wide session registry: one row per
 * authenticated connection (conn_id) on any edge, kept in sqlite so that a
 * restart of hm-auth keeps the per-user counts.
 *
 * Edge liveness is tracked in memory: an edge is heard from when it sends a
 * heartbeat (sys.edge), a connection event (sys.conn) or opens a session.
 * An edge with sessions that has not been heard from for edge_timeout_ms has
 * all its sessions released. An edge first met by this process (after a
 * restart, every edge in the table) counts as heard at that moment, so it
 * gets one full timeout to speak up.
 *
 * Writes run in a transaction of their own, or in the caller's when one is
 * open on the handle.
 */
#ifndef AUTH_SESSION_H
#define AUTH_SESSION_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#define AUTH_SESSION_EDGES_MAX 4096 /* edges tracked; heartbeats of more are ignored */
#define AUTH_SESSION_LIST_MAX 1000  /* sessions listed by auth_session_list */

typedef enum {
    AUTH_SESSION_OPENED = 0,       /* a new session */
    AUTH_SESSION_REFRESHED = 1,    /* same conn_id, same user: token refreshed */
    AUTH_SESSION_E_LIMIT = -1,     /* the user has max_per_user sessions already */
    AUTH_SESSION_E_FORBIDDEN = -2, /* conn_id belongs to another user */
    AUTH_SESSION_E_DB = -3,        /* database error (logged) */
} auth_session_rc_t;

typedef struct {
    const char *conn_id; /* edge connection id */
    int64_t user_id;     /* authenticated user */
    const char *edge;    /* edge id */
    const char *jti;     /* token id */
    int64_t exp;         /* token expiry, unix seconds */
} auth_session_info_t;

/* Called for each session released by auth_session_release_edge() or the
 * sweep, before it is removed. */
typedef void(auth_session_release_fn)(const char *conn_id, int64_t user_id, const char *edge,
                                      void *arg);

typedef struct auth_session_t auth_session_t;

/* Creates the registry on db (borrowed; migrated by auth_db_open).
 * max_per_user >= 1; edge_timeout_ms 0 never releases silent edges. NULL on
 * allocation failure. */
auth_session_t *auth_session_new(sqlite3 *db, int max_per_user, int64_t edge_timeout_ms);
void auth_session_destroy(auth_session_t **self_p);

/* Opens a session, or refreshes it when conn_id is already the same user's
 * (its jti, exp and edge are updated). Counts the user's sessions on every
 * edge against max_per_user. Marks the edge as heard at now_ms. */
auth_session_rc_t auth_session_open(auth_session_t *self, const auth_session_info_t *info,
                                    int64_t now_ms);

/* Closes one session. Returns 1 (closed; *user_id set when not NULL), 0 (no
 * such session) or -1. */
int auth_session_close(auth_session_t *self, const char *conn_id, int64_t *user_id);

/* Releases every session of edge, calling fn (may be NULL) for each.
 * Returns the number released or -1. */
int auth_session_release_edge(auth_session_t *self, const char *edge, auth_session_release_fn *fn,
                              void *arg);

/* The number of sessions of user_id, or -1. */
int auth_session_count(auth_session_t *self, int64_t user_id);

/* Records that edge was heard from at now_ms (monotonic milliseconds). */
void auth_session_edge_seen(auth_session_t *self, const char *edge, int64_t now_ms);

/* Releases the sessions of every edge silent for longer than the timeout
 * (edges met for the first time count as heard at now_ms), and forgets
 * silent edges without sessions. Returns the number of sessions released
 * or -1. */
int auth_session_sweep(auth_session_t *self, int64_t now_ms, auth_session_release_fn *fn,
                       void *arg);

/* The distinct users with a session on token jti: up to max ids into ids.
 * Returns how many were written, or -1. */
int auth_session_users_of_jti(auth_session_t *self, const char *jti, int64_t *ids, int max);

/* The token expiry of jti as recorded by a session, 0 when unknown. */
int64_t auth_session_jti_exp(auth_session_t *self, const char *jti);

/* {sessions: [{conn_id, user_id, edge, opened_at}], users_online, total} for
 * user_id (0: everyone); at most AUTH_SESSION_LIST_MAX sessions listed,
 * oldest first, total counts all. Caller owns. NULL on error. */
json_t *auth_session_list(auth_session_t *self, int64_t user_id);

#endif /* AUTH_SESSION_H */
