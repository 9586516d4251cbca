/*
 * auth_audit.h - the append-only audit log (sqlite table `audit`, whose
 * triggers refuse UPDATE and DELETE): who, what, when, from where, result.
 *
 * An entry never holds a token, a health value or a message: only ids,
 * the action, the result and the error code.
 */
#ifndef AUTH_AUDIT_H
#define AUTH_AUDIT_H

#include <sqlite3.h>
#include <stdint.h>

/* Actions. */
#define AUTH_AUDIT_VERIFY "verify"
#define AUTH_AUDIT_AUTHORIZE "authorize"
#define AUTH_AUDIT_REVOKE "revoke"
#define AUTH_AUDIT_SESSION_OPEN "session_open"
#define AUTH_AUDIT_SESSION_REFRESH "session_refresh"
#define AUTH_AUDIT_SESSION_CLOSE "session_close"
#define AUTH_AUDIT_SESSION_RELEASE "session_release"

/* Results. */
#define AUTH_AUDIT_OK "ok"
#define AUTH_AUDIT_DENIED "denied"
#define AUTH_AUDIT_ERROR "error"

typedef struct {
    int64_t user_id;         /* the user concerned, 0 when unknown */
    const char *conn_id;     /* edge connection id or NULL */
    const char *remote_addr; /* client address as the edge saw it, or NULL */
    const char *action;      /* AUTH_AUDIT_VERIFY, ... */
    const char *result;      /* AUTH_AUDIT_OK, _DENIED or _ERROR */
    const char *code;        /* error code (HM_ERR_*) or NULL */
    const char *detail;      /* short non-sensitive detail (edge, jti, action name) or NULL */
} auth_audit_entry_t;

/* Appends one entry stamped with hm_clock_wall_ms(). Strings are cut at
 * 255 bytes. A failure is logged (and returns -1); the caller goes on. */
int auth_audit_write(sqlite3 *db, const auth_audit_entry_t *entry);

#endif /* AUTH_AUDIT_H */
