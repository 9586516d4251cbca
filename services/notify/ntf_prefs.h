/*
 * ntf_prefs.h - a user's notification preferences: each type on or off,
 * and quiet hours in the user's IANA time zone; and the decision they make
 * for a new notification.
 *
 * JSON (notify.prefs_get answers it, notify.prefs_set takes any part of it):
 *   {"types": {"health_alert": true, "medication_reminder": true,
 *              "appointment_reminder": true, "system": true},
 *    "quiet_hours": {"enabled": false, "start": "22:00", "end": "07:00",
 *                    "timezone": "UTC"}}
 * "quiet_hours": null (or false) turns quiet hours off. start == end means
 * no quiet time; start > end spans midnight.
 */
#ifndef NTF_PREFS_H
#define NTF_PREFS_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ntf_model.h"
#include "ntf_tz.h"

#define NTF_QUIET_START_DEFAULT (22 * 60) /* minutes after local midnight */
#define NTF_QUIET_END_DEFAULT (7 * 60)

typedef struct {
    bool type_on[NTF_TYPE_COUNT]; /* false: notifications of that type are muted */
    bool quiet;                   /* quiet hours enabled */
    int quiet_start;              /* minute of the local day, 0-1439 */
    int quiet_end;                /* minute of the local day, 0-1439 */
    char tz[NTF_TZ_NAME_MAX + 1]; /* IANA zone of the user */
} ntf_prefs_t;

/* What to do with a new notification. */
typedef enum {
    NTF_DECIDE_DELIVER = 0, /* publish now */
    NTF_DECIDE_HOLD,        /* quiet hours: publish when they end */
    NTF_DECIDE_MUTE,        /* type off: store and list only */
} ntf_decide_t;

/* The defaults: every type on, quiet hours off (22:00-07:00 UTC when
 * turned on without more). */
void ntf_prefs_default(ntf_prefs_t *p);

/* Reads user_id's preferences (the defaults when none are stored).
 * Returns 0 or -1. */
int ntf_prefs_get(sqlite3 *db, int64_t user_id, ntf_prefs_t *out);

/* Stores user_id's preferences. Returns 0 or -1. */
int ntf_prefs_put(sqlite3 *db, int64_t user_id, const ntf_prefs_t *p, int64_t now_ms);

/* The JSON form (caller owns). */
json_t *ntf_prefs_to_json(const ntf_prefs_t *p);

/* Applies a partial update (the JSON form, or {"preferences": <it>}) to
 * p after validating all of it; a zone must be known to tz. Returns 0, or
 * -1 with a one-line reason in err (p unchanged). */
int ntf_prefs_apply(ntf_prefs_t *p, const json_t *update, ntf_tz_t *tz, char *err, size_t errlen);

/* Whether wall_ms falls in p's quiet hours. An unknown zone counts as UTC. */
bool ntf_prefs_quiet_now(const ntf_prefs_t *p, ntf_tz_t *tz, int64_t wall_ms);

/* The decision for a notification of type and prio created at wall_ms:
 * MUTE when its type is off, HOLD in quiet hours, else DELIVER. A high or
 * critical health alert is never held, and a critical one never muted (a
 * safety choice: a switched-off type silences routine alerts, not an
 * emergency). */
ntf_decide_t ntf_prefs_decide(const ntf_prefs_t *p, ntf_type_t type, ntf_prio_t prio, ntf_tz_t *tz,
                              int64_t wall_ms);

#endif /* NTF_PREFS_H */
