/*
 * hlth_service_int.h - what the handler modules of the "health" service
 * (hlth_service.c, hlth_ingest.c, hlth_query.c) share. Not for other code.
 */
#ifndef HLTH_SERVICE_INT_H
#define HLTH_SERVICE_INT_H

#include "hlth_service.h"
#include "hm_ids.h"
#include "hm_proto.h"

/* An event to publish after the commit. */
typedef struct {
    char topic[HM_TOPIC_MAX]; /* u.<id>.health */
    hm_envelope_t *env;       /* owned */
} hlth_pub_t;

/* A notification to queue after the commit (its row is in the transaction). */
typedef struct {
    char id[HM_UUID_STRLEN]; /* row and request id (the alert id) */
    json_t *payload;         /* notify.create data; owned */
    int64_t created_at;      /* wall ms */
} hlth_note_t;

struct hlth_service_t {
    hlth_service_cfg_t cfg; /* pointers borrowed */
    bool in_batch;          /* a group-commit transaction is open */
    hlth_pub_t *pubs;       /* staged events; owned */
    int npubs, cap_pubs;    /* used, allocated */
    hlth_note_t *notes;     /* staged notifications; owned */
    int nnotes, cap_notes;  /* used, allocated */
    hlth_stats_t stats;     /* counters */
};

/* Stages ev (rendered as the event envelope of user's stream: type, seq,
 * ts, data) for publication. Returns 0 or -1. */
int hlth_svc_stage_event(hlth_service_t *self, const hlth_event_t *ev);

/* Stages a notification; takes payload. Returns 0 or -1. */
int hlth_svc_stage_note(hlth_service_t *self, const char *id, json_t *payload, int64_t created_at);

/* Drops what was staged after npubs events and nnotes notifications. */
void hlth_svc_unstage(hlth_service_t *self, int npubs, int nnotes);

/* An ack for req carrying data (taken). NULL on ENOMEM. */
hm_envelope_t *hlth_svc_ack(const hm_envelope_t *req, json_t *data);

/* Whether req's caller may do action on target's data: 1 (trusted bus
 * caller with envelope user_id 0, the owner for read and write actions, the
 * grant, or a cached allow), or 0 with *need filled. */
int hlth_svc_allowed(hlth_service_t *self, const hm_envelope_t *req, const char *action,
                     int64_t target, const hlth_grant_t *grant, hlth_grant_t *need);

/* The limits in force for user's check: the defaults, with the user's
 * override (if any) in place of the bounds. Returns 1 (override), 0
 * (defaults) or -1. */
int hlth_svc_limits(hlth_service_t *self, int64_t user_id, const hlth_metric_t *check,
                    hlth_limits_t *out);

/* The stream owner a request is about: data.user_id, else the envelope's.
 * Returns 0 with *owner, or -1 with *err (caller owns). */
int hlth_svc_owner(const hm_envelope_t *req, int64_t *owner, hm_envelope_t **err);

/* The client JSON of a stored event, as hm-edge renders the live one:
 * {type, data, seq, timestamp, user_id}. Caller owns. */
json_t *hlth_svc_event_json(const hlth_event_t *ev);

/* The handlers. They may return NULL with *need set (see hlth_service_handle). */
hm_envelope_t *hlth_ingest_reading(hlth_service_t *self, const hm_envelope_t *req,
                                   const hlth_grant_t *grant, hlth_grant_t *need);
hm_envelope_t *hlth_ingest_device(hlth_service_t *self, const hm_envelope_t *req,
                                  const hlth_grant_t *grant, hlth_grant_t *need);
hm_envelope_t *hlth_query_sync(hlth_service_t *self, const hm_envelope_t *req,
                               const hlth_grant_t *grant, hlth_grant_t *need);
hm_envelope_t *hlth_query_replay(hlth_service_t *self, const hm_envelope_t *req,
                                 const hlth_grant_t *grant, hlth_grant_t *need);
hm_envelope_t *hlth_query_threshold(hlth_service_t *self, const hm_envelope_t *req,
                                    const hlth_grant_t *grant, hlth_grant_t *need);

#endif /* HLTH_SERVICE_INT_H */
