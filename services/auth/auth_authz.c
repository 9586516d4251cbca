/*
 * auth_authz.c - who may do what (proto/SPEC.md section 7).
 */
#include "auth_authz.h"

#include <string.h>

/* True for the three subscribe actions. */
static bool
s_is_subscribe(const char *action)
{
    return strcmp(action, AUTH_ACTION_SUB_HEALTH) == 0 ||
           strcmp(action, AUTH_ACTION_SUB_CHAT) == 0 || strcmp(action, AUTH_ACTION_SUB_NOTIFY) == 0;
}

/* True for an action in the table above. */
static bool
s_is_known(const char *action)
{
    return action && (s_is_subscribe(action) || strcmp(action, AUTH_ACTION_MANAGE) == 0 ||
                      strcmp(action, AUTH_ACTION_PUBLISH) == 0 ||
                      strcmp(action, AUTH_ACTION_WRITE_THRESHOLDS) == 0);
}

auth_authz_rc_t
auth_authz_decide(auth_role_t role, const char *action, bool is_self, bool linked)
{
    if (!s_is_known(action))
        return AUTH_AUTHZ_UNKNOWN_ACTION;
    if (role == AUTH_ROLE_INVALID)
        return AUTH_AUTHZ_DENY;
    if (s_is_subscribe(action)) {
        if (is_self)
            return AUTH_AUTHZ_ALLOW;
        bool care_team = role == AUTH_ROLE_CAREGIVER || role == AUTH_ROLE_CLINICIAN;
        return care_team && linked ? AUTH_AUTHZ_ALLOW : AUTH_AUTHZ_DENY;
    }
    if (strcmp(action, AUTH_ACTION_WRITE_THRESHOLDS) == 0) /* caregivers only read */
        return is_self || (role == AUTH_ROLE_CLINICIAN && linked) ? AUTH_AUTHZ_ALLOW
                                                                  : AUTH_AUTHZ_DENY;
    if (strcmp(action, AUTH_ACTION_MANAGE) == 0)
        return role == AUTH_ROLE_ADMIN ? AUTH_AUTHZ_ALLOW : AUTH_AUTHZ_DENY;
    /* publish */
    return role == AUTH_ROLE_ADMIN || role == AUTH_ROLE_SERVICE ? AUTH_AUTHZ_ALLOW
                                                                : AUTH_AUTHZ_DENY;
}

auth_authz_rc_t
auth_authz_check(sqlite3 *db, int64_t actor_id, const char *action, int64_t target_id)
{
    if (!s_is_known(action))
        return AUTH_AUTHZ_UNKNOWN_ACTION;
    auth_user_t actor;
    int found = auth_db_user_get(db, actor_id, &actor);
    if (found < 0)
        return AUTH_AUTHZ_ERROR;
    if (found == 0 || !actor.active)
        return AUTH_AUTHZ_DENY;
    bool is_self = target_id == 0 || target_id == actor_id;
    int linked = 0;
    if (!is_self && (s_is_subscribe(action) || strcmp(action, AUTH_ACTION_WRITE_THRESHOLDS) == 0)) {
        linked = auth_db_linked(db, actor_id, target_id);
        if (linked < 0)
            return AUTH_AUTHZ_ERROR;
    }
    return auth_authz_decide(auth_role_parse(actor.role), action, is_self, linked == 1);
}
