/*
 * sched_service.h - the Majordomo service "scheduler" (proto/SPEC.md
 * section 12): request verbs in, replies out. No sockets: main.c owns the
 * loop, so tests drive the handlers directly.
 *
 *   scheduler.create   reminder data (sched_spec.h)      -> ack {reminder}
 *   scheduler.import   {ics, kind?, tz?, dose?, ...}      -> ack {reminder}
 *   scheduler.list     {reminder_id?, include_deleted?, history?, limit?}
 *                                                         -> ack {reminders, history?}
 *   scheduler.update   {reminder_id, changed keys...}     -> ack {reminder}
 *   scheduler.delete   {reminder_id}                      -> ack {reminder_id, deleted}
 *   scheduler.answer   {reminder_id, occurrence, answer: taken|skipped|snooze,
 *                       minutes?}                         -> ack {answer, snooze_until?}
 *   scheduler.history  {reminder_id?, limit?}             -> ack {occurrences, answers}
 *
 * Who: the envelope user_id (the edge sets it to the authenticated user; a
 * data.user_id that differs is refused). A request with user_id 0 comes from
 * a service on the bus and names the user in data.user_id. Every forbidden
 * answer is published on sys.audit for hm-auth's audit log. Retried
 * requests (same envelope id) are answered idempotently: create and import
 * return the reminder made the first time, answer the stored answer.
 * Every write commits before the reply is built.
 */
#ifndef SCHED_SERVICE_H
#define SCHED_SERVICE_H

#include <czmq.h>
#include <sqlite3.h>

#include "hm_envelope.h"
#include "sched_fire.h"

#define SCHED_SNOOZE_DEFAULT_MIN 10 /* snooze without minutes */

typedef struct {
    sqlite3 *db;        /* borrowed; sched_db_open */
    sched_fire_t *fire; /* borrowed; told when schedules change (may be NULL) */
    int max_per_user;   /* reminders a user may have (not counting deleted ones) */
    int snooze_max_min; /* longest snooze, minutes */
    zsock_t *pub;       /* borrowed PUB to events_in, for sys.audit (hm_audit.h); NULL: none */
} sched_service_cfg_t;

typedef struct sched_service_t sched_service_t;

/* Creates the service; borrows what cfg points to. NULL on ENOMEM. */
sched_service_t *sched_service_new(const sched_service_cfg_t *cfg);
void sched_service_destroy(sched_service_t **self_p);

/* Handles one request. Returns the reply (caller owns), NULL only when out
 * of memory. */
hm_envelope_t *sched_service_handle(sched_service_t *self, const hm_envelope_t *req);

#endif /* SCHED_SERVICE_H */
