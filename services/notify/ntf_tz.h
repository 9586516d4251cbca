/*
 * ntf_tz.h - IANA time zones read from the tz database's TZif files
 * (RFC 8536), for quiet hours in the user's zone.
 *
 * Why not setenv("TZ") + localtime_r: the webhook thread (libcurl, OpenSSL)
 * may read the environment at any moment and setenv is not thread-safe, so
 * the process's TZ is never touched; zones are parsed here instead.
 *
 * A zone is read once from <dir>/<name> and cached (at most NTF_TZ_CACHE
 * zones; past the bound the cache is emptied and refilled). The 64-bit part
 * of version 2+ files is used when present. The offset of an instant is the
 * one of the last transition at or before it; before the first transition,
 * time type 0's. After the last transition the footer's POSIX TZ string
 * gives the offset when it has no daylight-saving rule; otherwise the last
 * transition's type holds, which is right until the end of Debian's "fat"
 * files (2037).
 */
#ifndef NTF_TZ_H
#define NTF_TZ_H

#include <stdbool.h>
#include <stdint.h>

#define NTF_TZ_NAME_MAX 63     /* bytes of a zone name */
#define NTF_TZ_CACHE 256       /* zones kept parsed */
#define NTF_TZ_FILE_MAX 262144 /* bytes read from one zone file */

typedef struct ntf_tz_t ntf_tz_t;

/* A cache over the zone files under dir (e.g. /usr/share/zoneinfo); dir is
 * copied. NULL on ENOMEM. */
ntf_tz_t *ntf_tz_new(const char *dir);
void ntf_tz_destroy(ntf_tz_t **self_p);

/* Whether name has the shape of a zone name: 1-63 bytes of [A-Za-z0-9_+-/],
 * no empty, "." or ".." component, not starting or ending with '/'. */
bool ntf_tz_name_ok(const char *name);

/* The UT offset in seconds (east positive) of zone name at unix_s. Returns
 * 0, or -1 when the zone is unknown or its file is malformed. */
int ntf_tz_offset(ntf_tz_t *self, const char *name, int64_t unix_s, int32_t *offset_s);

/* Minute of the local day (0-1439) in zone name at wall_ms, or -1. */
int ntf_tz_local_minute(ntf_tz_t *self, const char *name, int64_t wall_ms);

#endif /* NTF_TZ_H */
