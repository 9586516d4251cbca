/*
 * sched_fire.h - firing: turns due occurrences into notify.create requests,
 * exactly once per occurrence across restarts.
 *
 * The database is the outbox. When an occurrence falls due, one
 * transaction records it as a pending fire row (or as missed, when it is
 * seen more than grace_s after its time, e.g. after downtime) and moves
 * the reminder's cursor past it. Pending rows are then sent to hm-notify as
 * notify.create with the idempotency key "<reminder_id>:<fire unix s>" and
 * the same envelope id on every attempt; a row becomes fired only when
 * notify acknowledges it. A crash between sending and recording the ack
 * re-sends the same key after the restart and notify deduplicates it: the
 * user sees each occurrence once. A row first sent more than late_s after
 * its time carries late: true; one still unacknowledged grace_s after its
 * time becomes missed (a later ack still marks it fired).
 *
 * Time: wall time only through hm_clock_wall_ms() (HM_FAKE_CLOCK_FILE
 * drives it in tests), timeouts on hm_clock_mono_ns(). No sockets: the
 * caller passes a send function and feeds replies to sched_fire_on_reply.
 */
#ifndef SCHED_FIRE_H
#define SCHED_FIRE_H

#include <sqlite3.h>
#include <stdint.h>

#include "hm_envelope.h"

#define SCHED_FIRE_SLOTS_MAX 256     /* notify.create requests outstanding at most */
#define SCHED_FIRE_DUE_BATCH 64      /* reminders advanced per transaction */
#define SCHED_FIRE_PER_REMINDER 1000 /* occurrences of one reminder recorded per pass */

/* Sends one notify.create request (borrowed). Returns 0 or -1. */
typedef int (*sched_fire_send_fn)(void *arg, const hm_envelope_t *req);

typedef struct {
    sqlite3 *db;             /* borrowed; sched_db_open */
    int64_t grace_s;         /* later than this after its time: missed, not sent */
    int64_t late_s;          /* first sent later than this after its time: late */
    int timeout_ms;          /* wait this long for notify's reply, then retry */
    int retry_max_ms;        /* longest pause between attempts (backoff cap) */
    int max_inflight;        /* requests outstanding at once, 1..SCHED_FIRE_SLOTS_MAX */
    sched_fire_send_fn send; /* how requests leave */
    void *send_arg;          /* its argument */
} sched_fire_cfg_t;

typedef struct sched_fire_t sched_fire_t;

/* Creates the engine; pending rows left by a previous run are re-sent.
 * NULL on ENOMEM. */
sched_fire_t *sched_fire_new(const sched_fire_cfg_t *cfg);
void sched_fire_destroy(sched_fire_t **self_p);

/* Tells the engine that reminders or snoozes changed (create, update,
 * delete, answer): it re-reads when the next one is due. */
void sched_fire_changed(sched_fire_t *self);

/* Does what is due now: records due occurrences, promotes due snoozes,
 * expires old pending rows, sends what waits. Returns 0, or -1 when the
 * database failed (logged; tried again next time). */
int sched_fire_run(sched_fire_t *self);

/* Handles a reply to a notify.create (ack: fired; error: retry later).
 * Replies to unknown ids are matched against the database (a late ack). */
void sched_fire_on_reply(sched_fire_t *self, const hm_envelope_t *rep);

/* Milliseconds until sched_fire_run has something to do, at most cap_ms
 * (the wall clock may jump: a faked or corrected clock). */
int sched_fire_wait_ms(sched_fire_t *self, int cap_ms);

/* Requests sent and not yet answered or timed out. */
int sched_fire_inflight(const sched_fire_t *self);

#endif /* SCHED_FIRE_H */
