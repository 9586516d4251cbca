/*
 * ntf_deliver.c - getting notifications to the edges: the outbox published
 * after commit, the re-publishing of a user's open queue for a new
 * connection, re-sends of unacked high and critical ones, the release of
 * held ones when quiet hours end, expiry and purging.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_bus.h"
#include "hm_clock.h"
#include "hm_log.h"
#include "ntf_query.h"
#include "ntf_service_int.h"
#include "ntf_store.h"

/* One event waiting in the outbox. */
typedef struct {
    char topic[HM_TOPIC_MAX]; /* where */
    hm_envelope_t *env;       /* what; owned */
} s_pub_t;

/* ---- the outbox ------------------------------------------------------------- */

void
ntf_deliver_publish(ntf_service_t *self, const ntf_row_t *row, bool with_seq, int resend)
{
    s_pub_t *p = calloc(1, sizeof *p);
    if (p)
        p->env = ntf_render_event(row, with_seq, resend);
    if (!p || !p->env) {
        free(p);
        hm_log_error("publish_failed", "nid=%lld reason=nomem", (long long)row->nid);
        return;
    }
    if (row->user_id > 0)
        snprintf(p->topic, sizeof p->topic, HM_TOPIC_USER_NOTIFY_FMT, (long long)row->user_id);
    else
        snprintf(p->topic, sizeof p->topic, "%s", HM_TOPIC_ALL_NOTIFY);
    zlistx_add_end(self->outbox, p);
    if (!row->sent_at)
        ntf_store_mark_sent(self->cfg.db, row->nid, hm_clock_wall_ms());
}

void
ntf_deliver_flush_outbox(ntf_service_t *self, bool publish)
{
    s_pub_t *p;
    while ((p = zlistx_detach(self->outbox, NULL))) {
        if (publish && self->cfg.pub) {
            if (hm_bus_publish(self->cfg.pub, p->topic, p->env) == 0)
                self->stats.published++;
            else
                hm_log_error("publish_failed", "topic=%s", p->topic);
        }
        hm_envelope_destroy(&p->env);
        free(p);
    }
}

/* ---- re-sends ---------------------------------------------------------------- */

void
ntf_deliver_schedule(ntf_service_t *self, const ntf_row_t *row)
{
    if (row->user_id <= 0 || row->prio < NTF_PRIO_HIGH || row->status != NTF_ST_PENDING ||
        row->attempts > self->cfg.resend.max ||
        ntf_presence_count(self->presence, row->user_id) == 0)
        return;
    /* After the last re-send one more interval passes before giving up. */
    int n = row->attempts < self->cfg.resend.max ? row->attempts : self->cfg.resend.max - 1;
    ntf_resend_item_t item = {ntf_now_ms() + ntf_backoff_delay(&self->cfg.resend, n), row->nid,
                              row->user_id};
    if (ntf_resend_add(self->resend, &item) < 0)
        hm_log_warn("resend_schedule_full", "nid=%lld", (long long)row->nid);
}

/* One due re-send: publish again without seq, or give up (and escalate a
 * critical one) when the re-sends ran out. */
static void
s_resend(ntf_service_t *self, const ntf_resend_item_t *item)
{
    ntf_row_t row;
    if (ntf_store_get_nid(self->cfg.db, item->nid, &row) != 1)
        return;
    /* The entry is a hint: the row may have been acked, expired, or (after
     * a rolled-back batch) be another notification by now. */
    if (row.status == NTF_ST_PENDING && row.prio >= NTF_PRIO_HIGH && row.user_id == item->user_id &&
        ntf_presence_count(self->presence, row.user_id) > 0) {
        if (row.attempts >= self->cfg.resend.max) {
            hm_log_info("resend_exhausted", "nid=%lld user_id=%lld attempts=%d", (long long)row.nid,
                        (long long)row.user_id, row.attempts);
            if (row.prio == NTF_PRIO_CRITICAL)
                ntf_escalate_add(self->esc, &row, "unacked");
        } else {
            row.attempts++;
            ntf_store_set_attempts(self->cfg.db, row.nid, row.attempts);
            ntf_deliver_publish(self, &row, false, row.attempts);
            self->stats.resent++;
            hm_log_debug("resent", "nid=%lld attempt=%d", (long long)row.nid, row.attempts);
            ntf_deliver_schedule(self, &row);
        }
    }
    ntf_row_clear(&row);
}

/* Runs the re-sends that are due, in one transaction. */
static void
s_resend_due(ntf_service_t *self)
{
    int64_t next = ntf_resend_next(self->resend);
    if (next < 0 || next > ntf_now_ms() || ntf_service_begin(self) != 0)
        return;
    ntf_resend_item_t item;
    for (int n = 0; n < NTF_RESEND_BATCH && ntf_resend_pop_due(self->resend, ntf_now_ms(), &item);
         n++)
        s_resend(self, &item);
    ntf_service_commit(self);
}

/* ---- re-publishing and held notifications ------------------------------------ */

/* Row ids being collected before they are worked on (sqlite does not
 * promise what a SELECT sees of rows changed while it runs). */
typedef struct {
    int64_t *nids; /* owned */
    int n, cap;
} s_nids_t;

static int
s_collect(const ntf_row_t *row, void *arg)
{
    s_nids_t *c = arg;
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 64;
        int64_t *nids = realloc(c->nids, (size_t)cap * sizeof *nids);
        if (!nids)
            return 1;
        c->nids = nids;
        c->cap = cap;
    }
    c->nids[c->n++] = row->nid;
    return 0;
}

/* Publishes user_id's held notifications when quiet hours are over: with
 * their seq when above everything already published, else as re-sends
 * without seq (a connection that saw a higher seq would drop them).
 * Returns the number released. */
static int
s_release_held(ntf_service_t *self, int64_t user_id)
{
    ntf_prefs_t prefs;
    if (ntf_service_prefs(self, user_id, &prefs) != 0 ||
        ntf_prefs_quiet_now(&prefs, self->tz, hm_clock_wall_ms()))
        return 0;
    int64_t max_sent = ntf_query_max_sent_seq(self->cfg.db, user_id);
    s_nids_t c = {NULL, 0, 0};
    ntf_query_open(self->cfg.db, user_id, NTF_ST_HELD, NTF_FLUSH_MAX, s_collect, &c);
    bool online = ntf_presence_count(self->presence, user_id) > 0;
    for (int i = 0; i < c.n; i++) {
        ntf_row_t row;
        if (ntf_store_get_nid(self->cfg.db, c.nids[i], &row) != 1)
            continue;
        row.status = NTF_ST_PENDING;
        ntf_store_set_status(self->cfg.db, row.nid, NTF_ST_PENDING);
        bool with_seq = max_sent >= 0 && row.seq > max_sent;
        ntf_deliver_publish(self, &row, with_seq, 0);
        if (with_seq)
            max_sent = row.seq;
        ntf_deliver_schedule(self, &row);
        if (row.prio == NTF_PRIO_CRITICAL && !online)
            ntf_escalate_add(self->esc, &row, "offline");
        ntf_row_clear(&row);
    }
    free(c.nids);
    if (c.n > 0)
        hm_log_info("held_released", "user_id=%lld count=%d", (long long)user_id, c.n);
    return c.n;
}

/* Re-publishes user_id's open queue in seq order with the original seqs
 * (a new connection gets all of it, the edge's seq check keeps existing
 * ones from seeing doubles), then releases held ones if quiet hours are
 * over. */
static void
s_flush_user(ntf_service_t *self, int64_t user_id)
{
    if (ntf_service_begin(self) != 0)
        return;
    s_nids_t c = {NULL, 0, 0};
    ntf_query_open(self->cfg.db, user_id, NTF_ST_PENDING, NTF_FLUSH_MAX, s_collect, &c);
    for (int i = 0; i < c.n; i++) {
        ntf_row_t row;
        if (ntf_store_get_nid(self->cfg.db, c.nids[i], &row) != 1)
            continue;
        ntf_deliver_publish(self, &row, true, 0);
        ntf_deliver_schedule(self, &row);
        ntf_row_clear(&row);
    }
    free(c.nids);
    s_release_held(self, user_id);
    if (c.n > 0)
        hm_log_debug("queue_republished", "user_id=%lld count=%d", (long long)user_id, c.n);
    ntf_service_commit(self);
}

void
ntf_deliver_want_flush(ntf_service_t *self, int64_t user_id)
{
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)user_id);
    if (!zhashx_lookup(self->flushes, key))
        zhashx_insert(self->flushes, key,
                      (void *)(intptr_t)(ntf_now_ms() + self->cfg.flush_delay_ms + 1));
}

bool
ntf_deliver_flush_waiting(ntf_service_t *self, int64_t user_id)
{
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)user_id);
    return zhashx_lookup(self->flushes, key) != NULL;
}

/* Runs the re-publishing that is due. */
static void
s_flush_due(ntf_service_t *self)
{
    int64_t now = ntf_now_ms();
    zlistx_t *due = zlistx_new();
    if (!due)
        return;
    zlistx_set_destructor(due, (zlistx_destructor_fn *)zstr_free);
    zlistx_set_duplicator(due, (zlistx_duplicator_fn *)strdup);
    for (void *at = zhashx_first(self->flushes); at; at = zhashx_next(self->flushes))
        if ((int64_t)(intptr_t)at <= now)
            zlistx_add_end(due, (void *)zhashx_cursor(self->flushes));
    for (char *key = zlistx_first(due); key; key = zlistx_next(due)) {
        zhashx_delete(self->flushes, key);
        s_flush_user(self, strtoll(key, NULL, 10));
    }
    zlistx_destroy(&due);
}

/* Looks at every user with held notifications. */
static void
s_hold_check(ntf_service_t *self)
{
    int64_t users[NTF_HOLD_USERS];
    int n = ntf_query_held_users(self->cfg.db, users, NTF_HOLD_USERS);
    if (n <= 0 || ntf_service_begin(self) != 0)
        return;
    for (int i = 0; i < n; i++)
        s_release_held(self, users[i]);
    ntf_service_commit(self);
}

/* ---- the timers --------------------------------------------------------------- */

void
ntf_deliver_tick(ntf_service_t *self)
{
    int64_t now = ntf_now_ms();
    s_flush_due(self);
    s_resend_due(self);
    if (now >= self->hold_at) {
        s_hold_check(self);
        self->hold_at = now + self->cfg.hold_check_ms;
    }
    if (now >= self->expire_at) {
        int n = ntf_query_expire(self->cfg.db, hm_clock_wall_ms());
        if (n > 0)
            hm_log_info("expired", "count=%d", n);
        self->expire_at = now + NTF_EXPIRE_MS;
    }
    if (now >= self->purge_at) {
        int n = self->cfg.retention_ms > 0
                    ? ntf_query_purge(self->cfg.db, hm_clock_wall_ms() - self->cfg.retention_ms)
                    : 0;
        if (n > 0)
            hm_log_info("purged", "count=%d", n);
        self->purge_at = now + NTF_PURGE_MS;
    }
}

int64_t
ntf_deliver_next_ms(ntf_service_t *self)
{
    int64_t next = self->hold_at < self->expire_at ? self->hold_at : self->expire_at;
    int64_t r = ntf_resend_next(self->resend);
    if (r >= 0 && r < next)
        next = r;
    for (void *at = zhashx_first(self->flushes); at; at = zhashx_next(self->flushes))
        if ((int64_t)(intptr_t)at < next)
            next = (int64_t)(intptr_t)at;
    return next;
}
