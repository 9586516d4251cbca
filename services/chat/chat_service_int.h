/*
 * chat_service_int.h - what chat_service.c (lifecycle, dispatch, held
 * requests, flush, timers) and chat_verbs.c (the verb handlers) share.
 * Not for other modules.
 */
#ifndef CHAT_SERVICE_INT_H
#define CHAT_SERVICE_INT_H

#include <stdbool.h>

#include "chat_alert.h"
#include "chat_assist.h"
#include "chat_authz.h"
#include "chat_db.h"
#include "chat_service.h"
#include "chat_typing.h"

struct chat_service_t {
    chat_service_cfg_t cfg; /* configuration; pointers borrowed */
    sqlite3 *db;            /* borrowed (cfg.db) */
    chat_tx_t tx;           /* the batch transaction */
    chat_out_t *out;        /* replies and events after the commit; owned */
    chat_call_t *call;      /* requests to other services; owned */
    chat_authz_t *authz;    /* care-team answers; owned */
    chat_typing_t *typing;  /* typing state; owned */
    chat_alert_t *alert;    /* care-team alerts; owned */
    chat_assist_t *assist;  /* the assistant; owned */
    zlist_t *held;          /* s_held_t * waiting for hm-auth; owned */
    int64_t prune_at;       /* next prune of old request ids (monotonic ms) */
    bool busy;              /* the last flush did not settle: poll without waiting */
};

/* A verb handler: returns the reply (caller owns), or NULL with *held set
 * when the request waits for hm-auth (run it again later), or NULL alone
 * when out of memory. */
typedef hm_envelope_t *(chat_verb_fn)(chat_service_t *self, const hm_envelope_t *req, bool *held);

chat_verb_fn chat_verb_send;
chat_verb_fn chat_verb_typing;
chat_verb_fn chat_verb_history;
chat_verb_fn chat_verb_replay;

/* An ack for req carrying data (taken). NULL on ENOMEM. */
hm_envelope_t *chat_verb_ack(const hm_envelope_t *req, json_t *data);

/* Broadcasts a typing state of user (sender label) in conv to the others. */
void chat_verb_typing_event(chat_service_t *self, const char *conv, int64_t user_id,
                            const char *sender, bool typing);

#endif /* CHAT_SERVICE_INT_H */
