/*
 * ntf_prefs.c - preferences: storage, JSON, validation, decisions.
 */
#include "ntf_prefs.h"

#include <stdio.h>
#include <string.h>

#include "hm_db.h"
#include "ntf_store.h"

void
ntf_prefs_default(ntf_prefs_t *p)
{
    memset(p, 0, sizeof *p);
    for (int t = 0; t < NTF_TYPE_COUNT; t++)
        p->type_on[t] = true;
    p->quiet_start = NTF_QUIET_START_DEFAULT;
    p->quiet_end = NTF_QUIET_END_DEFAULT;
    snprintf(p->tz, sizeof p->tz, "UTC");
}

int
ntf_prefs_get(sqlite3 *db, int64_t user_id, ntf_prefs_t *out)
{
    ntf_prefs_default(out);
    sqlite3_stmt *stmt = hm_db_prepare(
        db, "SELECT disabled, quiet, quiet_start, quiet_end, tz FROM prefs WHERE user_id = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        int64_t disabled = sqlite3_column_int64(stmt, 0);
        for (int t = 0; t < NTF_TYPE_COUNT; t++)
            out->type_on[t] = !(disabled & (1 << t));
        out->quiet = sqlite3_column_int(stmt, 1) != 0;
        out->quiet_start = sqlite3_column_int(stmt, 2) % 1440;
        out->quiet_end = sqlite3_column_int(stmt, 3) % 1440;
        const unsigned char *tz = sqlite3_column_text(stmt, 4);
        snprintf(out->tz, sizeof out->tz, "%s", tz ? (const char *)tz : "UTC");
    } else if (rc != SQLITE_DONE) {
        hm_db_log_error(db, "prefs_get");
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int
ntf_prefs_put(sqlite3 *db, int64_t user_id, const ntf_prefs_t *p, int64_t now_ms)
{
    int64_t disabled = 0;
    for (int t = 0; t < NTF_TYPE_COUNT; t++)
        if (!p->type_on[t])
            disabled |= 1 << t;
    sqlite3_stmt *stmt = hm_db_prepare(
        db, "INSERT INTO prefs (user_id, disabled, quiet, quiet_start, quiet_end, tz, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET "
            "disabled = excluded.disabled, quiet = excluded.quiet, "
            "quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, "
            "tz = excluded.tz, updated_at = excluded.updated_at");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int64(stmt, 2, disabled);
    sqlite3_bind_int(stmt, 3, p->quiet ? 1 : 0);
    sqlite3_bind_int(stmt, 4, p->quiet_start);
    sqlite3_bind_int(stmt, 5, p->quiet_end);
    sqlite3_bind_text(stmt, 6, p->tz, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 7, now_ms);
    return hm_db_step_done(db, stmt, "prefs_put") < 0 ? -1 : 0;
}

/* "HH:MM" for a minute of the day into out (8 bytes). */
static const char *
s_hhmm(int minute, char *out)
{
    unsigned m = (unsigned)minute % 1440;
    snprintf(out, 8, "%02u:%02u", m / 60, m % 60);
    return out;
}

json_t *
ntf_prefs_to_json(const ntf_prefs_t *p)
{
    json_t *types = json_object();
    for (int t = 0; t < NTF_TYPE_COUNT; t++)
        json_object_set_new(types, ntf_type_name((ntf_type_t)t), json_boolean(p->type_on[t]));
    char a[8], b[8];
    return json_pack("{s:o, s:{s:b, s:s, s:s, s:s}}", "types", types, "quiet_hours", "enabled",
                     p->quiet, "start", s_hhmm(p->quiet_start, a), "end", s_hhmm(p->quiet_end, b),
                     "timezone", p->tz);
}

/* Parses "HH:MM" (00:00-23:59; "24:00" is midnight). Returns the minute of
 * the day or -1. */
static int
s_parse_hhmm(const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s || strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h == 24 && m == 0)
        return 0;
    return h < 24 && m < 60 ? h * 60 + m : -1;
}

/* Applies "types" to p. Returns 0 or -1 with err set. */
static int
s_apply_types(ntf_prefs_t *p, const json_t *types, char *err, size_t errlen)
{
    if (!json_is_object(types)) {
        snprintf(err, errlen, "'types' must be an object of booleans");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)types, key, v)
    {
        int t = ntf_type_parse(key);
        if (t < 0 || !json_is_boolean(v)) {
            snprintf(err, errlen,
                     "'types' takes health_alert, medication_reminder, "
                     "appointment_reminder and system, each true or false");
            return -1;
        }
        p->type_on[t] = json_is_true(v);
    }
    return 0;
}

/* Applies "quiet_hours" to p. Returns 0 or -1 with err set. */
static int
s_apply_quiet(ntf_prefs_t *p, const json_t *q, ntf_tz_t *tz, char *err, size_t errlen)
{
    if (json_is_null(q) || json_is_false(q)) {
        p->quiet = false;
        return 0;
    }
    if (!json_is_object(q)) {
        snprintf(err, errlen, "'quiet_hours' must be an object or null");
        return -1;
    }
    json_t *en = json_object_get(q, "enabled"), *st = json_object_get(q, "start");
    json_t *end = json_object_get(q, "end"), *zone = json_object_get(q, "timezone");
    int start_min = st ? s_parse_hhmm(st) : p->quiet_start;
    int end_min = end ? s_parse_hhmm(end) : p->quiet_end;
    if ((en && !json_is_boolean(en)) || start_min < 0 || end_min < 0) {
        snprintf(err, errlen, "quiet_hours: 'enabled' is a boolean, 'start' and 'end' are HH:MM");
        return -1;
    }
    char name[NTF_TZ_NAME_MAX + 1] = {0};
    const char *given = zone ? json_string_value(zone) : p->tz;
    int32_t off;
    if (!given || !ntf_tz_name_ok(given) || ntf_tz_offset(tz, given, 0, &off) != 0) {
        snprintf(err, errlen, "quiet_hours: 'timezone' must be an IANA time zone name");
        return -1;
    }
    p->quiet = en ? json_is_true(en) : true;
    p->quiet_start = start_min;
    p->quiet_end = end_min;
    snprintf(name, sizeof name, "%s", given); /* given may be p->tz itself */
    memcpy(p->tz, name, sizeof p->tz);
    return 0;
}

int
ntf_prefs_apply(ntf_prefs_t *p, const json_t *update, ntf_tz_t *tz, char *err, size_t errlen)
{
    json_t *inner = json_object_get(update, "preferences");
    if (json_is_object(inner))
        update = inner;
    if (!json_is_object(update)) {
        snprintf(err, errlen, "preferences must be an object");
        return -1;
    }
    ntf_prefs_t next = *p;
    json_t *types = json_object_get(update, "types");
    json_t *quiet = json_object_get(update, "quiet_hours");
    if (types && s_apply_types(&next, types, err, errlen) != 0)
        return -1;
    if (quiet && s_apply_quiet(&next, quiet, tz, err, errlen) != 0)
        return -1;
    if (!types && !quiet) {
        snprintf(err, errlen, "nothing to update: give 'types' and/or 'quiet_hours'");
        return -1;
    }
    *p = next;
    return 0;
}

bool
ntf_prefs_quiet_now(const ntf_prefs_t *p, ntf_tz_t *tz, int64_t wall_ms)
{
    if (!p->quiet || p->quiet_start == p->quiet_end)
        return false;
    int m = ntf_tz_local_minute(tz, p->tz, wall_ms);
    if (m < 0)
        m = ntf_tz_local_minute(tz, "UTC", wall_ms);
    if (m < 0)
        m = (int)((wall_ms / 60000) % 1440);
    if (p->quiet_start < p->quiet_end)
        return m >= p->quiet_start && m < p->quiet_end;
    return m >= p->quiet_start || m < p->quiet_end;
}

ntf_decide_t
ntf_prefs_decide(const ntf_prefs_t *p, ntf_type_t type, ntf_prio_t prio, ntf_tz_t *tz,
                 int64_t wall_ms)
{
    bool health = type == NTF_TYPE_HEALTH_ALERT;
    if (!p->type_on[type] && !(health && prio == NTF_PRIO_CRITICAL))
        return NTF_DECIDE_MUTE;
    if (health && prio >= NTF_PRIO_HIGH)
        return NTF_DECIDE_DELIVER;
    return ntf_prefs_quiet_now(p, tz, wall_ms) ? NTF_DECIDE_HOLD : NTF_DECIDE_DELIVER;
}
