/*
 * auth_authz.h - authorization rules (proto/SPEC.md section 7).
 *
 *   subscribe:health_updates, subscribe:chat, subscribe:notifications
 *       own data: every active user; another user's (target_user_id): a
 *       caregiver or clinician linked to that patient in the care team,
 *       nobody else (admins included)
 *   manage      admin only
 *   publish     service and admin
 */
#ifndef AUTH_AUTHZ_H
#define AUTH_AUTHZ_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth_db.h"

#define AUTH_ACTION_SUB_HEALTH "subscribe:health_updates"
#define AUTH_ACTION_SUB_CHAT "subscribe:chat"
#define AUTH_ACTION_SUB_NOTIFY "subscribe:notifications"
#define AUTH_ACTION_MANAGE "manage"
#define AUTH_ACTION_WRITE_THRESHOLDS "write:health_thresholds" /* self, or a linked clinician */
#define AUTH_ACTION_PUBLISH "publish"

typedef enum {
    AUTH_AUTHZ_ALLOW = 0,
    AUTH_AUTHZ_DENY = 1,            /* HM_ERR_FORBIDDEN */
    AUTH_AUTHZ_UNKNOWN_ACTION = -1, /* HM_ERR_BAD_REQUEST */
    AUTH_AUTHZ_ERROR = -2,          /* database error: HM_ERR_INTERNAL */
} auth_authz_rc_t;

/* The rule itself, without the database: may a user of role do action on
 * target's data (is_self: target is the actor or none; linked: the actor
 * is in target's care team)? */
auth_authz_rc_t auth_authz_decide(auth_role_t role, const char *action, bool is_self, bool linked);

/* Looks up actor (must exist and be active, else deny) and the care link,
 * then decides. target_id 0 means the actor's own data. */
auth_authz_rc_t auth_authz_check(sqlite3 *db, int64_t actor_id, const char *action,
                                 int64_t target_id);

#endif /* AUTH_AUTHZ_H */
