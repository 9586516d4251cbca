/*
 * auth_session.c - the session registry in sqlite, and edge liveness in
 * memory.
 */
#include "auth_session.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hm_clock.h"
#include "hm_db.h"
#include "hm_log.h"

/* An edge we have heard from, and when (monotonic ms). */
typedef struct {
    char *id;        /* edge id; owned */
    int64_t last_ms; /* last heard */
} s_edge_t;

struct auth_session_t {
    sqlite3 *db;             /* borrowed */
    int max_per_user;        /* sessions per user across all edges */
    int64_t edge_timeout_ms; /* silence after which an edge's sessions go; 0: never */
    s_edge_t *edges;         /* edges heard from; owned */
    size_t nedges;           /* entries used */
    size_t cap;              /* entries allocated (at most AUTH_SESSION_EDGES_MAX) */
    bool edges_full_logged;  /* warned once that the edge table is full */
};

/* Runs a query returning one integer. Returns it (0 when no row, NULL
 * reads as 0) or -1; finalizes stmt. */
static int64_t
s_scalar(sqlite3 *db, sqlite3_stmt *stmt, const char *op)
{
    if (!stmt)
        return -1;
    int rc = sqlite3_step(stmt);
    int64_t value = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        hm_db_log_error(db, op);
        value = -1;
    }
    sqlite3_finalize(stmt);
    return value;
}

auth_session_t *
auth_session_new(sqlite3 *db, int max_per_user, int64_t edge_timeout_ms)
{
    auth_session_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->db = db;
    self->max_per_user = max_per_user > 0 ? max_per_user : 1;
    self->edge_timeout_ms = edge_timeout_ms > 0 ? edge_timeout_ms : 0;
    return self;
}

void
auth_session_destroy(auth_session_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    auth_session_t *self = *self_p;
    for (size_t i = 0; i < self->nedges; i++)
        free(self->edges[i].id);
    free(self->edges);
    free(self);
    *self_p = NULL;
}

/* Runs fn in a transaction of its own, or inside the caller's when one is
 * open (the service wraps each request in one: one commit per request). */
static int
s_tx(sqlite3 *db, hm_db_tx_fn fn, void *arg)
{
    return sqlite3_get_autocommit(db) ? hm_db_tx(db, fn, arg) : fn(db, arg);
}

/* ---- edges ------------------------------------------------------------ */

static s_edge_t *
s_edge_find(auth_session_t *self, const char *edge)
{
    for (size_t i = 0; i < self->nedges; i++)
        if (strcmp(self->edges[i].id, edge) == 0)
            return &self->edges[i];
    return NULL;
}

/* Adds edge heard at now_ms. Returns 0, or -1 at the bound or on ENOMEM. */
static int
s_edge_add(auth_session_t *self, const char *edge, int64_t now_ms)
{
    if (self->nedges == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        if (cap > AUTH_SESSION_EDGES_MAX)
            cap = AUTH_SESSION_EDGES_MAX;
        s_edge_t *edges = cap > self->cap ? realloc(self->edges, cap * sizeof *edges) : NULL;
        if (!edges) {
            if (!self->edges_full_logged)
                hm_log_warn("edge_table_full", "max=%d", AUTH_SESSION_EDGES_MAX);
            self->edges_full_logged = true;
            return -1;
        }
        self->edges = edges;
        self->cap = cap;
    }
    char *id = strdup(edge);
    if (!id)
        return -1;
    self->edges[self->nedges++] = (s_edge_t){id, now_ms};
    return 0;
}

void
auth_session_edge_seen(auth_session_t *self, const char *edge, int64_t now_ms)
{
    if (!edge || !*edge)
        return;
    s_edge_t *e = s_edge_find(self, edge);
    if (e)
        e->last_ms = now_ms;
    else
        s_edge_add(self, edge, now_ms);
}

/* Removes entry i (order is not kept). */
static void
s_edge_remove(auth_session_t *self, size_t i)
{
    free(self->edges[i].id);
    self->edges[i] = self->edges[--self->nedges];
}

/* ---- open / close ----------------------------------------------------- */

typedef struct {
    auth_session_t *self;            /* the registry */
    const auth_session_info_t *info; /* what to open */
    auth_session_rc_t result;        /* outcome */
} s_open_ctx_t;

/* Refreshes conn_id's row for the same user. Returns 0, 1 (refused) or -1. */
static int
s_refresh(sqlite3 *db, s_open_ctx_t *ctx, int64_t owner)
{
    const auth_session_info_t *info = ctx->info;
    if (owner != info->user_id) {
        ctx->result = AUTH_SESSION_E_FORBIDDEN;
        return 1;
    }
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "UPDATE sessions SET jti = ?, exp = ?, edge = ? WHERE conn_id = ?");
    if (stmt) {
        sqlite3_bind_text(stmt, 1, info->jti, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(stmt, 2, info->exp);
        sqlite3_bind_text(stmt, 3, info->edge, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 4, info->conn_id, -1, SQLITE_TRANSIENT);
    }
    if (hm_db_step_done(db, stmt, "session_refresh") < 0)
        return -1;
    ctx->result = AUTH_SESSION_REFRESHED;
    return 0;
}

/* Inserts a new session when the user is under the limit. */
static int
s_insert(sqlite3 *db, s_open_ctx_t *ctx)
{
    const auth_session_info_t *info = ctx->info;
    int64_t count = auth_session_count(ctx->self, info->user_id);
    if (count < 0)
        return -1;
    if (count >= ctx->self->max_per_user) {
        ctx->result = AUTH_SESSION_E_LIMIT;
        return 1;
    }
    sqlite3_stmt *stmt = hm_db_prepare(db, "INSERT INTO sessions (conn_id, user_id, edge, jti, "
                                           "exp, opened_at) VALUES (?, ?, ?, ?, ?, ?)");
    if (stmt) {
        sqlite3_bind_text(stmt, 1, info->conn_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(stmt, 2, info->user_id);
        sqlite3_bind_text(stmt, 3, info->edge, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 4, info->jti, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(stmt, 5, info->exp);
        sqlite3_bind_int64(stmt, 6, hm_clock_wall_ms());
    }
    if (hm_db_step_done(db, stmt, "session_insert") < 0)
        return -1;
    ctx->result = AUTH_SESSION_OPENED;
    return 0;
}

/* The transaction of auth_session_open. */
static int
s_open_tx(sqlite3 *db, void *arg)
{
    s_open_ctx_t *ctx = arg;
    sqlite3_stmt *stmt = hm_db_prepare(db, "SELECT user_id FROM sessions WHERE conn_id = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, ctx->info->conn_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(stmt);
    int64_t owner = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_finalize(stmt);
    if (rc == SQLITE_ROW)
        return s_refresh(db, ctx, owner);
    if (rc != SQLITE_DONE) {
        hm_db_log_error(db, "session_lookup");
        return -1;
    }
    return s_insert(db, ctx);
}

auth_session_rc_t
auth_session_open(auth_session_t *self, const auth_session_info_t *info, int64_t now_ms)
{
    s_open_ctx_t ctx = {self, info, AUTH_SESSION_E_DB};
    int rc = s_tx(self->db, s_open_tx, &ctx);
    if (rc < 0)
        return AUTH_SESSION_E_DB;
    if (ctx.result >= 0)
        auth_session_edge_seen(self, info->edge, now_ms);
    return ctx.result;
}

int
auth_session_close(auth_session_t *self, const char *conn_id, int64_t *user_id)
{
    sqlite3_stmt *stmt =
        hm_db_prepare(self->db, "DELETE FROM sessions WHERE conn_id = ? RETURNING user_id");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, conn_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW && user_id)
        *user_id = sqlite3_column_int64(stmt, 0);
    int closed = rc == SQLITE_ROW ? 1 : 0;
    if (rc == SQLITE_ROW)
        rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        hm_db_log_error(self->db, "session_close");
        return -1;
    }
    return closed;
}

int
auth_session_count(auth_session_t *self, int64_t user_id)
{
    sqlite3_stmt *stmt = hm_db_prepare(self->db, "SELECT count(*) FROM sessions WHERE user_id = ?");
    if (stmt)
        sqlite3_bind_int64(stmt, 1, user_id);
    return (int)s_scalar(self->db, stmt, "session_count");
}

/* ---- release ---------------------------------------------------------- */

typedef struct {
    const char *edge;            /* the edge whose sessions go */
    auth_session_release_fn *fn; /* told about each, may be NULL */
    void *arg;                   /* for fn */
    int released;                /* how many */
} s_release_ctx_t;

static int
s_release_tx(sqlite3 *db, void *arg)
{
    s_release_ctx_t *ctx = arg;
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "DELETE FROM sessions WHERE edge = ? RETURNING conn_id, user_id");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, ctx->edge, -1, SQLITE_TRANSIENT);
    /* RETURNING rows are all computed by the first step, before any
     * callback writes (audit rows go through the same connection). */
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        ctx->released++;
        if (ctx->fn)
            ctx->fn((const char *)sqlite3_column_text(stmt, 0), sqlite3_column_int64(stmt, 1),
                    ctx->edge, ctx->arg);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        hm_db_log_error(db, "session_release");
        return -1;
    }
    return 0;
}

int
auth_session_release_edge(auth_session_t *self, const char *edge, auth_session_release_fn *fn,
                          void *arg)
{
    s_release_ctx_t ctx = {edge, fn, arg, 0};
    if (s_tx(self->db, s_release_tx, &ctx) != 0)
        return -1;
    if (ctx.released > 0)
        hm_log_info("edge_sessions_released", "edge=%s sessions=%d", edge, ctx.released);
    return ctx.released;
}

/* Meets every edge that has sessions but is not tracked yet: it counts as
 * heard now (the grace period after a restart). Returns 0 or -1. */
static int
s_meet_db_edges(auth_session_t *self, int64_t now_ms)
{
    sqlite3_stmt *stmt = hm_db_prepare(self->db, "SELECT DISTINCT edge FROM sessions");
    if (!stmt)
        return -1;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *edge = (const char *)sqlite3_column_text(stmt, 0);
        if (edge && !s_edge_find(self, edge))
            s_edge_add(self, edge, now_ms);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        hm_db_log_error(self->db, "session_edges");
        return -1;
    }
    return 0;
}

int
auth_session_sweep(auth_session_t *self, int64_t now_ms, auth_session_release_fn *fn, void *arg)
{
    if (self->edge_timeout_ms == 0)
        return 0;
    if (s_meet_db_edges(self, now_ms) != 0)
        return -1;
    int total = 0;
    for (size_t i = 0; i < self->nedges;) {
        if (now_ms - self->edges[i].last_ms <= self->edge_timeout_ms) {
            i++;
            continue;
        }
        int n = auth_session_release_edge(self, self->edges[i].id, fn, arg);
        if (n < 0)
            return -1;
        if (n > 0)
            hm_log_warn("edge_silent", "edge=%s silent_ms=%lld", self->edges[i].id,
                        (long long)(now_ms - self->edges[i].last_ms));
        total += n;
        s_edge_remove(self, i);
    }
    return total;
}

/* ---- queries ---------------------------------------------------------- */

int
auth_session_users_of_jti(auth_session_t *self, const char *jti, int64_t *ids, int max)
{
    sqlite3_stmt *stmt = hm_db_prepare(
        self->db, "SELECT DISTINCT user_id FROM sessions WHERE jti = ? ORDER BY user_id LIMIT ?");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, jti, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(stmt, 2, max);
    int n = 0, rc = SQLITE_DONE;
    while (n < max && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
        ids[n++] = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        hm_db_log_error(self->db, "session_jti_users");
        return -1;
    }
    return n;
}

int64_t
auth_session_jti_exp(auth_session_t *self, const char *jti)
{
    sqlite3_stmt *stmt = hm_db_prepare(self->db, "SELECT max(exp) FROM sessions WHERE jti = ?");
    if (stmt)
        sqlite3_bind_text(stmt, 1, jti, -1, SQLITE_TRANSIENT);
    int64_t exp = s_scalar(self->db, stmt, "session_jti_exp");
    return exp > 0 ? exp : 0;
}

/* Appends the listed sessions of user_id (0: all) to array. Returns 0 or
 * -1. */
static int
s_list_rows(auth_session_t *self, int64_t user_id, json_t *array)
{
    sqlite3_stmt *stmt = hm_db_prepare(
        self->db, "SELECT conn_id, user_id, edge, opened_at FROM sessions "
                  "WHERE ?1 = 0 OR user_id = ?1 ORDER BY opened_at, conn_id LIMIT ?2");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int(stmt, 2, AUTH_SESSION_LIST_MAX);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        json_t *row =
            json_pack("{s:s, s:I, s:s, s:I}", "conn_id", (const char *)sqlite3_column_text(stmt, 0),
                      "user_id", (json_int_t)sqlite3_column_int64(stmt, 1), "edge",
                      (const char *)sqlite3_column_text(stmt, 2), "opened_at",
                      (json_int_t)sqlite3_column_int64(stmt, 3));
        if (!row || json_array_append_new(array, row) != 0)
            break;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        hm_db_log_error(self->db, "session_list");
        return -1;
    }
    return 0;
}

json_t *
auth_session_list(auth_session_t *self, int64_t user_id)
{
    json_t *sessions = json_array();
    if (!sessions || s_list_rows(self, user_id, sessions) != 0) {
        json_decref(sessions);
        return NULL;
    }
    sqlite3_stmt *stmt = hm_db_prepare(self->db, "SELECT count(*) FROM sessions "
                                                 "WHERE ?1 = 0 OR user_id = ?1");
    if (stmt)
        sqlite3_bind_int64(stmt, 1, user_id);
    int64_t total = s_scalar(self->db, stmt, "session_total");
    stmt = hm_db_prepare(self->db, "SELECT count(DISTINCT user_id) FROM sessions "
                                   "WHERE ?1 = 0 OR user_id = ?1");
    if (stmt)
        sqlite3_bind_int64(stmt, 1, user_id);
    int64_t users = s_scalar(self->db, stmt, "session_users");
    if (total < 0 || users < 0) {
        json_decref(sessions);
        return NULL;
    }
    return json_pack("{s:o, s:I, s:I}", "sessions", sessions, "users_online", (json_int_t)users,
                     "total", (json_int_t)total);
}
