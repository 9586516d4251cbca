/*
 * hm_audit.h - refusals a service decides on its own, for hm-auth's audit
 * log (proto/SPEC.md section 2.1).
 *
 * A service that answers `forbidden` without asking hm-auth publishes one
 * event on sys.audit (fire and forget: no round trip on the request's
 * path); hm-auth subscribes and appends an audit row. The event names ids
 * only: the actor (envelope user_id, conn_id, edge, copied from the refused
 * request), the service, the verb, the target user and resource ids. Never
 * a value, a message text or a token.
 *
 *   envelope: type "denied", user_id = actor (0: a bus caller), conn_id and
 *             edge of the refused request (or nil)
 *   data:     {service, action, result: "denied", code, target_user_id?,
 *              target?, role?, remote_addr?}
 *
 * hm_audit_parse() is the receiving side's check: hm-auth drops (and
 * counts) anything it refuses.
 */
#ifndef HM_AUDIT_H
#define HM_AUDIT_H

#include <czmq.h>
#include <stdint.h>

#include "hm_envelope.h"

#define HM_AUDIT_RESULT_DENIED "denied"
#define HM_AUDIT_NAME_MAX 64    /* service, action, code: [a-z0-9._:-] */
#define HM_AUDIT_ROLE_MAX 32    /* role: [a-z] */
#define HM_AUDIT_TARGET_MAX 128 /* target resource id: [A-Za-z0-9._:-] */
#define HM_AUDIT_ADDR_MAX 64    /* remote_addr: [0-9A-Fa-f.:[]] */

/* A received sys.audit event, checked. Strings borrowed from the envelope. */
typedef struct {
    int64_t actor_id;        /* envelope user_id; 0 when not a user */
    const char *conn_id;     /* envelope conn_id or NULL */
    const char *edge;        /* envelope edge or NULL */
    const char *service;     /* the refusing service */
    const char *action;      /* the refused verb */
    const char *result;      /* always HM_AUDIT_RESULT_DENIED */
    const char *code;        /* the error code answered (forbidden) */
    int64_t target_user_id;  /* whose data, 0 when none or unknown */
    const char *target;      /* resource id or NULL */
    const char *role;        /* the actor's role or NULL */
    const char *remote_addr; /* the client's address or NULL */
} hm_audit_event_t;

/* Publishes on pub the refusal of req (its type is the action, its user_id,
 * conn_id and edge the actor's) by service with code forbidden.
 * target_user_id: whose data it was (0: none or unknown); target: the
 * resource id (conversation, notification, reminder) or NULL. An id that
 * does not fit the event's charset or length is left out. pub NULL: does
 * nothing. Returns 0, or -1 (logged): the refusal stands either way. */
int hm_audit_denied(zsock_t *pub, const hm_envelope_t *req, const char *service,
                    int64_t target_user_id, const char *target);

/* As hm_audit_denied with an explicit code and the actor's role (NULL when
 * unknown). */
int hm_audit_denied_ex(zsock_t *pub, const hm_envelope_t *req, const char *service,
                       const char *code, const char *role, int64_t target_user_id,
                       const char *target);

/* Checks a sys.audit event. Returns 0 with *out filled (strings borrowed
 * from ev), or -1 with *why set to a short stable reason ("type",
 * "actor", "data", "service", "action", "result", "code", "target_user_id",
 * "target", "role", "remote_addr", "conn_id", "edge"). */
int hm_audit_parse(const hm_envelope_t *ev, hm_audit_event_t *out, const char **why);

#endif /* HM_AUDIT_H */
