/*
 * chat_alert.h - the care team's high-priority notification when a patient
 * writes about an emergency.
 *
 * An alert is owed in the same transaction that stores the safety reply
 * (table alerts), so a crash cannot lose it. Once committed: who is in the
 * care team is asked of hm-auth (auth.care_team, SPEC 7) and merged with
 * the care-team members chat knows (participants of the patient's
 * conversations); then notify.create (type health_alert, priority high,
 * idempotency key per message and member) goes to each member. With nobody
 * known, it goes to the patient with data.care_team = true (hm-notify can
 * route it once it knows the team). The alert row is deleted when every
 * notification was acknowledged; failed ones are tried again every
 * CHAT_ALERT_RETRY_MS, and after a restart.
 *
 * Bound: CHAT_ALERT_MAX alerts in memory; more wait in the table.
 */
#ifndef CHAT_ALERT_H
#define CHAT_ALERT_H

#include <sqlite3.h>
#include <stdbool.h>

#include "chat_call.h"
#include "chat_db.h"

#define CHAT_ALERT_MAX 1024
#define CHAT_ALERT_MEMBERS_MAX 32
#define CHAT_ALERT_RETRY_MS 30000
#define CHAT_CALL_CARE_TEAM 2 /* chat_call kinds */
#define CHAT_CALL_NOTIFY 3

typedef struct chat_alert_t chat_alert_t;

/* db, tx and call are borrowed. timeout_ms bounds each call. */
chat_alert_t *chat_alert_new(sqlite3 *db, chat_tx_t *tx, chat_call_t *call, int timeout_ms);
void chat_alert_destroy(chat_alert_t **self_p);

/* Inside the open transaction: owes an alert for message msg_id of user_id
 * in conv. It starts after chat_alert_committed(true). Returns 0 or -1. */
int chat_alert_owe(chat_alert_t *self, const char *msg_id, const char *conv, int64_t user_id);

/* The batch's outcome: start the alerts owed in it (ok) or forget them. */
void chat_alert_committed(chat_alert_t *self, bool ok);

/* Loads the owed alerts from the table and starts them. Returns the number
 * started or -1. */
int chat_alert_resume(chat_alert_t *self);

/* A call of kind CHAT_CALL_CARE_TEAM or CHAT_CALL_NOTIFY finished. */
void chat_alert_on_call(chat_alert_t *self, int kind, int64_t cookie, const char *tag,
                        const hm_envelope_t *rep);

/* Retries due at now_ms (monotonic). */
void chat_alert_tick(chat_alert_t *self, int64_t now_ms);

/* Alerts in progress. */
size_t chat_alert_active(chat_alert_t *self);

#endif /* CHAT_ALERT_H */
