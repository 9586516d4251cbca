/*
 * hlth_outbox.c - at-least-once notify.create requests.
 */
#include "hlth_outbox.h"

#include <czmq.h>
#include <string.h>

#include "hm_backoff.h"
#include "hm_clock.h"
#include "hm_log.h"
#include "hm_proto.h"

#define S_TICK_MAX_MS 1000 /* look at the queue at least this often */

typedef struct {
    char *id;           /* row id and request envelope id; owned */
    json_t *payload;    /* notify.create data; one reference */
    int64_t created_at; /* wall ms */
    int64_t next_ms;    /* monotonic ms of the next attempt */
    bool inflight;      /* sent, no answer yet */
    int attempts;       /* sends so far */
    hm_backoff_t bo;    /* delay before the next attempt */
} s_item_t;

struct hlth_outbox_t {
    hlth_db_t *db;           /* borrowed */
    hm_mdp_client_t *client; /* borrowed, may be NULL */
    hlth_outbox_cfg_t cfg;   /* bounds and timings */
    zhashx_t *items;         /* id -> s_item_t; owned */
    int inflight;            /* items sent and unanswered */
};

static int64_t
s_now_ms(void)
{
    return hm_clock_mono_ns() / 1000000;
}

static void
s_item_free(void **item_p)
{
    s_item_t *it = *item_p;
    if (it) {
        free(it->id);
        json_decref(it->payload);
        free(it);
    }
    *item_p = NULL;
}

hlth_outbox_t *
hlth_outbox_new(hlth_db_t *db, hm_mdp_client_t *client, const hlth_outbox_cfg_t *cfg)
{
    hlth_outbox_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->db = db;
    self->client = client;
    self->cfg = *cfg;
    self->items = zhashx_new();
    if (!self->items) {
        free(self);
        return NULL;
    }
    zhashx_set_destructor(self->items, s_item_free);
    return self;
}

void
hlth_outbox_destroy(hlth_outbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hlth_outbox_t *self = *self_p;
    zhashx_destroy(&self->items);
    free(self);
    *self_p = NULL;
}

bool
hlth_outbox_full(hlth_outbox_t *self)
{
    return (int)zhashx_size(self->items) >= self->cfg.max;
}

int
hlth_outbox_size(hlth_outbox_t *self)
{
    return (int)zhashx_size(self->items);
}

void
hlth_outbox_add(hlth_outbox_t *self, const char *id, json_t *payload, int64_t created_at)
{
    if (zhashx_lookup(self->items, id))
        return;
    s_item_t *it = calloc(1, sizeof *it);
    if (!it || !(it->id = strdup(id))) {
        free(it);
        hm_log_error("outbox_nomem", NULL);
        return;
    }
    it->payload = json_incref(payload);
    it->created_at = created_at;
    it->next_ms = s_now_ms();
    hm_backoff_init(&it->bo, self->cfg.timeout_ms, 2.0, self->cfg.retry_max_ms);
    zhashx_insert(self->items, id, it);
}

/* Adds one loaded row. */
static void
s_load_one(const char *id, json_t *payload, int64_t created_at, void *arg)
{
    hlth_outbox_add(arg, id, payload, created_at);
}

int
hlth_outbox_load(hlth_outbox_t *self)
{
    int n = hlth_db_outbox_load(self->db, s_load_one, self);
    if (n > 0)
        hm_log_info("outbox_loaded", "notifications=%d", n);
    return n;
}

/* Forgets an item and its row. */
static void
s_forget(hlth_outbox_t *self, s_item_t *it)
{
    if (it->inflight)
        self->inflight--;
    if (hlth_db_outbox_delete(self->db, it->id) != 0)
        hm_log_error("outbox_delete_failed", "id=%s", it->id);
    zhashx_delete(self->items, it->id); /* frees it */
}

/* Whether an error code means "try again later". */
static bool
s_retryable(const char *code)
{
    return !code || strcmp(code, HM_ERR_SERVICE_UNAVAILABLE) == 0 ||
           strcmp(code, HM_ERR_TIMEOUT) == 0 || strcmp(code, HM_ERR_INTERNAL) == 0;
}

void
hlth_outbox_on_reply(hlth_outbox_t *self, const hm_envelope_t *rep)
{
    s_item_t *it = rep->id ? zhashx_lookup(self->items, rep->id) : NULL;
    if (!it)
        return; /* an answer to an earlier attempt of something already done */
    if (strcmp(rep->type, HM_MSG_ERROR) != 0) {
        hm_log_debug("notify_acked", "id=%s attempts=%d", it->id, it->attempts);
        s_forget(self, it);
        return;
    }
    const char *code = json_string_value(json_object_get(rep->data, "code"));
    if (!s_retryable(code)) {
        hm_log_warn("notify_refused", "id=%s code=%s", it->id, code ? code : "-");
        s_forget(self, it);
        return;
    }
    if (it->inflight) {
        it->inflight = false;
        self->inflight--;
    }
    it->next_ms = s_now_ms() + hm_backoff_next(&it->bo);
}

/* Sends (or sends again) one item. */
static void
s_send(hlth_outbox_t *self, s_item_t *it, int64_t now)
{
    hm_envelope_t *req = hm_envelope_new(HM_VERB_NOTIFY_CREATE);
    if (!req || hm_envelope_set_id(req, it->id) != 0 ||
        hm_envelope_set_data(req, json_incref(it->payload)) != 0 ||
        hm_mdp_client_send(self->client, HM_SVC_NOTIFY, req) != 0)
        hm_log_warn("notify_send_failed", "id=%s", it->id);
    hm_envelope_destroy(&req);
    if (!it->inflight) {
        it->inflight = true;
        self->inflight++;
    }
    it->attempts++;
    if (it->attempts > 1)
        hm_log_info("notify_retry", "id=%s attempt=%d", it->id, it->attempts);
    it->next_ms = now + hm_backoff_next(&it->bo); /* no answer by then: again */
}

void
hlth_outbox_tick(hlth_outbox_t *self)
{
    if (!self->client || zhashx_size(self->items) == 0)
        return;
    int64_t now = s_now_ms(), wall = hm_clock_wall_ms();
    zlistx_t *expired = zlistx_new();
    for (s_item_t *it = zhashx_first(self->items); it; it = zhashx_next(self->items)) {
        if (self->cfg.ttl_ms > 0 && wall - it->created_at > self->cfg.ttl_ms) {
            zlistx_add_end(expired, it);
            continue;
        }
        if (now < it->next_ms || (!it->inflight && self->inflight >= self->cfg.inflight_max))
            continue;
        s_send(self, it, now);
    }
    for (s_item_t *it = zlistx_first(expired); it; it = zlistx_next(expired)) {
        hm_log_warn("notify_expired", "id=%s attempts=%d", it->id, it->attempts);
        s_forget(self, it);
    }
    zlistx_destroy(&expired);
}

int
hlth_outbox_tick_ms(hlth_outbox_t *self)
{
    if (!self->client || zhashx_size(self->items) == 0)
        return S_TICK_MAX_MS;
    int64_t now = s_now_ms(), next = now + S_TICK_MAX_MS;
    for (s_item_t *it = zhashx_first(self->items); it; it = zhashx_next(self->items))
        if (it->next_ms < next && (it->inflight || self->inflight < self->cfg.inflight_max))
            next = it->next_ms;
    return next <= now ? 0 : (int)(next - now);
}
