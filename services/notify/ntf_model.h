/*
 * ntf_model.h - what a notification is: its types, priorities and delivery
 * states, the row as stored, and how it looks on the bus and to clients
 * (proto/SPEC.md 8.1-8.3).
 */
#ifndef NTF_MODEL_H
#define NTF_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hm_envelope.h"
#include "hm_ids.h"

#define NTF_TITLE_MAX 200    /* bytes of a title */
#define NTF_MESSAGE_MAX 4000 /* bytes of a message */
#define NTF_DATA_MAX 8192    /* bytes of data as compact JSON */
#define NTF_IDEM_MAX 200     /* bytes of an idempotency key */

/* The seed's notification types. */
typedef enum {
    NTF_TYPE_HEALTH_ALERT = 0,
    NTF_TYPE_MEDICATION_REMINDER,
    NTF_TYPE_APPOINTMENT_REMINDER,
    NTF_TYPE_SYSTEM,
    NTF_TYPE_COUNT,
} ntf_type_t;

/* Ordered: a higher value is more urgent. */
typedef enum {
    NTF_PRIO_LOW = 0,
    NTF_PRIO_NORMAL,
    NTF_PRIO_HIGH,
    NTF_PRIO_CRITICAL,
    NTF_PRIO_COUNT,
} ntf_prio_t;

/* Delivery state of a stored notification. PENDING and HELD form the
 * user's queue (unacknowledged, to be replayed); the others are final
 * except that MUTED, EXPIRED and EVICTED ones may still be acknowledged. */
typedef enum {
    NTF_ST_PENDING = 0, /* published (or to be): waits for the client's ack */
    NTF_ST_HELD,        /* quiet hours: published when they end */
    NTF_ST_MUTED,       /* the user turned its type off: stored and listed only */
    NTF_ST_ACKED,       /* the client acknowledged it */
    NTF_ST_EXPIRED,     /* unacknowledged past its expiry: no longer sent */
    NTF_ST_EVICTED,     /* pushed out of a full queue: no longer sent */
    NTF_ST_COUNT,
} ntf_status_t;

/* One stored notification. Strings and data are owned (ntf_row_clear). */
typedef struct {
    int64_t nid;             /* row id: insertion order, list cursor */
    char id[HM_UUID_STRLEN]; /* public id (UUIDv4) */
    int64_t user_id;         /* owner; 0 for a broadcast (all.notify) */
    int64_t seq;             /* stream seq: per user, global for broadcasts */
    ntf_type_t type;         /* kind */
    ntf_prio_t prio;         /* urgency */
    char *title;             /* owned */
    char *message;           /* owned */
    json_t *data;            /* the creator's extra object or NULL; one reference */
    ntf_status_t status;     /* delivery state (for broadcasts: global) */
    bool muted;              /* created while its type was off */
    int64_t created_at;      /* unix ms */
    int64_t expires_at;      /* unix ms, 0: never */
    int64_t sent_at;         /* first publication (unix ms), 0: never */
    int64_t acked_at;        /* unix ms, 0: not acknowledged (per user for broadcasts) */
    int64_t read_at;         /* unix ms, 0: unread (per user for broadcasts) */
    int attempts;            /* re-sends made */
} ntf_row_t;

/* Frees what the row owns and zeroes it; NULL-safe. */
void ntf_row_clear(ntf_row_t *row);

/* Names <-> values. The parsers return the value or -1 (NULL included). */
int ntf_type_parse(const char *name);
const char *ntf_type_name(ntf_type_t type);
int ntf_prio_parse(const char *name);
const char *ntf_prio_name(ntf_prio_t prio);
const char *ntf_status_name(ntf_status_t status);

/* The notification object of the seed plus seq (SPEC 8.2): {id, type,
 * title, message, priority, created_at, data?, seq}; resend > 0 adds
 * "resend". Caller owns; NULL on ENOMEM. */
json_t *ntf_render_data(const ntf_row_t *row, int resend);

/* The bus event for row: type "notification", user_id the owner, data as
 * above; the envelope seq only when with_seq. Caller owns; NULL on ENOMEM. */
hm_envelope_t *ntf_render_event(const ntf_row_t *row, bool with_seq, int resend);

/* The client JSON the edge renders for the live event (for notify.replay):
 * {"type":"notification","notification":{...},"seq","timestamp","user_id"}.
 * Caller owns. */
json_t *ntf_render_client(const ntf_row_t *row);

/* A list entry: the notification object plus status, muted, read, acked,
 * read_at, acked_at, expires_at and broadcast. Caller owns. */
json_t *ntf_render_item(const ntf_row_t *row);

#endif /* NTF_MODEL_H */
