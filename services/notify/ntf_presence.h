/*
 * ntf_presence.h - who is online: the authenticated connections per user,
 * from the edges' sys.conn events (conn_auth, conn_close) and from
 * hm-auth's session registry (auth.sessions), which is the authority when
 * they disagree.
 *
 * Kept per connection id, so a repeated or late event counts once. Bounded:
 * at most NTF_PRESENCE_MAX connections are tracked; past that a new one is
 * not recorded (its user may look offline; the auth.sessions check before an
 * escalation corrects that).
 */
#ifndef NTF_PRESENCE_H
#define NTF_PRESENCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define NTF_PRESENCE_MAX 1000000 /* connections tracked */

typedef struct ntf_presence_t ntf_presence_t;

ntf_presence_t *ntf_presence_new(void);
void ntf_presence_destroy(ntf_presence_t **self_p);

/* A connection of user_id authenticated. Returns true when the user was
 * offline before (first connection). */
bool ntf_presence_open(ntf_presence_t *self, const char *conn_id, int64_t user_id);

/* A connection closed. Returns its user (0 when unknown) and sets *last
 * when that was the user's last connection. */
int64_t ntf_presence_close(ntf_presence_t *self, const char *conn_id, bool *last);

/* The number of live connections of user_id. */
int ntf_presence_count(ntf_presence_t *self, int64_t user_id);

/* Takes hm-auth's sessions ([{conn_id, user_id, ...}]): adds the ones not
 * known. When complete (the list is all of them) connections it lacks are
 * dropped too (for_user > 0: only that user's). Calls on_online(user, arg)
 * for each user that went from offline to online. Returns the number of
 * sessions taken. */
typedef void(ntf_presence_fn)(int64_t user_id, void *arg);
int ntf_presence_sync(ntf_presence_t *self, const json_t *sessions, bool complete, int64_t for_user,
                      ntf_presence_fn *on_online, void *arg);

/* Users online now. */
size_t ntf_presence_users(ntf_presence_t *self);

#endif /* NTF_PRESENCE_H */
