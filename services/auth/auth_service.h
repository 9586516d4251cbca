/*
 * auth_service.h - the Majordomo service "auth" (proto/SPEC.md section 7):
 * request verbs in, replies out, bus events (sys.conn, sys.edge, sys.audit) in,
 * token_revoked events out. No sockets of its own except the borrowed PUB
 * socket: main.c owns the loop, so tests can drive the handlers directly.
 *
 *   auth.verify          {token, remote_addr?, endpoint?}  -> ack {user_id, role,
 *                        display_name, exp, jti}; opens/refreshes a session when
 *                        the envelope has conn_id (and edge)
 *   auth.authorize       {action, target_user_id?}, envelope user_id = actor
 *                        -> ack {allowed: true} | error forbidden
 *   auth.session_close   envelope conn_id -> ack {closed}
 *   auth.revoke          {jti} -> ack {jti, users}; token_revoked {jti} published
 *                        on ctl.user.<id> for each user with a session on it
 *   auth.sessions        {user_id?} -> ack {sessions, users_online, total}
 *
 * Replies carry the request's id and correlation_id. Unknown verbs get
 * unknown_verb, malformed data bad_request.
 */
#ifndef AUTH_SERVICE_H
#define AUTH_SERVICE_H

#include <czmq.h>
#include <sqlite3.h>
#include <stdint.h>

#include "auth_jwt.h"
#include "hm_envelope.h"

#define AUTH_EV_TOKEN_REVOKED "token_revoked" /* ctl.user.<id> event type */
#define AUTH_EV_CONN_CLOSE "conn_close"       /* sys.conn event type */
#define AUTH_REVOKE_NOTIFY_MAX 64             /* users told about one revoked jti */

typedef struct {
    sqlite3 *db;             /* borrowed; opened by auth_db_open */
    auth_jwt_t *jwt;         /* borrowed verifier */
    zsock_t *pub;            /* borrowed PUB socket to events_in; NULL: publish nothing */
    int max_per_user;        /* sessions per user across edges */
    int64_t edge_timeout_ms; /* silent edges lose their sessions; 0: never */
} auth_service_cfg_t;

typedef struct auth_service_t auth_service_t;

/* Creates the service; borrows what cfg points to. NULL on ENOMEM. */
auth_service_t *auth_service_new(const auth_service_cfg_t *cfg);
void auth_service_destroy(auth_service_t **self_p);

/* Handles one request. Returns the reply (caller owns), NULL only when out
 * of memory. Its writes commit before it returns, unless a batch is open. */
hm_envelope_t *auth_service_handle(auth_service_t *self, const hm_envelope_t *req);

/* Group commit: requests and events handled between begin and commit share
 * one transaction (one fsync for a burst). Send no reply before commit
 * returns 0; on -1 nothing of the batch was stored (rolled back, logged):
 * answer internal_error instead. begin returns 0 or -1. */
int auth_service_begin(auth_service_t *self);
int auth_service_commit(auth_service_t *self);

/* Handles one bus event received on topic (sys.conn, sys.edge, sys.audit;
 * others are ignored). A sys.audit event (hm_audit.h: a service refused a
 * request on its own) becomes one audit row: action = the refused verb,
 * result and code as sent, user_id = the actor, conn_id, remote_addr, and
 * detail "via=sys.audit service=<s> target_user_id=<id> target=<id>
 * role=<r> edge=<e>" (absent parts left out). A malformed one is counted and
 * dropped. */
void auth_service_on_event(auth_service_t *self, const char *topic, const hm_envelope_t *ev);

/* sys.audit events dropped as malformed, and written, since creation. */
uint64_t auth_service_audit_dropped(const auth_service_t *self);
uint64_t auth_service_audit_written(const auth_service_t *self);

/* Runs the timers: the sweep of silent edges, pruning of old revocations. */
void auth_service_tick(auth_service_t *self);

/* Milliseconds until auth_service_tick is due. */
int auth_service_tick_ms(auth_service_t *self);

#endif /* AUTH_SERVICE_H */
