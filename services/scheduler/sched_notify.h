/*
 * sched_notify.h - the notify.create request of one fire (proto/SPEC.md
 * 8.3): what the user is told, and the idempotency key that makes it
 * happen once.
 *
 *   envelope: type notify.create, id = the fire row's req_id (the same on
 *             every attempt), user_id 0 (a service request)
 *   data:     {user_id, type: medication_reminder | appointment_reminder,
 *              priority: normal, title, message,
 *              idempotency_key: "<reminder_id>:<fire unix s>",
 *              data: {reminder_id, occurrence, late, kind, fire_at, snooze,
 *                     instance, offset_min}}
 * The message holds the medication name or appointment title: that is for
 * the user; logs carry ids only.
 */
#ifndef SCHED_NOTIFY_H
#define SCHED_NOTIFY_H

#include "hm_envelope.h"
#include "sched_occ.h"
#include "sched_reminder.h"

#define SCHED_NOTIFY_PRIORITY "normal"
#define SCHED_NOTIFY_MED_TYPE "medication_reminder"
#define SCHED_NOTIFY_APPT_TYPE "appointment_reminder"

/* Builds the request for fire row f of reminder r. Caller owns; NULL on
 * ENOMEM. */
hm_envelope_t *sched_notify_request(const sched_fire_row_t *f, const sched_reminder_t *r);

#endif /* SCHED_NOTIFY_H */
