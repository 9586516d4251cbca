/*
 * ntf_query.h - queries over many notifications: a user's open queue, the
 * replay of a stream, paged lists, the queue bound, expiry and purging.
 */
#ifndef NTF_QUERY_H
#define NTF_QUERY_H

#include <sqlite3.h>

#include "ntf_model.h"

#define NTF_LIST_MAX 100   /* entries per list page */
#define NTF_REPLAY_MAX 500 /* events per notify.replay answer (SPEC 8.1) */

/* Called for each row; the row is borrowed (cleared after the call).
 * Return non-zero to stop. */
typedef int(ntf_row_fn)(const ntf_row_t *row, void *arg);

/* user_id's notifications in state status (PENDING or HELD), in seq order,
 * at most limit. Returns the number visited or -1. */
int ntf_query_open(sqlite3 *db, int64_t user_id, ntf_status_t status, int limit, ntf_row_fn *fn,
                   void *arg);

/* The replay of user_id's stream after since_seq, in seq order, at most
 * limit: what was or is to be delivered live (PENDING, and ACKED ones that
 * were published), not HELD, MUTED, EXPIRED or EVICTED ones. user_id 0 is
 * the all.notify stream. Sets *more when rows beyond limit exist. Returns
 * the number visited or -1. */
int ntf_query_since(sqlite3 *db, int64_t user_id, int64_t since_seq, int limit, bool *more,
                    ntf_row_fn *fn, void *arg);

/* One page of user_id's notifications and the broadcasts, newest first,
 * with row id below before (0: from the newest), at most limit, only unread
 * ones when unread_only. Returns a JSON array of ntf_render_item() entries
 * (caller owns) and *next (the cursor for the next page, 0 when this was the
 * last); NULL on error. */
json_t *ntf_query_list(sqlite3 *db, int64_t user_id, int64_t before, int limit, bool unread_only,
                       int64_t *next);

/* The queue bound: while user_id has more than max PENDING or HELD
 * notifications, the oldest LOW one, else the oldest NORMAL one becomes
 * EVICTED; HIGH and CRITICAL ones are never evicted (the queue may then stay
 * above max). Returns the number evicted or -1. */
int ntf_query_evict(sqlite3 *db, int64_t user_id, int max);

/* PENDING and HELD notifications whose expiry passed become EXPIRED.
 * Returns the number or -1. */
int ntf_query_expire(sqlite3 *db, int64_t now_ms);

/* Up to max distinct users with HELD notifications into users. Returns
 * the count or -1. */
int ntf_query_held_users(sqlite3 *db, int64_t *users, int max);

/* The highest seq of user_id's stream ever published (0 when none), or -1. */
int64_t ntf_query_max_sent_seq(sqlite3 *db, int64_t user_id);

/* Deletes finished notifications (not PENDING or HELD) created before
 * before_ms, and broadcasts created before it, with their receipts and
 * escalations. Returns the number deleted or -1. */
int ntf_query_purge(sqlite3 *db, int64_t before_ms);

#endif /* NTF_QUERY_H */
