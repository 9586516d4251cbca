/*
 * auth_db.h - hm-auth's sqlite database: schema (users, care links, revoked
 * token ids, sessions, audit) and the queries on users, links and
 * revocations. Sessions live in auth_session, audit rows in auth_audit.
 *
 * Never stores tokens or health data: a token is known only by its jti.
 * Functions that look something up return 1 (found / yes), 0 (not found /
 * no) or -1 (database error, logged by hm_db).
 */
#ifndef AUTH_DB_H
#define AUTH_DB_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#define AUTH_DB_BUSY_MS 5000 /* sqlite busy timeout */
#define AUTH_NAME_MAX 255    /* display_name bytes */
#define AUTH_ROLE_MAX 16     /* longest role name + NUL */
#define AUTH_JTI_MAX 255     /* jti bytes */

typedef enum {
    AUTH_ROLE_INVALID = 0,
    AUTH_ROLE_PATIENT,   /* own data */
    AUTH_ROLE_CAREGIVER, /* own data + linked patients, read-only */
    AUTH_ROLE_CLINICIAN, /* own data + linked patients, read-only */
    AUTH_ROLE_ADMIN,     /* management */
    AUTH_ROLE_SERVICE,   /* bus tools */
} auth_role_t;

/* "patient" -> AUTH_ROLE_PATIENT, ...; AUTH_ROLE_INVALID for anything else
 * (NULL included). */
auth_role_t auth_role_parse(const char *name);

/* The name of a role (static string), "" for AUTH_ROLE_INVALID. */
const char *auth_role_name(auth_role_t role);

typedef struct {
    int64_t id;                           /* user id, > 0 */
    char display_name[AUTH_NAME_MAX + 1]; /* shown to other users */
    char role[AUTH_ROLE_MAX];             /* patient, caregiver, clinician, admin, service */
    bool active;                          /* false: disabled, every token refused */
} auth_user_t;

/* Opens (creating, migrating) the database at path. Caller owns the handle
 * (hm_db_close). NULL on failure (logged). */
sqlite3 *auth_db_open(const char *path);

/* Reads user id into *out. Returns 1, 0 (no such user) or -1. */
int auth_db_user_get(sqlite3 *db, int64_t id, auth_user_t *out);

/* Adds a user. id 0 lets sqlite choose the next one. On success returns 0
 * and the new id in *out_id; -1 on a bad role, a taken id or a database
 * error. */
int auth_db_user_add(sqlite3 *db, const char *display_name, const char *role, int64_t id,
                     int64_t *out_id);

/* Enables or disables a user. Returns 1, 0 (no such user) or -1. */
int auth_db_user_set_active(sqlite3 *db, int64_t id, bool active);

/* Every user as a JSON array of {id, display_name, role, active}, in id
 * order. Caller owns. NULL on error. */
json_t *auth_db_user_list(sqlite3 *db);

/* Links a care-team member to a patient (idempotent). Returns 0 or -1. */
int auth_db_link_add(sqlite3 *db, int64_t member_id, int64_t patient_id);

/* The active care-team members linked to patient_id as a JSON array of
 * {id, display_name, role}. Caller owns. NULL on error. */
json_t *auth_db_care_team(sqlite3 *db, int64_t patient_id);

/* Whether member_id is linked to patient_id. Returns 1, 0 or -1. */
int auth_db_linked(sqlite3 *db, int64_t member_id, int64_t patient_id);

/* Records jti as revoked (idempotent: the first revocation time stays).
 * exp is the token's expiry in unix seconds, 0 when unknown (kept for
 * good). Returns 0 or -1. */
int auth_db_revoke(sqlite3 *db, const char *jti, int64_t exp_s);

/* Whether jti is revoked. Returns 1, 0 or -1. */
int auth_db_is_revoked(sqlite3 *db, const char *jti);

/* Forgets revocations of tokens that expired before before_s (they are
 * refused as expired anyway). Returns the number removed or -1. */
int auth_db_revoked_prune(sqlite3 *db, int64_t before_s);

#endif /* AUTH_DB_H */
