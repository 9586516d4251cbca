/*
 * ntf_presence.c - connections per user.
 */
#include "ntf_presence.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>

struct ntf_presence_t {
    zhashx_t *conns; /* conn_id -> user id (intptr_t); values not owned */
    zhashx_t *users; /* "<user id>" -> connection count (intptr_t) */
};

ntf_presence_t *
ntf_presence_new(void)
{
    ntf_presence_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->conns = zhashx_new();
    self->users = zhashx_new();
    if (!self->conns || !self->users)
        ntf_presence_destroy(&self);
    return self;
}

void
ntf_presence_destroy(ntf_presence_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->conns);
    zhashx_destroy(&(*self_p)->users);
    free(*self_p);
    *self_p = NULL;
}

/* Adds delta to user_id's count; returns the new count. */
static intptr_t
s_add(ntf_presence_t *self, int64_t user_id, intptr_t delta)
{
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)user_id);
    intptr_t n = (intptr_t)zhashx_lookup(self->users, key) + delta;
    if (n <= 0)
        zhashx_delete(self->users, key);
    else
        zhashx_update(self->users, key, (void *)n);
    return n < 0 ? 0 : n;
}

bool
ntf_presence_open(ntf_presence_t *self, const char *conn_id, int64_t user_id)
{
    if (!conn_id || user_id <= 0 || zhashx_lookup(self->conns, conn_id))
        return false;
    if (zhashx_size(self->conns) >= NTF_PRESENCE_MAX)
        return false;
    zhashx_insert(self->conns, conn_id, (void *)(intptr_t)user_id);
    return s_add(self, user_id, 1) == 1;
}

int64_t
ntf_presence_close(ntf_presence_t *self, const char *conn_id, bool *last)
{
    *last = false;
    int64_t user_id = conn_id ? (int64_t)(intptr_t)zhashx_lookup(self->conns, conn_id) : 0;
    if (user_id <= 0)
        return 0;
    zhashx_delete(self->conns, conn_id);
    *last = s_add(self, user_id, -1) == 0;
    return user_id;
}

int
ntf_presence_count(ntf_presence_t *self, int64_t user_id)
{
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)user_id);
    return (int)(intptr_t)zhashx_lookup(self->users, key);
}

size_t
ntf_presence_users(ntf_presence_t *self)
{
    return zhashx_size(self->users);
}

/* Drops known connections (of for_user, or all when 0) missing from the
 * set seen. */
static void
s_drop_missing(ntf_presence_t *self, zhashx_t *seen, int64_t for_user)
{
    zlistx_t *gone = zlistx_new();
    if (!gone)
        return;
    zlistx_set_destructor(gone, (zlistx_destructor_fn *)zstr_free);
    zlistx_set_duplicator(gone, (zlistx_duplicator_fn *)strdup);
    for (void *v = zhashx_first(self->conns); v; v = zhashx_next(self->conns)) {
        const char *conn_id = zhashx_cursor(self->conns);
        if ((for_user == 0 || (int64_t)(intptr_t)v == for_user) && !zhashx_lookup(seen, conn_id))
            zlistx_add_end(gone, (void *)conn_id);
    }
    bool last;
    for (char *c = zlistx_first(gone); c; c = zlistx_next(gone))
        ntf_presence_close(self, c, &last);
    zlistx_destroy(&gone);
}

int
ntf_presence_sync(ntf_presence_t *self, const json_t *sessions, bool complete, int64_t for_user,
                  ntf_presence_fn *on_online, void *arg)
{
    zhashx_t *seen = zhashx_new();
    if (!seen)
        return 0;
    size_t i;
    json_t *s;
    int n = 0;
    json_array_foreach(sessions, i, s)
    {
        const char *conn_id = json_string_value(json_object_get(s, "conn_id"));
        int64_t user_id = json_integer_value(json_object_get(s, "user_id"));
        if (!conn_id || user_id <= 0)
            continue;
        zhashx_update(seen, conn_id, (void *)1);
        n++;
        if (ntf_presence_open(self, conn_id, user_id) && on_online)
            on_online(user_id, arg);
    }
    if (complete)
        s_drop_missing(self, seen, for_user);
    zhashx_destroy(&seen);
    return n;
}
