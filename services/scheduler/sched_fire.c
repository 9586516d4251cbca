/*
 * sched_fire.c - due occurrences into the outbox, the outbox to hm-notify.
 */
#include "sched_fire.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hm_backoff.h"
#include "hm_clock.h"
#include "hm_db.h"
#include "hm_ids.h"
#include "hm_log.h"
#include "hm_proto.h"
#include "sched_db.h"
#include "sched_notify.h"
#include "sched_occ.h"
#include "sched_rule.h"

#define S_RETRY_BASE_MS 250 /* first pause after a failed attempt */
#define S_PROMOTE_EVERY_S 1 /* snooze promotion and expiry at most this often */

/* One outstanding or retrying notify.create. */
typedef struct {
    int64_t fire_id;                  /* fire row; 0 when the slot is free */
    char req_id[HM_UUID_STRLEN];      /* envelope id, for matching the reply */
    char reminder_id[HM_UUID_STRLEN]; /* for the log */
    int64_t fire_s;                   /* for the log */
    bool inflight;                    /* sent, reply awaited until due_ms */
    int64_t due_ms;                   /* monotonic ms: reply deadline or next attempt */
    hm_backoff_t backoff;             /* pauses between attempts */
} s_slot_t;

struct sched_fire_t {
    sched_fire_cfg_t cfg;                 /* copy of the configuration */
    bool dirty;                           /* next_due_s must be re-read */
    bool refill;                          /* pending rows may wait outside the slots */
    int64_t next_due_s;                   /* earliest reminder fire or snooze */
    int64_t promoted_s;                   /* last promotion pass (wall s) */
    sched_reminder_t *due;                /* SCHED_FIRE_DUE_BATCH reminders; owned */
    s_slot_t slots[SCHED_FIRE_SLOTS_MAX]; /* cfg.max_inflight of them used */
};

static int64_t
s_mono_ms(void)
{
    return hm_clock_mono_ns() / 1000000;
}

static int64_t
s_floor_s(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

sched_fire_t *
sched_fire_new(const sched_fire_cfg_t *cfg)
{
    sched_fire_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    if (self->cfg.max_inflight < 1 || self->cfg.max_inflight > SCHED_FIRE_SLOTS_MAX)
        self->cfg.max_inflight = SCHED_FIRE_SLOTS_MAX;
    self->due = calloc(SCHED_FIRE_DUE_BATCH, sizeof *self->due);
    if (!self->due) {
        free(self);
        return NULL;
    }
    self->dirty = true;
    self->refill = true;
    self->promoted_s = 0; /* long ago: the first run promotes */
    return self;
}

void
sched_fire_destroy(sched_fire_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->due);
    free(*self_p);
    *self_p = NULL;
}

void
sched_fire_changed(sched_fire_t *self)
{
    self->dirty = true;
    self->refill = true;
}

int
sched_fire_inflight(const sched_fire_t *self)
{
    int n = 0;
    for (int i = 0; i < self->cfg.max_inflight; i++)
        n += self->slots[i].fire_id && self->slots[i].inflight;
    return n;
}

/* ---- recording due occurrences ------------------------------------------ */

/* Records one due occurrence of r: pending (to send) or missed. Returns 0
 * or -1. */
static int
s_record(sched_fire_t *self, const sched_reminder_t *r, const sched_occ_t *occ, int64_t now_s)
{
    sched_fire_row_t f = {.user_id = r->user_id,
                          .occurrence_s = occ->fire_s,
                          .fire_s = occ->fire_s,
                          .instance_s = occ->instance_s,
                          .offset_min = occ->offset_min};
    bool missed = now_s - occ->fire_s > self->cfg.grace_s;
    snprintf(f.reminder_id, sizeof f.reminder_id, "%s", r->id);
    snprintf(f.status, sizeof f.status, "%s", missed ? SCHED_ST_MISSED : SCHED_ST_PENDING);
    f.late = now_s - occ->fire_s > self->cfg.late_s;
    sched_occ_key(r->id, occ->fire_s, f.key);
    if (hm_uuid4(f.req_id) != 0)
        return -1;
    int rc = sched_occ_insert(self->cfg.db, &f, hm_clock_wall_ms());
    if (rc < 0)
        return -1;
    hm_log_info(missed ? "occurrence_missed" : "occurrence_due",
                "reminder_id=%s user_id=%" PRId64 " occurrence=%" PRId64 " late=%d new=%d", r->id,
                r->user_id, occ->fire_s, f.late ? 1 : 0, rc);
    return 0;
}

/* Records r's occurrences due by now_s and moves its cursor. */
static int
s_advance(sched_fire_t *self, const sched_reminder_t *r, int64_t now_s)
{
    sched_rule_t rule;
    sched_occ_t occ;
    int64_t cursor = r->cursor_s, next = -1;
    if (sched_rule_init(&rule, r) != 0) {
        hm_log_error("reminder_unreadable", "reminder_id=%s", r->id);
        return sched_db_set_next(self->cfg.db, r->id, cursor, -1);
    }
    for (int k = 0; k <= SCHED_FIRE_PER_REMINDER; k++) {
        if (!sched_rule_next(&rule, cursor, &occ))
            break;
        if (occ.fire_s > now_s || k == SCHED_FIRE_PER_REMINDER) {
            next = occ.fire_s; /* at the per-pass bound: due again, resumes next pass */
            break;
        }
        if (s_record(self, r, &occ, now_s) != 0)
            return -1;
        cursor = occ.fire_s;
    }
    return sched_db_set_next(self->cfg.db, r->id, cursor, next);
}

/* One transaction: due reminders advanced, snoozes promoted, old pending
 * rows expired. */
static int
s_scan_tx(sqlite3 *db, void *arg)
{
    sched_fire_t *self = arg;
    int64_t now_s = s_floor_s(hm_clock_wall_ms());
    int n = sched_db_due(db, now_s, self->due, SCHED_FIRE_DUE_BATCH);
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (s_advance(self, &self->due[i], now_s) != 0)
            return -1;
    if (sched_occ_promote(db, now_s, self->cfg.grace_s, self->cfg.late_s) < 0)
        return -1;
    self->promoted_s = now_s;
    return 0;
}

/* Re-reads when the next reminder or snooze is due. */
static int
s_refresh(sched_fire_t *self)
{
    int64_t a = sched_db_next_fire(self->cfg.db), b = sched_occ_next_waiting(self->cfg.db);
    if (a < 0 || b < 0)
        return -1;
    self->next_due_s = a < b ? a : b;
    self->dirty = false;
    return 0;
}

/* ---- the outbox ----------------------------------------------------------- */

static s_slot_t *
s_slot_of_fire(sched_fire_t *self, int64_t fire_id)
{
    for (int i = 0; i < self->cfg.max_inflight; i++)
        if (self->slots[i].fire_id == fire_id)
            return &self->slots[i];
    return NULL;
}

static s_slot_t *
s_slot_of_req(sched_fire_t *self, const char *req_id)
{
    for (int i = 0; req_id && i < self->cfg.max_inflight; i++)
        if (self->slots[i].fire_id && strcmp(self->slots[i].req_id, req_id) == 0)
            return &self->slots[i];
    return NULL;
}

/* Puts pending rows that are due into free slots. */
static int
s_fill(sched_fire_t *self, int64_t now_s)
{
    int64_t ids[SCHED_FIRE_SLOTS_MAX];
    int n = sched_occ_pending(self->cfg.db, now_s, ids, self->cfg.max_inflight);
    if (n < 0)
        return -1;
    self->refill = false;
    for (int i = 0; i < n; i++) {
        if (s_slot_of_fire(self, ids[i]))
            continue;
        s_slot_t *free_slot = s_slot_of_fire(self, 0);
        if (!free_slot)
            break; /* more wait: a slot that frees sets refill again */
        memset(free_slot, 0, sizeof *free_slot);
        free_slot->fire_id = ids[i];
        free_slot->due_ms = s_mono_ms();
        hm_backoff_init(&free_slot->backoff, S_RETRY_BASE_MS, 2.0, self->cfg.retry_max_ms);
    }
    return 0;
}

/* Sends the slot's request. A row no longer pending frees the slot. */
static void
s_send(sched_fire_t *self, s_slot_t *slot, int64_t mono)
{
    sched_fire_row_t f;
    sched_reminder_t *r = malloc(sizeof *r);
    int found = r ? sched_occ_get(self->cfg.db, slot->fire_id, &f) : -1;
    if (found == 1 && strcmp(f.status, SCHED_ST_PENDING) != 0)
        found = 0;
    if (found == 1)
        found = sched_db_get(self->cfg.db, f.reminder_id, r);
    if (found <= 0) {
        if (found == 0)
            slot->fire_id = 0; /* answered, expired, cancelled: nothing to send */
        else
            slot->due_ms = mono + hm_backoff_next(&slot->backoff);
        free(r);
        return;
    }
    hm_envelope_t *req = sched_notify_request(&f, r);
    free(r);
    snprintf(slot->req_id, sizeof slot->req_id, "%s", f.req_id);
    snprintf(slot->reminder_id, sizeof slot->reminder_id, "%s", f.reminder_id);
    slot->fire_s = f.fire_s;
    if (!req || self->cfg.send(self->cfg.send_arg, req) != 0) {
        hm_log_warn("notify_send_failed", "reminder_id=%s occurrence=%" PRId64, f.reminder_id,
                    f.occurrence_s);
        slot->due_ms = mono + hm_backoff_next(&slot->backoff);
    } else {
        sched_occ_attempt(self->cfg.db, f.id);
        slot->inflight = true;
        slot->due_ms = mono + self->cfg.timeout_ms;
        hm_log_debug("notify_sent", "reminder_id=%s fire_at=%" PRId64 " attempt=%d", f.reminder_id,
                     f.fire_s, f.attempts + 1);
    }
    hm_envelope_destroy(&req);
}

/* Sends what is due, times out what waited too long. */
static void
s_pump(sched_fire_t *self)
{
    int64_t mono = s_mono_ms();
    for (int i = 0; i < self->cfg.max_inflight; i++) {
        s_slot_t *slot = &self->slots[i];
        if (!slot->fire_id || slot->due_ms > mono)
            continue;
        if (slot->inflight) {
            slot->inflight = false;
            slot->due_ms = mono + hm_backoff_next(&slot->backoff);
            hm_log_warn("notify_timeout", "reminder_id=%s fire_at=%" PRId64, slot->reminder_id,
                        slot->fire_s);
            continue;
        }
        s_send(self, slot, mono);
        if (!slot->fire_id)
            self->refill = true;
    }
}

int
sched_fire_run(sched_fire_t *self)
{
    int64_t now_s = s_floor_s(hm_clock_wall_ms());
    int rc = 0;
    if (self->dirty && s_refresh(self) != 0)
        rc = -1;
    if (rc == 0 && (now_s >= self->next_due_s || now_s - self->promoted_s >= S_PROMOTE_EVERY_S)) {
        if (hm_db_tx(self->cfg.db, s_scan_tx, self) != 0)
            rc = -1;
        self->dirty = true;
        self->refill = true;
        if (rc == 0 && s_refresh(self) != 0)
            rc = -1;
    }
    if (self->refill && s_fill(self, now_s) != 0)
        rc = -1;
    s_pump(self);
    return rc;
}

void
sched_fire_on_reply(sched_fire_t *self, const hm_envelope_t *rep)
{
    s_slot_t *slot = s_slot_of_req(self, rep->id);
    if (strcmp(rep->type, HM_MSG_ERROR) != 0) {
        const char *nid = json_string_value(json_object_get(rep->data, "id"));
        int64_t now = hm_clock_wall_ms();
        int n = sched_occ_fired(self->cfg.db, rep->id, nid, now);
        json_t *created = json_object_get(rep->data, "created");
        if (n > 0 || slot)
            hm_log_info("fired",
                        "reminder_id=%s fire_at=%" PRId64 " delay_ms=%" PRId64 " created=%d",
                        slot ? slot->reminder_id : "-", slot ? slot->fire_s : 0,
                        slot ? now - slot->fire_s * 1000 : 0, created ? json_is_true(created) : -1);
        if (n >= 0 && slot) {
            slot->fire_id = 0;
            self->refill = true;
        }
        return;
    }
    const char *code = json_string_value(json_object_get(rep->data, "code"));
    hm_log_warn("notify_refused", "code=%s reminder_id=%s", code ? code : "-",
                slot ? slot->reminder_id : "-");
    if (slot && slot->inflight) {
        slot->inflight = false;
        slot->due_ms = s_mono_ms() + hm_backoff_next(&slot->backoff);
    }
}

int
sched_fire_wait_ms(sched_fire_t *self, int cap_ms)
{
    if (self->dirty || self->refill)
        return 0;
    int64_t wait = cap_ms, now = hm_clock_wall_ms(), mono = s_mono_ms();
    if (self->next_due_s != INT64_MAX && self->next_due_s * 1000 - now < wait)
        wait = self->next_due_s * 1000 - now;
    if ((self->promoted_s + S_PROMOTE_EVERY_S) * 1000 - now < wait)
        wait = (self->promoted_s + S_PROMOTE_EVERY_S) * 1000 - now;
    for (int i = 0; i < self->cfg.max_inflight; i++)
        if (self->slots[i].fire_id && self->slots[i].due_ms - mono < wait)
            wait = self->slots[i].due_ms - mono;
    return wait < 0 ? 0 : (int)wait;
}
